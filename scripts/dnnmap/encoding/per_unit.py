"""Univariate unit-to-voxel mapping (DNNBrain's ``uv`` encoding): the best single unit per voxel.

For each voxel (target) the unit (feature) whose activation correlates best with the
voxel's response on the training set is chosen, and a simple linear regression on that unit
alone predicts the voxel. DNNBrain's ``corr`` model scores units by the squared
correlation ``r^2`` (``criterion="abs"``, the default: largest ``|r|``); ``criterion=
"positive"`` takes the largest signed ``r``.

Computation, with no loop over voxels or units: the columns of X and Y are standardized
(``ddof=0``); for a batch of units the correlation matrix ``R_b = Xz_b' Yz / n`` (batch, v)
is one product, its column-wise argmax is compared with the best so far (ties: the lower
unit index, as ``np.argmax``), so memory is ``unit_batch x v`` whatever the layer size. The
fit on the chosen unit is the least-squares line ``y = a + b x`` with ``b = r * sd_y /
sd_x`` and ``a = mean_y - b * mean_x`` (``np.polyfit(x, y, 1)``). Units that are constant
on the training set are never chosen; a voxel that is constant (or when every unit is
constant) gets ``best_unit_ = -1``, ``unit_r_ = NaN``, slope 0 and its mean as intercept.

:func:`unit_location` turns flat unit indices into positions in the layer's unit shape, e.g.
(channel, row, column) of a convolutional layer (``np.unravel_index``, C order, as the
activations are flattened).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from dnnmap.checks import check_choice, check_count
from dnnmap.encoding.base import EncodingScoreMixin, squeeze_targets
from dnnmap.errors import InputError

CRITERIA = ("abs", "positive")


def unit_location(flat_index, unit_shape) -> np.ndarray:
    """Positions of flat unit indices in a layer's unit shape.

    Parameters
    ----------
    flat_index : int array of shape (v,)
        Indices into the flattened units (C order); -1 means none.
    unit_shape : tuple of int
        Shape of one stimulus's activations, e.g. ``(channels, rows, cols)``.

    Returns
    -------
    location : int array of shape (v, len(unit_shape))
        ``np.unravel_index`` of each index (e.g. channel, row, column); rows of -1 for -1.
    """
    shape = tuple(int(s) for s in np.atleast_1d(unit_shape))
    if not shape or any(s < 1 for s in shape):
        raise InputError(f"unit_shape is {unit_shape!r}; expected positive dimensions")
    idx = np.asarray(flat_index)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"flat_index has shape {idx.shape}; expected a 1-D int array")
    size = int(np.prod(shape))
    if idx.size and (idx.min() < -1 or idx.max() >= size):
        raise InputError(
            f"flat_index holds values outside [-1, {size}); expected unit indices of {shape}"
        )
    none = idx < 0
    loc = np.column_stack(np.unravel_index(np.where(none, 0, idx), shape)).astype(np.int64)
    loc[none] = -1
    return loc.reshape(idx.size, len(shape))


class PerUnitRegression(EncodingScoreMixin, BaseEstimator):
    """Best single unit per voxel by training correlation, and a line fit on it.

    Parameters
    ----------
    criterion : {"abs", "positive"}
        Rank units by ``|r|`` (DNNBrain's ``r^2``) or by ``r``.
    unit_batch : int
        Units per correlation block (memory ``unit_batch x v`` float64).

    Attributes
    ----------
    best_unit_ : int array of shape (v,), or int
        Flat index of the chosen unit (-1: none, see the module docstring).
    unit_r_ : array of shape (v,), or float
        Training Pearson r of that unit with the voxel.
    coef_ : array of shape (v,), or float
        Slope on the unit.
    intercept_ : array of shape (v,), or float
    unit_shape_ : tuple
        ``X.shape[1:]`` at fit (activations may be given as (n, *unit_shape)).
    n_features_in_ : int
        Number of units.
    """

    def __init__(self, criterion="abs", unit_batch=4096):
        self.criterion = criterion
        self.unit_batch = unit_batch

    def fit(self, X, Y) -> PerUnitRegression:
        """Choose a unit per target on ``X`` (n, units) or (n, *unit_shape), ``Y`` (n, v)."""
        X = np.asarray(X)
        if X.ndim < 2:
            raise InputError(f"X has shape {X.shape}; expected (n_samples, n_units, ...)")
        unit_shape = X.shape[1:]
        X = X.reshape(X.shape[0], -1)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim not in (1, 2) or Y.shape[0] != X.shape[0]:
            raise InputError(
                f"X has shape {X.shape} and Y has shape {Y.shape}; expected equal rows"
            )
        if X.shape[0] < 3:
            raise InputError(f"X has {X.shape[0]} samples; expected at least 3")
        if not np.isfinite(Y).all():
            raise InputError("Y contains NaN or inf; expected finite responses")
        check_choice(self.criterion, "criterion", CRITERIA)
        step = check_count(self.unit_batch, "unit_batch", 1)
        vector = Y.ndim == 1
        Y = Y[:, None] if vector else Y
        (n, units), v = X.shape, Y.shape[1]
        y_mean, y_sd = Y.mean(axis=0), Y.std(axis=0)
        y_ok = y_sd > 0
        Yz = np.zeros_like(Y)
        Yz[:, y_ok] = (Y[:, y_ok] - y_mean[y_ok]) / y_sd[y_ok]
        best = np.full(v, -1, dtype=np.int64)
        best_key = np.full(v, -np.inf)
        best_r = np.full(v, np.nan)
        x_mean, x_sd = np.empty(units), np.empty(units)
        for u0 in range(0, units, int(step)):  # a loop over unit batches
            Xb = np.asarray(X[:, u0 : u0 + step], dtype=np.float64)
            if not np.isfinite(Xb).all():
                raise InputError("X contains NaN or inf; expected finite activations")
            m, sd = Xb.mean(axis=0), Xb.std(axis=0)
            x_mean[u0 : u0 + step], x_sd[u0 : u0 + step] = m, sd
            ok = sd > 0
            Xz = np.zeros_like(Xb)
            Xz[:, ok] = (Xb[:, ok] - m[ok]) / sd[ok]
            R = np.clip(Xz.T @ Yz / n, -1.0, 1.0)  # (batch, v)
            key = np.abs(R) if self.criterion == "abs" else R.copy()
            key[~ok] = -np.inf
            key[:, ~y_ok] = -np.inf
            i = np.argmax(key, axis=0)
            k = key[i, np.arange(v)]
            better = k > best_key
            best[better] = u0 + i[better]
            best_key[better] = k[better]
            best_r[better] = R[i[better], np.flatnonzero(better)]
        chosen = best >= 0
        slope = np.zeros(v)
        b = best[chosen]
        slope[chosen] = best_r[chosen] * y_sd[chosen] / x_sd[b]
        intercept = y_mean.copy()
        intercept[chosen] -= slope[chosen] * x_mean[b]
        self.best_unit_ = int(best[0]) if vector else best
        self.unit_r_ = squeeze_targets(best_r, vector)
        self.coef_ = squeeze_targets(slope, vector)
        self.intercept_ = squeeze_targets(intercept, vector)
        self.unit_shape_ = tuple(int(s) for s in unit_shape)
        self.n_features_in_ = units
        self._vector = vector
        return self

    def best_location(self) -> np.ndarray:
        """Position of each chosen unit in ``unit_shape_``: int array (v, ndim), -1 for none."""
        if not hasattr(self, "best_unit_"):
            raise InputError("PerUnitRegression is not fitted; call fit(X, Y) first")
        return unit_location(np.atleast_1d(self.best_unit_), self.unit_shape_)

    def predict(self, X) -> np.ndarray:
        """Predictions (m, v) from each target's unit, or (m,) for 1-D Y."""
        if not hasattr(self, "best_unit_"):
            raise InputError("PerUnitRegression is not fitted; call fit(X, Y) before predict")
        X = np.asarray(X)
        X = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has shape {X.shape}; expected (m, {self.n_features_in_}) units as in fit"
            )
        best = np.atleast_1d(self.best_unit_)
        cols = np.asarray(X[:, np.maximum(best, 0)], dtype=np.float64)  # (m, v) gather
        if not np.isfinite(cols).all():
            raise InputError("X contains NaN or inf in the chosen units; expected finite values")
        pred = cols * np.atleast_1d(self.coef_) + np.atleast_1d(self.intercept_)
        return squeeze_targets(pred, self._vector)
