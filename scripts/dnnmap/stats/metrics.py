"""Column-wise scores between measured and predicted responses (one score per target).

Undefined scores are NaN, never 0 and never an error: a column in which ``y_true`` is
constant (no variance to explain, e.g. a grayordinate outside the brain mask) or either input
holds NaN/inf gets NaN from every score here, and :func:`pearson_r` also gives NaN where the
prediction is constant. Summaries over voxels should use ``np.nanmedian`` / ``np.nanmean``
(and report how many voxels were NaN). scikit-learn instead reports 1 or 0 for a constant
``y_true`` (``force_finite=True``), which would inflate or deflate a region's median.
"""

from __future__ import annotations

import numpy as np

from dnnmap.errors import InputError


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return both arrays as 2-D float64 and whether the inputs were 1-D."""
    a = np.asarray(y_true, dtype=np.float64)
    b = np.asarray(y_pred, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise InputError(
            f"y_true has shape {a.shape} and y_pred has shape {b.shape}; "
            "expected equal shapes (n,) or (n, v)"
        )
    if a.shape[0] < 2:
        raise InputError(f"y_true has {a.shape[0]} rows; expected at least 2 samples")
    vector = a.ndim == 1
    if vector:
        a, b = a[:, None], b[:, None]
    return a, b, vector


def _undefined(a: np.ndarray) -> np.ndarray:
    """Boolean (v,): columns that are constant or hold NaN/inf."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(a).all(axis=0) | ~(np.ptp(a, axis=0) > 0)


def _out(x: np.ndarray, vector: bool):
    return float(x[0]) if vector else x


def pearson_r(y_true, y_pred) -> np.ndarray:
    """Pearson correlation between matching columns.

    Parameters
    ----------
    y_true, y_pred : array of shape (n, v) or (n,)
        Measured and predicted responses; any float dtype (computed in float64).

    Returns
    -------
    r : array of shape (v,), or float for 1-D input
        Correlation per column, equal to ``scipy.stats.pearsonr``. NaN for a column in which
        either input is constant or holds NaN/inf.
    """
    a, b, vector = _pair(y_true, y_pred)
    bad = _undefined(a) | _undefined(b)
    with np.errstate(invalid="ignore"):
        a = a - a.mean(axis=0)
        b = b - b.mean(axis=0)
        num = np.einsum("ij,ij->j", a, b)
        den = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    ok = ~bad & (den > 0)
    r = np.full(a.shape[1], np.nan)
    r[ok] = np.clip(num[ok] / den[ok], -1.0, 1.0)
    return _out(r, vector)


def r2_score(y_true, y_pred) -> np.ndarray:
    """Coefficient of determination ``1 - SSE / SST`` per column.

    Equal to ``sklearn.metrics.r2_score(y_true, y_pred, multioutput="raw_values")`` for
    every column of ``y_true`` that varies. A constant ``y_true`` column, or one in which
    either input holds NaN/inf, gets NaN (scikit-learn gives 1 when a constant column is
    predicted exactly, else 0).

    Parameters
    ----------
    y_true, y_pred : array of shape (n, v) or (n,)
        Measured and predicted responses; any float dtype (computed in float64).

    Returns
    -------
    r2 : array of shape (v,), or float for 1-D input
        Can be negative (a prediction worse than the column mean).
    """
    a, b, vector = _pair(y_true, y_pred)
    bad = _undefined(a) | ~np.isfinite(b).all(axis=0)
    with np.errstate(invalid="ignore"):
        sse = np.einsum("ij,ij->j", a - b, a - b)
        dev = a - a.mean(axis=0)
        sst = np.einsum("ij,ij->j", dev, dev)
    ok = ~bad & (sst > 0)
    r2 = np.full(a.shape[1], np.nan)
    r2[ok] = 1.0 - sse[ok] / sst[ok]
    return _out(r2, vector)


def explained_variance(y_true, y_pred) -> np.ndarray:
    """Explained variance ``1 - Var(y_true - y_pred) / Var(y_true)`` per column.

    Unlike :func:`r2_score` it ignores a constant offset of the prediction (a bias). Equal to
    ``sklearn.metrics.explained_variance_score(y_true, y_pred, multioutput="raw_values")`` for
    every column of ``y_true`` that varies; NaN for a constant ``y_true`` column or one in
    which either input holds NaN/inf.

    Parameters
    ----------
    y_true, y_pred : array of shape (n, v) or (n,)
        Measured and predicted responses; any float dtype (computed in float64).

    Returns
    -------
    ev : array of shape (v,), or float for 1-D input
        At most 1; can be negative.
    """
    a, b, vector = _pair(y_true, y_pred)
    bad = _undefined(a) | ~np.isfinite(b).all(axis=0)
    with np.errstate(invalid="ignore"):
        res = a - b
        res = res - res.mean(axis=0)
        dev = a - a.mean(axis=0)
        num = np.einsum("ij,ij->j", res, res)
        den = np.einsum("ij,ij->j", dev, dev)
    ok = ~bad & (den > 0)
    ev = np.full(a.shape[1], np.nan)
    ev[ok] = 1.0 - num[ok] / den[ok]
    return _out(ev, vector)


def signed_sqrt_r2(y_true, y_pred) -> np.ndarray:
    """``sign(R²) * sqrt(|R²|)`` per column, R² of :func:`r2_score`.

    A correlation-like scale for R² that keeps its sign (negative: the prediction is worse
    than the column mean); the encoding metric of the seed study.

    Parameters
    ----------
    y_true, y_pred : array of shape (n, v) or (n,)

    Returns
    -------
    array of shape (v,), or float for 1-D input
        In (-inf, 1]; NaN where :func:`r2_score` is NaN.
    """
    r2 = np.asarray(r2_score(y_true, y_pred), dtype=np.float64)
    out = np.sign(r2) * np.sqrt(np.abs(r2))
    return float(out) if out.ndim == 0 else out


SCORES = {"r": pearson_r, "r2": r2_score, "signed_sqrt_r2": signed_sqrt_r2}
"""Encoding scores by config name (``encoding.score``): column-wise ``f(y_true, y_pred)``."""

SCORE_MIN_ROWS = {"r": 3, "r2": 2, "signed_sqrt_r2": 2}
"""Fewest test rows on which each score is computed (fewer: NaN)."""


def score_function(name: str):
    """The column-wise scorer of :data:`SCORES` named ``name``."""
    if name not in SCORES:
        raise InputError(f"score is {name!r}; expected one of {', '.join(SCORES)}")
    return SCORES[name]
