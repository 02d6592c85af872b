"""The resources a job asks for against what it uses: dnnmap.sizing checked on measured jobs.

Each job runs the rule's own script function (``reduce_features.main``, ``encode.main``) in a
process of its own on generated data, so its peak resident memory (the child's ``VmHWM``,
``bench_helpers.PEAK_RSS_SOURCE``) and wall-clock time are its own. The request is what the
workflow would ask SLURM for (:mod:`dnnmap.sizing`, with the same arguments as
``workflow/rules/sizing.smk``). Memory requests must cover the job and ask at most twice what
it used (``mem_ratio`` in [1, 2]); runtime requests are upper bounds (a 10-minute floor plus
a cost at 5 GFLOP/s), so only ``runtime_request_min * 60 >= seconds`` is required.

Jobs (real AlexNet layer shapes at 224 pixels, so the sizing's layer table applies):

* PCA, exact route (Gram), fit on all stimuli: 2,000 x conv3 (64,896 units, float32);
* PCA, randomized route: 3,000 x conv2 (139,968 units, float16);
* PCA fitted on a seeded subset (``max_fit_stimuli: 1000``) of 4,000 x conv3 (float16);
* PCA with ``fit: train`` (the lossless basis): 1,500 x conv3;
* every unit (``none``) with the lossless basis: 1,000 x conv2 (float32);
* encoding (ridge, 5-fold, nested 5-fold alphas) of 10,000 voxels from those 1,000 x conv2
  features, and of 2,000 voxels with 20 refit permutations.

Writes results/benchmarks/sizing_measured.json. Run by ``make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
from bench_helpers import PEAK_RSS_SOURCE, ROOT, write_result

from dnnmap import sizing
from dnnmap.models.activation_layout import chunk_shape
from dnnmap.stimuli import write_stimuli
from dnnmap.store import write_h5, write_strings

WORK = ROOT / "results" / "benchmarks" / "sizing_work"
SHAPES = {"conv2": (192, 27, 27), "conv3": (384, 13, 13)}

_REDUCE = """
import json, sys
sys.path.insert(0, {scripts!r})
from reduce_features import main
main({activations!r}, {layer!r}, json.loads({settings!r}), {out!r}, None, "generated")
"""


_ENCODE = """
import json, sys
sys.path.insert(0, {scripts!r})
from encode import main
main({stimuli!r}, {features!r}, {brain!r}, json.loads({settings!r}), "numpy", {out!r}, "conv2")
"""


def _run(code: str) -> dict:
    """Run ``code`` in a fresh Python; its wall time and peak resident memory (MB)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    code += PEAK_RSS_SOURCE + "\nprint('PEAK', peak_rss_mb())\n"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak = float(proc.stdout.split("PEAK")[-1])
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}


def _activations(path, layer: str, n: int, dtype: str, seed: int) -> None:
    """A layer-like activation file as extraction writes it: 300 latent dimensions with a
    decaying spectrum, plus noise, rectified, in extraction's chunks."""
    if path.exists():
        return
    rng = np.random.default_rng(seed)
    shape = (n, *SHAPES[layer])
    units = int(np.prod(SHAPES[layer]))
    loadings = rng.standard_normal((300, units)).astype(np.float32)
    loadings *= (0.98 ** np.arange(300))[:, None].astype(np.float32)
    itemsize = np.dtype(dtype).itemsize
    with h5py.File(path, "w") as f:
        write_strings(f, "stim_id", [f"s{i:05d}" for i in range(n)])
        chunks = chunk_shape(n, shape[1:], 32, itemsize)
        dset = f.create_group("layers").create_dataset(layer, shape, dtype, chunks=chunks)
        for start in range(0, n, 500):
            stop = min(n, start + 500)
            latent = rng.standard_normal((stop - start, 300)).astype(np.float32)
            block = latent @ loadings + rng.standard_normal((stop - start, units)).astype(
                np.float32
            )
            dset[start:stop] = np.maximum(block, 0).reshape(-1, *shape[1:]).astype(dtype)


def _features_case(name, layer, n, dtype, settings, seed):
    acts = WORK / f"{name}_activations.h5"
    _activations(acts, layer, n, dtype, seed)
    out = WORK / f"{name}_features.h5"
    code = _REDUCE.format(
        scripts=str(ROOT / "scripts"),
        activations=str(acts),
        layer=layer,
        settings=json.dumps(settings),
        out=str(out),
    )
    measured = _run(code)
    request_mb = sizing.features_mem_mb(
        n,
        "alexnet",
        layer,
        224,
        method=settings["method"],
        fit=settings.get("fit", "all"),
        n_components=settings.get("n_components", 100),
        solver=settings.get("solver", "auto"),
        max_fit=settings.get("max_fit_stimuli"),
        itemsize=np.dtype(dtype).itemsize,
        batch_size=32,
    )
    units = int(np.prod(SHAPES[layer]))
    if settings["method"] == "pca":
        n_fit = settings.get("max_fit_stimuli") or n
        runtime = sizing.features_runtime_min(
            n_fit, units, settings.get("n_components", 100), settings.get("solver", "auto")
        )
    else:
        runtime = None
    acts.unlink()
    return {
        "job": f"reduce_features ({name})",
        "n_stim": n,
        "layer": f"alexnet {layer} ({units} units, {dtype})",
        "settings": settings,
        **measured,
        "mem_request_mb": request_mb,
        "mem_ratio": round(request_mb / measured["peak_rss_mb"], 2),
        "runtime_request_min": runtime,
    }


def _encoding_case(name, n_vox, n_perm, features, seed):
    rng = np.random.default_rng(seed)
    with h5py.File(features) as f:
        ids = [s.decode() for s in f["stim_id"][()]]
        basis = f["lossless"][()]
    n = len(ids)
    table = pd.DataFrame({"stim_id": ids, "path": [f"/x/{s}.png" for s in ids]})
    table["modality"] = "image"
    stimuli = WORK / "stimuli.tsv"
    write_stimuli(table, stimuli)
    signal = basis[:, :30] @ rng.standard_normal((30, n_vox)) / np.sqrt(30 * basis[:, 0].var())
    Y = (signal + rng.standard_normal((n, n_vox)) * 2).astype(np.float32)
    brain = WORK / f"{name}_brain.h5"
    write_h5(brain, {"responses": Y, "index": np.arange(n_vox)}, stim_id=ids)
    settings = {
        "estimator": "ridge",
        "alphas": [0.01, 0.1, 1, 10, 100, 1000, 10000, 100000, 1000000],
        "alpha_scale": "relative",
        "cv": {"scheme": "kfold", "n_folds": 5, "seed": 0},
        "inner_folds": 5,
        "voxel_batch": 10000,
        "permutation": {"n_perm": n_perm, "kind": "refit", "seed": 0},
    }
    code = _ENCODE.format(
        scripts=str(ROOT / "scripts"),
        stimuli=str(stimuli),
        features=str(features),
        brain=str(brain),
        settings=json.dumps(settings),
        out=str(WORK / f"{name}_encoding.h5"),
    )
    measured = _run(code)
    units = int(np.prod(SHAPES["conv2"]))
    width = sizing.feature_width("none", "none", 100, n, units, compact=True)
    request_mb = sizing.encoding_mem_mb(n, width, n_vox, settings["voxel_batch"], 1, n_perm)
    return {
        "job": f"encode ({name})",
        "n_stim": n,
        "n_vox": n_vox,
        "n_perm": n_perm,
        "feature_columns": width,
        **measured,
        "mem_request_mb": request_mb,
        "mem_ratio": round(request_mb / measured["peak_rss_mb"], 2),
        "runtime_request_min": sizing.encoding_runtime_min(n, n_vox, n_perm),
    }


def test_sizing_against_measured_jobs():
    WORK.mkdir(parents=True, exist_ok=True)
    jobs = [
        _features_case("pca_exact", "conv3", 2000, "float32", {"method": "pca"}, 0),
        _features_case(
            "pca_randomized", "conv2", 3000, "float16", {"method": "pca", "solver": "randomized"}, 1
        ),
        _features_case(
            "pca_subset", "conv3", 4000, "float16", {"method": "pca", "max_fit_stimuli": 1000}, 2
        ),
        _features_case("pca_train", "conv3", 1500, "float32", {"method": "pca", "fit": "train"}, 3),
        _features_case("none", "conv2", 1000, "float32", {"method": "none"}, 4),
    ]
    features = WORK / "none_features.h5"
    jobs.append(_encoding_case("10,000 voxels", 10000, 0, features, 5))
    jobs.append(_encoding_case("2,000 voxels, 20 refit permutations", 2000, 20, features, 6))
    ratios = [job["mem_ratio"] for job in jobs]
    covered = [
        job["runtime_request_min"] is None or job["runtime_request_min"] * 60 >= job["seconds"]
        for job in jobs
    ]
    write_result(
        "sizing_measured",
        {
            "peer": "the jobs' own peak resident memory and wall time (one BLAS thread)",
            "jobs": jobs,
            "mem_ratio_min": min(ratios),
            "mem_ratio_max": max(ratios),
            "target": "memory request within [1, 2] x the peak; runtime request >= measured",
        },
    )
    for path in WORK.glob("*.h5"):
        path.unlink()
    assert all(covered), jobs
    assert min(ratios) >= 1 and max(ratios) <= 2, [(j["job"], j["mem_ratio"]) for j in jobs]
