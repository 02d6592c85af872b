"""The experiment that picks ``features.method``'s default, on the demo's simulated brain.

The demo brain (config/config.yaml) is simulated from raw activations: V1 reads conv1, V4
conv3, VTC fc6, LO mixes conv2 and fc7, and AUD carries no signal. For each features option
(``none``; ``pca`` fitted on all stimuli or per training fold, 100 components; a Gaussian
random projection to 100 and to 1000 features) this runs the demo's encoding (its settings,
without permutations) for every layer, subject and ROI and records, per subject and ROI, the
best layer (highest median score), whether it is the driving layer (for LO: either of its
two), the median score of the driving layer, the largest median score of the null region
AUD, and the time to make the features and to fit the encoding models (one fit per layer and
subject with every ROI's voxels side by side: voxels are fitted independently, so the scores
are those of the workflow's per-ROI jobs, in fewer, larger fits). It writes
results/benchmarks/features_default.json. Run by ``make bench``, never by CI; nothing here
is asserted on time.
"""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
from bench_helpers import ROOT, write_result
from workflow_helpers import demo_config, run_workflow

from dnnmap.config import load_schema, validate
from dnnmap.encoding.io import run_encoding
from dnnmap.features.reduce import layer_features
from dnnmap.store import read_strings, write_h5

OPTIONS = {
    "none": {"method": "none"},
    "pca_all_100": {"method": "pca", "fit": "all", "n_components": 100},
    "pca_train_100": {"method": "pca", "fit": "train", "n_components": 100},
    "random_projection_100": {"method": "random_projection", "n_components": 100, "seed": 0},
    "random_projection_1000": {"method": "random_projection", "n_components": 1000, "seed": 0},
}
WORK = ROOT / "results" / "benchmarks" / "features_default_work"


def _truth(config: dict) -> dict[str, list[str]]:
    """Driving layers of each simulated region ([] for a null region)."""
    out = {}
    for name, region in config["simulation"]["regions"].items():
        out[name] = [region["layer"]] if "layer" in region else list(region["layers"])
    return out


def _prepare(config: dict) -> Path:
    """Activations, stimulus table and ROI files of the demo, made by the workflow."""
    targets = ["results/stimuli.tsv", "results/activations/alexnet.h5"]
    targets += [
        f"results/brain/{s}/{r}.h5"
        for s in config["brain"]["subjects"]
        for r in config["brain"]["rois"]
    ]
    proc = run_workflow(WORK, config, "--cores", "2", *targets, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return WORK


def _subject_roi_file(work: Path, subject: str, rois: list[str]) -> tuple[Path, dict]:
    """One file with every ROI's responses side by side (voxels are fitted independently, so
    the scores equal those of one job per ROI) and the columns of each ROI."""
    responses, index, columns, start = [], [], {}, 0
    for roi in rois:
        with h5py.File(work / f"results/brain/{subject}/{roi}.h5", "r") as f:
            responses.append(f["responses"][()])
            index.append(f["index"][()])
            stim_id = read_strings(f["stim_id"])
        columns[roi] = slice(start, start + responses[-1].shape[1])
        start += responses[-1].shape[1]
    path = work / "features" / f"{subject}_rois.h5"
    arrays = {"responses": np.hstack(responses), "index": np.concatenate(index)}
    write_h5(path, arrays, stim_id=stim_id)
    return path, columns


def _run_option(work: Path, config: dict, settings: dict) -> dict:
    layers = config["models"]["alexnet"]["layers"]
    rois = list(config["brain"]["rois"])
    encoding = dict(config["encoding"], permutation={"n_perm": 0})
    folder = work / "features" / settings["method"]
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths = {}
    for layer in layers:
        out = layer_features(work / "results/activations/alexnet.h5", layer, settings)
        dtype = np.float32 if settings["method"] == "none" else np.float64
        paths[layer] = folder / f"{layer}.h5"
        arrays = {"features": out.features.astype(dtype, copy=False), **out.arrays}
        write_h5(paths[layer], arrays, attrs=out.attrs, stim_id=out.stim_id)
    features_s = time.perf_counter() - t0
    medians: dict[str, dict[str, dict[str, float]]] = {}
    t0 = time.perf_counter()
    for subject in config["brain"]["subjects"]:
        brain, columns = _subject_roi_file(work, subject, rois)
        for layer in layers:
            res = run_encoding(
                str(work / "results/stimuli.tsv"), str(paths[layer]), str(brain), encoding, "numpy"
            )
            for roi, cols in columns.items():
                median = float(np.nanmedian(res.result.score[cols]))
                medians.setdefault(subject, {}).setdefault(roi, {})[layer] = median
            print(settings, subject, layer, f"{time.perf_counter() - t0:.0f} s", flush=True)
    encoding_s = time.perf_counter() - t0
    return {"medians": medians, "features_s": features_s, "encoding_s": encoding_s}


def _judge(medians: dict, truth: dict[str, list[str]], layers: list[str]) -> dict:
    rows = {}
    for subject, rois in medians.items():
        for roi, by_layer in rois.items():
            best = max(layers, key=lambda layer: by_layer[layer])
            drivers = truth.get(roi, [])
            row = {"best_layer": best, "max_median_r": round(by_layer[best], 4)}
            if drivers:
                row["driving"] = drivers
                row["median_r_driving"] = {d: round(by_layer[d], 4) for d in drivers}
                row["order_right"] = best in drivers
                # the demo test's criterion: a driving layer within 0.01 of the best
                row["driving_within_0_01"] = (
                    max(by_layer[d] for d in drivers) >= by_layer[best] - 0.01
                )
            rows[f"{subject}/{roi}"] = row
    return rows


def test_features_default():
    config = demo_config(["alexnet"])
    validate(config, load_schema(ROOT / "workflow/schemas/config.schema.yaml"), "demo config")
    work = _prepare(config)
    layers = config["models"]["alexnet"]["layers"]
    truth = _truth(config)
    results, summary = {}, {}
    for name, settings in OPTIONS.items():
        run = _run_option(work, config, settings)
        judged = _judge(run["medians"], truth, layers)
        signal = [r for r in judged.values() if "driving" in r]
        null = [r["max_median_r"] for k, r in judged.items() if k.endswith("/AUD")]
        summary[name] = {
            "regions_right": f"{sum(r['order_right'] for r in signal)}/{len(signal)}",
            "regions_within_0_01": (
                f"{sum(r['driving_within_0_01'] for r in signal)}/{len(signal)}"
            ),
            "wrong": sorted(
                f"{k}: {r['best_layer']}"
                for k, r in judged.items()
                if r.get("order_right") is False
            ),
            "null_AUD_max_median_r": [round(v, 4) for v in null],
            "features_s": round(run["features_s"], 1),
            "encoding_s": round(run["encoding_s"], 1),
        }
        results[name] = {"per_roi": judged, "medians": run["medians"]}
    leak = {
        subject: {
            roi: round(
                float(np.median(list(results["pca_all_100"]["medians"][subject][roi].values())))
                - float(
                    np.median(list(results["pca_train_100"]["medians"][subject][roi].values()))
                ),
                4,
            )
            for roi in config["brain"]["rois"]
        }
        for subject in config["brain"]["subjects"]
    }
    write_result(
        "features_default",
        {
            "peer": "the simulation's ground truth (driving layers of each region)",
            "params": {
                "options": OPTIONS,
                "encoding": {k: config["encoding"][k] for k in ("estimator", "cv", "alphas")},
                "permutations": 0,
                "n_stim": 150,
            },
            "summary": summary,
            "pca_all_minus_train_median_over_layers": leak,
            "results": results,
            "dnnmap_s": summary["none"]["features_s"] + summary["none"]["encoding_s"],
            "peer_s": None,
            "ratio": None,
            "target": "driving layer best in every signal region, no leakage",
            "agreement": summary["none"]["regions_right"],
        },
    )
