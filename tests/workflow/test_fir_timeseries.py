"""FIR encoding of continuous stimuli on time series, end to end: four NIfTI runs of short
stimuli shown back to back (a movie of 3-s clips), with ``timeseries.fir``; the workflow
encodes each ROI's time series from each layer's features with folds of whole runs and
writes the maps as NIfTI and the summary table, with p-values from 39 circular shifts of each
run (the signal ROI significant family-wise, the noise ROI not), and the FIR maps' picture.
The same runs written as GIFTI time series on fsaverage5 go through the same rule scripts
(extract_roi_series, encode_fir, encoding_maps, called in-process) and give the same r.

The simulated brain is built here, independently of the pipeline's FIR code: it reads the raw
activations the workflow extracted (never its features), projects fc6's z-scored units on
random weights, lays each stimulus' read-out on a 0.1-s grid for the seconds it is shown,
convolves with nilearn's glover HRF and samples every TR, then adds AR(1) noise. The ``signal``
ROI holds such voxels, the ``noise`` ROI noise alone. The workflow must give fc6 a higher r
than conv1 in the signal ROI, and r near 0 in the noise ROI.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
from workflow_helpers import (
    ROOT,
    demo_config,
    placeholder_subject,
    run_workflow,
    workbench_reads_every_map,
)

from dnnmap.brain.surface_io import read_gifti

N_STIM = 24
LAYERS = ["conv1", "fc6"]
TR = 1.0
N_RUNS = 4
CLIP = 3.0  # seconds each stimulus is shown
SHAPE = (8, 8, 6)  # 384 voxels: x < 4 signal, x >= 4 noise
N_COMPONENTS = 5
"""Components of each layer's PCA over the 24 stimuli. Any layer's lossless features span the
same stimulus space, so layers differ only through what their leading components hold: on
this simulation (library calls, fit on all stimuli) the fraction of signal voxels where fc6
beats conv1 was 0.83, 0.97, 0.71 and 0.23 at 3, 5, 10 and 20 components (median r of fc6
0.59, 0.58, 0.53, 0.45; conv1 about 0.50 throughout)."""


def _config(tmp_path) -> dict:
    table = pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t", dtype=str)
    table = table.iloc[np.linspace(0, len(table) - 1, N_STIM).astype(int)].copy()
    table["path"] = [str(ROOT / "resources" / p) for p in table["path"]]
    table.to_csv(tmp_path / "stimuli.tsv", sep="\t", index=False)
    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(tmp_path / "stimuli.tsv")
    config["models"]["alexnet"]["layers"] = LAYERS
    config["models"]["alexnet"]["preprocessing"]["resize"] = 64
    config["features"] = {"method": "pca", "n_components": N_COMPONENTS}
    del config["simulation"]
    config["encoding"]["permutation"]["n_perm"] = 0
    config["rsa"]["enabled"] = False
    config["rsa"]["advanced"]["partition"] = {}
    config["stacking"] = config["joint"] = {}
    config.pop("interpret", None)
    config["decoding"]["enabled"] = False
    config["brain"]["rois"] = {"signal": ["signal"], "noise": ["noise"]}
    return config


def _raw_readout(run, layer, n_out, rng) -> tuple[list[str], np.ndarray]:
    """(n_stim, n_out) random read-outs of a layer's raw z-scored units."""
    with h5py.File(run / "results" / "activations" / "alexnet.h5", "r") as f:
        ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["stim_id"][()]]
        x = f["layers"][layer][()].reshape(len(ids), -1).astype(np.float64)
    x = x[:, x.std(0) > 0]
    x = (x - x.mean(0)) / x.std(0)
    out = x @ rng.standard_normal((x.shape[1], n_out))
    return ids, (out - out.mean(0)) / out.std(0)


def _bold(onsets, stims, readout, ids, n_scans):
    """HRF-convolved read-out sampled every TR: stimuli laid out on a 0.1-s grid."""
    from nilearn.glm.first_level import glover_hrf

    dt = 0.1
    grid = np.zeros((round(n_scans * TR / dt), readout.shape[1]))
    for onset, stim in zip(onsets, stims, strict=True):
        a = round(onset / dt)
        grid[a : a + round(CLIP / dt)] = readout[ids.index(stim)]
    hrf = glover_hrf(t_r=TR, oversampling=round(TR / dt), time_length=32.0)
    conv = np.apply_along_axis(lambda g: np.convolve(g, hrf)[: g.size], 0, grid)
    return conv[:: round(TR / dt)][:n_scans]


def _write_runs(folder, run, rng) -> dict:
    mask = np.ones(SHAPE, np.uint8)
    ijk = np.argwhere(mask)
    signal = ijk[:, 0] < 4
    labels = np.where(signal, 1, 2).astype(np.int16).reshape(SHAPE)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image(labels, affine), folder / "rois.nii.gz")
    (folder / "lut.txt").write_text("1 signal\n2 noise\n")
    ids, readout = _raw_readout(run, "fc6", 3, rng)  # 3 latent read-outs of fc6
    mixing = rng.standard_normal((3, int(signal.sum())))
    runs, series = [], []
    for r in range(N_RUNS):
        stims = [ids[i] for i in rng.permutation(N_STIM)[:18]]  # 18 clips per run
        onsets = 2.0 + CLIP * np.arange(len(stims))
        n_scans = int(onsets[-1] + CLIP + 14)
        drive = _bold(onsets, stims, readout, ids, n_scans) @ mixing
        drive /= drive.std(0)
        noise = np.zeros((n_scans, len(ijk)))
        e = rng.standard_normal((n_scans, len(ijk)))
        for t in range(n_scans):
            noise[t] = (0.5 * noise[t - 1] if t else 0.0) + e[t]
        Y = 100.0 + noise
        Y[:, signal] += 1.5 * drive
        image = np.zeros((*SHAPE, n_scans), np.float32)
        image[tuple(ijk.T)] = Y.T
        nib.save(nib.Nifti1Image(image, affine), folder / f"run-{r}.nii.gz")
        series.append(Y.astype(np.float32))
        events = pd.DataFrame({"onset": onsets, "duration": CLIP, "stim_id": stims})
        events.to_csv(folder / f"run-{r}_events.tsv", sep="\t", index=False)
        runs.append(
            {"data": str(folder / f"run-{r}.nii.gz"), "events": str(folder / f"run-{r}_events.tsv")}
        )
    return (
        {
            "responses": "timeseries",
            "timeseries": {
                "tr": TR,
                "method": "fir",
                "runs": runs,
                "fir": {"delays": [1, 2, 3, 4, 5, 6], "n_perm": 39},
            },
            "roi_files": [{"file": str(folder / "rois.nii.gz"), "lut": str(folder / "lut.txt")}],
        },
        signal,
        series,
    )


FS5 = 10242


def _gifti_subject(folder, entry, signal, series) -> dict:
    """The same runs as GIFTI time series of the left hemisphere of fsaverage5 (one data
    array per volume): voxel k on vertex k, ROIs from an .annot file; no circular shifts."""
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 1], [0, 255, 0, 0, 2]])
    annot = np.zeros(FS5, int)
    annot[: signal.size] = np.where(signal, 1, 2)
    names = [b"unknown", b"signal", b"noise"]
    nib.freesurfer.write_annot(folder / "lh.rois.annot", annot, ctab, names)
    runs = []
    for r, Y in enumerate(series):
        img = nib.gifti.GiftiImage(
            meta=nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": "CortexLeft"})
        )
        for t in range(len(Y)):
            frame = np.zeros(FS5, np.float32)
            frame[: signal.size] = Y[t]
            img.add_gifti_data_array(nib.gifti.GiftiDataArray(frame))
        nib.save(img, folder / f"run-{r}.L.func.gii")
        events = entry["timeseries"]["runs"][r]["events"]
        runs.append({"data": {"left": str(folder / f"run-{r}.L.func.gii")}, "events": events})
    fir = {**entry["timeseries"]["fir"], "n_perm": 0}
    return {
        "responses": "timeseries",
        "timeseries": {**entry["timeseries"], "runs": runs, "fir": fir},
        "roi_files": [str(folder / "lh.rois.annot")],
    }


def _script(name):
    """A rule script as a module (its main function; Snakemake's object is not needed)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fir_rules_in_process(run, config, subject, out) -> str:
    """A subject through the FIR rules' scripts in this process, as the rules call them
    (extract_roi_series per ROI, encode_fir per layer x ROI on the features the workflow
    made, encoding_maps), which costs a few seconds where a workflow run of the same jobs
    costs about 30; returns the left hemisphere's map file."""
    import copy

    import yaml

    from dnnmap.brain.subjects import subject_space
    from dnnmap.config import validate

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    config = {key: copy.deepcopy(value) for key, value in config.items()}  # no shared dicts
    validate(config, schema, "config.yaml")  # fills in the defaults, as the Snakefile does
    entry = config["brain"]["subjects"][subject]
    settings = entry["timeseries"]
    data = [run_["data"]["left"] for run_ in settings["runs"]]
    events = [run_["events"] for run_ in settings["runs"]]
    series = {}
    for roi, labels in config["brain"]["rois"].items():
        series[roi] = str(out / f"series_{roi}.h5")
        _script("extract_roi_series").main(entry, subject, roi, labels, data, series[roi])
    encoded = []
    for layer in LAYERS:  # layer-major, as the maps read them
        for roi in config["brain"]["rois"]:
            encoded.append(str(out / f"{layer}_{roi}.h5"))
            _script("encode_fir").main(
                str(run / "results" / "stimuli.tsv"),
                str(run / "results" / "features" / "alexnet" / f"{layer}.h5"),
                series[roi],
                events,
                settings,
                config["encoding"],
                config["compute"]["device"],
                subject,
                encoded[-1],
            )
    maps = str(out / "encoding_fir_r.L.func.gii")
    space = subject_space(entry, "unused")
    _script("encoding_maps").main(space, encoded, LAYERS, list(config["brain"]["rois"]), maps)
    return maps


def test_fir_encoding_recovers_the_driving_layer(tmp_path):
    run = tmp_path / "run"
    config = _config(tmp_path)
    ids = list(pd.read_csv(config["stimuli"]["table"], sep="\t")["stim_id"])
    config["brain"]["subjects"] = {"sub-0": placeholder_subject(tmp_path, ids, ("signal", "noise"))}
    proc = run_workflow(run, config, "--cores", "2", "results/activations/alexnet.h5")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    data = tmp_path / "data"
    data.mkdir()
    entry, signal, series = _write_runs(data, run, np.random.default_rng(0))
    (data / "gii").mkdir()
    (data / "gii_maps").mkdir()
    gii = _gifti_subject(data / "gii", entry, signal, series)
    config["brain"]["subjects"] = {"sub-ts": entry}
    targets = [
        "results/summary/encoding_fir.tsv",
        "results/maps/sub-ts/alexnet/encoding_fir_r.nii.gz",
    ]
    proc = run_workflow(run, config, "--cores", "2")  # rule all: the FIR outputs only
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert not (run / "results" / "brain" / "sub-ts").exists()  # no betas, no ROI files

    table = pd.read_csv(run / targets[0], sep="\t")
    table = table[table["subject"] == "sub-ts"].set_index(["layer", "roi"])
    assert table.loc[("fc6", "signal"), "median_r"] > 0.4
    assert table.loc[("fc6", "signal"), "median_r"] > table.loc[("conv1", "signal"), "median_r"]
    for layer in LAYERS:
        assert abs(table.loc[(layer, "noise"), "median_r"]) < 0.1
        assert table.loc[(layer, "noise"), "n_vox"] == (~signal).sum()
        # 39 circular shifts per run, refitted: max-statistic FWE over the ROI's voxels
        assert table.loc[(layer, "noise"), "frac_fwe_05"] <= 0.05
    assert table.loc[("fc6", "signal"), "frac_fwe_05"] > 0.5  # measured 0.70 (conv1 0.48)
    maps = np.asarray(nib.load(run / targets[1]).dataobj)
    assert maps.shape == (*SHAPE, 3)
    inside = maps.reshape(-1, 3)  # the mask is every voxel, in C order as argwhere
    assert np.mean(inside[signal, 2] == 2) > 0.7  # best layer: fc6 (2nd)
    logp = np.asarray(nib.load(run / targets[1].replace("_r.", "_logp.")).dataobj)
    r_fwe = np.asarray(nib.load(run / targets[1].replace("_r.", "_r_fwe.")).dataobj)
    assert logp.shape == r_fwe.shape == (*SHAPE, 2)  # one map per layer
    fc6_fwe = r_fwe.reshape(-1, 2)[:, 1]
    assert np.mean(fc6_fwe[signal] > 0) > 0.5 and np.mean(fc6_fwe[~signal] > 0) <= 0.05
    assert np.median(logp.reshape(-1, 2)[signal, 1]) > 1.3  # p < 0.05
    with h5py.File(run / "results/encoding_fir/sub-ts/alexnet/fc6/signal.h5", "r") as f:
        assert f["fold_scores"].shape == (N_RUNS, signal.sum())  # leave-one-run-out
        assert np.unique(f["run"][()]).tolist() == list(range(N_RUNS))

    # The same runs as GIFTI on fsaverage5 (left hemisphere), through the same rule scripts:
    # the same r, written as a GIFTI map that Connectome Workbench reads.
    path = _fir_rules_in_process(
        run,
        {**config, "brain": {**config["brain"], "subjects": {"sub-gii": gii}}},
        "sub-gii",
        data / "gii_maps",
    )
    got, names, hemi = read_gifti(path)
    assert got.shape == (3, FS5) and names == [*LAYERS, "best_layer"] and hemi == "left"
    np.testing.assert_allclose(got[:, : signal.size], inside.T, atol=1e-5)
    assert (got[:, signal.size :] == 0).all()
    read = workbench_reads_every_map(run / "results") + workbench_reads_every_map(Path(path).parent)
    assert not shutil.which("wb_command") or Path(path) in read
    from PIL import Image

    with Image.open(run / "results/maps/sub-ts/alexnet/encoding_fir_brain.png") as pic:
        assert pic.format == "PNG" and min(pic.size) > 300  # the FIR maps' picture

    # Beside betas (method lsa with a fir section) the same runs feed both analyses; a
    # fir-only subject is in no per-stimulus job.
    both = {**entry, "timeseries": {**entry["timeseries"], "method": "lsa"}}
    config["brain"]["subjects"] = {"sub-ts": entry, "sub-both": both}
    proc = run_workflow(run, config, "-n", "--quiet", "rules")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in proc.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert counts["estimate_betas"] == 1 and counts["encode_fir"] == 4  # sub-both's
    assert counts["encode"] == 4 and counts["extract_roi_series"] == 2


def test_fir_startup_checks(tmp_path):
    """One run, an event without a duration, a delay longer than a run, and an unknown
    stimulus each stop the start-up checks (dnnmap.config.check_semantics) with one line."""
    import pytest

    from dnnmap.config import check_semantics
    from dnnmap.errors import InputError

    config = _config(tmp_path)
    ids = list(pd.read_csv(config["stimuli"]["table"], sep="\t")["stim_id"])
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2, 40), np.float32), np.eye(4)), tmp_path / "r.nii")
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.int16), np.eye(4)), tmp_path / "rois.nii")
    (tmp_path / "lut.txt").write_text("1 signal\n")
    config["brain"]["rois"] = {"signal": ["signal"]}
    events = pd.DataFrame({"onset": 2.0 * np.arange(N_STIM), "duration": 2.0, "stim_id": ids})

    def error(runs, fir=None, table=events) -> str:
        table.to_csv(tmp_path / "ev.tsv", sep="\t", index=False)
        run = {"data": str(tmp_path / "r.nii"), "events": str(tmp_path / "ev.tsv")}
        config["brain"]["subjects"] = {
            "sub-x": {
                "responses": "timeseries",
                "timeseries": {"tr": 2.0, "runs": [run] * runs, "fir": fir or {}},
                "roi_files": [
                    {"file": str(tmp_path / "rois.nii"), "lut": str(tmp_path / "lut.txt")}
                ],
            }
        }
        with pytest.raises(InputError) as err:
            check_semantics(config, ids, ".", "config.yaml")
        assert "\n" not in str(err.value)
        return str(err.value)

    assert "sub-x.timeseries.fir: 1 run; expected at least 2 runs" in error(1)
    line = error(2, {"delays": [1, 40]})
    assert "fir.delays: delay 40 TRs is not shorter than run 0 (40 volumes)" in line
    line = error(2, table=events.assign(duration=[0.0] + [2.0] * (N_STIM - 1)))
    assert f"runs.0.events: stim_id {ids[0]!r} has duration 0" in line
    line = error(2, table=pd.concat([events, events.iloc[:1].assign(stim_id="zebra")]))
    assert "stim_id 'zebra' is not in the stimulus table" in line
    line = error(2, table=events.assign(onset=events["onset"] + 40.0))
    assert "is past the run's end (40 volumes x TR 2 s = 80 s)" in line
