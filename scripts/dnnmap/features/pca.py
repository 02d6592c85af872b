"""Exact PCA of a matrix read in blocks, never holding the whole matrix in memory.

Two routes give the same result (up to rounding):

* :func:`pca_dual` (Gram route, for ``n_rows < n_cols``, e.g. few stimuli and many units):
  reads column blocks ``X[:, c0:c1]``, accumulates the ``(n_rows, n_rows)`` Gram matrix of the
  centered data and eigendecomposes it.
* :func:`pca_primal` (covariance route, for ``n_cols <= n_rows``): reads row blocks
  ``X[r0:r1, :]``, accumulates the ``(n_cols, n_cols)`` scatter matrix (merging per-block
  centered scatter matrices, which avoids the cancellation of ``X^T X - n mean mean^T``),
  eigendecomposes it and projects the rows in a second pass.

:func:`fit_pca` picks the route from the shape; :func:`pca_array` wraps an in-memory array.

Conventions (as ``sklearn.decomposition.PCA``): columns are centered, not scaled;
``explained_variance = eigenvalue / (n_rows - 1)``; ``explained_variance_ratio`` divides by the
total variance of all columns. ``n_components`` is clipped to ``min(n_components, n_rows - 1,
n_cols)``. Signs are deterministic: each score column is flipped so that its entry of largest
absolute value (the first one, on ties) is positive; components are flipped with it.
All accumulations are float64, whatever the input dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from dnnmap.errors import InputError

Bounds = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class PCAResult:
    """Result of a PCA.

    Attributes
    ----------
    scores : array of shape (n_rows, k)
        Projections of the centered rows on the components (``U * s``), float64.
    explained_variance : array of shape (k,)
        Variance of each score column (``s**2 / (n_rows - 1)``), descending.
    explained_variance_ratio : array of shape (k,)
        ``explained_variance / total_variance``.
    total_variance : float
        Sum of the column variances of the input (ddof=1).
    n_components : int
        ``k``, the number of components kept after clipping.
    mean : array of shape (n_cols,)
        Column means of the input.
    components : array of shape (k, n_cols) or None
        Principal axes (unit rows). Always set by the primal route; set by the dual route
        only when asked for (it costs a second pass and ``k * n_cols`` floats).
    method : str
        ``"dual"`` or ``"primal"``.
    """

    scores: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    total_variance: float
    n_components: int
    mean: np.ndarray
    components: np.ndarray | None
    method: str


def clip_components(n_components: int, n_rows: int, n_cols: int) -> int:
    """Return ``min(n_components, n_rows - 1, n_cols)``, checking that it is at least 1."""
    if int(n_components) != n_components or n_components < 1:
        raise InputError(f"n_components is {n_components!r}; expected a positive integer")
    k = min(int(n_components), n_rows - 1, n_cols)
    if k < 1:
        raise InputError(
            f"matrix has shape ({n_rows}, {n_cols}); expected at least 2 rows and 1 column for PCA"
        )
    return k


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into consecutive ``(start, stop)`` pairs of at most ``chunk``."""
    if chunk < 1:
        raise InputError(f"chunk size is {chunk}; expected a positive integer")
    return [(i, min(i + chunk, n)) for i in range(0, n, chunk)]


def check_bounds(bounds: Bounds, n: int, what: str) -> list[tuple[int, int]]:
    """Check that ``bounds`` are consecutive, non-empty and cover ``range(n)`` exactly."""
    out = [(int(a), int(b)) for a, b in bounds]
    stops = [0] + [b for _, b in out]
    if not out or any(a != s or b <= a for (a, b), s in zip(out, stops, strict=False)):
        raise InputError(f"{what} are {out[:4]}...; expected consecutive non-empty ranges from 0")
    if out[-1][1] != n:
        raise InputError(f"{what} end at {out[-1][1]}; expected them to cover all {n}")
    return out


def read_checked(reader: Callable, a: int, b: int, shape: tuple[int, int], what: str) -> np.ndarray:
    """Call ``reader(a, b)``, check its shape and finiteness, return float64."""
    block = np.array(reader(a, b), dtype=np.float64)  # a copy: callers' arrays stay intact
    if block.shape != shape:
        raise InputError(f"{what}({a}, {b}) returned shape {block.shape}; expected {shape}")
    if not np.isfinite(block).all():
        raise InputError(f"{what}({a}, {b}) returned NaN or inf; expected finite activations")
    return block


def top_eigh(M: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` eigenpairs of a symmetric PSD matrix, descending, eigenvalues clipped at 0."""
    n = M.shape[0]
    w, V = scipy.linalg.eigh(M, subset_by_index=(n - k, n - 1))
    return np.clip(w[::-1], 0.0, None), V[:, ::-1]


def _signs(scores: np.ndarray) -> np.ndarray:
    """Per-column sign making the largest-absolute entry of each score column positive."""
    idx = np.argmax(np.abs(scores), axis=0)
    sign = np.sign(scores[idx, np.arange(scores.shape[1])])
    sign[sign == 0] = 1.0
    return sign


def pca_result(scores, eigvals, total_ss, n_rows, mean, components, method) -> PCAResult:
    sign = _signs(scores)
    ev = eigvals / (n_rows - 1)
    total = total_ss / (n_rows - 1)
    ratio = ev / total if total > 0 else np.zeros_like(ev)
    return PCAResult(
        scores=scores * sign,
        explained_variance=ev,
        explained_variance_ratio=ratio,
        total_variance=float(total),
        n_components=scores.shape[1],
        mean=mean,
        components=None if components is None else components * sign[:, None],
        method=method,
    )


def pca_dual(
    read_block: Callable[[int, int], np.ndarray],
    n_rows: int,
    n_cols: int,
    n_components: int,
    col_chunk: int = 4096,
    *,
    col_bounds: Bounds | None = None,
    components: bool = False,
) -> PCAResult:
    """PCA through the ``(n_rows, n_rows)`` Gram matrix, reading column blocks.

    Memory is ``O(n_rows**2 + n_rows * chunk)``; suited to ``n_rows << n_cols``.

    Parameters
    ----------
    read_block : callable ``(c0, c1) -> array of shape (n_rows, c1 - c0)``
        Returns columns ``c0:c1`` of X, all rows.
    n_rows, n_cols : int
        Shape of X.
    n_components : int
        Components wanted; clipped to ``min(n_components, n_rows - 1, n_cols)``.
    col_chunk : int
        Columns per block when ``col_bounds`` is not given.
    col_bounds : sequence of (c0, c1), optional
        Explicit consecutive column ranges covering ``0..n_cols`` (e.g. channel slices).
    components : bool
        Also compute ``components`` (``V = Xc^T U / s``) with a second pass over the blocks.

    Returns
    -------
    PCAResult
        With ``method="dual"``.
    """
    k = clip_components(n_components, n_rows, n_cols)
    bounds = check_bounds(
        chunk_bounds(n_cols, col_chunk) if col_bounds is None else col_bounds, n_cols, "col_bounds"
    )
    K = np.zeros((n_rows, n_rows))
    mean = np.empty(n_cols)
    total_ss = 0.0
    for c0, c1 in bounds:
        block = read_checked(read_block, c0, c1, (n_rows, c1 - c0), "read_block")
        mean[c0:c1] = block.mean(axis=0)
        block -= mean[c0:c1]
        K += block @ block.T
        total_ss += float(np.einsum("ij,ij->", block, block))
    eigvals, U = top_eigh(K, k)
    s = np.sqrt(eigvals)
    comps = None
    if components:
        inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > s.max(initial=0.0) * 1e-12)
        W = (U * inv).T
        comps = np.empty((k, n_cols))
        for c0, c1 in bounds:
            block = read_checked(read_block, c0, c1, (n_rows, c1 - c0), "read_block")
            comps[:, c0:c1] = W @ (block - mean[c0:c1])
    return pca_result(U * s, eigvals, total_ss, n_rows, mean, comps, "dual")


def pca_primal(
    read_rows: Callable[[int, int], np.ndarray],
    n_rows: int,
    n_cols: int,
    n_components: int,
    row_chunk: int = 1024,
    *,
    row_bounds: Bounds | None = None,
) -> PCAResult:
    """PCA through the ``(n_cols, n_cols)`` covariance matrix, reading row blocks twice.

    Memory is ``O(n_cols**2 + chunk * n_cols)``; suited to ``n_cols <= n_rows``.

    Parameters
    ----------
    read_rows : callable ``(r0, r1) -> array of shape (r1 - r0, n_cols)``
        Returns rows ``r0:r1`` of X, all columns.
    n_rows, n_cols : int
        Shape of X.
    n_components : int
        Components wanted; clipped to ``min(n_components, n_rows - 1, n_cols)``.
    row_chunk : int
        Rows per block when ``row_bounds`` is not given.
    row_bounds : sequence of (r0, r1), optional
        Explicit consecutive row ranges covering ``0..n_rows``.

    Returns
    -------
    PCAResult
        With ``method="primal"`` and ``components`` set.
    """
    k = clip_components(n_components, n_rows, n_cols)
    bounds = check_bounds(
        chunk_bounds(n_rows, row_chunk) if row_bounds is None else row_bounds, n_rows, "row_bounds"
    )
    # Chan et al. pairwise merge of (count, mean, centered scatter) over row blocks.
    count, mean, M = 0, np.zeros(n_cols), np.zeros((n_cols, n_cols))
    for r0, r1 in bounds:
        block = read_checked(read_rows, r0, r1, (r1 - r0, n_cols), "read_rows")
        m = r1 - r0
        bmean = block.mean(axis=0)
        block -= bmean
        delta = bmean - mean
        M += block.T @ block + np.outer(delta, delta) * (count * m / (count + m))
        mean += delta * (m / (count + m))
        count += m
    eigvals, V = top_eigh(M, k)
    scores = np.empty((n_rows, k))
    for r0, r1 in bounds:
        block = read_checked(read_rows, r0, r1, (r1 - r0, n_cols), "read_rows")
        scores[r0:r1] = (block - mean) @ V
    return pca_result(scores, eigvals, float(np.trace(M)), n_rows, mean, V.T, "primal")


def fit_pca(
    n_rows: int,
    n_cols: int,
    n_components: int,
    *,
    read_cols: Callable[[int, int], np.ndarray] | None = None,
    read_rows: Callable[[int, int], np.ndarray] | None = None,
    method: str = "auto",
    col_chunk: int = 4096,
    col_bounds: Bounds | None = None,
    row_chunk: int = 1024,
    row_bounds: Bounds | None = None,
    components: bool = False,
) -> PCAResult:
    """PCA of an ``(n_rows, n_cols)`` matrix by the cheaper exact route.

    ``method="auto"`` picks :func:`pca_dual` when ``n_rows < n_cols`` and :func:`pca_primal`
    otherwise; if only one reader is given, its route is used whatever the shape.

    Parameters
    ----------
    n_rows, n_cols, n_components : int
        Shape of X and components wanted (clipped, see :func:`clip_components`).
    read_cols : callable ``(c0, c1) -> (n_rows, c1 - c0)``, optional
        Column-block reader for the dual route.
    read_rows : callable ``(r0, r1) -> (r1 - r0, n_cols)``, optional
        Row-block reader for the primal route.
    method : {"auto", "dual", "primal"}
        Route to use.
    col_chunk, col_bounds, row_chunk, row_bounds
        Block layout, see :func:`pca_dual` and :func:`pca_primal`.
    components : bool
        Dual route only: also compute ``components`` (the primal route always does).

    Returns
    -------
    PCAResult
    """
    if method == "auto":
        if read_cols is None or read_rows is None:
            method = "dual" if read_cols is not None else "primal"
        else:
            method = "dual" if n_rows < n_cols else "primal"
    if method == "dual" and read_cols is not None:
        return pca_dual(
            read_cols,
            n_rows,
            n_cols,
            n_components,
            col_chunk,
            col_bounds=col_bounds,
            components=components,
        )
    if method == "primal" and read_rows is not None:
        return pca_primal(read_rows, n_rows, n_cols, n_components, row_chunk, row_bounds=row_bounds)
    raise InputError(
        f"PCA method is {method!r}; expected 'auto', or 'dual'/'primal' with its reader given"
    )


def pca_array(
    X, n_components: int, *, method: str = "auto", components: bool = False, chunk: int = 4096
) -> PCAResult:
    """PCA of an in-memory array ``X`` of shape ``(n_rows, n_cols)`` (see :func:`fit_pca`)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"X has shape {X.shape}; expected a 2-D (n_rows, n_cols) array")
    return fit_pca(
        X.shape[0],
        X.shape[1],
        n_components,
        read_cols=lambda c0, c1: X[:, c0:c1],
        read_rows=lambda r0, r1: X[r0:r1],
        method=method,
        col_chunk=chunk,
        row_chunk=chunk,
        components=components,
    )
