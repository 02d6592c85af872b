"""RDMs and RDM comparisons: dnnmap against rsatoolbox, and a 10,000-stimulus RDM in bounded memory.

``rdm_metrics_vs_rsatoolbox``: every RDM metric of rsatoolbox's ``calc_rdm`` (euclidean,
correlation, mahalanobis with a shrinkage noise covariance, crossnobis over 4 runs) on the
same 200 stimuli x 500 features, and every comparison method of ``rsatoolbox.rdm.compare``
(one data RDM against 20 model RDMs, some with ties), each timed for both; agreement is the
largest absolute difference over all of them (asserted <= 1e-6).

``rdm_memory_10k``: the correlation-distance RDM of 10,000 stimuli x 4,096 features (float32
input, 49,995,000 pairs) by :func:`dnnmap.rsa.rdm.compute_rdm` and by
``scipy.spatial.distance.pdist``, each in its own child process that reports its peak
resident memory (the 164 MB input and the 400 MB float64 output included) and wall time;
agreement is the largest difference on 200,000 sampled pairs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from importlib.metadata import version

import numpy as np
from bench_helpers import PEAK_RSS_SOURCE, write_result
from rsatoolbox.data import Dataset
from rsatoolbox.data.noise import prec_from_residuals
from rsatoolbox.rdm import calc_rdm
from rsatoolbox.rdm import compare as rsa_compare

from dnnmap.rsa.compare import METHODS, compare
from dnnmap.rsa.rdm import compute_rdm

N_STIM, N_FEAT, N_REP, N_MODELS, SEED = 200, 500, 4, 20, 0
RSA_NAME = {"pearson": "corr"}


def _timed(fn):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn()
    return out, time.perf_counter() - start


def test_rdm_metrics_vs_rsatoolbox():
    rng = np.random.default_rng(SEED)
    signal = rng.standard_normal((N_STIM, 20)) @ rng.standard_normal((20, N_FEAT))
    repeats = signal + 2.0 * rng.standard_normal((N_REP, N_STIM, N_FEAT))
    data = repeats.mean(axis=0)
    residuals = (repeats - data).reshape(-1, N_FEAT)
    dof = (N_REP - 1) * N_STIM
    ds = Dataset(data)
    ds_runs = Dataset(
        repeats.reshape(-1, N_FEAT),
        obs_descriptors={
            "stim": np.tile(np.arange(N_STIM), N_REP),
            "run": np.repeat(np.arange(N_REP), N_STIM),
        },
    )
    items: dict[str, dict] = {}

    def record(name, ours, theirs):
        (mine, t_mine), (ref, t_ref) = ours, theirs
        items[name] = {
            "dnnmap_s": round(t_mine, 4),
            "peer_s": round(t_ref, 4),
            "max_abs_diff": float(np.max(np.abs(np.asarray(mine) - np.asarray(ref)))),
        }

    record(
        "rdm euclidean",
        _timed(lambda: compute_rdm(data, "euclidean", convention="rsatoolbox")),
        _timed(lambda: calc_rdm(ds, "euclidean").dissimilarities[0]),
    )
    record(
        "rdm correlation",
        _timed(lambda: compute_rdm(data, "correlation")),
        _timed(lambda: calc_rdm(ds, "correlation").dissimilarities[0]),
    )
    record(
        "rdm mahalanobis (shrinkage_diag)",
        _timed(
            lambda: compute_rdm(
                data,
                "mahalanobis",
                noise="shrinkage_diag",
                repeats=repeats,
                convention="rsatoolbox",
            )
        ),
        _timed(
            lambda: calc_rdm(
                ds, "mahalanobis", noise=prec_from_residuals(residuals, dof=dof)
            ).dissimilarities[0]
        ),
    )
    record(
        "rdm crossnobis (shrinkage_diag)",
        _timed(lambda: compute_rdm(repeats, "crossnobis", noise="shrinkage_diag")),
        _timed(
            lambda: calc_rdm(
                ds_runs,
                "crossnobis",
                descriptor="stim",
                cv_descriptor="run",
                noise=prec_from_residuals(residuals, dof=dof),
            ).dissimilarities[0]
        ),
    )
    record(
        "rdm crossnobis (identity)",
        _timed(lambda: compute_rdm(repeats, "crossnobis")),
        _timed(
            lambda: calc_rdm(
                ds_runs, "crossnobis", descriptor="stim", cv_descriptor="run"
            ).dissimilarities[0]
        ),
    )

    brain = compute_rdm(data, "correlation")
    models = np.stack(
        [
            compute_rdm(signal + s * rng.standard_normal(signal.shape), "correlation")
            for s in np.linspace(5.0, 60.0, N_MODELS)
        ]
    )
    models[::4] = np.round(models[::4] * 10)  # categorical-like model RDMs with ties
    for method in METHODS:
        record(
            f"compare {method}",
            _timed(lambda method=method: compare(brain, models, method)),
            _timed(
                lambda method=method: rsa_compare(brain, models, RSA_NAME.get(method, method))[0]
            ),
        )

    agreement = max(item["max_abs_diff"] for item in items.values())
    dnnmap_s = sum(item["dnnmap_s"] for item in items.values())
    peer_s = sum(item["peer_s"] for item in items.values())
    write_result(
        "rdm_metrics_vs_rsatoolbox",
        {
            "peer": f"rsatoolbox {version('rsatoolbox')} calc_rdm and compare",
            "params": {
                "n_stim": N_STIM,
                "n_features": N_FEAT,
                "n_repeats": N_REP,
                "n_model_rdms": N_MODELS,
                "rdm_metrics": [k for k in items if k.startswith("rdm")],
                "compare_methods": list(METHODS),
            },
            "dnnmap_s": round(dnnmap_s, 4),
            "peer_s": round(peer_s, 4),
            "ratio": round(dnnmap_s / peer_s, 4),
            "target": "every metric and comparison within 1e-6 of rsatoolbox",
            "agreement": agreement,
            "items": items,
        },
    )
    assert agreement <= 1e-6


N_BIG, P_BIG, N_SAMPLE = 10_000, 4_096, 200_000

CHILD = r"""
import json, resource, sys, time
import numpy as np
which, n, p, n_sample = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if which == "dnnmap":
    from dnnmap.rsa.rdm import compute_rdm
    run = lambda X: compute_rdm(X, "correlation")
else:
    from scipy.spatial.distance import pdist
    run = lambda X: pdist(X, "correlation")
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 64), dtype=np.float32) @ rng.standard_normal((64, p), dtype=np.float32)
X += 4.0 * rng.standard_normal((n, p), dtype=np.float32)
before = peak_rss_mb()
start = time.perf_counter()
rdm = run(X)
seconds = time.perf_counter() - start
peak = peak_rss_mb()
idx = np.random.default_rng(1).choice(rdm.size, n_sample, replace=False)
np.save(sys.argv[5], rdm[idx])
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "before_mb": before,
                  "n_pairs": int(rdm.size), "dtype": str(rdm.dtype)}))
"""


def _child(which: str, out_path) -> dict:
    args = [which, str(N_BIG), str(P_BIG), str(N_SAMPLE), str(out_path)]
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SOURCE + CHILD, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_rdm_memory_10k(tmp_path):
    ours = _child("dnnmap", tmp_path / "dnnmap.npy")
    peer = _child("pdist", tmp_path / "pdist.npy")
    agreement = float(
        np.abs(np.load(tmp_path / "dnnmap.npy") - np.load(tmp_path / "pdist.npy")).max()
    )
    write_result(
        "rdm_memory_10k",
        {
            "peer": "scipy.spatial.distance.pdist(X, 'correlation')",
            "params": {
                "n_stim": N_BIG,
                "n_features": P_BIG,
                "input_dtype": "float32",
                "n_pairs": ours["n_pairs"],
                "metric": "correlation",
                "block": 2048,
                "device": "numpy",
                "sampled_pairs_compared": N_SAMPLE,
            },
            "dnnmap_s": round(ours["seconds"], 2),
            "peer_s": round(peer["seconds"], 2),
            "ratio": round(ours["seconds"] / peer["seconds"], 4),
            "target": "peak memory <= 4 GB (4096 MB), input and output included",
            "agreement": agreement,
            "peak_rss_mb": round(ours["peak_rss_mb"], 1),
            "peer_peak_rss_mb": round(peer["peak_rss_mb"], 1),
            "rss_before_mb": round(ours["before_mb"], 1),
            "output_mb": round(ours["n_pairs"] * 8 / 2**20, 1),
        },
    )
    assert agreement <= 1e-6
    assert ours["peak_rss_mb"] <= 4096
