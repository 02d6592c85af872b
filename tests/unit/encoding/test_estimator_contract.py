"""The encoding estimator contract: scikit-learn estimators (clone, get/set_params), one
score (Pearson r per target), one cross-validation driver, and no private imports."""

import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

from dnnmap.encoding.banded_ridge import BandedRidgeCV
from dnnmap.encoding.base import EncodingScoreMixin
from dnnmap.encoding.cross_validation import cross_validated_predictions
from dnnmap.encoding.kernel_ridge import KernelRidgeCV
from dnnmap.encoding.lasso import Lasso, LassoCV
from dnnmap.encoding.ols import OLS
from dnnmap.encoding.per_unit import PerUnitRegression
from dnnmap.encoding.pls import PLS
from dnnmap.encoding.ridge import Ridge, RidgeCV, cross_validated_encoding
from dnnmap.stats.metrics import pearson_r
from dnnmap.stats.splits import inner_splits, make_splits

ENCODING = Path(__file__).parents[3] / "scripts" / "dnnmap" / "encoding"

ESTIMATORS = {
    "ridge": (RidgeCV, {"alphas": [0.1, 1.0, 10.0], "cv": 3, "random_state": 1}),
    "ridge_loo": (RidgeCV, {"alphas": [0.5, 5.0], "cv": "loo", "solver": "eigh"}),
    "ridge_fixed": (Ridge, {"alpha": 2.0, "fit_intercept": True}),
    "banded_ridge": (BandedRidgeCV, {"space_sizes": [2, 4], "n_iter": 4, "cv": 3}),
    "kernel_ridge": (KernelRidgeCV, {"kernel": "rbf", "kernel_params": {"gamma": 0.1}, "cv": 3}),
    "ols": (OLS, {"fit_intercept": True}),
    "lasso": (Lasso, {"alpha": 0.05, "max_iter": 500}),
    "lasso_cv": (LassoCV, {"n_alphas": 4, "cv": 3}),
    "pls": (PLS, {"n_components": 3, "cv": 3}),
    "per_unit": (PerUnitRegression, {"criterion": "positive"}),
}


def _data(n=40, p=6, v=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, v)) + rng.standard_normal((n, v))
    return X, Y


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimators_are_clonable_sklearn_estimators(name):
    cls, params = ESTIMATORS[name]
    est = cls(**params)
    assert isinstance(est, BaseEstimator) and isinstance(est, EncodingScoreMixin)
    got = est.get_params(deep=False)
    for key, value in params.items():
        assert got[key] is value  # stored unchanged
    twin = clone(est)
    assert twin is not est and type(twin) is cls
    assert twin.get_params(deep=False).keys() == got.keys()
    key = next(iter(params))
    assert twin.set_params(**{key: params[key]}) is twin
    X, Y = _data()
    est.fit(X, Y)
    fitted = [a for a in vars(est) if a.endswith("_") and not a.startswith("_")]
    assert fitted and not any(hasattr(clone(est), a) for a in fitted)  # clone is unfitted
    again = clone(est).fit(X, Y)
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    np.testing.assert_array_equal(est.score(X, Y), pearson_r(Y, est.predict(X)))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_one_driver_runs_every_estimator(name):
    cls, params = ESTIMATORS[name]
    X, Y = _data(n=30, v=3, seed=2)
    splits = make_splits(30, "kfold", n_folds=3, seed=4)
    res = cross_validated_predictions(cls(**params), X, Y, splits)
    assert res.predictions.shape == Y.shape and np.isfinite(res.predictions).all()
    np.testing.assert_array_equal(res.score_pooled, pearson_r(Y, res.predictions))
    np.testing.assert_allclose(res.score, res.fold_scores.mean(axis=0), rtol=1e-12)


def test_driver_with_ridgecv_equals_cross_validated_encoding_exactly():
    X, Y = _data(n=36, p=8, v=5, seed=3)
    Y = Y.astype(np.float32)
    groups = np.repeat(np.arange(6), 6)
    splits = make_splits(36, "group", groups=groups, n_folds=3)

    def inner(train):
        return inner_splits(train, "group", n_folds=2, groups=groups)

    ref = cross_validated_encoding(X, Y, inner_cv=inner, splits=splits, batch_size=2)
    out = cross_validated_predictions(lambda tr: RidgeCV(cv=inner(tr)), X, Y, splits, batch_size=2)
    for field in ("predictions", "score", "r2", "fold_scores", "alpha", "folds", "masked"):
        np.testing.assert_array_equal(getattr(out, field), getattr(ref, field), err_msg=field)


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dnnmap"):
            yield node.module, [alias.name for alias in node.names]


def test_encoding_modules_import_no_private_names_and_keep_the_solver_private():
    users = set()
    for path in sorted(ENCODING.glob("*.py")):
        for module, names in _imports(path):
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{path.name} imports {private} from {module}"
            if module.rsplit(".", 1)[-1] == "_ridge_solver":
                users.add(path.stem)
    assert users == {"ridge", "kernel_ridge"}
