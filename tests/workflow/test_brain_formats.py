"""Real labs' brain data end to end: a NIfTI volume in a mask (ids from a sidecar, ROIs from a
label volume with a lookup table), GIFTI on fsaverage5 (named maps, ROIs from .annot files),
FreeSurfer MGH on fsaverage5 (ids from a TSV, ROIs from .label files) and two NIfTI runs of
time series with events (betas by nilearn's GLM) run through the workflow in one config;
each subject's encoding maps come back in its own format, and the layer that
drives each region in the simulation is recovered from them.

The simulated responses read the raw activations the workflow extracted (never its features):
half of each region's columns are random read-outs of conv1's units, half of fc6's, plus
noise. Connectome Workbench reads every GIFTI output where ``wb_command`` is installed.
"""

from __future__ import annotations

import shutil
import subprocess

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from workflow_helpers import (
    ROOT,
    demo_config,
    dnnmap_error,
    placeholder_subject,
    run_workflow,
    workbench_reads_every_map,
)

from dnnmap.brain.responses_io import read_volume_map_names
from dnnmap.brain.surface_io import read_gifti, read_mgh, read_mgh_names
from dnnmap.errors import InputError

N_STIM = 60
FS5 = 10242
LAYERS = ["conv1", "fc6"]
NOISE = 0.3


def _config(tmp_path) -> dict:
    table = pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t", dtype=str)
    table = table.iloc[np.linspace(0, len(table) - 1, N_STIM).astype(int)].copy()
    table["path"] = [str(ROOT / "resources" / p) for p in table["path"]]
    table.to_csv(tmp_path / "stimuli.tsv", sep="\t", index=False)
    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(tmp_path / "stimuli.tsv")
    config["models"]["alexnet"]["layers"] = LAYERS
    config["models"]["alexnet"]["preprocessing"]["resize"] = 64
    config["features"] = {"method": "none"}
    del config["simulation"]
    config["encoding"]["permutation"]["n_perm"] = 0
    config["rsa"]["enabled"] = False
    config["rsa"]["advanced"]["partition"] = {}
    config["stacking"] = config["joint"] = {}
    config.pop("interpret", None)  # it names the demo's subjects, ROIs and layers
    config["decoding"]["n_perm"] = 0
    config["brain"]["rois"] = {"visual": ["early", "late"]}
    return config


def _readouts(acts: dict, which: np.ndarray, rng) -> np.ndarray:
    """(n_stim, n_columns) responses: column j reads out layer LAYERS[which[j]] (raw units,
    z-scored, random weights), standardized, plus Gaussian noise of sd NOISE."""
    out = np.zeros((N_STIM, len(which)))
    for k, layer in enumerate(LAYERS):
        x = acts[layer]
        cols = np.flatnonzero(which == k)
        signal = x @ rng.standard_normal((x.shape[1], cols.size))
        out[:, cols] = (signal - signal.mean(0)) / signal.std(0)
    return (out + NOISE * rng.standard_normal(out.shape)).astype(np.float32)


def _activations(run) -> tuple[list[str], dict]:
    with h5py.File(run / "results" / "activations" / "alexnet.h5", "r") as f:
        ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["stim_id"][()]]
        acts = {}
        for layer in LAYERS:
            x = f["layers"][layer][()].reshape(len(ids), -1).astype(np.float64)
            x = x[:, x.std(0) > 0]
            acts[layer] = (x - x.mean(0)) / x.std(0)
    return ids, acts


def _write_volume_subject(folder, ids, acts, rng):
    """10x10x10 grid, mask of a 5x5x4 block; ROI labels: early (x < 4), late (x >= 4)."""
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[2:7, 2:7, 3:7] = 1
    ijk = np.argwhere(mask)
    which = (ijk[:, 0] >= 4).astype(int)
    labels = np.zeros((10, 10, 10), np.int16)
    labels[tuple(ijk.T)] = 1 + which
    responses = _readouts(acts, which, rng)
    order = rng.permutation(N_STIM)  # volumes in another order, named by the sidecar
    image = np.zeros((10, 10, 10, N_STIM), np.float32)
    image[tuple(ijk.T)] = responses[order].T
    image[0, 0, 0] = 1.0  # outside the mask: ignored
    nib.save(nib.Nifti1Image(image, affine), folder / "betas.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), folder / "brainmask.nii.gz")
    (folder / "betas_ids.txt").write_text("\n".join(ids[i] for i in order) + "\n")
    nib.save(nib.Nifti1Image(labels, affine), folder / "rois.nii.gz")
    (folder / "rois_lut.txt").write_text("1 early 255 0 0 0\n2 late 0 255 0 0\n")
    entry = {
        "responses": str(folder / "betas.nii.gz"),
        "mask": str(folder / "brainmask.nii.gz"),
        "ids": str(folder / "betas_ids.txt"),
        "roi_files": [{"file": str(folder / "rois.nii.gz"), "lut": str(folder / "rois_lut.txt")}],
    }
    return entry, which, ijk


def _write_timeseries_subject(folder, ids, acts, rng):
    """Two 4-D NIfTI runs (TR 1 s) of the volume subject's grid, 40 stimuli each every 5 s
    (half the stimuli in run 0, the other half in run 1, and 10 of each half in both runs:
    repeats); the time series are nilearn's glover-HRF design times the simulated betas, plus
    noise."""
    from dnnmap.brain.timeseries import design_matrix

    entry, which, ijk = _write_volume_subject(folder, ids, acts, rng)
    betas = _readouts(acts, which, rng)  # (n_stim, n_vox): what the GLM should find
    entry = {k: entry[k] for k in ("mask", "roi_files")}
    runs, n_scans, tr = [], 210, 1.0
    half = N_STIM // 2
    shown = (
        list(range(half)) + list(range(half, half + 10)),
        list(range(half, N_STIM)) + list(range(10)),
    )
    for r, picks in enumerate(shown):
        stims = [ids[i] for i in rng.permutation(picks)]
        events = pd.DataFrame(
            {"onset": 4.0 + 5.0 * np.arange(len(stims)), "duration": 1.0, "stim_id": stims}
        )
        X = design_matrix(
            events.assign(trial_type=events["stim_id"]), n_scans, tr, trial_types=stims
        )
        Y = X[stims].to_numpy() @ betas[[ids.index(s) for s in stims]]
        Y = 100.0 + Y + 0.05 * rng.standard_normal(Y.shape)
        image = np.zeros((10, 10, 10, n_scans), np.float32)
        image[tuple(ijk.T)] = Y.T
        nib.save(nib.Nifti1Image(image, np.diag([2.0, 2.0, 2.0, 1.0])), folder / f"run-{r}.nii.gz")
        events.to_csv(folder / f"run-{r}_events.tsv", sep="\t", index=False)
        runs.append(
            {"data": str(folder / f"run-{r}.nii.gz"), "events": str(folder / f"run-{r}_events.tsv")}
        )
    entry.update(responses="timeseries", timeseries={"tr": tr, "method": "lsa", "runs": runs})
    return entry, which, ijk


def _surface_truth(rng):
    """Per hemisphere: 40 early and 40 late vertices at random places."""
    vertices = {h: rng.choice(FS5, 80, replace=False) for h in ("lh", "rh")}
    return vertices


def _write_gifti_subject(folder, ids, acts, rng):
    vertices = _surface_truth(rng)
    entry = {"responses": {}, "roi_files": []}
    truth = {}
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 1], [0, 255, 0, 0, 2]])
    for hemi, side, struct in (("lh", "left", "CortexLeft"), ("rh", "right", "CortexRight")):
        v = vertices[hemi]
        which = np.repeat([0, 1], 40)
        data = np.zeros((N_STIM, FS5), np.float32)
        data[:, v] = _readouts(acts, which, rng)
        img = nib.gifti.GiftiImage(
            meta=nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": struct})
        )
        for k in np.argsort(ids)[::-1]:  # named maps, in another order than the table
            meta = nib.gifti.GiftiMetaData({"Name": ids[k]})
            img.add_gifti_data_array(nib.gifti.GiftiDataArray(data[k], meta=meta))
        path = folder / f"sub-gii.{side[0].upper()}.func.gii"
        nib.save(img, path)
        entry["responses"][side] = str(path)
        annot = np.zeros(FS5, int)
        annot[v] = 1 + which
        nib.freesurfer.write_annot(
            folder / f"{hemi}.visual.annot", annot, ctab, [b"unknown", b"early", b"late"]
        )
        entry["roi_files"].append(str(folder / f"{hemi}.visual.annot"))
        truth[side] = (v, which)
    return entry, truth


def _write_mgh_subject(folder, ids, acts, rng):
    vertices = _surface_truth(rng)
    entry = {"responses": {}, "ids": str(folder / "mgh_ids.tsv"), "roi_files": []}
    truth = {}
    pd.DataFrame({"stim_id": ids, "trial": range(N_STIM)}).to_csv(
        folder / "mgh_ids.tsv", sep="\t", index=False
    )
    for hemi, side in (("lh", "left"), ("rh", "right")):
        v = vertices[hemi]
        which = np.repeat([0, 1], 40)
        data = np.zeros((N_STIM, FS5), np.float32)
        data[:, v] = _readouts(acts, which, rng)
        path = folder / f"{hemi}.betas.mgz"
        nib.save(nib.MGHImage(data.T.reshape(FS5, 1, 1, N_STIM), np.eye(4)), path)
        entry["responses"][side] = str(path)
        for k, name in enumerate(("early", "late")):
            rows = "".join(f"{x}  0.0  0.0  0.0 0.0\n" for x in v[which == k])
            label = folder / f"{hemi}.{name}.label"
            label.write_text(f"#!ascii label\n{(which == k).sum()}\n{rows}")
            entry["roi_files"].append(str(label))
        truth[side] = (v, which)
    return entry, truth


RECOVERED = 0.7
"""Fewest columns whose best layer must be the driving one: chance is 0.5, and with 80-100
columns a fraction of 0.7 by chance has p < 1e-4 (binomial). Random-weight AlexNet's conv1 and
fc6 read-outs are correlated over 60 images: scikit-learn's RidgeCV on the same simulation
recovers 0.80-0.90 of the columns (measured while writing this test)."""


def _recovered(best: np.ndarray, which: np.ndarray) -> float:
    """Fraction of columns whose best layer (1-based) is the driving one."""
    return float(np.mean(best == which + 1))


@pytest.mark.slow
def test_volume_gifti_and_mgh_subjects_recover_their_driving_layers(tmp_path):
    run = tmp_path / "run"
    config = _config(tmp_path)
    # A placeholder brain lets the first run extract the activations the simulation reads.
    ids = list(pd.read_csv(config["stimuli"]["table"], sep="\t")["stim_id"])
    config["brain"]["subjects"] = {"sub-0": placeholder_subject(tmp_path, ids, ("early", "late"))}
    proc = run_workflow(run, config, "--cores", "2", "results/activations/alexnet.h5")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    ids, acts = _activations(run)
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    vol_entry, vol_which, ijk = _write_volume_subject(data, ids, acts, rng)
    gii_entry, gii_truth = _write_gifti_subject(data, ids, acts, rng)
    mgh_entry, mgh_truth = _write_mgh_subject(data, ids, acts, rng)
    (data / "ts").mkdir()
    ts_entry, ts_which, _ = _write_timeseries_subject(data / "ts", ids, acts, rng)
    config["brain"]["subjects"] = {
        "sub-vol": vol_entry,
        "sub-gii": gii_entry,
        "sub-mgh": mgh_entry,
        "sub-ts": ts_entry,
    }
    targets = [
        "results/maps/sub-vol/alexnet/encoding_r.nii.gz",
        "results/maps/sub-gii/alexnet/encoding_r.L.func.gii",
        "results/maps/sub-gii/alexnet/encoding_r.R.func.gii",
        "results/maps/sub-mgh/alexnet/encoding_r.lh.mgz",
        "results/maps/sub-mgh/alexnet/encoding_r.rh.mgz",
        "results/maps/sub-ts/alexnet/encoding_r.nii.gz",
        "results/maps/sub-vol/alexnet/encoding_brain.png",
        "results/maps/sub-gii/alexnet/encoding_brain.png",
    ]
    proc = run_workflow(run, config, "--cores", "2", *targets)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]

    # NIfTI maps on the input grid, names in the comment extension
    img = nib.load(run / targets[0])
    assert img.shape == (10, 10, 10, 3) and np.allclose(img.affine, np.diag([2, 2, 2, 1]))
    assert read_volume_map_names(run / targets[0]) == [*LAYERS, "best_layer"]
    maps = np.asarray(img.dataobj)
    inside = maps[tuple(ijk.T)]  # (n_vox, 3)
    assert _recovered(inside[:, 2], vol_which) >= RECOVERED
    r_driving = inside[np.arange(len(ijk)), vol_which]
    r_other = inside[np.arange(len(ijk)), 1 - vol_which]
    assert np.median(r_driving) > 0.5 and np.median(r_driving) > np.median(r_other)
    outside = np.ones((10, 10, 10), bool)
    outside[tuple(ijk.T)] = False
    assert (maps[outside] == 0).all()

    # GIFTI and MGH maps per hemisphere, on every vertex of fsaverage5
    for side, path in (("left", targets[1]), ("right", targets[2])):
        got, names, hemi = read_gifti(run / path)
        assert got.shape == (3, FS5) and names == [*LAYERS, "best_layer"] and hemi == side
        v, which = gii_truth[side]
        assert _recovered(got[2, v], which) >= RECOVERED
        rest = np.setdiff1d(np.arange(FS5), v)
        assert (got[:, rest] == 0).all()
        if shutil.which("wb_command"):
            info = subprocess.run(
                ["wb_command", "-file-information", str(run / path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert info.returncode == 0 and "best_layer" in info.stdout, info.stderr
    for side, path in (("left", targets[3]), ("right", targets[4])):
        got = read_mgh(run / path)
        v, which = mgh_truth[side]
        assert got.shape == (3, FS5) and _recovered(got[2, v], which) >= RECOVERED
        assert read_mgh_names(run / path, 3) == [*LAYERS, "best_layer"]  # names sidecar

    # Time series: betas by the GLM (LSA) over two runs, then the same maps as a volume
    maps = np.asarray(nib.load(run / targets[5]).dataobj)
    assert _recovered(maps[tuple(ijk.T)][:, 2], ts_which) >= RECOVERED
    with h5py.File(run / "results" / "brain" / "sub-ts" / "betas.h5", "r") as f:
        assert f["betas"].shape == (N_STIM, len(ijk))
        assert f["repeats"].shape == (2, N_STIM, len(ijk))  # 20 stimuli in both runs
    with h5py.File(run / "results" / "brain" / "sub-ts" / "visual.h5", "r") as f:
        assert f["repeats"].shape == (2, N_STIM, len(ijk))
        assert np.median(f["noise_ceiling"][()]) > 0.9  # noise sd 0.05: near-perfect repeats

    # Connectome Workbench reads every GIFTI output (where wb_command is installed)
    read = {p.relative_to(run).as_posix() for p in workbench_reads_every_map(run / "results")}
    assert not shutil.which("wb_command") or set(targets[1:3]) <= read

    # Brain pictures: a glass brain of the volume, the fsaverage5 mesh nilearn ships
    from PIL import Image

    for path in targets[6:]:
        with Image.open(run / path) as picture:
            assert picture.format == "PNG" and min(picture.size) > 300


def _startup_error(config) -> str:
    """The one-line error of the start-up checks the Snakefile runs (dnnmap.config), without
    starting Snakemake (the first case of the test below goes through it)."""
    from dnnmap.config import check_semantics

    ids = list(pd.read_csv(config["stimuli"]["table"], sep="\t")["stim_id"])
    with pytest.raises(InputError) as err:
        check_semantics(config, ids, ".", "config.yaml")
    assert "\n" not in str(err.value)
    return str(err.value)


def test_bad_brain_files_stop_before_any_job(tmp_path):
    """A mask on another grid (through Snakemake: one dnnmap line, no results); the same
    start-up checks called directly: a mask with another affine, an ROI volume on another
    grid, ids missing a stimulus, hemispheres on two meshes, a vertex count of no known mesh,
    an ROI file on another mesh, events naming an unknown stimulus (onsets past a run's end:
    test_fir_timeseries.test_fir_startup_checks and tests/unit/brain/test_timeseries.py)."""
    config = _config(tmp_path)
    ids = list(pd.read_csv(config["stimuli"]["table"], sep="\t")["stim_id"])
    affine = np.eye(4)
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4, N_STIM), np.float32), affine), tmp_path / "b.nii")
    nib.save(nib.Nifti1Image(np.ones((4, 4, 5), np.uint8), affine), tmp_path / "m.nii")
    (tmp_path / "ids.txt").write_text("\n".join(ids))
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), affine), tmp_path / "early.nii")
    entry = {
        "responses": str(tmp_path / "b.nii"),
        "mask": str(tmp_path / "m.nii"),
        "ids": str(tmp_path / "ids.txt"),
        "roi_files": [str(tmp_path / "early.nii")],
    }
    config["brain"]["subjects"] = {"sub-x": entry}
    config["brain"]["rois"] = {"visual": ["early"]}
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "brain.subjects.sub-x.responses:" in line
    assert "m.nii: mask has shape (4, 4, 5); expected (4, 4, 4)" in line
    # the same start-up checks, called directly: a mask with another affine, an ROI file on
    # another grid, ids that miss a stimulus
    shifted = affine.copy()
    shifted[0, 3] += 2
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), shifted), tmp_path / "m2.nii")
    entry["mask"] = str(tmp_path / "m2.nii")
    line = _startup_error(config)
    assert "brain.subjects.sub-x.responses:" in line and "m2.nii: affine differs from" in line
    entry.pop("mask")
    nib.save(nib.Nifti1Image(np.ones((4, 4, 5), np.uint8), affine), tmp_path / "late.nii")
    entry["roi_files"] = [str(tmp_path / "late.nii")]
    config["brain"]["rois"] = {"visual": ["late"]}
    line = _startup_error(config)
    assert "brain.subjects.sub-x.roi_files.0:" in line and "another space" in line
    entry["roi_files"] = [str(tmp_path / "early.nii")]
    config["brain"]["rois"] = {"visual": ["erly"]}  # a label the subject's files lack
    line = _startup_error(config)
    assert "sub-x" in line and "'erly'" in line and "did you mean 'early'" in line
    config["brain"]["rois"] = {"visual": ["early"]}
    (tmp_path / "ids.txt").write_text("\n".join([*ids[:-1], "zebra"]))
    line = _startup_error(config)
    assert f"no map named {ids[-1]!r}" in line
    (tmp_path / "ids.txt").write_text("\n".join(ids))

    for hemi, n in (("lh", FS5), ("rh", 40962)):
        frames = np.ones((n, 1, 1, N_STIM), np.float32)
        nib.save(nib.MGHImage(frames, np.eye(4)), tmp_path / f"{hemi}.b.mgz")
    entry = {
        "responses": {"left": str(tmp_path / "lh.b.mgz"), "right": str(tmp_path / "rh.b.mgz")},
        "ids": str(tmp_path / "ids.txt"),
        "roi_files": [str(tmp_path / "lh.early.label")],
    }
    config["brain"]["subjects"] = {"sub-x": entry}
    line = _startup_error(config)
    assert "the hemispheres are on different meshes (left fsaverage5 (10242 vertices)" in line
    nib.save(nib.MGHImage(np.ones((5000, 1, 1, N_STIM), np.float32), np.eye(4)), tmp_path / "x.mgz")
    entry["responses"]["right"] = str(tmp_path / "x.mgz")
    line = _startup_error(config)
    assert "x.mgz" in line and "5000 vertices fit no known surface mesh" in line

    entry["responses"]["right"] = str(tmp_path / "lh.b.mgz")
    annot = tmp_path / "lh.early.annot"
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 1]])
    nib.freesurfer.write_annot(annot, np.ones(2562, int), ctab, [b"unknown", b"early"])
    entry["roi_files"] = [str(annot)]
    line = _startup_error(config)
    assert "brain.subjects.sub-x.roi_files.0:" in line
    assert "ROI file is in another space than the data: 2562 vertices (fsaverage4)" in line

    run_file = tmp_path / "run.nii"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 100), np.float32), affine), run_file)
    (tmp_path / "events.tsv").write_text("onset\tduration\tstim_id\n2\t1\tzebra\n")
    config["brain"]["subjects"] = {
        "sub-x": {
            "responses": "timeseries",
            "timeseries": {
                "tr": 2.0,
                "runs": [{"data": str(run_file), "events": str(tmp_path / "events.tsv")}],
            },
            "roi_files": [str(tmp_path / "early.nii")],
        }
    }
    line = _startup_error(config)
    assert "brain.subjects.sub-x.timeseries.runs.0.events:" in line
    assert "row 2: stim_id 'zebra' is not in the stimulus table" in line
    results = tmp_path / "run" / "results"
    assert not results.exists() or not any(p.is_file() for p in results.rglob("*"))
