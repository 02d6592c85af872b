"""Tests of dnnmap.encoding: aligned reads, run_encoding/write_encoding round trip."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from dnnmap.encoding import read_aligned, read_scores, run_encoding, write_encoding
from dnnmap.errors import InputError
from dnnmap.ridge import cross_validated_encoding
from dnnmap.stimuli import write_stimuli
from dnnmap.store import read_strings, write_h5

SETTINGS = {
    "alphas": [0.1, 1.0, 10.0, 100.0, 1000.0],
    "n_folds": 4,
    "inner_folds": 3,
    "seed": 2,
    "voxel_batch": 3,
}
N, K, V = 40, 5, 7


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"img{i:02d}" for i in range(N)]
    stimuli = tmp_path / "stimuli.tsv"
    table = pd.DataFrame(
        {"stim_id": ids, "path": [f"/data/{s}.png" for s in ids], "modality": "image"}
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


def test_run_encoding_matches_direct_ridge(files):
    result, index, ids = run_encoding(
        str(files["stimuli"]), str(files["features"]), str(files["brain"]), SETTINGS
    )
    ref = cross_validated_encoding(
        files["X"].astype(np.float64),
        files["Y"],
        alphas=SETTINGS["alphas"],
        n_folds=SETTINGS["n_folds"],
        seed=SETTINGS["seed"],
        inner_cv=SETTINGS["inner_folds"],
        batch_size=SETTINGS["voxel_batch"],
    )
    assert ids == files["ids"]
    np.testing.assert_array_equal(index, files["index"])
    for field in ("score", "r2", "fold_scores", "alpha", "predictions", "folds"):
        np.testing.assert_array_equal(getattr(result, field), getattr(ref, field))
    assert result.score.shape == (V,) and result.score.min() > 0.5  # real signal is found


def test_write_encoding_round_trip(files, tmp_path):
    result, index, ids = run_encoding(files["stimuli"], files["features"], files["brain"], SETTINGS)
    out = tmp_path / "enc" / "conv1.h5"
    write_encoding(out, result, index, ids, SETTINGS, {"layer": "conv1", "roi": "V1"})
    with h5py.File(out, "r") as f:
        assert read_strings(f["stim_id"]) == ids
        np.testing.assert_array_equal(f["index"][()], index)
        for name in ("score", "r2", "fold_scores", "predictions"):
            assert f[name].dtype == np.float32
            np.testing.assert_array_equal(f[name][()], getattr(result, name).astype(np.float32))
        np.testing.assert_array_equal(f["alpha"][()], result.alpha)
        np.testing.assert_array_equal(f["folds"][()], result.folds)
        assert f["alpha"].shape == (SETTINGS["n_folds"], V)
        assert f.attrs["layer"] == "conv1" and f.attrs["roi"] == "V1"
        assert f.attrs["estimator"] == "ridge" and f.attrs["score_metric"] == "pearson_r"
        assert json.loads(f.attrs["cv"]) == {
            "outer": "kfold",
            "n_folds": 4,
            "seed": 2,
            "inner_folds": 3,
            "alphas": SETTINGS["alphas"],
        }
    scores = read_scores(out)
    assert set(scores) == {"index", "score", "r2"}
    np.testing.assert_array_equal(scores["index"], index)
    np.testing.assert_array_equal(scores["score"], result.score.astype(np.float32))
    np.testing.assert_array_equal(scores["r2"], result.r2.astype(np.float32))


def test_misaligned_features_name_both_files(files):
    ids = files["ids"]
    swapped = [ids[1], ids[0], *ids[2:]]
    write_h5(files["features"], {"features": files["X"]}, stim_id=swapped)
    with pytest.raises(InputError) as err:
        run_encoding(str(files["stimuli"]), str(files["features"]), str(files["brain"]), SETTINGS)
    msg = str(err.value)
    assert str(files["features"]) in msg and str(files["stimuli"]) in msg
    assert "at position 1" in msg and "'img01'" in msg


def test_read_aligned_short_brain_file(files):
    write_h5(files["brain"], {"responses": files["Y"][:-1]}, stim_id=files["ids"][:-1])
    with pytest.raises(InputError, match=rf"{files['brain']} has {N - 1} stimuli"):
        read_aligned(files["brain"], "responses", files["ids"], str(files["stimuli"]))
    got = read_aligned(files["features"], "features", files["ids"], "t")
    np.testing.assert_array_equal(got, files["X"])
