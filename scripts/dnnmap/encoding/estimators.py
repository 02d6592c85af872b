"""Linear encoding models other than ridge, and cross-validation of any estimator.

Estimators (scikit-learn interface: the constructor stores parameters, ``fit(X, Y)`` sets
attributes ending in ``_``, ``predict(X)``, ``score(X, Y)`` = Pearson r per target as in
:class:`dnnmap.encoding.ridge.RidgeCV`); all take many targets ``Y (n, v)`` at once, with no loop
over
targets:

* :class:`dnnmap.encoding.ols.OLS`: ordinary least squares / GLM with intercept, standard errors,
  t- and p-values per regressor and target, and t-contrasts;
* :class:`dnnmap.encoding.lasso.Lasso`, :class:`dnnmap.encoding.lasso.LassoCV`: coordinate descent
on all
  targets at once from one Gram matrix, alpha per target by inner CV;
* :class:`dnnmap.encoding.pls.PLS`: PLS2 regression (NIPALS), the number of components by inner CV
  from one fit of the largest number;
* :class:`dnnmap.encoding.per_unit.PerUnitRegression`: DNNBrain's univariate mapping, the best
  single unit per voxel.

:func:`make_estimator` builds one of these by name, or any importable class by dotted path
(:func:`estimator_from_path`, resolved with importlib, never ``eval``).
:func:`cross_validated_predictions` runs any estimator over :class:`dnnmap.stats.splits.Splits` and
returns the :class:`dnnmap.encoding.ridge.EncodingResult` of
:func:`dnnmap.encoding.ridge.cross_validated_encoding`
(same scores, same conventions), so the encoding rule can use either.
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
from sklearn.base import clone

from dnnmap.errors import InputError
from dnnmap.stats.metrics import explained_variance, pearson_r, r2_score
from dnnmap.stats.splits import Splits, check_splits, first_repeat_folds

LOG = logging.getLogger("dnnmap")

ESTIMATORS = {
    "ols": "dnnmap.encoding.ols.OLS",
    "lasso": "dnnmap.encoding.lasso.Lasso",
    "lasso_cv": "dnnmap.encoding.lasso.LassoCV",
    "pls": "dnnmap.encoding.pls.PLS",
    "per_unit": "dnnmap.encoding.per_unit.PerUnitRegression",
}
"""Built-in estimator names of :func:`make_estimator` and their classes."""

_LAZY = {
    "OLS": "dnnmap.encoding.ols",
    "Lasso": "dnnmap.encoding.lasso",
    "LassoCV": "dnnmap.encoding.lasso",
    "PLS": "dnnmap.encoding.pls",
    "PerUnitRegression": "dnnmap.encoding.per_unit",
}

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
    scores follow :func:`dnnmap.encoding.ridge.cross_validated_encoding` exactly.

    Parameters
    ----------
    estimator_factory : callable or estimator
        ``estimator_factory(train)`` gets the outer training rows (n_train,) (e.g. to build
        grouped inner folds with :func:`dnnmap.stats.splits.inner_splits`) and returns an unfitted
        estimator; an estimator instance is cloned (``sklearn.base.clone``) per split. Its
        ``fit(X, Y)`` takes ``Y (n_train, b)`` and ``predict`` returns ``(m, b)`` (or
        ``(m,)`` when ``b == 1``).
    X : array of shape (n, p)
        Features.
    Y : array of shape (n, v) or (n,)
        Responses. Columns that are constant or hold NaN/inf are masked: not fitted, NaN
        outputs, a warning on the ``dnnmap`` logger.
    splits : dnnmap.stats.splits.Splits
        Outer splits (:func:`dnnmap.stats.splits.make_splits`); repeats are averaged.
    batch_size : int or None
        Targets per fit (bounds memory); None fits all unmasked targets at once. Results do
        not depend on it for per-target estimators (OLS, Lasso, per-unit); leave it None for
        multivariate ones (PLS2 components depend on all targets).

    Returns
    -------
    dnnmap.encoding.ridge.EncodingResult
        ``predictions`` (n, v): repeat 0, NaN for rows it does not test and masked columns
        (float32 for float32 Y); ``score``, ``r2``, ``explained_variance`` (v,): mean over
        repeats of the pooled out-of-fold Pearson r / R² / explained variance on the tested
        rows (NaN when fewer than 3); ``fold_scores`` (n_splits, v): Pearson r per test set
        (NaN below 3 rows); ``alpha`` (n_splits, v): the estimator's ``alpha_`` or
        ``n_components_`` per target, else NaN; ``folds`` (n,); ``masked`` (v,).
    """
    from dnnmap.encoding.ridge import EncodingResult

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


def __getattr__(name: str):
    """``from dnnmap.encoding.estimators import Lasso`` (and OLS, LassoCV, PLS, PerUnitRegression):
    the estimator modules import the checks above, so they are loaded on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
