"""Tests of dnnmap.interpret.targets and top_stimuli against scikit-learn and numpy references."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from sklearn.decomposition import PCA

from dnnmap.errors import InputError
from dnnmap.interpret.readout import refit_all_stimuli
from dnnmap.interpret.targets import (
    brain_targets,
    principal_components,
    read_targets,
    unit_values,
)
from dnnmap.interpret.top_stimuli import (
    brain_top_stimuli,
    read_top_stimuli,
    top_indices,
    unit_top_stimuli,
    write_top_stimuli,
)
from dnnmap.store import write_h5

N, C, H = 40, 6, 3
IDS = [f"s{i:02d}" for i in range(N)]


@pytest.fixture
def activations(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.gamma(2.0, size=(N, C, H, H)).astype(np.float32)
    path = tmp_path / "acts.h5"
    write_h5(path, {"layers/conv": A, "layers/fc": A.reshape(N, -1)[:, :10]}, stim_id=IDS)
    return path, A


def test_principal_components_match_sklearn():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(30, 200)) @ rng.normal(size=(200, 200))
    mean, comps, scores = principal_components(A, 4)
    ref = PCA(4, svd_solver="full").fit(A)
    signs = np.sign(np.sum(comps * ref.components_, axis=1))
    np.testing.assert_allclose(comps * signs[:, None], ref.components_, atol=1e-8)
    np.testing.assert_allclose(scores * signs, ref.transform(A), atol=1e-7)
    np.testing.assert_allclose(mean, ref.mean_)
    # the sign convention: every component's largest score is positive
    assert np.all(scores[np.argmax(np.abs(scores), axis=0), np.arange(4)] > 0)


def test_top_indices_against_argsort_and_ties():
    values = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, -1.0], [3.0, 0.0]])
    np.testing.assert_array_equal(top_indices(values, 3), [[1, 3, 2], [0, 1, 3]])
    rng = np.random.default_rng(2)
    v = rng.normal(size=(50, 4))
    np.testing.assert_array_equal(top_indices(v, 9), np.argsort(-v, axis=0)[:9].T)


def test_unit_top_stimuli_channels_and_components(activations, tmp_path):
    path, A = activations
    top = unit_top_stimuli(path, "conv", [4, 1], 2, 9, IDS, "table.tsv")
    assert top.names == ["conv_ch4", "conv_ch1", "conv_pc1", "conv_pc2"]
    np.testing.assert_allclose(top.values[:, 0], A[:, 4].mean(axis=(1, 2)), rtol=1e-6)
    ref = PCA(2, svd_solver="full").fit(A.reshape(N, -1).astype(np.float64))
    pcs = ref.transform(A.reshape(N, -1).astype(np.float64))
    np.testing.assert_allclose(np.abs(top.values[:, 2:]), np.abs(pcs), atol=1e-5)
    np.testing.assert_array_equal(top.top[0], np.argsort(-A[:, 4].mean(axis=(1, 2)))[:9])
    out = tmp_path / "top.h5"
    write_top_stimuli(out, top, {"layer": "conv"})
    back = read_top_stimuli(out)
    np.testing.assert_array_equal(back.top, top.top)
    spec = read_targets(out)
    np.testing.assert_allclose(spec.values(A), top.values, rtol=1e-5, atol=1e-5)
    with h5py.File(out) as f:
        assert f["top_stim_id"][0].decode() == IDS[top.top[0, 0]]
    fc = unit_top_stimuli(path, "fc", [3], 0, 5, IDS, "table.tsv")
    np.testing.assert_allclose(fc.values[:, 0], A.reshape(N, -1)[:, 3], rtol=1e-6)


def test_bad_unit_and_constant_target(activations, tmp_path):
    path, _ = activations
    with pytest.raises(InputError, match="index 6 is outside the layer, which has 6 channels"):
        unit_top_stimuli(path, "conv", [0, 6], 0, 9, IDS, "table.tsv")
    with pytest.raises(InputError, match="no layer 'conv9'"):
        unit_top_stimuli(path, "conv9", [0], 0, 9, IDS, "table.tsv")
    flat = tmp_path / "flat.h5"
    A = np.ones((N, 3, 2, 2), np.float32)
    A[:, 1] = np.arange(N)[:, None, None]
    write_h5(flat, {"layers/conv": A}, stim_id=IDS)
    with pytest.raises(InputError, match="target conv_ch0 is constant"):
        unit_top_stimuli(flat, "conv", [1, 0], 0, 9, IDS, "table.tsv")


def test_brain_targets_and_bad_voxels():
    index = np.array([10, 11, 12, 13, 14])
    score = np.array([0.1, 0.5, np.nan, 0.3, 0.7])
    masked = np.array([False, False, True, False, False])
    names, T = brain_targets(index, score, masked, 2, [10], "V1", "enc.h5")
    assert names == ["V1_mean", "V1_v14", "V1_v11", "V1_v10"]
    np.testing.assert_allclose(T[:, 0], [0.25, 0.25, 0, 0.25, 0.25])
    np.testing.assert_array_equal(T[:, 1:].argmax(axis=0), [4, 1, 0])
    with pytest.raises(InputError, match="voxel 99 is not in ROI V1"):
        brain_targets(index, score, masked, 1, [99], "V1", "enc.h5")
    with pytest.raises(InputError, match="voxel 12 of ROI V1 has a constant response"):
        brain_targets(index, score, masked, 1, [12], "V1", "enc.h5")


def test_brain_top_stimuli_from_predictions(tmp_path):
    rng = np.random.default_rng(3)
    P = rng.normal(size=(N, 4))
    path = tmp_path / "enc.h5"
    index = np.array([5, 6, 7, 8])
    write_h5(
        path,
        {"predictions": P, "index": index, "score": np.array([0.2, 0.9, 0.1, 0.4])},
        stim_id=IDS,
    )
    top, _, _ = brain_top_stimuli(path, "FFC", 1, [], 9, IDS, "table.tsv")
    assert top.names == ["FFC_mean", "FFC_v6"]
    np.testing.assert_allclose(top.values[:, 0], P.mean(axis=1))
    np.testing.assert_array_equal(top.top[1], np.argsort(-P[:, 1])[:9])


def test_voxel_reading_one_channel_has_its_top_stimuli():
    """A voxel simulated to read channel 2 (plus noise): its refitted encoding model's top
    stimuli are channel 2's."""
    rng = np.random.default_rng(4)
    n = 120
    A = rng.gamma(2.0, size=(n, 8, 4, 4))
    channels = unit_values(A.reshape(n, -1), (8, 4, 4), np.arange(8))
    y = channels[:, 2] + 0.05 * rng.normal(size=n)
    settings = {
        "estimator": "ridge",
        "alphas": [0.01, 0.1, 1, 10, 100],
        "inner_folds": 5,
        "alpha_scale": "relative",
        "cv": {"seed": 0},
    }
    P, _ = refit_all_stimuli(A.reshape(n, -1), y[:, None], settings)
    ours = set(top_indices(P, 9)[0])
    truth = set(top_indices(channels[:, 2:3], 9)[0])
    others = [len(set(top_indices(channels[:, c : c + 1], 9)[0]) & ours) for c in range(8)]
    assert len(ours & truth) >= 7
    assert int(np.argmax(others)) == 2
