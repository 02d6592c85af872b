"""Benchmarks: cross-validated encoding at scale.

1. ``encoding_vs_sklearn_loop``: dnnmap's :func:`cross_validated_encoding` (all voxels at once)
   against the DNNBrain way, a loop over voxels fitting ``sklearn.linear_model.RidgeCV``
   (efficient leave-one-out over the alphas) in each outer fold. Same data, same outer folds,
   same alphas, leave-one-out inner CV in both. The loop is timed on a subset of voxels and
   scaled linearly to all voxels (each voxel is an independent fit of the same cost).
2. ``encoding_memory_90k``: peak resident memory of a full cross-validated encoding of 90,000
   voxels (1000 stimuli, 500 features, 5 outer x 5 inner folds), in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
from bench_helpers import PEAK_RSS_SOURCE, ROOT, write_result
from sklearn.linear_model import RidgeCV as SkRidgeCV

from dnnmap.encoding.ridge import cross_validated_encoding

N, P, V, RANK = 1000, 500, 20_000, 20
N_LOOP = 20  # voxels fitted by the per-voxel loop
ALPHAS = np.logspace(-1, 5, 10)


def simulate(n: int, p: int, v: int, seed: int = 0, block: int = 10_000):
    """Features (n, p) float64 and voxels (n, v) float32 with a rank-20 signal of varying SNR.

    Voxels are drawn in blocks, so the simulation never holds more than one float64 block.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    basis = X @ rng.standard_normal((p, RANK))  # the signal lives in a rank-20 subspace
    Y = np.empty((n, v), dtype=np.float32)
    for b0 in range(0, v, block):
        b = min(block, v - b0)
        signal = basis @ rng.standard_normal((RANK, b))
        signal /= signal.std(axis=0)
        snr = 10.0 ** rng.uniform(-2.5, 1.0, b)  # from hopeless to strong voxels
        Y[:, b0 : b0 + b] = signal * np.sqrt(snr) + rng.standard_normal((n, b))
    return X, Y


def test_encoding_vs_sklearn_loop():
    X, Y = simulate(N, P, V)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    res = cross_validated_encoding(
        X, Y, ALPHAS, n_folds=5, seed=0, inner_cv="loo", batch_size=5000, device="numpy"
    )
    dnnmap_s = time.perf_counter() - start

    voxels = np.linspace(0, V - 1, N_LOOP).astype(int)
    pred = np.empty((N, N_LOOP))
    alpha = np.empty((5, N_LOOP))
    start = time.perf_counter()
    for j, vox in enumerate(voxels):  # DNNBrain: one RidgeCV per voxel and fold
        for f in range(5):
            train, test = res.folds != f, res.folds == f
            est = SkRidgeCV(alphas=ALPHAS).fit(X[train], Y[train, vox].astype(np.float64))
            pred[test, j] = est.predict(X[test])
            alpha[f, j] = est.alpha_
    loop_s = time.perf_counter() - start
    peer_s = loop_s * V / N_LOOP

    same = alpha == res.alpha[:, voxels]
    agreement = {
        "alpha_equal_fraction": float(same.mean()),
        "prediction_max_abs_diff": float(np.abs(pred - res.predictions[:, voxels]).max()),
        "voxels_compared": N_LOOP,
    }
    write_result(
        "encoding_vs_sklearn_loop",
        {
            "peer": "per-voxel loop of sklearn.linear_model.RidgeCV (scikit-learn 1.9, LOO/GCV)",
            "params": {
                "n_stimuli": N,
                "n_features": P,
                "n_voxels": V,
                "alphas": ALPHAS.tolist(),
                "outer": "5 folds (dnnmap.encoding.ridge.outer_folds, seed 0), the same for both",
                "inner": "exact leave-one-out in both",
                "dtype": "dnnmap float32 products (float32 Y); sklearn float64",
                "peer_timing": f"loop timed on {N_LOOP} voxels ({loop_s:.2f} s), scaled "
                f"linearly x{V / N_LOOP:.0f} to {V} voxels",
                "load_average_at_start": round(load, 2),
            },
            "dnnmap_s": round(dnnmap_s, 2),
            "peer_s": round(peer_s, 1),
            "ratio": round(dnnmap_s / peer_s, 5),
            "speedup": round(peer_s / dnnmap_s, 1),
            "target": "speedup >= 100 (ratio <= 0.01)",
            "agreement": agreement,
        },
    )
    assert agreement["alpha_equal_fraction"] >= 0.95
    assert agreement["prediction_max_abs_diff"] < 1e-3


_CHILD = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {scripts!r})
sys.path.insert(0, {here!r})
from test_encoding_scale import simulate, ALPHAS
from dnnmap.encoding.ridge import cross_validated_encoding
X, Y = simulate({n}, {p}, {v})
data_rss = peak_rss_mb()
start = time.perf_counter()
res = cross_validated_encoding(X, Y, ALPHAS, n_folds=5, seed=0, inner_cv=5,
                               batch_size={batch}, device="numpy")
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "data_rss_mb": data_rss,
    "peak_rss_mb": peak_rss_mb(),
    "median_score": float(np.nanmedian(res.score)), "n_masked": int(res.masked.sum())}}))
"""


def test_encoding_memory_90k():
    v, batch = 90_000, 10_000
    code = _CHILD.format(
        scripts=str(ROOT / "scripts"),
        here=str(ROOT / "tests" / "benchmarks"),
        n=N,
        p=P,
        v=v,
        batch=batch,
    )
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SOURCE + code], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    y_mb = N * v * 4 / 2**20
    write_result(
        "encoding_memory_90k",
        {
            "peer": "none (memory bound of one job)",
            "params": {
                "n_stimuli": N,
                "n_features": P,
                "n_voxels": v,
                "outer_folds": 5,
                "inner_folds": 5,
                "alphas": ALPHAS.tolist(),
                "batch_size": batch,
                "dtype": "float32 responses and products",
                "Y_mb": round(y_mb, 1),
                "predictions_mb": round(y_mb, 1),
                "rss_after_simulating_data_mb": round(got["data_rss_mb"], 1),
            },
            "dnnmap_s": round(got["seconds"], 1),
            "peer_s": None,
            "ratio": round(got["peak_rss_mb"] / 4096, 3),
            "target": "peak_rss_mb < 4096 (ratio = peak / 4 GB)",
            "agreement": {"median_score": round(got["median_score"], 4)},
            "peak_rss_mb": round(got["peak_rss_mb"], 1),
        },
    )
    assert got["peak_rss_mb"] < 4096
