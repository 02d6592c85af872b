"""Stacking on dnnmap's files: start-up checks of stack sets, a job from features and ROI
files, its file, maps, summary table and figure."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from dnnmap.brain.cifti import read_dscalar
from dnnmap.config import check_semantics, load_schema, validate
from dnnmap.errors import InputError
from dnnmap.spaces import check_space_set, space_names
from dnnmap.stacking.io import read_stacking, run_stacking, write_stacking
from dnnmap.stacking.maps import stacking_maps, write_stacking_maps
from dnnmap.stacking.plots import plot_stacking_profiles
from dnnmap.stacking.summary import COLUMNS, best_voxels, median_profile, summarize_stacking
from dnnmap.store import write_h5

ROOT = Path(__file__).resolve().parents[3]
ENCODING = {
    "cv": {"scheme": "kfold", "n_folds": 4, "seed": 0},
    "inner_folds": 3,
    "alphas": [0.1, 1.0, 10.0, 100.0, 1000.0],
    "alpha_scale": "relative",
}


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """The demo config, validated (defaults filled)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return validate(config, schema, "config.yaml")


# --- stack sets at start-up -------------------------------------------------------------------


def test_demo_sets_and_defaults(valid):
    st = valid["stacking"]
    assert (st["n_best"], st["n_boot"], st["seed"]) == (200, 1000, 0)
    names = check_space_set(
        "stacking.sets", "alexnet_all", st["sets"]["alexnet_all"], valid["models"], "c.yaml"
    )
    assert names == [f"alexnet/{x}" for x in ["conv1", "conv2", "conv3", "conv4", "conv5"]] + [
        "alexnet/fc6",
        "alexnet/fc7",
    ]
    assert space_names({"a": ["x"], "b": ["y", "z"]}) == ["a/x", "b/y", "b/z"]


@pytest.mark.parametrize(
    "stack_set, message",
    [
        (
            {"alexnet": ["fc7"]},
            "config.yaml: stacking.sets.bad has 1 space (alexnet/fc7); expected at least 2",
        ),
        (
            {"alexnet": ["fc7", "conv1", "fc7"]},
            "config.yaml: stacking.sets.bad.alexnet: 'fc7' is named twice",
        ),
        (
            {"alexnet": ["conv1"], "vgg": ["fc7"]},
            "config.yaml: stacking.sets.bad: 'vgg' is not in models (alexnet",
        ),
        (
            {"alexnet": ["conv1", "conv9"]},
            "config.yaml: stacking.sets.bad.alexnet: 'conv9' is not among models.alexnet.layers",
        ),
    ],
)
def test_bad_sets_stop_at_startup(valid, tmp_path, stack_set, message):
    config = {**valid, "stacking": {**valid["stacking"], "sets": {"bad": stack_set}}}
    with pytest.raises(InputError) as err:
        check_semantics(config, ["a", "b", "c", "d"], tmp_path, "config.yaml")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_models_of_other_stimuli_stop(valid, monkeypatch):
    """Spaces of models that take other stimuli (an image and an audio network) cannot be
    stacked: no family of the registry takes audio yet, so one is stood in for."""
    from types import SimpleNamespace

    import dnnmap.spaces as sets

    modality = {"alexnet": "image", "wav2vec": "audio"}
    monkeypatch.setattr(
        sets, "get_family", lambda entry: SimpleNamespace(modality=modality[entry["architecture"]])
    )
    models = {
        "alexnet": valid["models"]["alexnet"],
        "sound": {"architecture": "wav2vec", "layers": ["enc1"]},
    }
    with pytest.raises(InputError) as err:
        check_space_set(
            "stacking.sets", "mixed", {"alexnet": ["fc7"], "sound": ["enc1"]}, models, "c.yaml"
        )
    assert str(err.value) == (
        "c.yaml: stacking.sets.mixed: its models take different stimuli: alexnet (image), "
        "sound (audio); expected spaces of one stimulus set"
    )


def test_schema_rejects_empty_and_malformed_sets(valid):
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["stacking"]["sets"]["empty"] = {"alexnet": []}
    with pytest.raises(InputError, match=r"stacking\.sets\.empty\.alexnet"):
        validate(config, schema, "config.yaml")


# --- a job on files ---------------------------------------------------------------------------


def _job_files(tmp_path, n=80, v=30, seed=0, wrong_ids=False):
    """A stimulus table, three features files and an ROI whose voxels mix spaces 0 and 1."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n)]
    pd.DataFrame({"stim_id": ids, "path": [f"{i}.png" for i in ids], "modality": "image"}).to_csv(
        tmp_path / "stimuli.tsv", sep="\t", index=False
    )
    feats, signals = [], []
    for k in range(3):
        X = rng.standard_normal((n, 6))
        path = tmp_path / f"space{k}.h5"
        bad = wrong_ids and k == 2
        write_h5(path, {"features": X}, stim_id=ids[::-1] if bad else ids)
        feats.append(str(path))
        s = X @ rng.standard_normal((6, v))
        signals.append(s / s.std(axis=0))
    mix = np.linspace(0, 1, v)
    Y = (
        np.sqrt(mix) * signals[0]
        + np.sqrt(1 - mix) * signals[1]
        + 0.3 * rng.standard_normal((n, v))
    )
    Y[:, 3] = 1.0  # a constant voxel
    roi = tmp_path / "roi.h5"
    write_h5(roi, {"responses": Y.astype(np.float32), "index": np.arange(v) * 2}, stim_id=ids)
    return str(tmp_path / "stimuli.tsv"), feats, str(roi), mix


def test_run_write_read_map_and_summarize(tmp_path):
    stimuli, feats, roi, mix = _job_files(tmp_path)
    spaces = ["m/a", "m/b", "m/c"]
    out = run_stacking(stimuli, feats, spaces, roi, ENCODING)
    r = out.result
    assert r.weights.shape == (30, 3) and r.fold_weights.shape == (4, 30, 3)
    assert r.masked[3] and np.isnan(r.weights[3]).all()
    ok = ~r.masked
    np.testing.assert_allclose(r.weights[ok].sum(axis=1), 1.0, atol=1e-9)
    # the weight of space 0 follows its variance share; space 2 carries no signal
    assert np.corrcoef(r.weights[ok, 0], mix[ok])[0, 1] > 0.95
    assert np.nanmedian(r.weights[:, 2]) < 0.05
    path = tmp_path / "stack.h5"
    write_stacking(path, out, "set", ENCODING, {"dnnmap_version": "test"})
    back = read_stacking(path)
    assert back["spaces"] == spaces
    np.testing.assert_allclose(back["weights"], r.weights.astype(np.float32))
    with h5py.File(path) as f:
        assert f.attrs["stack"] == "set" and f["fold_weights"].shape == (4, 30, 3)
        assert f["predictions"].shape == (80, 30) and len(f["stim_id"]) == 80
    # maps: scores, weights and the arg-max space on the grayordinates of the index
    data, names = stacking_maps([str(path)], spaces, 70)
    assert names == ["r", "signed_sqrt_r2", "weight_m/a", "weight_m/b", "weight_m/c", "best_space"]
    idx = back["index"]
    np.testing.assert_allclose(data[2:5, idx[ok]], back["weights"][ok].T)
    assert data[-1, idx[3]] == 0 and (data[:, 1::2] == 0).all()  # masked; outside the ROI
    assert set(np.unique(data[-1, idx[ok]])) <= {1, 2}
    with pytest.raises(InputError, match="expected"):
        stacking_maps([str(path)], spaces[:2], 70)
    # summary table
    table = summarize_stacking([str(path)], [{"subject": "s", "stack": "set", "roi": "R"}], 10)
    assert list(table.columns) == list(COLUMNS) and len(table) == 3
    assert (table["n_vox"] == 29).all() and (table["n_best"] == 10).all()
    assert table["best_fraction"].sum() == pytest.approx(1.0)
    assert table["weight_mean"].sum() == pytest.approx(1.0, abs=1e-6)
    # the figure
    fig = plot_stacking_profiles({"set": {"R": str(path), "R2": str(path)}}, n_best=10, n_boot=50)
    assert len(fig.axes) == 4


def test_different_stimulus_ids_stop_naming_both_files(tmp_path):
    stimuli, feats, roi, _ = _job_files(tmp_path, wrong_ids=True)
    with pytest.raises(InputError) as err:
        run_stacking(stimuli, feats, ["a/x", "a/y", "a/z"], roi, ENCODING)
    assert "space2.h5" in str(err.value) and "stimuli.tsv" in str(err.value)
    with pytest.raises(InputError, match="at least 2 spaces"):
        run_stacking(stimuli, feats[:1], ["a/x"], roi, ENCODING)


def test_write_stacking_maps_on_cifti(tmp_path):
    from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar

    stimuli, feats, roi, _ = _job_files(tmp_path, v=12)
    out = run_stacking(stimuli, feats[:2], ["m/a", "m/b"], roi, ENCODING)
    path = tmp_path / "stack.h5"
    write_stacking(path, out, "set", ENCODING, {})
    axis = fslr32k_brain_models()
    responses = tmp_path / "resp.dscalar.nii"
    write_dscalar(responses, np.zeros((1, len(axis))), ["s000"], axis)
    target = tmp_path / "map.dscalar.nii"
    write_stacking_maps(responses, [str(path)], ["m/a", "m/b"], target)
    maps = read_dscalar(target)
    assert maps.names == ["r", "signed_sqrt_r2", "weight_m/a", "weight_m/b", "best_space"]


def test_best_voxels_and_bootstrap_profile():
    res = {
        "signed_sqrt_r2": np.array([0.1, np.nan, 0.5, 0.3, 0.9]),
        "masked": np.array([False, True, False, False, True]),
    }
    assert best_voxels(res, 2).tolist() == [2, 3]
    assert best_voxels(res, 10).tolist() == [2, 3, 0]
    rng = np.random.default_rng(0)
    w = rng.dirichlet([5, 1, 1], size=400)
    med, lo, hi = median_profile(w, n_boot=500, seed=1)
    np.testing.assert_allclose(med, np.median(w, axis=0))
    assert (lo <= med).all() and (med <= hi).all() and (hi - lo < 0.1).all()
    nan = median_profile(np.zeros((0, 3)))
    assert np.isnan(nan[0]).all()


def test_stacking_and_partition_jobs_read_fit_train_features(tmp_path):
    """A features file made with pca and fit: train (a basis, fitted per outer split) goes
    through stacking and variance partitioning: the split designs are fitted on training rows
    (the fold seam), the recovered weights follow the mix, and they differ from the same job
    on the PCA of all stimuli, which lets the test rows shape the components."""
    from sklearn.decomposition import PCA

    from dnnmap.encoding.joint_io import run_partition

    stimuli, feats, roi, mix = _job_files(tmp_path)
    with h5py.File(feats[1]) as f:
        X, ids = f["features"][()], [s.decode() for s in f["stim_id"][()]]
    basis = PCA(6, svd_solver="full").fit_transform(X)  # lossless: every component
    write_h5(
        tmp_path / "train.h5",
        {"basis": basis, "features": basis[:, :5]},
        attrs={"method": "pca", "fit": "train", "n_components": 5},
        stim_id=ids,
    )
    write_h5(
        tmp_path / "all.h5",
        {"features": basis[:, :5]},
        attrs={"method": "pca", "fit": "all", "n_components": 5},
        stim_id=ids,
    )
    runs = {}
    for fit in ("train", "all"):
        paths = [feats[0], str(tmp_path / f"{fit}.h5")]
        runs[fit] = run_stacking(stimuli, paths, ["m/a", "m/b"], roi, ENCODING).result
        ok = ~runs[fit].masked
        assert np.corrcoef(runs[fit].weights[ok, 0], mix[ok])[0, 1] > 0.9
    assert not np.allclose(runs["train"].weights[ok], runs["all"].weights[ok])
    joint = {"alphas": [0.1, 1.0, 10.0, 100.0], "n_iter": 4, "concentration": [1.0], "seed": 0}
    paths = [feats[0], str(tmp_path / "train.h5")]
    result, index, _ = run_partition(stimuli, paths, ["m/a", "m/b"], roi, joint, ENCODING)
    assert result.parts.shape == (3, 30) and np.isfinite(result.parts[:, ok]).all()
    assert index.shape == (30,)
