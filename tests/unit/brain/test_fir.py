"""FIR design of continuous stimuli on the TR grid (dnnmap.brain.fir): a hand-built closed
form, a direct loop over TRs and events, scipy's z-score, and delays that never cross runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import zscore

from dnnmap.brain.fir import (
    check_fir,
    delay_within_runs,
    fir_design,
    tr_features,
    zscore_within_runs,
)
from dnnmap.errors import InputError


def test_tr_features_closed_form_aligned_by_stim_id():
    """TR 2 s, 4 volumes: A covers [0, 3) s, B [3, 5) s. TR 0 is all A, TR 1 half A half B
    (1 s each), TR 2 half B and half nothing (B alone), TR 3 nothing. The features' rows
    are in another order than the events: they are found by stim_id."""
    events = pd.DataFrame({"onset": [0.0, 3.0], "duration": [3.0, 2.0], "stim_id": ["A", "B"]})
    features = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 2.0]])  # rows B, A
    got = tr_features(events, features, ["B", "A"], 4, 2.0)
    expected = np.array([[1.0, 0.0, 2.0], [0.5, 0.5, 3.0], [0.0, 1.0, 4.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(got, expected)


def test_tr_features_equal_a_direct_loop():
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(7)]
    features = rng.standard_normal((7, 5))
    onsets = np.sort(rng.uniform(0, 50, 20))
    events = pd.DataFrame(
        {"onset": onsets, "duration": rng.uniform(0.3, 4.0, 20), "stim_id": rng.choice(ids, 20)}
    )
    tr, n_scans = 1.7, 32
    got = tr_features(events, features, ids, n_scans, tr)
    expected = np.zeros((n_scans, 5))
    for t in range(n_scans):
        a, b = t * tr, (t + 1) * tr
        total, weight = np.zeros(5), 0.0
        for onset, duration, stim in events.itertuples(index=False):
            w = max(0.0, min(onset + duration, b) - max(onset, a))
            total += w * features[ids.index(stim)]
            weight += w
        if weight > 0:
            expected[t] = total / weight
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_unknown_stimulus_is_named():
    events = pd.DataFrame({"onset": [0.0], "duration": [1.0], "stim_id": ["zebra"]})
    with pytest.raises(InputError, match="stim_id 'zebra' has no features"):
        tr_features(events, np.ones((1, 2)), ["A"], 3, 1.0)


def test_zscore_within_runs_equals_scipy_per_run():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4)) * 3 + 5
    X[:, 3] = 2.0  # constant: zeros
    runs = np.repeat([0, 1, 2], [8, 12, 10])
    got = zscore_within_runs(X, runs)
    for r in range(3):
        rows = runs == r
        np.testing.assert_allclose(got[rows, :3], zscore(X[rows, :3], axis=0), atol=1e-12)
    assert (got[:, 3] == 0).all()


def test_delays_equal_a_direct_loop_and_never_cross_runs():
    rng = np.random.default_rng(2)
    runs = np.repeat([0, 1, 2], [6, 9, 7])
    X = rng.standard_normal((runs.size, 3))
    delays = [0, 1, 3, -2]
    got = delay_within_runs(X, runs, delays)
    assert got.shape == (runs.size, 4 * 3)
    expected = np.zeros_like(got)
    for t in range(runs.size):
        for k, d in enumerate(delays):
            s = t - d
            if 0 <= s < runs.size and runs[s] == runs[t]:
                expected[t, 3 * k : 3 * (k + 1)] = X[s]
    np.testing.assert_array_equal(got, expected)
    # Each run's own value: a delayed copy holds only its run's value, or 0 (padding).
    label = (runs + 1.0)[:, None]
    shifted = delay_within_runs(label, runs, [1, 2, 3, 4, 5])
    assert np.all((shifted == 0) | (shifted == label))
    # The first d TRs of each run are padding, never the end of the previous run.
    for k, d in enumerate([1, 2, 3, 4, 5]):
        for r in range(3):
            start = np.flatnonzero(runs == r)[0]
            assert (shifted[start : start + d, k] == 0).all()


def test_fir_design_chains_runs():
    rng = np.random.default_rng(3)
    ids = ["a", "b", "c"]
    features = rng.standard_normal((3, 2))
    ev = [
        pd.DataFrame({"onset": [0.0, 4.0], "duration": [4.0, 6.0], "stim_id": ["a", "b"]}),
        pd.DataFrame({"onset": [1.0, 5.0], "duration": [4.0, 3.0], "stim_id": ["c", "a"]}),
    ]
    X, runs = fir_design(ev, [6, 5], 2.0, features, ids, delays=[1, 2])
    assert X.shape == (11, 4) and runs.tolist() == [0] * 6 + [1] * 5
    per_run = [tr_features(e, features, ids, n, 2.0) for e, n in zip(ev, [6, 5], strict=True)]
    z = zscore_within_runs(np.concatenate(per_run), runs)
    np.testing.assert_allclose(X, delay_within_runs(z, runs, [1, 2]))


def test_check_fir_needs_two_runs_durations_and_short_delays():
    ev = pd.DataFrame({"onset": [0.0], "duration": [1.0], "stim_id": ["a"]})
    with pytest.raises(InputError, match=r"sub\.timeseries\.fir: 1 run; expected at least 2"):
        check_fir({"fir": {}}, [50], [ev], "sub")
    with pytest.raises(InputError, match="delay 8 TRs is not shorter than run 1"):
        check_fir({"fir": {"delays": [1, 8]}}, [50, 8], [ev, ev], "sub")
    zero = ev.assign(duration=0.0)
    with pytest.raises(InputError, match=r"runs\.1\.events: stim_id 'a' has duration 0"):
        check_fir({"fir": {}}, [50, 50], [ev, zero], "sub")
    check_fir({"tr": 1.0}, [50], [zero], "sub")  # without fir: nothing to check


def _gifti_run(path, data, struct):
    import nibabel as nib

    img = nib.gifti.GiftiImage(meta=nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": struct}))
    for frame in data:
        img.add_gifti_data_array(nib.gifti.GiftiDataArray(frame.astype(np.float32)))
    nib.save(img, path)


def test_read_roi_series_gifti_runs_and_roi_columns(tmp_path):
    """Two GIFTI runs per hemisphere on fsaverage5 (10242 vertices each), an ROI of .annot
    files: the series are the ROI's vertices (left, then right + 10242), runs one after the
    other, each cleaned of its cosine drifts and mean; a run on another mesh stops with the
    run's key."""
    import nibabel as nib

    from dnnmap.encoding.fir import read_roi_series

    n = 10242
    rng = np.random.default_rng(0)
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 1]])
    vertices = {}
    runs = []
    truth = []
    for hemi in ("lh", "rh"):
        vertices[hemi] = np.sort(rng.choice(n, 5, replace=False))
        annot = np.zeros(n, int)
        annot[vertices[hemi]] = 1
        nib.freesurfer.write_annot(tmp_path / f"{hemi}.v.annot", annot, ctab, [b"unknown", b"vis"])
    for r, n_scans in enumerate((7, 9)):
        run = {}
        full = rng.standard_normal((n_scans, 2 * n))
        for k, (side, struct) in enumerate((("left", "CortexLeft"), ("right", "CortexRight"))):
            path = tmp_path / f"run-{r}.{side[0].upper()}.func.gii"
            _gifti_run(path, full[:, k * n : (k + 1) * n], struct)
            run[side] = str(path)
        runs.append({"data": run, "events": "unused.tsv"})
        truth.append(full)
    entry = {
        "responses": "timeseries",
        "timeseries": {"tr": 1.0, "runs": runs},
        "roi_files": [str(tmp_path / "lh.v.annot"), str(tmp_path / "rh.v.annot")],
    }
    series, n_scans, index = read_roi_series(entry, "V", ["vis"], "brain.subjects.s")
    expected_index = np.concatenate([vertices["lh"], vertices["rh"] + n])
    np.testing.assert_array_equal(index, expected_index)
    assert n_scans.tolist() == [7, 9]
    from dnnmap.brain.fir import nuisance_design, regress_out

    expected = [
        regress_out(t[:, expected_index], nuisance_design(len(t), 1.0, 0.01)) for t in truth
    ]  # each run cleaned of its drifts and mean
    np.testing.assert_allclose(series, np.concatenate(expected), atol=1e-5)

    small = tmp_path / "run-x.L.func.gii"
    _gifti_run(small, rng.standard_normal((7, 2562)), "CortexLeft")
    _gifti_run(tmp_path / "run-x.R.func.gii", rng.standard_normal((7, 2562)), "CortexRight")
    runs.append({"data": {"left": str(small), "right": str(tmp_path / "run-x.R.func.gii")}})
    with pytest.raises(InputError, match=r"brain\.subjects\.s\.timeseries\.runs\.2\.data: "):
        read_roi_series(entry, "V", ["vis"], "brain.subjects.s")


@pytest.mark.filterwarnings("ignore:From release 0.14.0:DeprecationWarning")
def test_nuisance_regression_equals_nilearn_clean():
    """Cosine drifts (0.01 Hz at TR 2 s), two confounds and a constant regressed out equal
    nilearn.signal.clean with the same drifts and confounds, up to the mean it keeps."""
    from nilearn.signal import clean

    from dnnmap.brain.fir import nuisance_design, regress_out

    rng = np.random.default_rng(0)
    n = 120
    Y = rng.standard_normal((n, 5)) + np.linspace(0, 3, n)[:, None] + 100.0
    confounds = pd.DataFrame({"a": rng.standard_normal(n), "b": np.sin(np.arange(n) / 5)})
    D = nuisance_design(n, 2.0, 0.01, confounds)
    assert D.shape == (n, 2 + 4 + 1)  # confounds, 4 drifts below 0.01 Hz over 240 s, constant
    got = regress_out(Y, D)
    ref = clean(
        Y,
        detrend=False,
        standardize=None,
        confounds=D[:, :-1],
        filter=False,
        t_r=2.0,
    )
    np.testing.assert_allclose(got, ref - ref.mean(axis=0), atol=1e-5)
    centered = regress_out(Y, nuisance_design(n, 2.0, None))  # the constant alone
    np.testing.assert_allclose(centered, Y - Y.mean(axis=0), atol=1e-4)


def test_read_roi_series_cifti_dtseries_runs_with_the_atlas(tmp_path):
    """Two CIFTI dtseries runs on the fsLR-32k cortex (59412 grayordinates), an ROI of the
    HCP-MMP atlas: the series are V1's grayordinates (as the atlas resolves them on those
    brain models), runs one after the other, each cleaned of its cosine drifts and mean."""
    import nibabel as nib
    from nibabel.cifti2 import SeriesAxis

    from dnnmap.brain.atlas import mmp_atlas, resolve_roi
    from dnnmap.brain.cifti import fslr32k_brain_models
    from dnnmap.brain.fir import nuisance_design, regress_out
    from dnnmap.encoding.fir import read_roi_series

    bm = fslr32k_brain_models()
    rng = np.random.default_rng(1)
    runs, truth = [], []
    for r, n_scans in enumerate((7, 9)):
        Y = rng.standard_normal((n_scans, len(bm))).astype(np.float32)
        header = nib.cifti2.Cifti2Header.from_axes((SeriesAxis(0, 1.5, n_scans), bm))
        nib.save(nib.Cifti2Image(Y, header), tmp_path / f"run-{r}.dtseries.nii")
        runs.append({"data": f"run-{r}.dtseries.nii", "events": "unused.tsv"})
        truth.append(Y.astype(np.float64))
    entry = {"responses": "timeseries", "timeseries": {"tr": 1.5, "runs": runs}}
    series, n_scans, index = read_roi_series(entry, "V1", ["V1"], "s", base=tmp_path)
    expected_index = resolve_roi("V1", ["V1"], mmp_atlas())
    assert len(expected_index) > 1000
    np.testing.assert_array_equal(index, expected_index)
    assert n_scans.tolist() == [7, 9] and series.shape == (16, len(expected_index))
    expected = [
        regress_out(t[:, expected_index], nuisance_design(len(t), 1.5, 0.01)) for t in truth
    ]
    np.testing.assert_allclose(series, np.concatenate(expected), atol=1e-5)
