"""Benchmark of the stacking weights (``make bench``, not CI): dnnmap's batched simplex QP
against cvxopt's QP at every voxel, as brainML/Stacking solves it.

Data: 7 feature spaces x 50,000 voxels. Each voxel's response mixes one to three of 7
layer signals that are correlated along the layer axis (correlation 0.7 between neighbours),
and each space predicts its own signal with shrinkage and estimation noise; ``S_v`` is the
covariance of the 7 residuals over 200 training rows, the matrix brainML/Stacking builds
(``P[:, i, j] = mean(err_i * err_j)``).

Timed in one run on the same matrices, BLAS on one thread (threadpoolctl):

- dnnmap: :func:`dnnmap.stacking.simplex.simplex_qp` on all voxels;
- peer: ``cvxopt.solvers.qp(P_v, q, G, h, A, b)`` per voxel with brainML/Stacking's
  ``q = 0, G = -I, h = 0, A = 1ᵀ, b = 1`` and cvxopt's default tolerances, on all voxels
  (``STACKING_BENCH_PEER_VOXELS`` sets a subset on a slow machine; the time is then scaled
  linearly and the output says so).

Agreement: the objective ``wᵀ S_v w`` of dnnmap's weights minus that of cvxopt's, relative to
the mean diagonal of ``S_v``, over every voxel cvxopt solved (target <= 1e-8: never worse);
and the weights against cvxopt run with tight tolerances (1e-12) on 2,000 voxels, where the
optimum is unique (200 residual rows in general position give a positive definite ``S_v``),
target within 1e-5. cvxopt's default tolerances (1e-7) leave its weights about 1e-3 from the
optimum, so the weights are compared with the tight run.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from bench_helpers import write_result
from threadpoolctl import threadpool_limits

from dnnmap.stacking.simplex import simplex_qp

cvxopt = pytest.importorskip("cvxopt")

N_VOX, K, N_ROWS = 50_000, 7, 200


def residual_covariances(n_vox: int, seed: int = 0, chunk: int = 5000) -> np.ndarray:
    """``S (n_vox, K, K)``: residual covariances of K spaces' predictions (module docstring)."""
    rng = np.random.default_rng(seed)
    corr = 0.7 ** np.abs(np.subtract.outer(np.arange(K), np.arange(K)))
    chol = np.linalg.cholesky(corr)
    out = np.empty((n_vox, K, K))
    for b0 in range(0, n_vox, chunk):
        b = min(chunk, n_vox - b0)
        Z = rng.standard_normal((b, N_ROWS, K)) @ chol.T  # layer signals, correlated
        mix = np.zeros((b, K))
        for i in range(b):
            drive = rng.choice(K, size=rng.integers(1, 4), replace=False)
            mix[i, drive] = rng.dirichlet(np.ones(drive.size))
        y = np.einsum("bnk,bk->bn", Z, np.sqrt(mix)) + rng.standard_normal((b, N_ROWS))
        # each space predicts its own signal, shrunk, scaled and with estimation noise
        gain = rng.uniform(0.5, 0.9, (b, K)) * (np.sqrt(mix) + 0.2)
        pred = Z * gain[:, None, :] + 0.3 * rng.standard_normal((b, N_ROWS, K))
        R = y[:, :, None] - pred
        out[b0 : b0 + b] = np.einsum("bni,bnj->bij", R, R) / N_ROWS
    return out


def cvxopt_weights(S: np.ndarray, tight: bool = False) -> np.ndarray:
    """brainML/Stacking's QP at every voxel (defaults unless ``tight``)."""
    from cvxopt import matrix, solvers

    k = S.shape[1]
    options = {"show_progress": False}
    if tight:
        options.update(abstol=1e-12, reltol=1e-12, feastol=1e-12, maxiters=200)
    q, G, h = matrix(np.zeros(k)), matrix(-np.eye(k, k)), matrix(np.zeros(k))
    A, b = matrix(np.ones((1, k))), matrix(np.ones(1))
    out = np.empty((S.shape[0], k))
    for i in range(S.shape[0]):
        out[i] = np.array(solvers.qp(matrix(S[i]), q, G, h, A, b, options=options)["x"]).ravel()
    return out


def objective(S: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.einsum("vi,vij,vj->v", w, S, w)


def test_stacking_weights_against_cvxopt():
    S = residual_covariances(N_VOX)
    scale = np.diagonal(S, axis1=1, axis2=2).mean(axis=1)
    n_peer = int(os.environ.get("STACKING_BENCH_PEER_VOXELS", N_VOX))
    with threadpool_limits(1):
        simplex_qp(S[:1000])  # warm-up (imports, allocator)
        t0 = time.perf_counter()
        ours = simplex_qp(S)
        dnnmap_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        peer = cvxopt_weights(S[:n_peer])
        peer_measured_s = time.perf_counter() - t0
    peer_s = peer_measured_s * N_VOX / n_peer
    gap = (ours.objective[:n_peer] - objective(S[:n_peer], peer)) / scale[:n_peer]
    tight_rows = np.arange(0, N_VOX, N_VOX // 2000)
    tight = cvxopt_weights(S[tight_rows], tight=True)
    tight_gap = (ours.objective[tight_rows] - objective(S[tight_rows], tight)) / scale[tight_rows]
    weight_diff = float(np.abs(ours.weights[tight_rows] - tight).max())
    support = (ours.weights > 1e-9).sum(axis=1)
    assert ours.converged.all()
    assert gap.max() <= 1e-8 and tight_gap.max() <= 1e-8
    assert weight_diff <= 1e-5
    write_result(
        "stacking_cvxopt",
        {
            "peer": "cvxopt.solvers.qp per voxel, brainML/Stacking's QP (P = S_v, q = 0, "
            "G = -I, h = 0, A = 1^T, b = 1), default tolerances",
            "params": {
                "n_voxels": N_VOX,
                "n_spaces": K,
                "n_rows": N_ROWS,
                "peer_voxels_timed": n_peer,
                "peer_time": "measured on all voxels"
                if n_peer == N_VOX
                else f"measured on {n_peer} voxels, scaled linearly to {N_VOX}",
                "blas_threads": 1,
                "support_size_mean": round(float(support.mean()), 2),
                "active_set_steps_mean": round(float(ours.n_iter.mean()), 2),
                "active_set_steps_max": int(ours.n_iter.max()),
            },
            "dnnmap_s": round(dnnmap_s, 3),
            "peer_s": round(peer_s, 2),
            "peer_measured_s": round(peer_measured_s, 2),
            "ratio": round(dnnmap_s / peer_s, 4),
            "target": "<= 0.01 (dnnmap / cvxopt time); objective within 1e-8 everywhere; "
            "weights within 1e-5 where the optimum is unique",
            "agreement": {
                "objective_minus_cvxopt_max_rel": float(gap.max()),
                "objective_minus_cvxopt_min_rel": float(gap.min()),
                "objective_minus_cvxopt_tight_max_rel": float(tight_gap.max()),
                "weights_vs_cvxopt_tight_max_abs": weight_diff,
                "weights_vs_cvxopt_default_max_abs": float(
                    np.abs(ours.weights[:n_peer] - peer).max()
                ),
                "tight_voxels": int(tight_rows.size),
            },
            "per_voxel_us": {
                "dnnmap": round(1e6 * dnnmap_s / N_VOX, 2),
                "cvxopt": round(1e6 * peer_s / N_VOX, 1),
            },
        },
    )
