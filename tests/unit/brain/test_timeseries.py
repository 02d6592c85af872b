"""Per-stimulus betas from time series (dnnmap.brain.timeseries): against nilearn's
FirstLevelModel on a NIfTI run (LSA and LSS), against the closed form on noise-free
simulated data, and the events checks."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from dnnmap.brain.timeseries import (
    betas_over_runs,
    check_runs,
    design_matrix,
    read_events,
    repeats_over_runs,
    run_betas,
    subject_betas,
)
from dnnmap.errors import InputError

TR = 2.0
N_SCANS = 120
STIMS = ["a", "b", "c", "d", "e", "f"]


def _events(rng, stims=STIMS, repeats=2):
    order = rng.permutation(np.repeat(stims, repeats))
    onsets = 6.0 + 9.0 * np.arange(len(order)) + rng.uniform(0, 2, len(order))
    return pd.DataFrame({"onset": onsets, "duration": 1.0, "stim_id": order})


def _simulate(events, betas, rng, n_cols, noise=0.0, drift=True):
    """Y = X_stim @ betas (+ a slow drift and an offset) (+ noise), with the design of
    :func:`design_matrix` (nilearn's glover HRF) of one regressor per stimulus."""
    stims = list(dict.fromkeys(events["stim_id"]))
    X = design_matrix(events.assign(trial_type=events["stim_id"]), N_SCANS, TR, trial_types=stims)
    Y = X[stims].to_numpy() @ betas[[STIMS.index(s) for s in stims]]
    if drift:
        Y = Y + 5.0 + np.linspace(0, 1, N_SCANS)[:, None] * rng.standard_normal(n_cols)
    return Y + noise * rng.standard_normal(Y.shape)


def test_lsa_recovers_betas_exactly_without_noise():
    rng = np.random.default_rng(0)
    events = _events(rng)
    truth = rng.standard_normal((len(STIMS), 7))
    Y = _simulate(events, truth, rng, 7, drift=False)
    stims, betas = run_betas(Y, events, TR, method="lsa")
    order = [STIMS.index(s) for s in stims]
    np.testing.assert_allclose(betas, truth[order], atol=1e-8)
    # the closed form: least squares on nilearn's design gives the same coefficients
    X = design_matrix(events.assign(trial_type=events["stim_id"]), N_SCANS, TR, trial_types=stims)
    closed = np.linalg.lstsq(X.to_numpy(), Y, rcond=None)[0][: len(stims)]
    np.testing.assert_allclose(betas, closed, atol=1e-8)


@pytest.mark.parametrize("method", ["lsa", "lss"])
def test_betas_match_nilearn_first_level_model(tmp_path, method):
    from nilearn.glm.first_level import FirstLevelModel

    rng = np.random.default_rng(1)
    events = _events(rng)
    n_cols = 8
    truth = rng.standard_normal((len(STIMS), n_cols))
    Y = _simulate(events, truth, rng, n_cols, noise=0.1)
    img = nib.Nifti1Image(Y.T.reshape(2, 2, 2, N_SCANS).astype(np.float64), np.eye(4))
    mask = nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4))
    stims, betas = run_betas(Y, events, TR, method=method, noise_model="ols")
    model = None
    for k, stim in enumerate(stims):
        if method == "lsa":  # one model, a contrast per stimulus
            ev = events.assign(trial_type=events["stim_id"])
        else:  # one model per stimulus: it, and all other events
            ev = events.assign(trial_type=np.where(events["stim_id"] == stim, stim, "other"))
        if model is None or method == "lss":
            model = FirstLevelModel(
                t_r=TR, noise_model="ols", signal_scaling=False, mask_img=mask, hrf_model="glover"
            )
            model.fit(img, events=ev[["onset", "duration", "trial_type"]])
        effect = model.compute_contrast(stim, output_type="effect_size")
        reference = np.asarray(effect.dataobj).reshape(-1)
        np.testing.assert_allclose(betas[k], reference, rtol=1e-6, atol=1e-8)
    # noisy data: the betas still follow the truth (r over stimuli x columns)
    order = [STIMS.index(s) for s in stims]
    assert np.corrcoef(betas.ravel(), truth[order].ravel())[0, 1] > 0.8


def test_events_checks(tmp_path):
    rows = "onset\tduration\tstim_id\n0\t1\ta\n10\t1\tn/a\n20\t1\tb\n"
    (tmp_path / "ok.tsv").write_text(rows)
    events = read_events(tmp_path / "ok.tsv", STIMS, N_SCANS, TR)
    assert list(events["stim_id"]) == ["a", "b"]
    (tmp_path / "unknown.tsv").write_text(rows + "30\t1\tzebra\n")
    with pytest.raises(InputError) as err:
        read_events(tmp_path / "unknown.tsv", STIMS, N_SCANS, TR, "sub-1.events")
    assert str(err.value) == (
        f"sub-1.events: {tmp_path / 'unknown.tsv'} row 5: stim_id 'zebra' is not in the "
        "stimulus table; expected a stimulus id (or n/a for events without a stimulus)"
    )
    (tmp_path / "late.tsv").write_text(rows + "240\t1\tc\n")
    with pytest.raises(
        InputError,
        match=r"row 5: onset 240 s is past the run's end "
        r"\(120 volumes x TR 2 s = 240 s\)",
    ):
        read_events(tmp_path / "late.tsv", STIMS, N_SCANS, TR)
    (tmp_path / "cols.tsv").write_text("onset\ttrial_type\n0\ta\n")
    with pytest.raises(InputError, match=r"missing duration, stim_id"):
        read_events(tmp_path / "cols.tsv", STIMS, N_SCANS, TR)
    with pytest.raises(InputError, match=r"stim_id 'c' is in no run's events"):
        betas_over_runs([(["a", "b"], np.zeros((2, 3)))], ["a", "b", "c"])
    runs = [(["a", "b"], np.ones((2, 3))), (["b"], np.full((1, 3), 2.0))]
    repeats = repeats_over_runs(runs, ["a", "b"])
    np.testing.assert_array_equal(repeats[:, 1, 0], [1.0, 2.0])  # b: run 1, then run 2
    assert repeats[0, 0, 0] == 1.0 and np.isnan(repeats[1, 0]).all()  # a: one run only
    assert repeats_over_runs(runs[:1], ["a", "b"]) is None


def test_subject_betas_over_two_nifti_runs_with_confounds(tmp_path):
    """Two runs of a 3x3x3 volume inside a mask, each showing every stimulus once, with an
    offset and a motion confound (in the confounds table): the averaged LSA betas recover the
    truth; runs are checked at start-up. (LSS lumps the other events into one regressor, so
    it is biased where their amplitudes differ: it is checked against nilearn above.)"""
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((len(STIMS), 27))
    mask = np.zeros((3, 3, 3), np.uint8)
    mask[1:, 1:, :] = 1
    keep = mask.reshape(-1) != 0
    runs = []
    for r in range(2):
        events = _events(rng, repeats=1)
        Y = _simulate(events, truth, rng, 27, noise=0.01, drift=False) + 3.0
        motion = rng.standard_normal(N_SCANS)
        Y = Y + np.outer(motion, rng.standard_normal(27))
        nib.save(nib.Nifti1Image(Y.T.reshape(3, 3, 3, N_SCANS), np.eye(4)), tmp_path / f"r{r}.nii")
        events.to_csv(tmp_path / f"r{r}_events.tsv", sep="\t", index=False)
        pd.DataFrame({"motion": motion}).to_csv(tmp_path / f"r{r}_conf.tsv", sep="\t", index=False)
        runs.append(
            {"data": f"r{r}.nii", "events": f"r{r}_events.tsv", "confounds": f"r{r}_conf.tsv"}
        )
    nib.save(nib.Nifti1Image(mask, np.eye(4)), tmp_path / "mask.nii")
    entry = {
        "responses": "timeseries",
        "mask": "mask.nii",
        "timeseries": {"tr": TR, "method": "lsa", "runs": runs},
    }
    space = check_runs(entry, STIMS, "sub-1", tmp_path)
    assert space.format == "nifti" and space.n_columns == 12
    betas, space, repeats = subject_betas(entry, STIMS, "sub-1", tmp_path)
    assert betas.shape == (len(STIMS), 12)
    np.testing.assert_allclose(betas, truth[:, keep], atol=0.05)
    # every stimulus in both runs: two repeats whose mean is the betas
    assert repeats.shape == (2, len(STIMS), 12)
    np.testing.assert_allclose(repeats.mean(axis=0), betas, rtol=1e-5, atol=1e-6)
    entry["timeseries"]["runs"][1]["events"] = "r0_events.tsv"
    entry["timeseries"]["runs"][0]["events"] = "late.tsv"
    (tmp_path / "late.tsv").write_text("onset\tduration\tstim_id\n250\t1\ta\n")
    with pytest.raises(
        InputError,
        match=r"^sub-1.timeseries.runs.0.events: .*onset 250 s is "
        r"past the run's end",
    ):
        check_runs(entry, STIMS, "sub-1", tmp_path)


def test_subject_betas_from_gifti_and_dtseries_runs(tmp_path):
    """The same GLM on GIFTI runs (fsaverage5, one data array per volume) and on a CIFTI
    dtseries run: noise-free LSA betas equal the truth."""
    from nibabel.cifti2 import SeriesAxis

    from dnnmap.brain.cifti import fslr32k_brain_models

    rng = np.random.default_rng(3)
    events = _events(rng, repeats=1)
    events.to_csv(tmp_path / "events.tsv", sep="\t", index=False)
    n_vertices = 10242
    truth = rng.standard_normal((len(STIMS), 2 * n_vertices)) * (rng.random(2 * n_vertices) < 0.01)
    Y = _simulate(events, truth, rng, 2 * n_vertices, drift=False) + 10.0
    for side, cols in (("L", slice(0, n_vertices)), ("R", slice(n_vertices, None))):
        img = nib.gifti.GiftiImage()
        for row in Y[:, cols].astype(np.float32):
            img.add_gifti_data_array(nib.gifti.GiftiDataArray(row))
        nib.save(img, tmp_path / f"run.{side}.func.gii")
    data = {"left": "run.L.func.gii", "right": "run.R.func.gii"}
    entry = {
        "responses": "timeseries",
        "timeseries": {"tr": TR, "runs": [{"data": data, "events": "events.tsv"}]},
    }
    assert check_runs(entry, STIMS, "s", tmp_path).mesh == "fsaverage5"
    betas, space, repeats = subject_betas(entry, STIMS, "s", tmp_path)
    assert space.format == "gifti" and repeats is None
    np.testing.assert_allclose(betas, truth, atol=1e-4)

    bm = fslr32k_brain_models()[:50]
    truth = rng.standard_normal((len(STIMS), 50))
    Y = _simulate(events, truth, rng, 50, drift=False)
    header = nib.cifti2.Cifti2Header.from_axes((SeriesAxis(0, TR, N_SCANS), bm))
    nib.save(nib.Cifti2Image(Y.astype(np.float32), header), tmp_path / "run.dtseries.nii")
    entry["timeseries"]["runs"][0]["data"] = "run.dtseries.nii"
    betas, space, _ = subject_betas(entry, STIMS, "s", tmp_path)
    assert space.format == "cifti" and space.brain_models == bm
    np.testing.assert_allclose(betas, truth, atol=1e-4)
