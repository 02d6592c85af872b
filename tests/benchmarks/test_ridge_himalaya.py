"""Benchmark: dnnmap RidgeCV against himalaya's RidgeCV (numpy backend, float32).

Same simulated data (1000 stimuli, 20,000 voxels, a rank-20 signal whose strength varies
over voxels, so the chosen alphas vary), same 10 alphas, same shuffled 5-fold inner splitter,
both with an intercept, both in float32 on numpy; p = 500 (primal, n > p) and p = 5000 (n < p:
dnnmap works in the dual, himalaya's ridge solver always in the primal). Each fit is timed
twice, alternating the two libraries, and the faster run of each is kept (the machine is
shared). Agreement: the fraction of voxels whose chosen alphas are equal, and on those
voxels the largest differences of the CV score (himalaya's ``cv_scores_``, the negative mean
squared error at the best alpha) and of the predictions for 200 new stimuli.
"""

from __future__ import annotations

import os
import time

import numpy as np
from bench_helpers import write_result
from sklearn.model_selection import KFold

from dnnmap.encoding.ridge import RidgeCV

N, N_NEW, V, RANK = 1000, 200, 20_000, 20
ALPHAS = np.logspace(-1, 5, 10)
INNER = KFold(5, shuffle=True, random_state=0)
BATCH = 5000  # dnnmap targets per batch
HIMALAYA_BATCH = {"n_targets_batch": 20_000, "n_targets_batch_refit": 1000}


def simulate(p: int, seed: int = 0):
    """Features (N + N_NEW, p) and voxels (N + N_NEW, V), float32, with a low-rank signal."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N + N_NEW, p)).astype(np.float32)
    W = rng.standard_normal((p, RANK)) @ rng.standard_normal((RANK, V)) / np.sqrt(p * RANK)
    signal = X @ W.astype(np.float32)
    signal /= signal.std(axis=0)
    snr = 10.0 ** rng.uniform(-2.5, 1.0, V)  # from hopeless to strong voxels
    Y = signal * np.sqrt(snr).astype(np.float32) + rng.standard_normal((N + N_NEW, V))
    return X[:N], Y[:N].astype(np.float32), X[N:]


def timed(fit):
    start = time.perf_counter()
    est = fit()
    return time.perf_counter() - start, est


def compare(p: int) -> None:
    import himalaya.backend
    import himalaya.ridge

    himalaya.backend.set_backend("numpy")
    X, Y, X_new = simulate(p)

    def fit_dnnmap():
        return RidgeCV(ALPHAS, cv=INNER, batch_size=BATCH, device="numpy").fit(X, Y)

    def fit_himalaya():
        params = {**HIMALAYA_BATCH, "warn": False}
        alphas = ALPHAS.astype(np.float32)
        est = himalaya.ridge.RidgeCV(
            alphas=alphas, cv=INNER, fit_intercept=True, solver_params=params
        )
        return est.fit(X, Y)

    load = os.getloadavg()[0]
    runs_d, runs_h = [], []
    for _ in range(2):
        runs_d.append(timed(fit_dnnmap))
        runs_h.append(timed(fit_himalaya))
    dnnmap_s, ours = min(runs_d, key=lambda r: r[0])
    peer_s, ref = min(runs_h, key=lambda r: r[0])

    same = np.isclose(ours.alpha_, ref.best_alphas_, rtol=1e-5)
    score_diff = np.abs(-ours.cv_errors_.min(axis=0) - ref.cv_scores_)[same]
    pred_diff = np.abs(ours.predict(X_new) - ref.predict(X_new))[:, same]
    chosen, counts = np.unique(ours.alpha_, return_counts=True)
    agreement = {
        "alpha_equal_fraction": float(same.mean()),
        "cv_score_max_abs_diff": float(score_diff.max()),
        "prediction_max_abs_diff": float(pred_diff.max()),
        "note": "differences on voxels with equal alphas; Y has unit noise variance",
    }
    write_result(
        f"ridge_vs_himalaya_p{p}",
        {
            "peer": "himalaya 0.4.11 himalaya.ridge.RidgeCV (numpy backend, solver svd)",
            "params": {
                "n_stimuli": N,
                "n_features": p,
                "n_voxels": V,
                "alphas": ALPHAS.tolist(),
                "inner_cv": "KFold(5, shuffle=True, random_state=0), same splitter for both",
                "dtype": "float32",
                "dnnmap": f"RidgeCV(batch_size={BATCH}, device='numpy'), solver {ours.solver_}",
                "himalaya_solver_params": HIMALAYA_BATCH,
                "timing": "fit only, best of 2 alternating runs each",
                "load_average_at_start": round(load, 2),
                "chosen_alphas": dict(zip(chosen.round(3).tolist(), counts.tolist(), strict=True)),
            },
            "dnnmap_s": round(dnnmap_s, 2),
            "peer_s": round(peer_s, 2),
            "ratio": round(dnnmap_s / peer_s, 3),
            "target": "ratio <= 0.8; alphas equal for (nearly) all voxels; scores, predictions "
            "within 1e-4",
            "agreement": agreement,
            "runs_s": {
                "dnnmap": [round(r[0], 2) for r in runs_d],
                "himalaya": [round(r[0], 2) for r in runs_h],
            },
        },
    )
    assert len(chosen) >= 4  # the simulation exercises many alphas
    assert agreement["alpha_equal_fraction"] >= 0.99
    assert agreement["cv_score_max_abs_diff"] < 1e-4
    assert agreement["prediction_max_abs_diff"] < 1e-4


def test_ridge_vs_himalaya_p500():
    compare(500)


def test_ridge_vs_himalaya_p5000():
    compare(5000)
