"""The contract shared by the encoding estimators: input checks, target shapes and the score.

Every encoding estimator is a scikit-learn estimator (``sklearn.base.BaseEstimator``: the
constructor stores its parameters unchanged, ``fit(X, Y)`` sets attributes ending in ``_``,
``sklearn.base.clone`` gives an unfitted copy) that takes many targets ``Y (n, v)`` at once and
scores with :class:`EncodingScoreMixin` (Pearson r per target). This module holds what they
share: the checks of ``X``/``Y`` and of fitted state, :func:`squeeze_targets` for fits on 1-D
``Y``, and the column helpers (batches, gathers and scatters) of the solvers and of
:mod:`dnnmap.encoding.cross_validation`; masked targets are those of
:func:`dnnmap.brain.summary.masked_voxels`, the one definition every analysis uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from dnnmap.checks import check_matrix
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r

LOG = logging.getLogger("dnnmap")


class EncodingScoreMixin:
    """``score(X, Y)``: Pearson r per target between ``Y`` and ``predict(X)``.

    Encoding studies report the correlation of predicted and measured responses, so every
    encoding estimator scores with it instead of scikit-learn's R² (``RegressorMixin``).
    """

    def score(self, X, Y):
        """Pearson r per target between ``Y`` and ``predict(X)``.

        Parameters
        ----------
        X : array of shape (m, p)
        Y : array of shape (m, v) or (m,)

        Returns
        -------
        r : array of shape (v,), or float for 1-D ``Y``
        """
        return pearson_r(Y, self.predict(X))


def check_xy(
    X, Y, *, min_samples: int = 2, finite_y: bool = True, keep_float32: bool = False
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Features and targets of a fit.

    Parameters
    ----------
    X : array of shape (n, p)
        Finite features.
    Y : array of shape (n, v) or (n,)
        Targets.
    min_samples : int
        Fewest rows ``X`` may have.
    finite_y : bool
        Require finite targets (False: the caller masks non-finite columns).
    keep_float32 : bool
        Keep float32 targets as float32 (the solvers compute in the targets' precision);
        otherwise targets are float64.

    Returns
    -------
    X : float64 array of shape (n, p)
    Y : array of shape (n, v)
        2-D, float64 (or float32 with ``keep_float32``).
    vector : bool
        Whether ``Y`` was 1-D.
    """
    X = check_matrix(X, "X")
    Y = np.asarray(Y)
    if not (keep_float32 and Y.dtype == np.float32):
        Y = Y.astype(np.float64, copy=False)
    if Y.ndim not in (1, 2):
        raise InputError(f"Y has shape {Y.shape}; expected (n_samples,) or (n_samples, n_targets)")
    if X.shape[0] != Y.shape[0]:
        raise InputError(f"X has shape {X.shape} and Y has shape {Y.shape}; expected equal rows")
    if X.shape[0] < min_samples:
        raise InputError(f"X has {X.shape[0]} samples; expected at least {min_samples}")
    if finite_y and not np.isfinite(Y).all():
        raise InputError("Y contains NaN or inf; expected finite responses")
    vector = Y.ndim == 1
    return X, (Y[:, None] if vector else Y), vector


def check_fitted(est, X, attr: str = "coef_") -> np.ndarray:
    """``X`` (m, p) as finite float64, once ``est`` is fitted (has ``attr``) on ``p`` features."""
    if not hasattr(est, attr):
        raise InputError(f"{type(est).__name__} is not fitted; call fit(X, Y) before predict")
    X = check_matrix(X, "X")
    if X.shape[1] != est.n_features_in_:
        raise InputError(f"X has {X.shape[1]} features; expected {est.n_features_in_} as in fit")
    return X


def squeeze_targets(a: np.ndarray, vector: bool):
    """``a`` (..., v) as fitted: column 0 of its last axis (a float when 0-D) for 1-D ``Y``."""
    if not vector:
        return a
    a = a[..., 0]
    return float(a) if a.ndim == 0 else a


# ---------------------------------------------------------------------------------------------
# Target columns: batches, masking, gathers
# ---------------------------------------------------------------------------------------------


def batches(cols: np.ndarray, step: int) -> Iterator[np.ndarray | slice]:
    """Batches of ``step`` columns of ``cols`` (sorted indices): a slice where contiguous,
    else the indices."""
    for b0 in range(0, cols.size, step):
        c = cols[b0 : b0 + step]
        yield slice(int(c[0]), int(c[-1]) + 1) if c[-1] - c[0] + 1 == c.size else c


def warn_masked(n_masked: int, v: int, what: str) -> None:
    """Log on the ``dnnmap`` logger that ``n_masked`` of ``v`` columns are ``what``."""
    if n_masked:
        LOG.warning(
            "%d of %d response columns are %s; they are masked (NaN results), the rest are fitted",
            n_masked,
            v,
            what,
        )


def take(A: np.ndarray, rows, cols):
    """``A[rows][:, cols]`` without copying more than the result (rows None: all rows)."""
    if rows is None:
        return A[:, cols]
    if isinstance(cols, slice):
        return A[rows, cols]
    return A[np.ix_(rows, cols)]


def put(A: np.ndarray, rows, cols, values) -> None:
    """``A[rows][:, cols] = values`` in place."""
    if isinstance(cols, slice):
        A[rows, cols] = values
    else:
        A[np.ix_(rows, cols)] = values
