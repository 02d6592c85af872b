"""Leave-one-out ridge errors of only the alphas that can win, from rigorous bounds.

A helper of the private ridge engine (:mod:`dnnmap.encoding._ridge_solver`). Exact
leave-one-out (LOO) errors of ridge cost one ``(n, k) @ (k, v)`` product per alpha
(:func:`dnnmap.encoding._ridge_solver.sse`): ``n`` training rows, ``k`` basis columns, ``v``
targets. When only each target's best alpha is needed (the outer folds of
:func:`dnnmap.encoding.ridge.cross_validated_encoding`, and so every full-refit permutation),
most of those products can be skipped: :func:`loo_bounds` brackets every alpha's error from
products of at most ``(n_alphas, n) @ (n, v)``, and :func:`loo_sse_pruned` computes the exact
error only where an alpha's lower bound is below the target's smallest upper bound. The
chosen alphas are therefore those of the full search (up to the rounding that
:data:`PRUNE_TOL` covers).

``basis`` is a :class:`dnnmap.encoding._ridge_solver.Basis` of a leave-one-out plan: ``B``
(n, k) orthonormal, ``H`` (n_alphas, k) hat-matrix factors and ``G = 1 - H`` (formed without
cancellation), ``loo_scale`` (n, n_alphas) ``1 / (1 - h_ii)``. ``R0`` (n, v) is the part of
the centered targets outside the basis, ``Yc - B @ Z``, or None when the basis spans them
(p > n); residuals are formed as ``R0 + B (G * Z)``, never as ``Yc - B (H * Z)``, so small
residuals keep their digits in float32.
"""

from __future__ import annotations

import numpy as np

from dnnmap.backend import Backend

PRUNE_TOL = {np.float32: 1e-4, np.float64: 1e-9}
"""Relative slack of the leave-one-out error bounds, per compute dtype (covers rounding)."""
PRUNE_FULL = 0.8
"""Alphas kept for more than this fraction of the targets are evaluated for all of them."""
PRUNE_AROUND_ZERO = 2.5
"""Alphas left per target (on average) above which the bound around alpha = 0 is added."""


def _expansion_bounds(w_rho2, wdev_rho2, low, high, cross, u2):
    """Bounds of ``sum_i w_i (rho_i - e_i)^2`` per alpha and target (see :func:`loo_bounds`).

    ``w_rho2`` and ``wdev_rho2`` (n_alphas, v) are the squared reference residual ``rho**2``
    summed with the weights ``w = loo_scale**2`` of each alpha and with their squared
    deviations from the alpha's midpoint weight ``m``; ``low``/``high`` (n_alphas, 1) the
    extreme weights; ``cross`` (n_alphas, v) the exact ``m * sum_i rho_i e_i`` and ``u2``
    (n_alphas, v) ``|e|^2``. With ``sum_i w_i rho_i e_i = m sum_i rho_i e_i + sum_i (w_i - m)
    rho_i e_i`` and Cauchy-Schwarz on the last sum, every term is exact or a bounded
    remainder.
    """
    base = w_rho2 - 2.0 * cross
    radius = 2.0 * np.sqrt(np.maximum(wdev_rho2, 0.0) * u2)
    return base - radius + low * u2, base + radius + high * u2


def loo_bounds(bk: Backend, basis, Z, Yc, dtype, around_zero: bool | None = None, R0=None):
    """Lower and upper bounds (n_alphas, v), float64 numpy, of every alpha's LOO error.

    The LOO error of alpha ``a`` is ``sum_i w_i r_i^2`` with weights ``w = loo_scale[:, a]**2``
    and the training residual ``r = Yc - B (H_a * Z)`` (``B`` orthonormal, ``Z = B.T @ Yc``).
    Three bounds, each from products of at most ``(n_alphas, n) @ (n, v)`` (no product with
    ``B`` per alpha), are intersected:

    * ``min(w) |r|^2 <= error <= max(w) |r|^2``, with
      ``|r|^2 = |R0|^2 + sum_j G_aj^2 Z_j^2``;
    * the expansion around the residual of alpha = inf, ``Yc`` (``r = Yc - B c``,
      ``c = H_a * Z``, exact cross term ``c . Z``): tight for large alphas;
    * with more training rows than basis columns, the expansion around the residual of
      alpha = 0, ``R0 = Yc - B Z`` (``r = R0 + B d``, ``d = (1 - H_a) * Z``, ``B.T R0 = 0``):
      tight for small alphas. ``R0`` is given (None when the basis spans the targets, then
      ``R0 = 0``). ``around_zero`` True or False adds it or not; None adds it when the first
      two bounds leave more than :data:`PRUNE_AROUND_ZERO` alphas per target (small alphas
      win).

    A slack of :data:`PRUNE_TOL` times ``max(w) |Yc|^2`` covers rounding.
    """
    H = bk.to_numpy(basis.H).astype(np.float64)  # (n_alphas, k)
    G = bk.to_numpy(basis.G).astype(np.float64)  # (n_alphas, k): 1 - H
    W = bk.to_numpy(basis.loo_scale).astype(np.float64).T ** 2  # (n_alphas, n_train)
    low, high = W.min(axis=1, keepdims=True), W.max(axis=1, keepdims=True)
    mid = 0.5 * (low + high)
    Wb, Wdev = bk.asarray(W, np.float64), bk.asarray((W - mid) ** 2, np.float64)

    def weighted(rho):  # (W @ rho**2, Wdev @ rho**2) as float64 numpy
        rho2 = bk.astype(rho, np.float64) ** 2
        return bk.to_numpy(Wb @ rho2), bk.to_numpy(Wdev @ rho2)

    Z2 = bk.astype(Z, np.float64) ** 2  # (k, v)
    hz, h2z, d2 = (bk.to_numpy(bk.asarray(M, np.float64) @ Z2) for M in (H, H * H, G * G))
    total = bk.to_numpy(bk.col_sumsq(bk.astype(Yc, np.float64)))[None, :]
    outside2 = 0.0 if R0 is None else bk.to_numpy(bk.col_sumsq(bk.astype(R0, np.float64)))
    norm2 = outside2 + d2  # |R0 + B d|^2 with B.T R0 = 0
    slack = PRUNE_TOL[dtype] * high * total
    bounds = [(low * norm2, high * norm2)]
    bounds.append(_expansion_bounds(*weighted(Yc), low, high, mid * hz, h2z))

    def intersect():
        with np.errstate(invalid="ignore"):
            lower = np.maximum.reduce([b[0] for b in bounds]) - slack
            upper = np.minimum.reduce([b[1] for b in bounds]) + slack
        return np.nan_to_num(lower, nan=-np.inf), np.nan_to_num(upper, nan=np.inf)

    lower, upper = intersect()
    if around_zero is None:
        around_zero = _kept(lower, upper).sum(axis=0).mean() > PRUNE_AROUND_ZERO
    if around_zero and R0 is not None:
        bounds.append(_expansion_bounds(*weighted(R0), low, high, 0.0, d2))
        lower, upper = intersect()
    return lower, upper


def _kept(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Alphas (n_alphas, v) whose lower bound does not exceed the target's best upper bound."""
    return lower <= upper.min(axis=0)[None, :]


def loo_sse_pruned(bk: Backend, basis, Z, Yc, dtype, R0=None) -> np.ndarray:
    """Leave-one-out sums of squared errors (n_alphas, v), float64 numpy, where they matter.

    An alpha whose lower bound (:func:`loo_bounds`) exceeds the smallest upper bound of the
    target cannot be its best alpha; its error is left at ``inf``. The others are computed
    exactly as :func:`dnnmap.encoding._ridge_solver.loo_sse` does, on a gather of the
    targets that keep the alpha, so each target's best alpha is the one that the full
    computation picks.
    """
    keep = _kept(*loo_bounds(bk, basis, Z, Yc, dtype, R0=R0))
    out = np.full(keep.shape, np.inf)
    n_targets = keep.shape[1]
    for i in range(keep.shape[0]):  # one product per alpha, over the targets that keep it
        cols = np.flatnonzero(keep[i])
        if cols.size == 0:
            continue
        whole = cols.size > PRUNE_FULL * n_targets
        Zi = Z if whole else Z[:, bk.index(cols)]
        P = bk.matmul(basis.B * basis.G[i], Zi)
        if R0 is not None:
            P += R0 if whole else R0[:, bk.index(cols)]
        P *= basis.loo_scale[:, i : i + 1]
        if whole:
            out[i] = bk.to_numpy(bk.col_sumsq(P))
        else:
            out[i, cols] = bk.to_numpy(bk.col_sumsq(P))
    return out
