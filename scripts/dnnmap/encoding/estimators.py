"""Encoding estimators by name or import path, and the built-in estimators other than ridge.

Every encoding estimator is a scikit-learn estimator with the contract of
:mod:`dnnmap.encoding.base` (the constructor stores parameters, ``fit(X, Y)`` sets attributes
ending in ``_``, ``predict(X)``, ``score(X, Y)`` = Pearson r per target); all take many
targets ``Y (n, v)`` at once, with no loop over targets:

* :class:`dnnmap.encoding.ridge.RidgeCV` and :class:`dnnmap.encoding.kernel_ridge.KernelRidgeCV`:
  ridge and kernel ridge, alpha per target by inner CV from one decomposition per fold;
* :class:`dnnmap.encoding.ridge.Ridge`: ridge with penalties fixed beforehand (no inner CV);
* :class:`dnnmap.encoding.banded_ridge.BandedRidgeCV`: banded ridge, one penalty per feature
  space and target by random search over the simplex of space weights with inner CV;
* :class:`dnnmap.encoding.ols.OLS`: ordinary least squares / GLM with intercept, standard
  errors, t- and p-values per regressor and target, and t-contrasts;
* :class:`dnnmap.encoding.lasso.Lasso`, :class:`dnnmap.encoding.lasso.LassoCV`: coordinate
  descent on all targets at once from one Gram matrix, alpha per target by inner CV;
* :class:`dnnmap.encoding.pls.PLS`: PLS2 regression (NIPALS), the number of components by
  inner CV from one fit of the largest number;
* :class:`dnnmap.encoding.per_unit.PerUnitRegression`: DNNBrain's univariate mapping, the best
  single unit per voxel.

:func:`make_estimator` builds one of the last seven by name (:data:`ESTIMATORS`), or any
importable class by dotted path (:func:`estimator_from_path`, resolved with importlib, never
``eval``).
:func:`dnnmap.encoding.cross_validation.cross_validated_predictions` runs any of them over
outer splits.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping

from dnnmap.encoding.lasso import Lasso, LassoCV
from dnnmap.encoding.ols import OLS
from dnnmap.encoding.per_unit import PerUnitRegression
from dnnmap.encoding.pls import PLS
from dnnmap.errors import InputError

__all__ = [
    "ESTIMATORS",
    "OLS",
    "PLS",
    "Lasso",
    "LassoCV",
    "PerUnitRegression",
    "estimator_from_path",
    "make_estimator",
]

ESTIMATORS = {
    "ridge_fixed": "dnnmap.encoding.ridge.Ridge",
    "ols": "dnnmap.encoding.ols.OLS",
    "lasso": "dnnmap.encoding.lasso.Lasso",
    "lasso_cv": "dnnmap.encoding.lasso.LassoCV",
    "pls": "dnnmap.encoding.pls.PLS",
    "per_unit": "dnnmap.encoding.per_unit.PerUnitRegression",
    "banded_ridge": "dnnmap.encoding.banded_ridge.BandedRidgeCV",
}
"""Built-in estimator names of :func:`make_estimator` and their classes."""

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


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
        A key of :data:`ESTIMATORS` (``ridge_fixed``, ``ols``, ``lasso``, ...), or a path
        for :func:`estimator_from_path`.
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
