"""Convex stacking weights of every voxel at once: ``min_w wᵀ S_v w`` over the simplex.

Stacked regression (Wolpert 1992; Breiman 1996) combines the predictions of ``k`` feature
spaces at voxel ``v`` with weights ``w >= 0``, ``sum(w) == 1``, that minimize the squared
error of the combined prediction. With ``R_v (n, k)`` the residuals of the spaces'
out-of-fold predictions, that error is ``wᵀ S_v w`` with ``S_v = R_vᵀ R_v / n``, the
residual-covariance form that brainML/Stacking solves with cvxopt's QP at every voxel
(``P = S_v, q = 0, G = -I, h = 0, A = 1ᵀ, b = 1``).

:func:`simplex_qp` solves all voxels together with a primal active-set method (Nocedal &
Wright, *Numerical Optimization*, 2nd ed., algorithm 16.3), vectorised over voxels: every
voxel keeps its own working set ``F`` (the spaces allowed a positive weight) and all voxels
step in lockstep, each step one batched ``(k + 1) x (k + 1)`` KKT solve of the
equality-constrained problem on ``F``::

    [ S_FF  1 ] [ w_F ]   [ 0 ]
    [ 1ᵀ    0 ] [ -μ  ] = [ 1 ]          (w_j = 0 for j not in F)

From the best single space (a vertex of the simplex), a voxel moves to the subproblem's
solution when it is feasible, otherwise as far as feasibility allows, dropping the space
that blocks; at a feasible subproblem optimum it adds the space with the most negative
multiplier ``(S w)_j - wᵀ S w``, and stops when none is below ``-tol``. These are the KKT
conditions of the simplex QP, so the result is the exact optimum (to rounding), found in a
finite number of steps (at most a few per space in the support in practice).

Conditioning. Each ``S_v`` is divided by its mean diagonal (weights do not change) and
``jitter`` (default 1e-10) is added to its diagonal, which makes every subproblem strictly
convex and solvable, at a cost of at most ``jitter`` times the mean diagonal in the
objective. A singular ``S_v`` (two identical spaces, fewer stimuli than spaces, a perfectly
predicted voxel) has many optimal weight vectors with the same objective; the solver returns
one of them, the first its path from the best single space reaches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from dnnmap.checks import check_int
from dnnmap.errors import InputError

LOG = logging.getLogger("dnnmap")

DEFAULT_JITTER = 1e-10
"""Diagonal added to each scaled ``S_v`` (relative to its mean diagonal)."""

DEFAULT_TOL = 1e-10
"""Multiplier tolerance of the optimality test (relative to the mean diagonal of ``S_v``)."""


@dataclass(frozen=True)
class SimplexResult:
    """The simplex QP's solution for every voxel.

    Attributes
    ----------
    weights : array of shape (v, k)
        Convex weights (``>= 0``, summing to 1 in every row).
    objective : array of shape (v,)
        ``wᵀ S_v w`` of the weights, with the ``S`` that was passed.
    n_iter : int array of shape (v,)
        Active-set steps taken per voxel.
    converged : bool array of shape (v,)
        Whether the voxel met the KKT conditions within ``max_iter`` steps.
    """

    weights: np.ndarray
    objective: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def check_covariances(S) -> np.ndarray:
    """Batched ``k x k`` matrices ``S (v, k, k)`` as finite symmetric float64, ``k >= 2``.

    A stack of one space has nothing to weigh: ``k == 1`` is an InputError.
    """
    S = np.asarray(S, dtype=np.float64)
    if S.ndim == 2:
        S = S[None]
    if S.ndim != 3 or S.shape[1] != S.shape[2]:
        raise InputError(f"S has shape {S.shape}; expected (n_voxels, k, k)")
    if S.shape[1] < 2:
        raise InputError(
            f"S has shape {S.shape}: a stack of {S.shape[1]} space; expected at least 2 "
            "spaces to weigh"
        )
    if not np.isfinite(S).all():
        raise InputError("S contains NaN or inf; expected finite residual covariances")
    return 0.5 * (S + np.swapaxes(S, 1, 2))


def _subproblem(A: np.ndarray, F: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """Solutions ``w (a, k)`` of the equality-constrained problems on the working sets ``F``.

    ``w_F = S_FF⁻¹ 1 / (1ᵀ S_FF⁻¹ 1)`` (the KKT system of the module docstring with ``μ``
    eliminated), from one batched solve of ``M x = 1_F`` where ``M`` is ``A`` on ``F x F``
    and the identity elsewhere, so ``x_j = 0`` off ``F``.
    """
    M = np.where(F[:, :, None] & F[:, None, :], A, eye)
    rhs = F.astype(np.float64)[:, :, None]
    x = np.where(F, np.linalg.solve(M, rhs)[:, :, 0], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x / x.sum(axis=1, keepdims=True)


def simplex_qp(
    S,
    *,
    jitter: float = DEFAULT_JITTER,
    tol: float = DEFAULT_TOL,
    max_iter: int | None = None,
    batch_size: int = 100_000,
) -> SimplexResult:
    """Minimize ``wᵀ S_v w`` subject to ``w >= 0``, ``sum(w) == 1``, for every voxel at once.

    Parameters
    ----------
    S : array of shape (v, k, k) or (k, k)
        Symmetric positive semi-definite matrices, one per voxel (e.g. the covariance of the
        residuals of ``k`` spaces' predictions); ``k >= 2``.
    jitter : float
        Added to the diagonal of each ``S_v`` after dividing it by its mean diagonal (module
        docstring); must be > 0: it keeps every subproblem strictly convex, which the
        active-set method needs to end (on a singular ``S_v`` without it, it can cycle).
    tol : float
        A space joins the support while its multiplier ``(S w)_j - wᵀ S w`` is below
        ``-tol`` (relative to the mean diagonal).
    max_iter : int or None
        Active-set steps per voxel before giving up (None: ``20 * k + 20``); voxels that do
        not converge are logged as a warning and flagged in ``converged``.
    batch_size : int
        Voxels solved together (bounds the ``(b, k + 1, k + 1)`` temporaries).

    Returns
    -------
    SimplexResult
        ``weights (v, k)``, ``objective (v,)``, ``n_iter (v,)``, ``converged (v,)``.
    """
    S = check_covariances(S)
    v, k = S.shape[:2]
    if not (np.isfinite(jitter) and 0 < jitter < 1e-3):
        raise InputError(f"jitter is {jitter!r}; expected a number in (0, 1e-3)")
    if not (np.isfinite(tol) and tol >= 0):
        raise InputError(f"tol is {tol!r}; expected a finite number >= 0")
    max_iter = 20 * k + 20 if max_iter is None else check_int(max_iter, "max_iter", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    weights = np.zeros((v, k))
    n_iter = np.zeros(v, dtype=np.int64)
    converged = np.zeros(v, dtype=bool)
    for b0 in range(0, v, batch_size):
        sl = slice(b0, min(b0 + batch_size, v))
        weights[sl], n_iter[sl], converged[sl] = _solve_batch(S[sl], jitter, tol, max_iter)
    if not converged.all():
        LOG.warning(
            "stacking weights: %d of %d voxels did not meet the KKT conditions in %d steps",
            int((~converged).sum()),
            v,
            max_iter,
        )
    objective = np.einsum("vi,vij,vj->v", weights, S, weights)
    return SimplexResult(weights, objective, n_iter, converged)


def _solve_batch(S: np.ndarray, jitter: float, tol: float, max_iter: int):
    """The active-set iterations of :func:`simplex_qp` on one batch of voxels."""
    v, k = S.shape[:2]
    eye = np.eye(k)
    diag = np.diagonal(S, axis1=1, axis2=2)
    scale = diag.mean(axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    A = S / scale[:, None, None]
    A[:, np.arange(k), np.arange(k)] += jitter
    # Start at the best single space: a vertex, the optimum of its own one-space subproblem.
    w = np.zeros((v, k))
    w[np.arange(v), np.argmin(np.diagonal(A, axis1=1, axis2=2), axis=1)] = 1.0
    F = w > 0
    n_iter = np.zeros(v, dtype=np.int64)
    done = np.zeros(v, dtype=bool)
    # Live voxels are kept compact (Al, Fl, wl), rows of ``live`` in the full arrays.
    live, Al, Fl, wl = np.arange(v), A, F.copy(), w.copy()
    target, feasible = wl, np.ones(v, dtype=bool)
    for _ in range(max_iter):
        n_iter[live] += 1
        # Feasible subproblem optimum: move there, then test the multipliers of the others.
        fe = np.flatnonzero(feasible)
        stop = np.zeros(live.size, dtype=bool)
        if fe.size:
            wf = target[fe]
            g = np.einsum("aij,aj->ai", Al[fe], wf)
            mult = g - np.einsum("ai,ai->a", wf, g)[:, None]
            mult = np.where(Fl[fe], np.inf, mult)
            j = np.argmin(mult, axis=1)
            enter = mult[np.arange(fe.size), j] < -tol
            wl[fe] = wf
            Fl[fe[enter], j[enter]] = True
            stop[fe[~enter]] = True
        # Infeasible: step towards it until a weight reaches 0, and drop that space.
        inf = np.flatnonzero(~feasible)
        if inf.size:
            w0, Fi = wl[inf], Fl[inf]
            p = target[inf] - w0
            blocking = Fi & (p < 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(blocking, w0 / np.where(blocking, -p, 1.0), np.inf)
            i = np.argmin(ratio, axis=1)
            rows = np.arange(inf.size)
            step = np.clip(ratio[rows, i], 0.0, 1.0)
            wn = np.maximum(w0 + step[:, None] * p, 0.0)
            wn[rows, i] = 0.0
            Fi[rows, i] = False
            wl[inf] = wn / wn.sum(axis=1, keepdims=True)
            Fl[inf] = Fi
        if stop.any():
            ended = live[stop]
            w[ended], F[ended], done[ended] = wl[stop], Fl[stop], True
            keep = ~stop
            live, Al, Fl, wl = live[keep], Al[keep], Fl[keep], wl[keep]
        if live.size == 0:
            break
        target = _subproblem(Al, Fl, eye)
        feasible = (np.where(Fl, target, 0.0) >= 0).all(axis=1) & np.isfinite(target).all(axis=1)
    w[live], F[live] = wl, Fl
    return w, n_iter, done
