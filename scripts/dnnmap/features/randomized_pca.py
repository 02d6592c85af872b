"""Randomized PCA of a matrix read in column blocks: memory bounded at any number of stimuli.

The exact routes of :mod:`dnnmap.features.pca` hold an ``(n, n)`` Gram or ``(p, p)``
covariance matrix: at 73,000 stimuli and 802,816 units (ResNet-18 ``layer1``) that is 43 GB
and about 4e15 flops. The randomized range finder of Halko, Martinsson & Tropp (2011,
algorithms 4.4 and 5.1) needs only ``l = k + n_oversamples`` columns per pass:

1. one pass: the column means of the rows fitted on, and ``Y = A @ Omega`` for a Gaussian
   ``Omega (p, l)`` drawn block by block from the seed (never held whole);
2. ``n_power_iter`` power iterations, two passes each, re-orthonormalized every time
   (``Z = orth(A.T @ Q)``, ``Q = orth(A @ Z)``): the error falls with the spectral gap to the
   power ``2 * n_power_iter + 1``;
3. one pass: ``B = Q.T @ A (l, p)`` and the SVD of ``B`` from its ``(l, l)`` Gram matrix;
4. with ``rows`` a subset, one more pass projects every row on the components.

``A`` is the centered matrix of the fitted rows, never formed: each block is centered when
read. Memory is ``O(p * l + n * l + n * block)``: about 2 GB for ``l = 110`` and 802,816 units,
whatever the number of stimuli. Results follow :mod:`dnnmap.features.pca`'s conventions
(centered, not scaled; ``explained_variance = s**2 / (m - 1)`` over the ``m`` fitted rows;
deterministic signs), so a randomized and an exact PCA agree up to the range finder's error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.linalg
from tqdm import tqdm

from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.features.pca import (
    Bounds,
    PCAResult,
    check_bounds,
    chunk_bounds,
    clip_components,
    pca_result,
    read_checked,
    top_eigh,
)

#: Oversampling of the range finder (columns beyond ``n_components``).
N_OVERSAMPLES = 10
#: Power iterations (each is two passes over the matrix).
N_POWER_ITER = 4

SOLVERS = ("auto", "exact", "randomized")
"""Values of ``features.solver``."""

EXACT_MAX_SIDE = 20000
"""``solver: auto`` takes the exact route while the smaller side of the fitted matrix is at
most this (its Gram or covariance matrix, 3 float64 copies: 9.6 GB); randomized above."""


def resolve_solver(solver: str, n_fit: int, n_units: int) -> str:
    """``exact`` or ``randomized`` for ``features.solver`` and a fitted matrix's shape."""
    if solver not in SOLVERS:
        raise InputError(f"features.solver is {solver!r}; expected one of {', '.join(SOLVERS)}")
    if solver == "auto":
        return "exact" if min(n_fit, n_units) <= EXACT_MAX_SIDE else "randomized"
    return solver


def _orth(M: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of ``M`` (thin QR), shape ``M.shape``."""
    return scipy.linalg.qr(M, mode="economic", overwrite_a=True, check_finite=False)[0]


def randomized_pca(
    read_cols: Callable[[int, int], np.ndarray],
    n_rows: int,
    n_cols: int,
    n_components: int,
    *,
    rows: Sequence[int] | np.ndarray | None = None,
    col_bounds: Bounds | None = None,
    col_chunk: int = 4096,
    n_oversamples: int = N_OVERSAMPLES,
    n_power_iter: int = N_POWER_ITER,
    seed: int = 0,
    progress: bool = False,
) -> PCAResult:
    """PCA by the randomized range finder, fitted on ``rows``, every row projected.

    Parameters
    ----------
    read_cols : callable ``(c0, c1) -> array of shape (n_rows, c1 - c0)``
        Returns columns ``c0:c1`` of X, all rows.
    n_rows, n_cols : int
        Shape of X.
    n_components : int
        Components wanted; clipped to ``min(n_components, m - 1, n_cols)`` for ``m`` fitted
        rows.
    rows : int array of shape (m,), optional
        Rows the PCA is fitted on (e.g. a seeded subset of the stimuli); all rows if None.
        Every row is projected on the components all the same.
    col_bounds : sequence of (c0, c1), optional
        Column blocks (e.g. the HDF5 chunks' channel slices); ``col_chunk`` columns otherwise.
    col_chunk : int
        Columns per block without ``col_bounds``.
    n_oversamples : int
        Extra columns of the range finder (``l = k + n_oversamples``, at most ``m`` and
        ``n_cols``).
    n_power_iter : int
        Power iterations (2 passes over X each).
    seed : int
        Seed of the Gaussian test matrix (drawn per block from ``[seed, block]``).
    progress : bool
        A progress bar over the passes.

    Returns
    -------
    PCAResult
        ``scores (n_rows, k)``, ``components (k, n_cols)``, ``mean (n_cols,)`` of the fitted
        rows, explained variance over the fitted rows, ``method="randomized"``.
    """
    fit = np.arange(n_rows) if rows is None else np.unique(np.asarray(rows, dtype=np.intp))
    if fit.size and (fit[0] < 0 or fit[-1] >= n_rows):
        raise InputError(f"rows run from {fit[0]} to {fit[-1]}; expected indices below {n_rows}")
    m = fit.size
    k = clip_components(n_components, m, n_cols)
    n_oversamples = check_int(n_oversamples, "n_oversamples", 0)
    n_power_iter = check_int(n_power_iter, "n_power_iter", 0)
    l = min(k + n_oversamples, m, n_cols)  # noqa: E741
    bounds = check_bounds(
        chunk_bounds(n_cols, col_chunk) if col_bounds is None else col_bounds, n_cols, "col_bounds"
    )
    subset = m < n_rows
    mean = np.empty(n_cols)
    n_passes = 2 + 2 * n_power_iter + int(subset)
    bar = tqdm(total=n_passes * len(bounds), desc="randomized PCA", disable=not progress)

    def centered(b: int) -> np.ndarray:
        c0, c1 = bounds[b]
        block = read_checked(read_cols, c0, c1, (n_rows, c1 - c0), "read_cols")
        bar.update()
        return (block[fit] if subset else block) - mean[c0:c1]

    # pass 1: means, total variance and the sketch Y = A @ Omega
    Y = np.zeros((m, l))
    total_ss = 0.0
    for b, (c0, c1) in enumerate(bounds):
        block = read_checked(read_cols, c0, c1, (n_rows, c1 - c0), "read_cols")
        bar.update()
        block = block[fit] if subset else block
        mean[c0:c1] = block.mean(axis=0)
        block -= mean[c0:c1]
        total_ss += float(np.einsum("ij,ij->", block, block))
        omega = np.random.default_rng([int(seed), b]).standard_normal((c1 - c0, l))
        Y += block @ omega
    Q = _orth(Y)
    for _ in range(n_power_iter):
        Z = np.empty((n_cols, l))
        for b, (c0, c1) in enumerate(bounds):
            Z[c0:c1] = centered(b).T @ Q
        Z = _orth(Z)
        Y = np.zeros((m, l))
        for b, (c0, c1) in enumerate(bounds):
            Y += centered(b) @ Z[c0:c1]
        Q = _orth(Y)
    # B = Q.T @ A and its SVD through the (l, l) Gram matrix
    B = np.empty((l, n_cols))
    for b, (c0, c1) in enumerate(bounds):
        B[:, c0:c1] = Q.T @ centered(b)
    eigvals, U = top_eigh(B @ B.T, k)
    s = np.sqrt(eigvals)
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > s.max(initial=0.0) * 1e-12)
    components = (U.T @ B) * inv[:, None]
    del B
    if subset:
        scores = np.zeros((n_rows, k))
        for c0, c1 in bounds:
            block = read_checked(read_cols, c0, c1, (n_rows, c1 - c0), "read_cols")
            bar.update()
            scores += (block - mean[c0:c1]) @ components[:, c0:c1].T
    else:
        scores = (Q @ U) * s
    bar.close()
    return pca_result(scores, eigvals, total_ss, m, mean, components, "randomized")
