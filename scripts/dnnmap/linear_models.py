"""Linear encoding models other than ridge, and cross-validation of any estimator.

Estimators (scikit-learn interface: the constructor stores parameters, ``fit(X, Y)`` sets
attributes ending in ``_``, ``predict(X)``, ``score(X, Y)`` = Pearson r per target as in
:class:`dnnmap.ridge.RidgeCV`); all take many targets ``Y (n, v)`` at once, with no loop over
targets:

* :class:`OLS` (here): ordinary least squares / GLM with intercept, standard errors,
  t- and p-values per regressor and target, and t-contrasts;
* :class:`dnnmap.lasso.Lasso`, :class:`dnnmap.lasso.LassoCV`: coordinate descent on all
  targets at once from one Gram matrix, alpha per target by inner CV;
* :class:`dnnmap.pls.PLS`: PLS2 regression (NIPALS), the number of components by inner CV
  from one fit of the largest number;
* :class:`dnnmap.unit_mapping.PerUnitRegression`: DNNBrain's univariate mapping, the best
  single unit per voxel.

:func:`make_estimator` builds one of these by name, or any importable class by dotted path
(:func:`estimator_from_path`, resolved with importlib, never ``eval``).
:func:`cross_validated_predictions` runs any estimator over :class:`dnnmap.cv.Splits` and
returns the :class:`dnnmap.ridge.EncodingResult` of :func:`dnnmap.ridge.cross_validated_encoding`
(same scores, same conventions), so the encoding rule can use either.

OLS math. With the design ``X1 = [1, X]`` (``n x q``, ``q = p + 1`` with the intercept)
and its thin QR ``X1 = Q R``: ``beta = R^-1 Q' Y`` (q, v); residual variance
``s2 = |Y - X1 beta|^2 / (n - q)`` per target; ``Cov(beta) = s2 (X1'X1)^-1`` with
``(X1'X1)^-1 = R^-1 R^-T``; ``t = beta / se``, two-sided ``p = 2 sf_t(|t|, n - q)``
(scipy ``t`` distribution). A contrast ``c`` gives ``t = c beta / sqrt(s2 c (X1'X1)^-1 c')``.
A rank-deficient design is an error (its coefficients and standard errors are not
identified).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import logging
import re
from collections.abc import Mapping
from dataclasses import fields

import numpy as np
from scipy import linalg, stats
from sklearn.base import BaseEstimator, clone

from dnnmap.cv import Splits, check_splits, first_repeat_folds
from dnnmap.errors import InputError
from dnnmap.metrics import explained_variance, pearson_r, r2_score

LOG = logging.getLogger("dnnmap")

ESTIMATORS = {
    "ols": "dnnmap.linear_models.OLS",
    "lasso": "dnnmap.lasso.Lasso",
    "lasso_cv": "dnnmap.lasso.LassoCV",
    "pls": "dnnmap.pls.PLS",
    "per_unit": "dnnmap.unit_mapping.PerUnitRegression",
}
"""Built-in estimator names of :func:`make_estimator` and their classes."""

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


# ---------------------------------------------------------------------------------------------
# Input checks shared by the estimators
# ---------------------------------------------------------------------------------------------


def check_x(X, name: str = "X") -> np.ndarray:
    """``X`` as a finite 2-D float64 array (n, p)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(
            f"{name} has shape {X.shape}; expected a 2-D (n_samples, n_features) array"
        )
    if not np.isfinite(X).all():
        raise InputError(f"{name} contains NaN or inf; expected finite features")
    return X


def check_xy(X, Y, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray, bool]:
    """``X`` (n, p) and ``Y`` (n, v) as finite float64 arrays, and whether Y was 1-D."""
    X = check_x(X)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim not in (1, 2):
        raise InputError(f"Y has shape {Y.shape}; expected (n_samples,) or (n_samples, n_targets)")
    if X.shape[0] != Y.shape[0]:
        raise InputError(f"X has shape {X.shape} and Y has shape {Y.shape}; expected equal rows")
    if X.shape[0] < min_samples:
        raise InputError(f"X has {X.shape[0]} samples; expected at least {min_samples}")
    if not np.isfinite(Y).all():
        raise InputError("Y contains NaN or inf; expected finite responses")
    vector = Y.ndim == 1
    return X, (Y[:, None] if vector else Y), vector


def check_fitted(est, X, attr: str = "coef_") -> np.ndarray:
    """Check that ``est`` is fitted and ``X`` has its number of features."""
    if not hasattr(est, attr):
        raise InputError(f"{type(est).__name__} is not fitted; call fit(X, Y) before predict")
    X = check_x(X)
    if X.shape[1] != est.n_features_in_:
        raise InputError(f"X has {X.shape[1]} features; expected {est.n_features_in_} as in fit")
    return X


def _out(a: np.ndarray, vector: bool):
    """Column 0 of ``a`` (last axis) when the fit was on 1-D Y."""
    if not vector:
        return a
    a = a[..., 0]
    return float(a) if a.ndim == 0 else a


# ---------------------------------------------------------------------------------------------
# OLS / GLM
# ---------------------------------------------------------------------------------------------


class OLS(BaseEstimator):
    """Ordinary least squares for all targets at once, with inference per regressor.

    Parameters
    ----------
    fit_intercept : bool
        Add a column of ones (the intercept, first in ``cov_unscaled_``).

    Attributes
    ----------
    coef_ : array of shape (p, v), or (p,) for 1-D Y
    intercept_ : array of shape (v,), or float (0 without intercept)
    se_, tvalues_, pvalues_ : arrays of shape (p, v), or (p,)
        Standard error, t-value and two-sided p-value of each coefficient.
    intercept_se_, intercept_tvalue_, intercept_pvalue_ : array of shape (v,), or float
        The same for the intercept (NaN without intercept).
    sigma2_ : array of shape (v,), or float
        Residual variance ``RSS / dof_resid_``.
    dof_resid_ : int
        ``n - p - fit_intercept``.
    cov_unscaled_ : array of shape (q, q)
        ``(X1'X1)^-1``, ``q = p + fit_intercept`` (intercept first).
    n_features_in_ : int
    """

    def __init__(self, fit_intercept: bool = True):
        self.fit_intercept = fit_intercept

    def fit(self, X, Y) -> OLS:
        """Least squares fit and inference; ``X`` (n, p), ``Y`` (n, v) or (n,)."""
        X, Y, vector = check_xy(X, Y)
        n, p = X.shape
        X1 = np.column_stack([np.ones(n), X]) if self.fit_intercept else X
        q = X1.shape[1]
        dof = n - q
        if dof < 1:
            raise InputError(
                f"X has {n} samples for {q} coefficients; expected more samples than "
                "coefficients (at least one residual degree of freedom)"
            )
        Q, R = np.linalg.qr(X1)
        d = np.abs(np.diag(R))
        if d.min() <= d.max() * max(n, q) * np.finfo(np.float64).eps:
            rank = int(np.linalg.matrix_rank(X1))
            raise InputError(
                f"X has rank {rank} with {q} coefficients (intercept included); expected "
                "linearly independent regressors"
            )
        beta = linalg.solve_triangular(R, Q.T @ Y)
        resid = Y - X1 @ beta
        sigma2 = np.einsum("ij,ij->j", resid, resid) / dof
        Rinv = linalg.solve_triangular(R, np.eye(q))
        cov = Rinv @ Rinv.T
        se = np.sqrt(np.outer(np.diag(cov), sigma2))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = beta / se
        pval = 2 * stats.t.sf(np.abs(t), dof)
        k = 1 if self.fit_intercept else 0
        nan = np.full(Y.shape[1], np.nan)
        self._beta, self._vector = beta, vector
        self.coef_ = _out(beta[k:], vector)
        self.se_ = _out(se[k:], vector)
        self.tvalues_ = _out(t[k:], vector)
        self.pvalues_ = _out(pval[k:], vector)
        self.intercept_ = _out(beta[0] if k else np.zeros(Y.shape[1]), vector)
        self.intercept_se_ = _out(se[0] if k else nan, vector)
        self.intercept_tvalue_ = _out(t[0] if k else nan, vector)
        self.intercept_pvalue_ = _out(pval[0] if k else nan, vector)
        self.sigma2_ = _out(sigma2, vector)
        self.dof_resid_ = int(dof)
        self.cov_unscaled_ = cov
        self.n_features_in_ = p
        return self

    def contrast(self, c) -> tuple[np.ndarray, np.ndarray]:
        """t-contrast(s) of the coefficients.

        Parameters
        ----------
        c : array of shape (p,) or (k, p), or (q,) or (k, q) with the intercept first
            Weights of the regressors (``q = p + 1`` includes the intercept).

        Returns
        -------
        t, p : arrays of shape (v,), or (k, v) for 2-D ``c`` (floats for 1-D Y and 1-D c)
            t-value of ``c @ beta`` and its two-sided p-value (``dof_resid_`` dof).
        """
        if not hasattr(self, "_beta"):
            raise InputError("OLS is not fitted; call fit(X, Y) before contrast")
        c = np.asarray(c, dtype=np.float64)
        q = self.cov_unscaled_.shape[0]
        p = self.n_features_in_
        one = c.ndim == 1
        c2 = np.atleast_2d(c)
        if c2.ndim != 2 or c2.shape[1] not in {p, q} or not np.isfinite(c2).all():
            raise InputError(
                f"contrast has shape {c.shape}; expected finite weights of shape ({p},) or "
                f"(k, {p}) for the regressors, or ({q},)/(k, {q}) with the intercept first"
            )
        if c2.shape[1] == p and q != p:
            c2 = np.column_stack([np.zeros(c2.shape[0]), c2])
        effect = c2 @ self._beta
        var = np.einsum("ki,ij,kj->k", c2, self.cov_unscaled_, c2)
        sigma2 = np.atleast_1d(self.sigma2_)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = effect / np.sqrt(np.outer(var, sigma2))
        pval = 2 * stats.t.sf(np.abs(t), self.dof_resid_)
        if one:
            t, pval = t[0], pval[0]
        return _out(t, self._vector), _out(pval, self._vector)

    def predict(self, X) -> np.ndarray:
        """Predictions (m, v), or (m,) for 1-D Y."""
        X = check_fitted(self, X)
        return X @ self.coef_ + self.intercept_

    def score(self, X, Y) -> np.ndarray:
        """Pearson r per target between ``Y`` and ``predict(X)``: shape (v,), or float."""
        return pearson_r(Y, self.predict(X))


# ---------------------------------------------------------------------------------------------
# Estimators by name or import path
# ---------------------------------------------------------------------------------------------


def _resolve(path: str, key: str):
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # this prefix is not a module; try a shorter one
            raise InputError(f"{key} is {path!r}: importing {module_name} failed ({exc})") from exc
        except Exception as exc:  # any import-time failure of user code
            raise InputError(f"{key} is {path!r}: importing {module_name} failed ({exc})") from exc
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                raise InputError(f"{key} is {path!r}: {module_name} has no {'.'.join(parts[i:])}")
            obj = getattr(obj, attr)
        return obj
    raise InputError(f"{key} is {path!r}: no module {parts[0]!r}; expected an importable path")


def estimator_from_path(
    path: str, params: dict | None = None, *, key: str = "encoding.estimator"
) -> object:
    """An estimator instance from a dotted import path, e.g. ``sklearn.linear_model.Ridge``.

    Parameters
    ----------
    path : str
        ``package.module.Class``; resolved with :func:`importlib.import_module` and
        ``getattr`` (never ``eval``). It must name a class with ``fit`` and ``predict``.
    params : dict or None
        Keyword arguments of the class.
    key : str
        Config key of ``path``, named in messages (``{key}`` params as ``{key}_params``).

    Returns
    -------
    estimator
        ``cls(**params)``, unfitted.
    """
    if not isinstance(path, str) or not _DOTTED.match(path):
        raise InputError(
            f"{key} is {path!r}; expected a dotted import path such as 'sklearn.linear_model.Ridge'"
        )
    if params is None:
        params = {}
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise InputError(f"{key}_params is {params!r}; expected a mapping of keyword arguments")
    cls = _resolve(path, key)
    if not inspect.isclass(cls):
        raise InputError(f"{key} is {path!r}, a {type(cls).__name__}; expected a class")
    if not (callable(getattr(cls, "fit", None)) and callable(getattr(cls, "predict", None))):
        raise InputError(
            f"{key} is {path!r}, a class without fit and predict; expected an estimator"
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError(f"{key}_params {dict(params)!r} do not fit {path} ({exc})") from exc


def make_estimator(name: str, params: dict | None = None, *, key: str = "encoding.estimator"):
    """An estimator from a built-in name (:data:`ESTIMATORS`) or a dotted import path.

    Parameters
    ----------
    name : str
        ``ols``, ``lasso``, ``lasso_cv``, ``pls``, ``per_unit``, or a path for
        :func:`estimator_from_path`.
    params : dict or None
        Keyword arguments of the estimator.
    key : str
        Config key of ``name``, named in messages.

    Returns
    -------
    estimator
        Unfitted.
    """
    if isinstance(name, str) and name in ESTIMATORS:
        return estimator_from_path(ESTIMATORS[name], params, key=key)
    if isinstance(name, str) and "." in name:
        return estimator_from_path(name, params, key=key)
    raise InputError(
        f"{key} is {name!r}; expected one of {', '.join(ESTIMATORS)} or a dotted import path"
    )


# ---------------------------------------------------------------------------------------------
# Cross-validated predictions of any estimator
# ---------------------------------------------------------------------------------------------


def _fresh(factory, train: np.ndarray):
    """A new unfitted estimator for one outer training set."""
    if hasattr(factory, "fit"):
        try:
            return clone(factory)
        except TypeError:
            return copy.deepcopy(factory)
    est = factory(train)
    if not (callable(getattr(est, "fit", None)) and callable(getattr(est, "predict", None))):
        raise InputError(
            f"estimator_factory returned {type(est).__name__}; expected an estimator with "
            "fit and predict"
        )
    return est


def _hyperparameter(est, b: int) -> np.ndarray:
    """The fitted estimator's chosen hyperparameter per target (b,): ``alpha_``, else
    ``n_components_``, else NaN."""
    for attr in ("alpha_", "n_components_"):
        value = getattr(est, attr, None)
        if value is None:
            continue
        try:
            value = np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            continue
        if value.size in (1, b):
            return np.broadcast_to(value, (b,))
    return np.full(b, np.nan)


def _masked(Y: np.ndarray) -> np.ndarray:
    finite = np.isfinite(Y).all(axis=0)
    constant = np.zeros(Y.shape[1], dtype=bool)
    constant[finite] = np.ptp(Y[:, finite], axis=0) == 0
    return ~finite | constant


def cross_validated_predictions(
    estimator_factory, X, Y, splits: Splits, *, batch_size: int | None = None
):
    """Out-of-fold predictions and scores of any estimator over explicit outer splits.

    Per split, a fresh estimator is fitted on the training rows and predicts the test rows;
    scores follow :func:`dnnmap.ridge.cross_validated_encoding` exactly.

    Parameters
    ----------
    estimator_factory : callable or estimator
        ``estimator_factory(train)`` gets the outer training rows (n_train,) (e.g. to build
        grouped inner folds with :func:`dnnmap.cv.inner_splits`) and returns an unfitted
        estimator; an estimator instance is cloned (``sklearn.base.clone``) per split. Its
        ``fit(X, Y)`` takes ``Y (n_train, b)`` and ``predict`` returns ``(m, b)`` (or
        ``(m,)`` when ``b == 1``).
    X : array of shape (n, p)
        Features.
    Y : array of shape (n, v) or (n,)
        Responses. Columns that are constant or hold NaN/inf are masked: not fitted, NaN
        outputs, a warning on the ``dnnmap`` logger.
    splits : dnnmap.cv.Splits
        Outer splits (:func:`dnnmap.cv.make_splits`); repeats are averaged.
    batch_size : int or None
        Targets per fit (bounds memory); None fits all unmasked targets at once. Results do
        not depend on it for per-target estimators (OLS, Lasso, per-unit); leave it None for
        multivariate ones (PLS2 components depend on all targets).

    Returns
    -------
    dnnmap.ridge.EncodingResult
        ``predictions`` (n, v): repeat 0, NaN for rows it does not test and masked columns
        (float32 for float32 Y); ``score``, ``r2``, ``explained_variance`` (v,): mean over
        repeats of the pooled out-of-fold Pearson r / R² / explained variance on the tested
        rows (NaN when fewer than 3); ``fold_scores`` (n_splits, v): Pearson r per test set
        (NaN below 3 rows); ``alpha`` (n_splits, v): the estimator's ``alpha_`` or
        ``n_components_`` per target, else NaN; ``folds`` (n,); ``masked`` (v,).
    """
    from dnnmap.ridge import EncodingResult

    X = check_x(X)
    Y = np.asarray(Y)
    if Y.dtype != np.float32:
        Y = Y.astype(np.float64, copy=False)
    if Y.ndim not in (1, 2) or Y.shape[0] != X.shape[0]:
        raise InputError(f"X has shape {X.shape} and Y has shape {Y.shape}; expected equal rows")
    vector = Y.ndim == 1
    if vector:
        Y = Y[:, None]
    n, v = Y.shape
    splits = check_splits(splits, n, min_train=3)
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise InputError(f"batch_size is {batch_size!r}; expected a positive int or None")
    masked = _masked(Y)
    if masked.any():
        LOG.warning(
            "%d of %d response columns are constant or not finite (NaN or inf); they are "
            "masked (NaN results), the rest are fitted",
            int(masked.sum()),
            v,
        )
    cols = np.flatnonzero(~masked)
    step = max(cols.size, 1) if batch_size is None else int(batch_size)
    batches = [cols[i : i + step] for i in range(0, cols.size, step)]
    predictions = np.full((n, v), np.nan, dtype=Y.dtype)
    scratch = None
    hyper = np.full((len(splits), v), np.nan)
    fold_scores = np.full((len(splits), v), np.nan)
    score, r2, ev = np.zeros(v), np.zeros(v), np.zeros(v)
    repeats = np.unique(splits.repeat)
    for r in repeats:
        if r == repeats[0]:
            buf = predictions
        else:
            scratch = np.empty((n, v), dtype=Y.dtype) if scratch is None else scratch
            buf = scratch
            buf.fill(np.nan)
        which = np.flatnonzero(splits.repeat == r)
        for s in which:
            tr, te = splits.train[s], splits.test[s]
            for c in batches:
                est = _fresh(estimator_factory, tr)
                est.fit(X[tr], Y[np.ix_(tr, c)])
                pred = np.asarray(est.predict(X[te]))
                if pred.ndim == 1 and c.size == 1:
                    pred = pred[:, None]
                if pred.shape != (te.size, c.size):
                    raise InputError(
                        f"{type(est).__name__}.predict returned shape {pred.shape}; expected "
                        f"({te.size}, {c.size}) for {te.size} test rows and {c.size} targets"
                    )
                buf[np.ix_(te, c)] = pred
                hyper[s, c] = _hyperparameter(est, c.size)
                if te.size >= 3:
                    fold_scores[s, c] = pearson_r(Y[np.ix_(te, c)], pred)
        rows = np.unique(np.concatenate([splits.test[s] for s in which]))
        for c in batches:
            if rows.size < 3:
                score[c] = r2[c] = ev[c] = np.nan
                continue
            y_true, y_pred = Y[np.ix_(rows, c)], buf[np.ix_(rows, c)]
            score[c] += pearson_r(y_true, y_pred)
            r2[c] += r2_score(y_true, y_pred)
            ev[c] += explained_variance(y_true, y_pred)
    for stat in (score, r2, ev):
        stat /= repeats.size
        stat[masked] = np.nan
    out = {
        "predictions": predictions,
        "score": score,
        "r2": r2,
        "fold_scores": fold_scores,
        "alpha": hyper,
        "folds": first_repeat_folds(splits),
        "explained_variance": ev,
        "masked": masked,
    }
    if vector:
        out = {k: (a if k in ("folds", "masked") else _out(a, True)) for k, a in out.items()}
    names = {f.name for f in fields(EncodingResult)}
    return EncodingResult(**{k: a for k, a in out.items() if k in names})
