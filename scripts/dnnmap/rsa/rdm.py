"""Representational dissimilarity matrices (RDMs) of stimulus patterns, exact and memory-bounded.

An RDM of ``n`` stimuli is stored *condensed*: the ``n * (n - 1) / 2`` dissimilarities of the
upper triangle, row by row (the order of ``scipy.spatial.distance.pdist``): pair ``(i, j)``
with ``i < j`` sits at ``i * n - i * (i + 1) / 2 + j - i - 1``. :func:`square_rdm` and
:func:`condense_rdm` convert to and from the symmetric ``(n, n)`` form.

Metrics (:data:`RDM_METRICS`; ``x_i`` is the pattern of stimulus ``i`` over ``p`` features)

==============  =======================================  ========================================
metric          ``convention="scipy"`` (default)         ``convention="rsatoolbox"``
==============  =======================================  ========================================
correlation     ``1 - r(x_i, x_j)`` (Pearson r)          same (``calc_rdm(..., "correlation")``)
cosine          ``1 - x_i.x_j / (|x_i| |x_j|)``          same
euclidean       ``|x_i - x_j|``                          ``|x_i - x_j|^2 / p`` (its "euclidean")
sqeuclidean     ``|x_i - x_j|^2``                        same
mahalanobis     ``sqrt(d' S^-1 d)``, ``d = x_i - x_j``   ``d' S^-1 d / p`` (its "mahalanobis")
crossnobis      cross-validated ``d' S^-1 d / p``        same (its "crossnobis")
==============  =======================================  ========================================

The scipy column equals ``pdist(data, metric)`` (mahalanobis: ``pdist(..., VI=inv(S))``); the
rsatoolbox column equals ``rsatoolbox.rdm.calc_rdm(Dataset(data), method).dissimilarities``
(with ``noise=inv(S)``). Any other metric of ``scipy.spatial.distance.pdist``
(:data:`SCIPY_METRICS`, canonical names only) is computed by ``pdist`` itself, with its extra
arguments passed as ``metric_kwargs`` (not blocked, no torch path).

Noise covariance ``S`` (mahalanobis, crossnobis): ``noise=None`` is the identity; an array
``(p, p)`` is a covariance (``(p,)`` the variances of a diagonal one); a string names an
estimator (:data:`NOISE_ESTIMATORS`) applied by :func:`noise_covariance` to ``residuals``
``(n_res, p)`` when given, else to the deviations of the ``repeats`` from their mean over
repeats. The estimators are those of rsatoolbox's ``cov_from_residuals`` ("shrinkage_diag":
Schäfer & Strimmer shrinkage towards the diagonal, rsatoolbox's default; "shrinkage_eye":
Ledoit & Wolf shrinkage towards a multiple of the identity; "diag"; "full"), with the same
degrees of freedom (``n_res - 1``, or ``(n_rep - 1) * n_stim`` for repeats). Unlike
``pdist``'s mahalanobis, ``noise=None`` does not estimate ``S`` from the rows of ``data``.

Crossnobis. Given ``K >= 2`` independent partitions (repeats, runs) with patterns
``Y_k = X_k C^-T`` whitened by the noise (``S = C C^T``), the crossnobis distance is the
squared Mahalanobis distance cross-validated over partitions, averaged over all ordered pairs
of distinct partitions and divided by the number of features::

    d_ij = sum_{k != l} (y_ki - y_kj) . (y_li - y_lj) / (K (K - 1) p)

It is unbiased (can be negative) and, for balanced data, equals rsatoolbox's leave-one-run-out
``calc_rdm(..., "crossnobis", descriptor=..., cv_descriptor=run, noise=inv(S))``. With run
labels (``runs``), the rows of each run are averaged per stimulus first.

Algorithm. Every metric above is a function of a Gram matrix: the RDM is built in row blocks
``data[a:b]`` against ``data[a:]``, one matrix product per block (``block`` rows), and only the
upper triangle of each block is kept, written straight into the condensed output; features are
read in chunks (cast to float64, centered and scaled on the fly) so no ``n x n`` matrix, no
``n x n x p`` temporary and no float64 copy of more than :data:`CHUNK_BYTES` of the data is
made. Correlation centers each row before its product (no ``sum xy - p m_x m_y``
cancellation); Euclidean distances use ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` on column-centered
data, accumulated in float64 and clipped at 0; crossnobis accumulates ``sum_k Y_k (S - Y_k)^T``
(``S = sum_k Y_k``), the cross products only. Peak memory is about the condensed output
(``8 n (n - 1) / 2`` bytes) plus ``~3 * 8 * block * n`` bytes plus one feature chunk. The
products run on numpy (BLAS) or on torch (CPU or CUDA, ``device``; see
:mod:`dnnmap.backend`), always in float64.

Input checks. ``data`` must be finite with at least 3 stimuli. A stimulus whose pattern is
constant (correlation) or all zeros (cosine) has no defined distance: an
:class:`~dnnmap.errors.InputError` names its row(s), or, with ``allow_nan=True``, its pairs are
NaN (as ``pdist`` gives for an exactly zero norm). ``zscore=True`` standardizes every feature
over the stimuli (population std, as ``sklearn.preprocessing.StandardScaler``; a constant
feature becomes 0) before the metric; it cannot be combined with a noise covariance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.spatial.distance import pdist

from dnnmap.backend import Backend, get_backend
from dnnmap.checks import check_choice, check_int, is_int
from dnnmap.errors import InputError

RDM_METRICS = ("correlation", "cosine", "euclidean", "sqeuclidean", "mahalanobis", "crossnobis")
"""Metrics computed by dnnmap's blocked Gram route (see the module docstring)."""

SCIPY_METRICS = (
    "braycurtis",
    "canberra",
    "chebyshev",
    "cityblock",
    "correlation",
    "cosine",
    "dice",
    "euclidean",
    "hamming",
    "jaccard",
    "jensenshannon",
    "mahalanobis",
    "minkowski",
    "rogerstanimoto",
    "russellrao",
    "seuclidean",
    "sokalsneath",
    "sqeuclidean",
    "yule",
)
"""Metric names that ``scipy.spatial.distance.pdist`` accepts (scipy 1.17); those not in
:data:`RDM_METRICS` are computed by ``pdist``."""

CONVENTIONS = ("scipy", "rsatoolbox")
NOISE_ESTIMATORS = ("shrinkage_diag", "shrinkage_eye", "diag", "full")
CHUNK_BYTES = 512 * 2**20
"""Largest float64 copy of (a feature chunk of) the data made at once."""


# --- condensed <-> square --------------------------------------------------------------------


def n_stimuli(n_pairs: int, name: str = "rdm") -> int:
    """Number of stimuli ``n`` of a condensed RDM with ``n_pairs = n (n - 1) / 2`` entries.

    Parameters
    ----------
    n_pairs : int
        Length of the condensed RDM.
    name : str
        How the RDM is named in the error message.

    Returns
    -------
    int
    """
    n = (1 + math.isqrt(1 + 8 * int(n_pairs))) // 2
    if n * (n - 1) // 2 != n_pairs:
        raise InputError(
            f"{name} has {n_pairs} entries; expected n * (n - 1) / 2 entries of a condensed RDM"
        )
    return n


def pair_offset(i: int | np.ndarray, n: int) -> int | np.ndarray:
    """Condensed index of the first pair ``(i, i + 1)`` of row ``i`` (pairs before row ``i``)."""
    return i * n - i * (i + 1) // 2


def square_rdm(rdm: np.ndarray) -> np.ndarray:
    """Symmetric matrix form of condensed RDMs (zero diagonal).

    Parameters
    ----------
    rdm : array of shape (n_pairs,) or (m, n_pairs)
        Condensed RDM(s) in ``pdist`` order.

    Returns
    -------
    array of shape (n, n) or (m, n, n)
        As ``scipy.spatial.distance.squareform`` (row by row for 2-D input).
    """
    v = np.asarray(rdm)
    if v.ndim not in (1, 2):
        raise InputError(f"rdm has shape {v.shape}; expected (n_pairs,) or (m, n_pairs)")
    n = n_stimuli(v.shape[-1])
    iu = np.triu_indices(n, 1)
    out = np.zeros((*v.shape[:-1], n, n), dtype=v.dtype)
    out[..., iu[0], iu[1]] = v
    out[..., iu[1], iu[0]] = v
    return out


def condense_rdm(matrix: np.ndarray) -> np.ndarray:
    """Condensed form (upper triangle, ``pdist`` order) of square RDM(s).

    Parameters
    ----------
    matrix : array of shape (n, n) or (m, n, n)
        Dissimilarity matrices; only the upper triangle is read (no symmetry check).

    Returns
    -------
    array of shape (n * (n - 1) / 2,) or (m, n * (n - 1) / 2)
    """
    M = np.asarray(matrix)
    if M.ndim not in (2, 3) or M.shape[-1] != M.shape[-2]:
        raise InputError(f"matrix has shape {M.shape}; expected (n, n) or (m, n, n)")
    iu = np.triu_indices(M.shape[-1], 1)
    return M[..., iu[0], iu[1]]


# --- noise covariance ------------------------------------------------------------------------


def noise_covariance(
    residuals: np.ndarray, method: str = "shrinkage_diag", dof: int | None = None
) -> np.ndarray:
    """Noise covariance over features estimated from residuals, as rsatoolbox does.

    Equal to ``rsatoolbox.data.noise.cov_from_residuals(residuals, dof, method)`` for 2-D
    residuals (columns are centered first). For repeats ``(n_rep, n_stim, p)`` the residuals
    are the deviations from the mean over repeats, with ``dof = (n_rep - 1) * n_stim``.

    Parameters
    ----------
    residuals : array of shape (n_res, p) or (n_rep, n_stim, p)
        Residuals (e.g. of a GLM) or repeated measurements.
    method : {'shrinkage_diag', 'shrinkage_eye', 'diag', 'full'}
        Estimator (see the module docstring).
    dof : int, optional
        Degrees of freedom; ``n_res - 1`` (or ``(n_rep - 1) * n_stim``) by default.

    Returns
    -------
    array of shape (p, p)
        Covariance, float64.
    """
    if method not in NOISE_ESTIMATORS:
        raise InputError(f"noise is {method!r}; expected one of {', '.join(NOISE_ESTIMATORS)}")
    R = np.asarray(residuals, dtype=np.float64)
    if R.ndim == 3:
        if R.shape[0] < 2:
            raise InputError(f"repeats have shape {R.shape}; expected at least 2 repeats")
        default_dof = (R.shape[0] - 1) * R.shape[1]
        R = (R - R.mean(axis=0)).reshape(-1, R.shape[2])
    elif R.ndim == 2:
        default_dof = R.shape[0] - 1
    else:
        raise InputError(
            f"residuals have shape {R.shape}; expected (n_res, n_features) or "
            "(n_rep, n_stim, n_features)"
        )
    if R.shape[0] < 2:
        raise InputError(f"residuals have {R.shape[0]} rows; expected at least 2")
    _check_finite(R, "residuals")
    dof = default_dof if dof is None else dof
    if isinstance(dof, bool) or int(dof) != dof or dof < 1:
        raise InputError(f"dof is {dof!r}; expected a positive integer")
    X = R - R.mean(axis=0)
    N, p = X.shape
    if method == "diag":
        return np.diag(np.einsum("ij,ij->j", X, X) / dof)
    s_sum = X.T @ X
    if method == "full":
        return s_sum / dof
    X2 = X * X
    s2_sum = X2.T @ X2
    offdiag = ~np.eye(p, dtype=bool)
    if method == "shrinkage_eye":  # Ledoit & Wolf (2004)
        s = s_sum / N
        b2 = np.sum(s2_sum / N - s * s) / N
        m = np.trace(s) / p
        d2 = np.sum((s - m * np.eye(p)) ** 2)
        b2 = min(d2, b2)
        shrunk = b2 / d2 * m * np.eye(p) + (d2 - b2) / d2 * s
        return shrunk * N / dof
    # shrinkage_diag: Schäfer & Strimmer (2005)
    s = s_sum / dof
    var = np.diag(s).copy()
    if np.any(var <= 0):
        k = int(np.flatnonzero(var <= 0)[0])
        raise InputError(f"residuals of feature {k} are constant; expected noise in every feature")
    std = np.sqrt(var)
    s_mean = s_sum / std[None, :] / std[:, None] / (N - 1)
    s2_mean = s2_sum / var[None, :] / var[:, None] / (N - 1)
    var_hat = N / dof**2 * (s2_mean - s_mean**2)
    lamb = np.sum(var_hat[offdiag]) / np.sum(s_mean[offdiag] ** 2)
    lamb = max(min(lamb, 1.0), 0.0)
    return s * (np.eye(p) + (1.0 - lamb) * offdiag)


def _whitener(noise, p: int) -> tuple[str, np.ndarray | None]:
    """``("none", None)``, ``("diag", 1/sqrt(var) (p,))`` or ``("full", C lower (p, p))``."""
    if noise is None:
        return "none", None
    S = np.asarray(noise, dtype=np.float64)
    if S.ndim == 1 and S.shape == (p,):
        _check_finite(S, "noise")
        if np.any(S <= 0):
            k = int(np.flatnonzero(S <= 0)[0])
            raise InputError(f"noise variance of feature {k} is {S[k]}; expected positive values")
        return "diag", 1.0 / np.sqrt(S)
    if S.shape != (p, p):
        raise InputError(
            f"noise has shape {S.shape}; expected a covariance ({p}, {p}) or variances ({p},) "
            "over the features of data"
        )
    _check_finite(S, "noise")
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12 * np.abs(S).max()):
        raise InputError("noise covariance is not symmetric; expected a covariance matrix")
    try:
        C = scipy.linalg.cholesky(S, lower=True)
    except np.linalg.LinAlgError:
        raise InputError(
            "noise covariance is not positive definite; expected a full-rank covariance "
            "(use a shrinkage estimator, e.g. noise='shrinkage_diag')"
        ) from None
    return "full", C


# --- input checks ----------------------------------------------------------------------------


def _check_finite(X: np.ndarray, name: str) -> None:
    """InputError naming the first non-finite entry of ``X`` (checked in row chunks)."""
    flat = X.reshape(X.shape[0], -1) if X.ndim > 1 else X[:, None]
    step = max(1, (64 * 2**20) // max(1, flat.shape[1]))
    for r0 in range(0, flat.shape[0], step):
        bad = ~np.isfinite(flat[r0 : r0 + step])
        if bad.any():
            i, j = np.argwhere(bad)[0]
            where = np.unravel_index(r0 * flat.shape[1] + i * flat.shape[1] + j, X.shape)
            value = X[where]
            raise InputError(
                f"{name} holds {value} at index {tuple(int(w) for w in where)}; "
                "expected finite numbers"
            )


def _as_float_array(x, name: str) -> np.ndarray:
    X = np.asarray(x)
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise InputError(f"{name} has dtype {X.dtype}; expected numbers")
    if X.dtype.kind != "f" or X.dtype.itemsize < 4:
        X = X.astype(np.float64)
    return X


def _check_block(block) -> int:
    if not is_int(block) or block < 1:
        raise InputError(f"block is {block!r}; expected a positive integer")
    return int(block)


def _label(value) -> str:
    """``repr`` of a label, without numpy's scalar wrapper (``1``, not ``np.int64(1)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _rows_text(rows: np.ndarray, names: Sequence | None) -> str:
    shown = [_label(names[i]) if names is not None else str(int(i)) for i in rows[:5]]
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return ", ".join(shown) + more


# --- the blocked Gram engine -----------------------------------------------------------------


def _upper_mask(backend: Backend, rows: int, cols: int):
    """Boolean ``(rows, cols)`` mask of ``j > i`` on the backend."""
    if backend.name == "torch":
        torch = backend._torch
        ones = torch.ones((rows, cols), dtype=torch.bool, device=backend._device)
        return torch.triu(ones, diagonal=1)
    return np.triu(np.ones((rows, cols), dtype=bool), 1)


def _row_dots(backend: Backend, A, B):
    """``(A * B).sum(1)`` without the ``A * B`` temporary."""
    if backend.name == "torch":
        return backend._torch.einsum("ij,ij->i", A, B)
    return np.einsum("ij,ij->i", A, B)


def _row_stats(backend: Backend, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row sums, minima and maxima of ``c (n, f)``, as numpy arrays (n,)."""
    if backend.name == "torch":
        out = (c.sum(1), c.amin(1), c.amax(1))
    else:
        out = (c.sum(axis=1), c.min(axis=1), c.max(axis=1))
    return tuple(backend.to_numpy(x) for x in out)


def _feature_chunks(p: int, n_rows: int, budget: int = CHUNK_BYTES) -> Iterator[tuple[int, int]]:
    """Feature ranges whose float64 copy of ``n_rows`` rows fits in ``budget`` bytes."""
    step = max(1, budget // (8 * max(1, n_rows)))
    for f0 in range(0, p, step):
        yield f0, min(p, f0 + step)


def _gram_condensed(
    n: int,
    chunks: Iterator[list[tuple[object, object]]],
    backend: Backend,
    block: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Upper triangle and diagonal of ``G = sum_chunks sum_factors A @ B.T``.

    Parameters
    ----------
    n : int
        Number of rows (stimuli).
    chunks : iterator of lists of (A, B)
        For each feature chunk, factor pairs: backend float64 arrays of shape (n, f).
    backend : Backend
    block : int
        Rows per matrix product.

    Returns
    -------
    upper : array of shape (n * (n - 1) / 2,)
        ``G[i, j]`` for ``i < j`` in ``pdist`` order (float64).
    diag : array of shape (n,)
    """
    upper = np.zeros(n * (n - 1) // 2)
    diag = np.zeros(n)
    for factors in chunks:
        for A, B in factors:
            diag += backend.to_numpy(_row_dots(backend, A, B))
        for a in range(0, n - 1, block):
            b = min(a + block, n)
            G = None
            for A, B in factors:
                term = backend.matmul(A[a:b], B[a:].T)
                G = term if G is None else G + term
            upper[pair_offset(a, n) : pair_offset(b, n)] += backend.to_numpy(
                G[_upper_mask(backend, b - a, n - a)]
            )
            del G
    return upper, diag


def _finish(
    upper: np.ndarray, diag: np.ndarray, n: int, block: int, kind: str, scale: float = 1.0
) -> np.ndarray:
    """Turn the Gram upper triangle into dissimilarities, in place, row block by row block.

    ``kind``: "angle" (``1 - g / sqrt(di dj)``, clipped to [0, 2]), "sq" (``di + dj - 2 g``,
    clipped at 0, times ``scale``), "root" (square root of "sq"), "cross" ("sq" unclipped).
    """
    for a in range(0, n - 1, block):
        b = min(a + block, n)
        seg = upper[pair_offset(a, n) : pair_offset(b, n)]
        mask = np.triu(np.ones((b - a, n - a), dtype=bool), 1)
        di = np.broadcast_to(diag[a:b, None], mask.shape)[mask]
        dj = np.broadcast_to(diag[None, a:], mask.shape)[mask]
        if kind == "angle":
            with np.errstate(divide="ignore", invalid="ignore"):
                seg /= np.sqrt(di * dj)
            np.subtract(1.0, seg, out=seg)
            np.clip(seg, 0.0, 2.0, out=seg)
        else:
            seg *= -2.0
            seg += di
            seg += dj
            if kind != "cross":
                np.maximum(seg, 0.0, out=seg)
            if scale != 1.0:
                seg *= scale
            if kind == "root":
                np.sqrt(seg, out=seg)
    return upper


def _set_nan_rows(rdm: np.ndarray, rows: np.ndarray, n: int) -> None:
    """Set every pair that involves one of ``rows`` to NaN."""
    for i in rows:  # few rows: a loop over the flagged stimuli only
        rdm[pair_offset(i, n) : pair_offset(i + 1, n)] = np.nan
        j = np.arange(i)
        rdm[pair_offset(j, n) + i - j - 1] = np.nan


# --- column statistics and chunk transforms --------------------------------------------------


def _column_stats(X3: np.ndarray, zscore: bool) -> tuple[np.ndarray, np.ndarray]:
    """Feature means (p,) and scales (p,) over all rows of ``X3 (K, n, p)``, chunked.

    The scale is 1 unless ``zscore``: then ``1 / std`` (population), 0 for constant features.
    """
    K, n, p = X3.shape
    mean = np.empty(p)
    inv_std = np.ones(p)
    for f0, f1 in _feature_chunks(p, K * n, getattr(X3, "chunk_bytes", CHUNK_BYTES)):
        chunk = np.array(X3[:, :, f0:f1], dtype=np.float64).reshape(K * n, f1 - f0)  # a copy
        mean[f0:f1] = chunk.mean(axis=0)
        if zscore:
            chunk -= mean[f0:f1]
            std = np.sqrt(np.einsum("ij,ij->j", chunk, chunk) / (K * n))
            # A feature constant up to rounding carries no information: it becomes 0.
            flat = std <= 1e-12 * np.maximum(np.abs(mean[f0:f1]), 1e-300)
            inv_std[f0:f1] = np.where(flat, 0.0, 1.0 / np.where(flat, 1.0, std))
    return mean, inv_std


class _Prepared:
    """Data of ``K`` partitions ``(K, n, p)`` and the column transform applied per chunk.

    ``chunk(k, f0, f1)`` returns partition ``k``, features ``f0:f1``, as a new float64
    backend array ``(n, f1 - f0)``: ``(x - shift) * scale - row_shift`` (column shift and
    scale: centering, z-scoring, diagonal whitening; row shift: correlation's row means). A
    full whitening is applied to ``X3`` beforehand.
    """

    def __init__(self, X3, backend, shift=None, scale=None, row_shift=None):
        self.X3 = X3
        self.backend = backend
        self.shift = shift
        self.scale = scale
        self.row_shift = row_shift

    @property
    def shape(self):
        return self.X3.shape

    def chunk(self, k: int, f0: int, f1: int):
        be = self.backend
        # One float64 copy, transformed in place (never the caller's array).
        x = be.asarray(np.array(self.X3[k, :, f0:f1], dtype=np.float64))
        if self.shift is not None:
            x -= be.asarray(self.shift[f0:f1])
        if self.scale is not None:
            x *= be.asarray(self.scale[f0:f1])
        if self.row_shift is not None:
            x -= be.asarray(self.row_shift[:, None])
        return x


def _prepare(
    X3: np.ndarray,
    metric: str,
    zscore: bool,
    whitener: tuple[str, np.ndarray | None],
    backend: Backend,
) -> _Prepared:
    """Column transform of the metric: centering, z-scoring, whitening."""
    K = X3.shape[0]
    # Column centering leaves (squared) Euclidean distances unchanged and reduces cancellation
    # in |x_i|^2 + |x_j|^2 - 2 x_i.x_j; it would change correlation and cosine.
    # ``zscore`` is True (standardize), "center" (remove the feature means only) or False.
    standardize = zscore is True
    center = metric in ("euclidean", "sqeuclidean", "mahalanobis", "crossnobis") or bool(zscore)
    if center:
        mean, inv_std = _column_stats(X3, standardize)
    shift = mean if center else None
    scale = inv_std if standardize else None
    kind, W = whitener
    if kind == "diag":
        scale = W
    elif kind == "full":
        # Whiten once: Y = (X - mean) C^-T, so that Y Y^T = (X - m) S^-1 (X - m)^T.
        Y = np.empty(X3.shape)
        for k in range(K):
            Y[k] = scipy.linalg.solve_triangular(
                W, (np.asarray(X3[k], dtype=np.float64) - mean).T, lower=True
            ).T
        return _Prepared(Y, backend)
    return _Prepared(X3, backend, shift, scale)


# --- streamed columns ------------------------------------------------------------------------


STREAM_CHUNK_BYTES = 64 * 2**20
"""Largest float64 copy of a column chunk made at once by :func:`stream_rdm`."""
STREAM_METRICS = ("correlation", "cosine", "euclidean", "sqeuclidean")
"""Metrics :func:`stream_rdm` computes (no noise covariance: the columns are never all held)."""


@dataclass(frozen=True)
class ColumnReader:
    """A matrix ``(n_rows, n_cols)`` read in column ranges, e.g. a layer of an activations file.

    Attributes
    ----------
    n_rows, n_cols : int
        Shape of the matrix (stimuli x units).
    read : callable
        ``read(c0, c1)`` returns columns ``c0:c1`` of all rows, array of shape
        ``(n_rows, c1 - c0)`` (any float dtype).
    name : str
        How the matrix is named in error messages (e.g. the file and layer).
    """

    n_rows: int
    n_cols: int
    read: Callable[[int, int], np.ndarray]
    name: str = "data"


class _StreamView:
    """``(1, n, p)`` view of a :class:`ColumnReader` for the Gram engine; checks each chunk."""

    ndim = 2

    def __init__(self, reader: ColumnReader, chunk_bytes: int):
        self.reader = reader
        self.shape = (reader.n_rows, reader.n_cols)
        self.chunk_bytes = chunk_bytes

    def as_3d(self):
        return _Stream3D(self)

    def columns(self, f0: int, f1: int) -> np.ndarray:
        block = np.asarray(self.reader.read(f0, f1))
        if block.shape != (self.shape[0], f1 - f0):
            raise InputError(
                f"{self.reader.name}: columns {f0}:{f1} have shape {block.shape}; expected "
                f"({self.shape[0]}, {f1 - f0})"
            )
        bad = ~np.isfinite(block)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InputError(
                f"{self.reader.name} holds {block[i, j]} at row {int(i)}, column {int(f0 + j)}; "
                "expected finite numbers"
            )
        return block


class _Stream3D:
    def __init__(self, view: _StreamView):
        self.view = view
        self.shape = (1, *view.shape)
        self.chunk_bytes = view.chunk_bytes

    def __getitem__(self, key):
        k, _, cols = key
        block = self.view.columns(cols.start, cols.stop)
        return block[None] if isinstance(k, slice) else block


def stream_rdm(
    reader: ColumnReader,
    metric: str = "correlation",
    *,
    zscore: bool = False,
    center: bool = False,
    allow_nan: bool = False,
    device: str = "numpy",
    block: int = 2048,
    chunk_bytes: int = STREAM_CHUNK_BYTES,
    row_names: Sequence | None = None,
) -> np.ndarray:
    """Condensed RDM of a matrix read in column chunks, never held whole in memory.

    The same numbers as ``compute_rdm(reader.read(0, reader.n_cols), metric, zscore=...)``
    (the scipy convention), from the same Gram engine: columns are read ``chunk_bytes`` at a
    time (once for the column statistics of ``zscore``, once for the row statistics of
    correlation and cosine, once for the products), so peak memory is about the condensed RDM
    plus one chunk, whatever the number of columns.

    Parameters
    ----------
    reader : ColumnReader
        The patterns, one row per stimulus.
    metric : {'correlation', 'cosine', 'euclidean', 'sqeuclidean'}
    zscore : bool
        Standardize every column over the rows first (constant columns become 0).
    center : bool
        Subtract every column's mean over the rows first (implied by ``zscore``).
    allow_nan, device, block, row_names
        As in :func:`compute_rdm`.
    chunk_bytes : int
        Largest float64 copy of a column chunk.

    Returns
    -------
    rdm : array of shape (n_rows * (n_rows - 1) / 2,)
    """
    metric = check_choice(metric, "metric", STREAM_METRICS)
    block = _check_block(block)
    if not isinstance(reader, ColumnReader):
        raise InputError(f"reader is {type(reader).__name__}; expected a ColumnReader")
    n, p = reader.n_rows, reader.n_cols
    if n < 3:
        raise InputError(f"{reader.name} has {n} stimuli (rows); expected at least 3 for an RDM")
    if p < 1:
        raise InputError(f"{reader.name} has no columns; expected at least 1")
    if row_names is not None and len(row_names) != n:
        raise InputError(f"row_names has {len(row_names)} names; expected {n} (rows of data)")
    view = _StreamView(reader, check_int(chunk_bytes, "chunk_bytes", 8 * n))
    backend = get_backend(device)
    transform = True if zscore else ("center" if center else False)
    return _single(
        view, metric, transform, ("none", None), "scipy", allow_nan, backend, block, row_names
    )


# --- public API ------------------------------------------------------------------------------


def compute_rdm(
    data: np.ndarray,
    metric: str = "correlation",
    *,
    zscore: bool = False,
    center: bool = False,
    noise=None,
    residuals: np.ndarray | None = None,
    repeats: np.ndarray | None = None,
    runs: np.ndarray | None = None,
    conditions: np.ndarray | None = None,
    convention: str = "scipy",
    allow_nan: bool = False,
    metric_kwargs: dict | None = None,
    device: str = "numpy",
    block: int = 2048,
    row_names: Sequence | None = None,
) -> np.ndarray:
    """Condensed RDM of stimulus patterns.

    Parameters
    ----------
    data : array of shape (n_stim, n_features), or (n_rep, n_stim, n_features) for crossnobis
        Patterns, one row per stimulus (any float or int dtype; computed in float64). For
        crossnobis, the repeats (independent partitions) may be given here, in ``repeats``, or
        as rows ``(n_runs * n_stim, n_features)`` with ``runs`` labels. 3-D data with another
        metric gives the RDM of the mean over repeats (the repeats may estimate the noise).
    metric : str
        One of :data:`RDM_METRICS`, or another name in :data:`SCIPY_METRICS` (computed by
        ``pdist``).
    zscore : bool
        Standardize every feature over the stimuli first (constant features become 0).
    center : bool
        Subtract every feature's mean over the stimuli first (implied by ``zscore``): for
        correlation and cosine distances of nonnegative features such as ReLU activations,
        whose shared mean pattern otherwise dominates every distance. Euclidean distances do
        not change.
    noise : None, array of shape (n_features, n_features) or (n_features,), or str
        Noise covariance of mahalanobis and crossnobis (identity when None), its diagonal, or
        the name of an estimator in :data:`NOISE_ESTIMATORS` applied to ``residuals`` (or to
        the repeats). See :func:`noise_covariance`.
    residuals : array of shape (n_res, n_features), optional
        Residuals to estimate the noise covariance from, when ``noise`` is a string.
    repeats : array of shape (n_rep, n_stim, n_features), optional
        Repeated measurements: the patterns of crossnobis (``data`` is then only checked
        against their shape), and the residuals of a ``noise`` estimator.
    runs : array of shape (n_rows,), optional
        Run (partition) label of every row of a 2-D ``data`` for crossnobis; needs
        ``conditions``. Every run must hold every stimulus exactly once (average repeated rows
        with :func:`category_rdm` first).
    conditions : array of shape (n_rows,), optional
        Stimulus id of every row, with ``runs``: the rows of each run are aligned by id (the
        RDM's stimuli are the ids in sorted order, as ``numpy.unique``), never by position.
    convention : {'scipy', 'rsatoolbox'}
        Scaling of euclidean and mahalanobis (module docstring).
    allow_nan : bool
        Give NaN for the pairs of a constant (correlation) or zero (cosine) pattern instead of
        raising an InputError.
    metric_kwargs : dict, optional
        Extra arguments of a ``pdist`` metric (e.g. ``{"p": 3}`` for minkowski).
    device : {'numpy', 'cpu', 'cuda', 'cuda:N', 'auto'}
        Where the matrix products run (:func:`dnnmap.backend.resolve_device`).
    block : int
        Stimuli per row block of the Gram matrix (memory ``~3 * 8 * block * n_stim`` bytes).
    row_names : sequence, optional
        Names of the stimuli, used in error messages instead of row numbers.

    Returns
    -------
    rdm : array of shape (n_stim * (n_stim - 1) / 2,)
        Condensed dissimilarities in ``pdist`` order, float64.

    Raises
    ------
    InputError
        For fewer than 3 stimuli, non-finite values, constant patterns (correlation, cosine)
        unless ``allow_nan``, an unknown metric, device or convention, a noise covariance that
        is not positive definite, or crossnobis without at least 2 repeats.
    """
    if not isinstance(metric, str) or (metric not in RDM_METRICS and metric not in SCIPY_METRICS):
        raise InputError(
            f"metric is {metric!r}; expected one of {', '.join(RDM_METRICS)} or a scipy pdist "
            f"metric ({', '.join(m for m in SCIPY_METRICS if m not in RDM_METRICS)})"
        )
    convention = check_choice(convention, "convention", CONVENTIONS)
    block = _check_block(block)
    X = _as_float_array(data, "data")
    reps = None
    if repeats is not None:
        reps = _as_float_array(repeats, "repeats")
        if reps.ndim != 3:
            raise InputError(
                f"repeats have shape {reps.shape}; expected (n_rep, n_stim, n_features)"
            )
        if X.ndim == 3:
            raise InputError("data is 3-D and repeats are given; expected only one of them")
        if X.shape != reps.shape[1:]:
            raise InputError(
                f"data has shape {X.shape} and repeats have shape {reps.shape}; expected "
                "repeats (n_rep, n_stim, n_features) of the same stimuli and features"
            )
    if runs is not None:
        if metric != "crossnobis":
            raise InputError(f"runs are given for metric {metric!r}; runs are for crossnobis")
        if X.ndim != 2 or repeats is not None:
            raise InputError(
                "runs are given; expected 2-D data (n_rows, n_features) and no repeats"
            )
        X = _stack_runs(X, runs, conditions)
    elif conditions is not None:
        raise InputError("conditions are given without runs; they align the rows of runs")
    if X.ndim == 3:
        # Repeats: crossnobis uses them; other metrics take the RDM of their mean pattern.
        _check_finite(X, "data")
        reps = X
        X = X.mean(axis=0, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(
            f"data has shape {X.shape}; expected (n_stim, n_features), or "
            "(n_rep, n_stim, n_features) for crossnobis"
        )
    n, p = X.shape
    if n < 3:
        raise InputError(f"data has {n} stimuli (rows); expected at least 3 for an RDM")
    if p < 1:
        raise InputError("data has no features (columns); expected at least 1")
    if row_names is not None and len(row_names) != n:
        raise InputError(f"row_names has {len(row_names)} names; expected {n} (rows of data)")
    _check_finite(X, "data")
    if repeats is not None:
        _check_finite(reps, "repeats")

    # noise covariance
    if noise is not None and metric not in ("mahalanobis", "crossnobis"):
        raise InputError(
            f"noise is given for metric {metric!r}; expected mahalanobis or crossnobis"
        )
    if noise is not None and zscore:
        raise InputError("zscore=True with a noise covariance; expected one or the other")
    transform = True if zscore else ("center" if center else False)
    if isinstance(noise, str):
        noise = check_choice(noise, "noise", NOISE_ESTIMATORS)
        if residuals is not None:
            R = _as_float_array(residuals, "residuals")
            if R.ndim != 2 or R.shape[1] != p:
                raise InputError(f"residuals have shape {R.shape}; expected (n_res, {p})")
            noise = noise_covariance(R, noise)
        elif reps is not None:
            noise = noise_covariance(reps, noise)
        else:
            raise InputError(
                f"noise is {noise!r} but neither residuals nor repeats are given; expected one "
                "to estimate the noise covariance from"
            )
    elif residuals is not None:
        raise InputError("residuals are given but noise is not an estimator name")
    whitener = _whitener(noise, p)

    if metric not in RDM_METRICS:  # scipy fallback
        if metric_kwargs is not None and not isinstance(metric_kwargs, dict):
            raise InputError(f"metric_kwargs is {metric_kwargs!r}; expected a dict")
        Z = np.asarray(X, dtype=np.float64)
        if zscore or center:
            mean, inv_std = _column_stats(Z[None], bool(zscore))
            Z = (Z - mean) * inv_std
        try:
            return pdist(Z, metric, **(metric_kwargs or {}))
        except (TypeError, ValueError) as err:
            raise InputError(f"scipy pdist metric {metric!r} failed: {err}") from None
    if metric_kwargs:
        raise InputError(
            f"metric_kwargs are given for metric {metric!r}; they are for pdist metrics"
        )

    backend = get_backend(device)
    if metric == "crossnobis":
        if reps is None:
            raise InputError(
                "metric is 'crossnobis' but no repeats are given; expected data "
                "(n_rep, n_stim, n_features), repeats, or runs"
            )
        return _crossnobis(reps, transform, whitener, backend, block)
    return _single(X, metric, transform, whitener, convention, allow_nan, backend, block, row_names)


def _single(X, metric, zscore, whitener, convention, allow_nan, backend, block, row_names):
    n, p = X.shape
    X3 = X.as_3d() if isinstance(X, _StreamView) else X[None]
    prep = _prepare(X3, metric, zscore, whitener, backend)
    ranges = list(_feature_chunks(p, n, getattr(X3, "chunk_bytes", CHUNK_BYTES)))
    flat = kept = None
    if metric in ("correlation", "cosine"):
        # Row means (correlation) and constant / zero rows, from the transformed chunks.
        row_sum = np.zeros(n)
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        for f0, f1 in ranges:
            c = prep.chunk(0, f0, f1)
            c_sum, c_min, c_max = _row_stats(backend, c)
            row_sum += c_sum
            lo = np.minimum(lo, c_min)
            hi = np.maximum(hi, c_max)
        kept = c if len(ranges) == 1 else None  # one chunk: reused by the Gram pass
        del c
        if metric == "correlation":
            flat = np.flatnonzero(hi == lo)
            prep.row_shift = row_sum / p
            if kept is not None:
                kept -= backend.asarray(prep.row_shift[:, None])
            what = "constant; correlation distance is undefined for it"
        else:
            flat = np.flatnonzero((hi == 0) & (lo == 0))
            what = "all zeros; cosine distance is undefined for it"
        if flat.size and not allow_nan:
            many = flat.size > 1
            raise InputError(
                f"data row{'s' if many else ''} {_rows_text(flat, row_names)} "
                f"{'are' if many else 'is'} {what} (pass allow_nan=True to get NaN for "
                f"{'their' if many else 'its'} pairs)"
            )

    def chunks():
        if kept is not None:
            yield [(kept, kept)]
            return
        for f0, f1 in ranges:
            c = prep.chunk(0, f0, f1)
            yield [(c, c)]

    upper, diag = _gram_condensed(n, chunks(), backend, block)
    if metric in ("correlation", "cosine"):
        rdm = _finish(upper, diag, n, block, "angle")
        if flat is not None and flat.size:
            _set_nan_rows(rdm, flat, n)
        return rdm
    squared = metric == "sqeuclidean" or convention == "rsatoolbox"
    scale = 1.0 / p if convention == "rsatoolbox" and metric != "sqeuclidean" else 1.0
    return _finish(upper, diag, n, block, "sq" if squared else "root", scale)


def _crossnobis(reps, zscore, whitener, backend, block):
    K, n, p = reps.shape
    if K < 2:
        raise InputError(f"repeats have shape {reps.shape}; expected at least 2 repeats")
    if n < 3:
        raise InputError(f"repeats have {n} stimuli; expected at least 3 for an RDM")
    # Centering each repeat by the overall feature mean leaves the differences unchanged.
    prep = _prepare(reps, "crossnobis", zscore, whitener, backend)

    def chunks():
        for f0, f1 in _feature_chunks(p, (2 * K + 1) * n):
            Y = [prep.chunk(k, f0, f1) for k in range(K)]
            total = Y[0]
            for y in Y[1:]:
                total = total + y
            yield [(y, total - y) for y in Y]

    upper, diag = _gram_condensed(n, chunks(), backend, block)
    return _finish(upper, diag, n, block, "cross", 1.0 / (K * (K - 1) * p))


def _stack_runs(X: np.ndarray, runs, conditions) -> np.ndarray:
    """Rows of ``X (n_runs * n_stim, p)`` labelled by ``runs`` and ``conditions`` as
    ``(n_runs, n_stim, p)``, each run's rows in the sorted order of their condition ids."""
    runs = np.asarray(runs)
    if runs.shape != (X.shape[0],):
        raise InputError(f"runs has shape {runs.shape}; expected ({X.shape[0]},), one per row")
    if conditions is None:
        raise InputError(
            "runs are given without conditions; expected the stimulus id of every row "
            "(conditions=...), so that the runs are aligned by id and not by position"
        )
    conditions = np.asarray(conditions)
    if conditions.shape != (X.shape[0],):
        raise InputError(
            f"conditions has shape {conditions.shape}; expected ({X.shape[0]},), one per row"
        )
    values, inverse = np.unique(runs, return_inverse=True)
    if len(values) < 2:
        raise InputError(f"runs has {len(values)} distinct label; expected at least 2 runs")
    ids, cond = np.unique(conditions, return_inverse=True)
    cell = inverse * len(ids) + cond
    counts = np.bincount(cell, minlength=len(values) * len(ids))
    if np.any(counts != 1):
        r, c = divmod(int(np.flatnonzero(counts != 1)[0]), len(ids))
        how = "no row" if counts[r * len(ids) + c] == 0 else f"{counts[r * len(ids) + c]} rows"
        raise InputError(
            f"run {_label(values[r])} has {how} of stimulus {_label(ids[c])}; expected every "
            "stimulus once in every run (use category_rdm to average repeated rows)"
        )
    out = np.empty((len(values), len(ids), X.shape[1]), dtype=X.dtype)
    out[inverse, cond] = X
    return out


def category_rdm(
    data: np.ndarray,
    labels: np.ndarray,
    metric: str = "correlation",
    *,
    runs: np.ndarray | None = None,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """RDM of category-average patterns.

    The rows of ``data`` are averaged per category (per category and run for crossnobis) and
    the RDM of the averages is computed by :func:`compute_rdm`.

    Parameters
    ----------
    data : array of shape (n_rows, n_features), or (n_rep, n_rows, n_features)
        Patterns; 3-D data are repeats (crossnobis) whose rows all carry ``labels``.
    labels : array of shape (n_rows,)
        Category of every row (any sortable values).
    metric : str
        As in :func:`compute_rdm`.
    runs : array of shape (n_rows,), optional
        Run of every row of 2-D data, for crossnobis: patterns are averaged per (run,
        category) and every category must occur in every run.
    **kwargs
        Passed to :func:`compute_rdm` (zscore, noise, residuals, convention, device, ...).

    Returns
    -------
    rdm : array of shape (n_cat * (n_cat - 1) / 2,)
        Condensed RDM of the categories.
    categories : array of shape (n_cat,)
        The categories in RDM order (sorted, as ``numpy.unique``).
    """
    X = _as_float_array(data, "data")
    labels = np.asarray(labels)
    n_rows = X.shape[-2] if X.ndim >= 2 else -1
    if X.ndim not in (2, 3):
        raise InputError(
            f"data has shape {X.shape}; expected (n_rows, n_features) or "
            "(n_rep, n_rows, n_features)"
        )
    if labels.shape != (n_rows,):
        raise InputError(f"labels has shape {labels.shape}; expected ({n_rows},), one per row")
    categories, inverse = np.unique(labels, return_inverse=True)
    if len(categories) < 3:
        raise InputError(f"labels has {len(categories)} categories; expected at least 3 for an RDM")
    if runs is not None:
        if X.ndim != 2:
            raise InputError("runs are given with 3-D data; expected 2-D data (n_rows, n_features)")
        runs = np.asarray(runs)
        if runs.shape != (n_rows,):
            raise InputError(f"runs has shape {runs.shape}; expected ({n_rows},), one per row")
        run_values, run_inverse = np.unique(runs, return_inverse=True)
        cell = run_inverse * len(categories) + inverse
        counts = np.bincount(cell, minlength=len(run_values) * len(categories))
        if np.any(counts == 0):
            r, c = divmod(int(np.flatnonzero(counts == 0)[0]), len(categories))
            raise InputError(
                f"category {_label(categories[c])} has no row in run {_label(run_values[r])}; "
                "expected every "
                "category in every run"
            )
        _check_finite(X, "data")
        sums = np.zeros((len(run_values) * len(categories), X.shape[1]))
        np.add.at(sums, cell, X)
        means = (sums / counts[:, None]).reshape(len(run_values), len(categories), X.shape[1])
        return compute_rdm(means, metric, **kwargs), categories
    _check_finite(X, "data")
    counts = np.bincount(inverse, minlength=len(categories))
    indicator = np.zeros((len(categories), n_rows))
    indicator[inverse, np.arange(n_rows)] = 1.0 / counts[inverse]
    means = indicator @ X if X.ndim == 2 else np.einsum("cr,krf->kcf", indicator, X)
    kwargs.setdefault("row_names", categories.tolist())
    return compute_rdm(means, metric, **kwargs), categories


def rdm_sizes_match(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("a", "b")) -> int:
    """Number of stimuli shared by two condensed RDMs, or an InputError naming both sizes.

    Parameters
    ----------
    a, b : array of shape (..., n_pairs)
        Condensed RDMs.
    names : tuple of str
        How the two are named in the error message.

    Returns
    -------
    int
        The number of stimuli ``n``.
    """
    la, lb = np.shape(a)[-1], np.shape(b)[-1]
    na, nb = n_stimuli(la, names[0]), n_stimuli(lb, names[1])
    if la != lb:
        raise InputError(
            f"{names[0]} has {la} entries ({na} stimuli) and {names[1]} has {lb} entries "
            f"({nb} stimuli); expected RDMs of the same stimuli"
        )
    return na
