"""Column-wise scores between measured and predicted responses (one score per target)."""

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


def pearson_r(y_true, y_pred) -> np.ndarray:
    """Pearson correlation between matching columns.

    Parameters
    ----------
    y_true, y_pred : array of shape (n, v) or (n,)
        Measured and predicted responses; any float dtype (computed in float64).

    Returns
    -------
    r : array of shape (v,), or float for 1-D input
        Correlation per column. A column in which either input is constant gets 0, not nan.
    """
    a, b, vector = _pair(y_true, y_pred)
    constant = (np.ptp(a, axis=0) == 0) | (np.ptp(b, axis=0) == 0)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    num = np.einsum("ij,ij->j", a, b)
    den = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    ok = ~constant & (den > 0)
    r = np.zeros(a.shape[1])
    r[ok] = np.clip(num[ok] / den[ok], -1.0, 1.0)
    return float(r[0]) if vector else r


def r2_score(y_true, y_pred) -> np.ndarray:
    """Coefficient of determination ``1 - SSE / SST`` per column.

    Equal to ``sklearn.metrics.r2_score(y_true, y_pred, multioutput="raw_values")`` for
    every column that varies. A constant ``y_true`` column (e.g. a grayordinate outside the
    brain mask, all zeros) gets 0, like :func:`pearson_r`: it has no variance to explain.
    (scikit-learn gives 1 when such a column is predicted exactly, which would inflate the
    median R² of a region.)

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
    sse = np.einsum("ij,ij->j", a - b, a - b)
    dev = a - a.mean(axis=0)
    sst = np.einsum("ij,ij->j", dev, dev)
    constant = np.ptp(a, axis=0) == 0
    ok = ~constant & (sst > 0)
    r2 = np.zeros(sse.shape)
    r2[ok] = 1.0 - sse[ok] / sst[ok]
    return float(r2[0]) if vector else r2
