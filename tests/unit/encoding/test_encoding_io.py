"""Tests of dnnmap.encoding.io: aligned reads, every estimator and CV scheme through the files,
permutations and noise ceilings, write/read round trip."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from dnnmap.brain.noise_ceiling import response_noise_ceiling
from dnnmap.encoding.cross_validation import cross_validated_predictions
from dnnmap.encoding.io import alpha_on_edge as io_alpha_on_edge
from dnnmap.encoding.io import read_scores, run_encoding, write_encoding
from dnnmap.encoding.permutation import label_permutation_test, refit_permutation_test
from dnnmap.encoding.ridge import cross_validated_encoding
from dnnmap.errors import InputError
from dnnmap.stats.splits import make_splits
from dnnmap.stimuli import write_stimuli
from dnnmap.store import read_aligned, read_strings, write_h5

SETTINGS = {
    "estimator": "ridge",
    "estimator_params": {},
    "alphas": [0.1, 1.0, 10.0, 100.0, 1000.0],
    "cv": {"scheme": "kfold", "n_folds": 4, "n_repeats": 1, "seed": 2, "column": None},
    "inner_folds": 3,
    "voxel_batch": 3,
    "permutation": {"n_perm": 0, "kind": "test_labels", "seed": 0},
}
N, K, V = 40, 5, 7


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"img{i:02d}" for i in range(N)]
    stimuli = tmp_path / "stimuli.tsv"
    table = pd.DataFrame(
        {
            "stim_id": ids,
            "path": [f"/data/{s}.png" for s in ids],
            "modality": "image",
            "session": [f"ses-{i % 4}" for i in range(N)],
            "split": ["test" if i % 5 == 0 else "train" for i in range(N)],
        }
    )
    write_stimuli(table, stimuli)
    X = rng.standard_normal((N, K))
    Y = (X @ rng.standard_normal((K, V)) + rng.standard_normal((N, V))).astype(np.float32)
    index = np.array([5, 9, 10, 11, 40, 41, 100], dtype=np.int64)
    features = tmp_path / "features.h5"
    brain = tmp_path / "brain.h5"
    write_h5(features, {"features": X.astype(np.float32)}, stim_id=ids)
    write_h5(brain, {"responses": Y, "index": index}, stim_id=ids)
    return {
        "stimuli": stimuli,
        "features": features,
        "brain": brain,
        "ids": ids,
        "X": X.astype(np.float32),
        "Y": Y,
        "index": index,
    }


def _run(files, **changes):
    settings = {**SETTINGS, **changes}
    return run_encoding(
        str(files["stimuli"]), str(files["features"]), str(files["brain"]), settings
    )


def test_run_encoding_matches_direct_ridge(files):
    out = _run(files)
    ref = cross_validated_encoding(
        files["X"].astype(np.float64),
        files["Y"],
        alphas=SETTINGS["alphas"],
        n_folds=4,
        seed=2,
        inner_cv=SETTINGS["inner_folds"],
        batch_size=SETTINGS["voxel_batch"],
        alpha_scale="relative",  # the workflow's default
    )
    assert out.stim_ids == files["ids"] and out.permutation is None
    np.testing.assert_array_equal(out.index, files["index"])
    for field in ("score", "r2", "fold_scores", "alpha", "predictions", "folds"):
        np.testing.assert_allclose(getattr(out.result, field), getattr(ref, field), rtol=1e-5)
    assert out.result.score.shape == (V,) and out.result.score.min() > 0.5


@pytest.mark.parametrize(
    ("cv", "n_splits"),
    [
        ({"scheme": "group", "n_folds": 4, "column": "session"}, 4),
        ({"scheme": "split", "column": "split"}, 1),
        ({"scheme": "repeated_kfold", "n_folds": 4, "n_repeats": 2}, 8),
        ({"scheme": "loo"}, N),
    ],
)
def test_cv_schemes_from_the_stimulus_table(files, cv, n_splits):
    # a test set of one stimulus has no r: leave-one-out needs the pooled score
    out = _run(files, cv=cv, pooling="pooled" if cv["scheme"] == "loo" else "folds")
    assert len(out.splits) == n_splits and out.splits.scheme == cv["scheme"]
    assert out.result.alpha.shape == (n_splits, V)
    assert np.all(out.result.score > 0.3)
    if cv["scheme"] == "group":  # no session is both trained and tested on
        session = pd.read_csv(files["stimuli"], sep="\t")["session"].to_numpy()
        for train, test in zip(out.splits.train, out.splits.test, strict=True):
            assert not set(session[train]) & set(session[test])


def test_other_estimators_match_the_generic_cross_validation(files):
    out = _run(files, estimator="sklearn.linear_model.LinearRegression")
    splits = make_splits(N, "kfold", n_folds=4, seed=2)
    ref = cross_validated_predictions(LinearRegression(), files["X"], files["Y"], splits)
    np.testing.assert_allclose(out.result.score, ref.score, rtol=1e-6)
    for name in ("ols", "pls", "lasso_cv", "kernel_ridge"):
        result = _run(files, estimator=name).result
        assert result.score.shape == (V,) and np.isfinite(result.score).all(), name


def test_test_label_permutations_match_the_library(files):
    perm = {"n_perm": 50, "kind": "test_labels", "seed": 4}
    out = _run(files, permutation=perm)
    ref = label_permutation_test(out.result.predictions, files["Y"], 50, 4, folds=out.result.folds)
    np.testing.assert_array_equal(out.permutation.pvalue, ref.pvalue)
    # the permuted statistic is the reported score
    np.testing.assert_allclose(out.permutation.observed, out.result.score, atol=1e-5)
    np.testing.assert_array_equal(out.permutation.pvalue_fwe, ref.pvalue_fwe)
    assert (out.permutation.pvalue == 1 / 51).all()  # every voxel has real signal


def test_refit_permutations_need_ridge(files):
    out = _run(files, permutation={"n_perm": 5, "kind": "refit", "seed": 0})
    assert out.permutation.kind == "refit" and out.permutation.null_max.shape == (5,)
    with pytest.raises(InputError, match="refit' with estimator 'ols'"):
        _run(files, estimator="ols", permutation={"n_perm": 5, "kind": "refit", "seed": 0})


def test_noise_ceiling_gives_normalized_scores(files, tmp_path):
    rng = np.random.default_rng(1)
    repeats = files["Y"][None] + rng.standard_normal((3, N, V)).astype(np.float32)
    ceiling = response_noise_ceiling(repeats)
    write_h5(
        files["brain"],
        {
            "responses": repeats.mean(axis=0),
            "index": files["index"],
            "repeats": repeats,
            "noise_ceiling": ceiling,
        },
        stim_id=files["ids"],
    )
    out = _run(files)
    np.testing.assert_array_equal(out.noise_ceiling, ceiling)
    path = tmp_path / "enc.h5"
    write_encoding(path, out, SETTINGS, {})
    scores = read_scores(path)
    expect = np.minimum(out.result.score / ceiling, 1.0)
    np.testing.assert_allclose(scores["score_normalized"], expect, rtol=1e-5)
    with h5py.File(path, "r") as f:
        assert f.attrs["min_ceiling"] == 0.2  # the library's default without the config key
    # encoding.min_ceiling drops voxels; an R² score is normalized by the squared ceiling
    floor = float(np.sort(ceiling)[2])
    r2 = _run(files, score="r2")
    write_encoding(path, r2, {**SETTINGS, "min_ceiling": floor**2}, {})
    scores = read_scores(path)
    expect = np.minimum(r2.result.score / ceiling**2, 1.0)
    expect[ceiling**2 <= floor**2] = np.nan
    assert np.isnan(expect).sum() == 3
    np.testing.assert_allclose(scores["score_normalized"], expect, rtol=1e-5)


def test_write_encoding_round_trip(files, tmp_path):
    enc = _run(files, permutation={"n_perm": 20, "kind": "test_labels", "seed": 0})
    result, index, ids = enc.result, enc.index, enc.stim_ids
    out = tmp_path / "enc" / "conv1.h5"
    write_encoding(out, enc, SETTINGS, {"layer": "conv1", "roi": "V1"})
    with h5py.File(out, "r") as f:
        assert read_strings(f["stim_id"]) == ids
        np.testing.assert_array_equal(f["index"][()], index)
        for name in ("score", "r2", "fold_scores", "predictions"):
            assert f[name].dtype == np.float32
            np.testing.assert_array_equal(f[name][()], getattr(result, name).astype(np.float32))
        np.testing.assert_array_equal(f["alpha"][()], result.alpha)
        np.testing.assert_array_equal(f["folds"][()], result.folds)
        assert f["alpha"].shape == (4, V)
        np.testing.assert_array_equal(f["pvalue_fwe"][()], enc.permutation.pvalue_fwe)
        assert f["null_max"].shape == (20,)
        assert f.attrs["layer"] == "conv1" and f.attrs["roi"] == "V1"
        assert f.attrs["estimator"] == "ridge" and f.attrs["score_metric"] == "r"
        cv = json.loads(f.attrs["cv"])
        assert cv["scheme"] == "kfold" and cv["n_splits"] == 4 and cv["inner_folds"] == 3
        assert cv["alphas"] == SETTINGS["alphas"]
        assert json.loads(f.attrs["permutation"])["n_perm"] == 20
    scores = read_scores(out)
    assert set(scores) == {
        *("index", "score", "r2", "pvalue", "pvalue_fwe", "qvalue"),
        *("score_pooled", "alpha_edge", "null_max"),
    }
    np.testing.assert_array_equal(scores["index"], index)
    np.testing.assert_array_equal(scores["score"], result.score.astype(np.float32))
    np.testing.assert_array_equal(scores["r2"], result.r2.astype(np.float32))


def test_misaligned_features_name_both_files(files):
    ids = files["ids"]
    swapped = [ids[1], ids[0], *ids[2:]]
    write_h5(files["features"], {"features": files["X"]}, stim_id=swapped)
    with pytest.raises(InputError) as err:
        _run(files)
    msg = str(err.value)
    assert str(files["features"]) in msg and str(files["stimuli"]) in msg
    assert "at position 1" in msg and "'img01'" in msg


def test_read_aligned_short_brain_file(files):
    write_h5(files["brain"], {"responses": files["Y"][:-1]}, stim_id=files["ids"][:-1])
    with pytest.raises(InputError, match=rf"{files['brain']} has {N - 1} stimuli"):
        read_aligned(files["brain"], "responses", files["ids"], str(files["stimuli"]))
    got = read_aligned(files["features"], "features", files["ids"], "t")
    np.testing.assert_array_equal(got, files["X"])


def test_permutation_blocks_come_from_the_table(files, monkeypatch):
    """The workflow passes exchangeability blocks: the column named by
    encoding.permutation.blocks, or the CV's group column under cv.scheme: group."""
    import dnnmap.encoding.io as io

    seen = {}

    def spy(*args, **kwargs):
        seen["groups"] = kwargs.get("groups")
        return refit_permutation_test(*args, **kwargs)

    monkeypatch.setattr(io, "refit_permutation_test", spy)
    session = pd.read_csv(files["stimuli"], sep="\t")["session"].astype(str).to_numpy()
    perm = {"n_perm": 3, "kind": "refit", "seed": 0}
    _run(files, permutation={**perm, "blocks": "session"})
    np.testing.assert_array_equal(seen["groups"], session)
    _run(files, permutation=perm, cv={"scheme": "group", "n_folds": 4, "column": "session"})
    np.testing.assert_array_equal(seen["groups"], session)
    _run(files, permutation=perm)
    assert seen["groups"] is None
    with pytest.raises(InputError, match="nope"):
        _run(files, permutation={**perm, "blocks": "nope"})


def test_score_options_and_alpha_edges(files):
    out = _run(files, score="signed_sqrt_r2")
    r = out.result
    assert r.score_metric == "signed_sqrt_r2" and r.pooling == "folds"
    np.testing.assert_allclose(r.score, r.fold_scores.mean(axis=0), rtol=1e-12)
    pooled = _run(files, pooling="pooled").result
    np.testing.assert_allclose(pooled.score, pooled.score_pooled, rtol=1e-12)
    grid = SETTINGS["alphas"]
    edge = io_alpha_on_edge(r.alpha, SETTINGS)
    expected = np.isin(r.alpha, [min(grid), max(grid)]).any(axis=0)
    np.testing.assert_array_equal(edge, expected)
    assert not io_alpha_on_edge(r.alpha, {**SETTINGS, "estimator": "pls"}).any()


def _activations(files, tmp_path, shape=(3, 4, 5)):
    """A layer of activations (N, *shape) whose units drive the responses of files["Y"]'s
    shape, written as results/activations/{model}.h5 is."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((N, *shape)).astype(np.float32)
    flat = A.reshape(N, -1)
    units = rng.choice(flat.shape[1], V, replace=False)
    Y = (flat[:, units] * rng.choice([-1.5, 1.0, 2.0], V) + rng.standard_normal((N, V))).astype(
        np.float32
    )
    path = tmp_path / "activations.h5"
    write_h5(path, {"layers/conv": A, "layers/fc": flat[:, :7]}, stim_id=files["ids"])
    write_h5(files["brain"], {"responses": Y, "index": files["index"]}, stim_id=files["ids"])
    return path, flat.astype(np.float64), Y.astype(np.float64), units


def _best_unit_loop(X, y):
    """DNNBrain's per-unit model by brute force: one scikit-learn line per unit, the unit of
    the best training R² (first on ties)."""
    r2 = [LinearRegression().fit(X[:, [u]], y).score(X[:, [u]], y) for u in range(X.shape[1])]
    return int(np.argmax(r2))


def test_per_unit_chooses_among_the_layers_units(files, tmp_path):
    # Defect: per_unit chose among PCA components, not the layer's units.
    path, X, Y, units = _activations(files, tmp_path)
    settings = {**SETTINGS, "estimator": "per_unit"}
    paths = (str(files["stimuli"]), str(path), str(files["brain"]))
    out = run_encoding(*paths, settings, layer="conv")
    splits = make_splits(N, "kfold", n_folds=4, seed=2)
    predictions = np.full((N, V), np.nan)
    for s, (train, test) in enumerate(zip(splits.train, splits.test, strict=True)):
        for j in range(V):
            u = _best_unit_loop(X[train], Y[train, j])
            assert out.result.alpha[s, j] == u
            line = LinearRegression().fit(X[train][:, [u]], Y[train, j])
            predictions[test, j] = line.predict(X[test][:, [u]])
    np.testing.assert_allclose(out.result.predictions, predictions, rtol=1e-4, atol=1e-5)
    # on all stimuli: the driving unit, in (channel, y, x)
    best = [_best_unit_loop(X, Y[:, j]) for j in range(V)]
    np.testing.assert_array_equal(out.units.best_unit, best)
    np.testing.assert_array_equal(best, units)
    np.testing.assert_array_equal(
        out.units.location, np.column_stack(np.unravel_index(units, (3, 4, 5)))
    )
    r = [np.corrcoef(X[:, u], Y[:, j])[0, 1] for j, u in enumerate(units)]
    np.testing.assert_allclose(out.units.r, r, rtol=1e-6)
    # written with the layer's coordinates
    enc = tmp_path / "enc.h5"
    write_encoding(enc, out, settings, {})
    with h5py.File(enc, "r") as f:
        np.testing.assert_array_equal(f["unit"][()], out.result.alpha.astype(np.int64))
        np.testing.assert_array_equal(f["unit_location"][()], out.units.location)
        assert json.loads(f.attrs["unit_shape"]) == [3, 4, 5]
        assert json.loads(f.attrs["unit_axes"]) == ["channel", "y", "x"]
    # a fully connected layer has one coordinate
    fc = run_encoding(*paths, settings, layer="fc")
    assert fc.units.unit_shape == (7,) and fc.units.location.shape == (V, 1)
    with pytest.raises(InputError, match="no layer 'conv9'; layers in file: conv, fc"):
        run_encoding(*paths, settings, layer="conv9")
