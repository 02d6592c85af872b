"""Model RDMs from activations (streamed) and ROI RDMs with a noise covariance from repeats.

Issue 10 item 5: model RDMs come from activations by default; mahalanobis and crossnobis take
the noise covariance from the ROI's repeats (checked against rsatoolbox); NaN voxels are
masked; the rule scripts rdm_model and rdm_brain write what the library computes.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from rsatoolbox.data import Dataset
from rsatoolbox.data.noise import prec_from_residuals
from rsatoolbox.rdm import calc_rdm
from scipy.spatial.distance import pdist

from dnnmap.errors import InputError
from dnnmap.rsa.io import BrainPatterns, activation_reader, brain_patterns, read_masking
from dnnmap.rsa.rdm import STREAM_METRICS, ColumnReader, compute_rdm, stream_rdm
from dnnmap.rsa.roi_rdm import roi_rdm
from dnnmap.store import write_h5

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
IDS = [f"s{i:02d}" for i in range(14)]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rsa(method, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calc_rdm(data, method, **kwargs).dissimilarities[0]


@pytest.fixture
def activations(tmp_path):
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((14, 5, 3, 4)) + 1.0).astype(np.float32)
    path = tmp_path / "alexnet.h5"
    write_h5(path, {"layers/conv1": A, "layers/fc": A[:, :, 0, 0]}, stim_id=IDS)
    return path, A


# --- streamed model RDMs -----------------------------------------------------------------------


@pytest.mark.parametrize("metric", STREAM_METRICS)
@pytest.mark.parametrize("zscore", [False, True])
def test_stream_rdm_equals_compute_rdm_in_chunks(activations, metric, zscore):
    path, A = activations
    X = A.reshape(14, -1).astype(np.float64)
    ref = compute_rdm(X, metric, zscore=zscore)
    if not zscore:
        np.testing.assert_allclose(ref, pdist(X, metric), atol=1e-10)
    f, reader = activation_reader(path, "conv1", IDS, "t.tsv")
    with f:
        assert (reader.n_rows, reader.n_cols) == (14, 60)
        # 8 * 14 * 7 bytes: chunks of 7 units, not aligned with the 12 units per channel
        for chunk in (8 * 14 * 7, 8 * 14 * 60):
            got = stream_rdm(reader, metric, zscore=zscore, chunk_bytes=chunk, block=5)
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    f, reader = activation_reader(path, "fc", IDS, "t.tsv")
    with f:
        np.testing.assert_allclose(
            stream_rdm(reader, metric, zscore=zscore),
            compute_rdm(A[:, :, 0, 0], metric, zscore=zscore),
            atol=1e-12,
        )


def test_activation_reader_checks(activations, tmp_path):
    path, A = activations
    with pytest.raises(InputError, match="no layer 'conv9'; layers in file: conv1, fc"):
        activation_reader(path, "conv9", IDS, "t.tsv")
    with pytest.raises(InputError, match=r"has stim_id .s00. at position 1 where t\.tsv has .s01."):
        activation_reader(path, "conv1", IDS[1:] + IDS[:1], "t.tsv")
    A = A.copy()
    A[3, 2, 1, 1] = np.nan
    bad = tmp_path / "bad.h5"
    write_h5(bad, {"layers/conv1": A}, stim_id=IDS)
    f, reader = activation_reader(bad, "conv1", IDS, "t.tsv")
    with f, pytest.raises(InputError, match=r"layers/conv1 holds nan at row 3, column 29"):
        stream_rdm(reader, "correlation")
    with pytest.raises(InputError, match="metric is 'mahalanobis'; expected one of"):
        stream_rdm(ColumnReader(4, 2, lambda a, b: np.ones((4, b - a))), "mahalanobis")


def test_rdm_model_reads_activations_by_default(activations, tmp_path):
    """The rule's RDM is the activation RDM (not that of a rotated, truncated PCA space)."""
    path, A = activations
    stimuli = _stimuli(tmp_path)
    out = tmp_path / "rdm.h5"
    settings = {"metric": "correlation", "zscore": False, "n_components": None}
    _script("rdm_model").main(str(stimuli), str(path), "conv1", settings, "numpy", str(out))
    X = A.reshape(14, -1).astype(np.float64)
    with h5py.File(out, "r") as f:
        # Units centered over the stimuli by default (rsa.center_units).
        np.testing.assert_allclose(f["rdm"][()], pdist(X - X.mean(axis=0), "correlation"))
        assert f.attrs["patterns"] == "activations" and f.attrs["n_features"] == 60
        assert f.attrs["center_units"]
    raw = {**settings, "center_units": False}
    _script("rdm_model").main(str(stimuli), str(path), "conv1", raw, "numpy", str(out))
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["rdm"][()], pdist(X, "correlation"))


# --- ROI RDMs: masking, mahalanobis and crossnobis from repeats --------------------------------


@pytest.fixture
def roi():
    rng = np.random.default_rng(5)
    signal = rng.standard_normal((14, 6))
    mixing = rng.standard_normal((6, 6))  # correlated noise across voxels
    R = signal + 0.8 * rng.standard_normal((3, 14, 6)) @ mixing
    return BrainPatterns(R.mean(axis=0), R, 6, 0, "")


def test_mahalanobis_from_repeats_matches_rsatoolbox(roi):
    K, n, p = roi.repeats.shape
    residuals = (roi.repeats - roi.repeats.mean(axis=0)).reshape(K * n, p)
    prec = prec_from_residuals(residuals, dof=(K - 1) * n, method="shrinkage_diag")
    ref = _rsa("mahalanobis", Dataset(roi.responses), noise=prec)  # d' S^-1 d / p
    rdm, repeat_rdms = roi_rdm(roi, "mahalanobis")
    np.testing.assert_allclose(rdm**2 / p, ref, rtol=1e-10)
    # the defect: it is not the Euclidean distance any more
    assert np.abs(rdm - pdist(roi.responses)).max() > 0.1
    assert repeat_rdms.shape == (K, n * (n - 1) // 2)
    ref0 = _rsa("mahalanobis", Dataset(roi.repeats[0]), noise=prec)
    np.testing.assert_allclose(repeat_rdms[0] ** 2 / p, ref0, rtol=1e-10)


def test_crossnobis_from_repeats_matches_rsatoolbox(roi):
    K, n, p = roi.repeats.shape
    residuals = (roi.repeats - roi.repeats.mean(axis=0)).reshape(K * n, p)
    prec = prec_from_residuals(residuals, dof=(K - 1) * n, method="shrinkage_eye")
    ds = Dataset(
        roi.repeats.reshape(K * n, p),
        obs_descriptors={"conds": np.tile(np.arange(n), K), "runs": np.repeat(np.arange(K), n)},
    )
    ref = _rsa("crossnobis", ds, descriptor="conds", cv_descriptor="runs", noise=prec)
    rdm, _ = roi_rdm(roi, "crossnobis", noise="shrinkage_eye")
    np.testing.assert_allclose(rdm, ref, rtol=1e-9, atol=1e-12)


def test_noise_metrics_refuse_an_roi_without_repeats(roi):
    no_repeats = BrainPatterns(roi.responses, None, 6, 0, "")
    for metric in ("mahalanobis", "crossnobis"):
        with pytest.raises(InputError, match=f"brain_metric is '{metric}' but the ROI has 0"):
            roi_rdm(no_repeats, metric, where="V1.h5")
    rdm, reps = roi_rdm(no_repeats, "correlation")
    np.testing.assert_allclose(rdm, pdist(roi.responses, "correlation"))
    assert reps is None
    with pytest.raises(InputError, match=r"rsa\.noise is .ledoit."):
        roi_rdm(roi, "mahalanobis", noise="ledoit")


def test_masked_roi_gives_nan_rdms(roi):
    masked = BrainPatterns(roi.responses[:, :1], roi.repeats[:, :, :1], 6, 5, "1 of 6 left")
    rdm, reps = roi_rdm(masked, "crossnobis")
    assert rdm.shape == (91,) and np.isnan(rdm).all() and np.isnan(reps).all()


def _stimuli(tmp_path):
    path = tmp_path / "stimuli.tsv"
    pd.DataFrame({"stim_id": IDS, "path": [f"{i}.png" for i in IDS], "modality": "image"}).to_csv(
        path, sep="\t", index=False
    )
    return path


def test_rdm_brain_masks_nan_voxels_and_keeps_repeats(roi, tmp_path):
    """Issue 10 item 6: NaN voxels are dropped (counted), not a stop of the run."""
    stimuli = _stimuli(tmp_path)
    Y, R = roi.responses.copy(), roi.repeats.copy()
    R[1, 4, 2] = np.nan  # a NaN in one repeat masks the voxel too
    Y[0, 5] = np.nan
    brain = tmp_path / "V1.h5"
    write_h5(brain, {"responses": Y, "repeats": R, "index": np.arange(6)}, stim_id=IDS)
    out = tmp_path / "rdm.h5"
    settings = {"brain_metric": "crossnobis", "noise": "shrinkage_diag"}
    _script("rdm_brain").main(str(stimuli), str(brain), settings, "numpy", str(out))
    kept = BrainPatterns(Y[:, [0, 1, 3, 4]], R[:, :, [0, 1, 3, 4]], 6, 2, "")
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["rdm"][()], roi_rdm(kept, "crossnobis")[0], atol=1e-12)
        assert f["repeat_rdms"].shape == (3, 91)
        assert f.attrs["n_masked"] == 2 and f.attrs["n_features"] == 4
    assert read_masking(out) == (2, "")
    got = brain_patterns(brain, IDS, "t.tsv", with_repeats=True)
    assert got.repeats.shape == (3, 14, 4) and got.n_masked == 2

    Y[:, 1:] = np.nan  # fully masked: a NaN RDM with its reason, not a crash
    write_h5(brain, {"responses": Y, "index": np.arange(6)}, stim_id=IDS)
    _script("rdm_brain").main(
        str(stimuli), str(brain), {"brain_metric": "correlation"}, "numpy", str(out)
    )
    with h5py.File(out, "r") as f:
        assert np.isnan(f["rdm"][()]).all() and "repeat_rdms" not in f
    n_masked, reason = read_masking(out)
    assert n_masked == 5 and "1 of 6 voxels left" in reason
