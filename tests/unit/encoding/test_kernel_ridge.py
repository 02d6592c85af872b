"""Tests of dnnmap.encoding.kernel_ridge against scikit-learn's KernelRidge/GridSearchCV and
himalaya."""

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.model_selection import GridSearchCV, KFold, LeaveOneOut

from dnnmap.encoding.kernel_ridge import KernelRidgeCV, check_kernel_params, kernel_matrix
from dnnmap.encoding.ridge import RidgeCV
from dnnmap.errors import InputError

ALPHAS = np.logspace(-3, 3, 7)
KERNELS = [
    ("linear", {}),
    ("polynomial", {}),
    ("polynomial", {"degree": 2, "gamma": 0.2, "coef0": 0.5}),
    ("rbf", {}),
    ("rbf", {"gamma": 0.05}),
]


def _problem(n=40, p=6, v=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = np.tanh(X @ rng.standard_normal((p, v))) * np.linspace(0.1, 3, v)
    return X, Y + rng.standard_normal((n, v)) + rng.standard_normal(v)


@pytest.mark.parametrize(("kernel", "params"), KERNELS)
def test_kernel_matrix_matches_sklearn(kernel, params):
    X, _ = _problem(seed=1)
    Z = X[:7] * 1.5 + 0.3
    ref = pairwise_kernels(X, Z, metric=kernel, **params)
    np.testing.assert_allclose(kernel_matrix(X, Z, kernel, params), ref, rtol=1e-12, atol=1e-12)
    ref = pairwise_kernels(X, metric=kernel, **params)
    np.testing.assert_allclose(kernel_matrix(X, None, kernel, params), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("kernel", "params"), KERNELS)
def test_fixed_alpha_matches_sklearn_kernel_ridge(kernel, params):
    X, Y = _problem(seed=2)
    Xt = X[:9] + 0.1
    ours = KernelRidgeCV([0.3], kernel, params, cv=3, fit_intercept=False).fit(X, Y)
    ref = KernelRidge(alpha=0.3, kernel=kernel, **params).fit(X, Y)
    np.testing.assert_allclose(ours.dual_coef_, ref.dual_coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(Xt), ref.predict(Xt), rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(ours.intercept_, 0.0)


@pytest.mark.parametrize(("kernel", "params"), KERNELS[2:])
def test_alpha_selection_matches_gridsearch(kernel, params):
    X, Y = _problem(n=45, seed=3)
    cv = KFold(5, shuffle=True, random_state=0)
    ours = KernelRidgeCV(ALPHAS, kernel, params, cv=5, fit_intercept=False).fit(X, Y)
    assert len(np.unique(ours.alpha_)) > 1  # several alphas are exercised
    for j in range(Y.shape[1]):
        gs = GridSearchCV(
            KernelRidge(kernel=kernel, **params),
            {"alpha": ALPHAS},
            cv=cv,
            scoring="neg_mean_squared_error",
        ).fit(X, Y[:, j])
        assert ours.alpha_[j] == gs.best_params_["alpha"]
        np.testing.assert_allclose(
            ours.cv_errors_[:, j], -gs.cv_results_["mean_test_score"], rtol=1e-8
        )
        np.testing.assert_allclose(
            ours.dual_coef_[:, j], gs.best_estimator_.dual_coef_, rtol=1e-8, atol=1e-10
        )


def test_loo_matches_gridsearch_leave_one_out():
    X, Y = _problem(n=16, v=2, seed=4)
    ours = KernelRidgeCV(ALPHAS, "rbf", {"gamma": 0.1}, cv="loo", fit_intercept=False).fit(X, Y)
    for j in range(Y.shape[1]):
        gs = GridSearchCV(
            KernelRidge(kernel="rbf", gamma=0.1),
            {"alpha": ALPHAS},
            cv=LeaveOneOut(),
            scoring="neg_mean_squared_error",
        ).fit(X, Y[:, j])
        assert ours.alpha_[j] == gs.best_params_["alpha"]
        np.testing.assert_allclose(
            ours.cv_errors_[:, j], -gs.cv_results_["mean_test_score"], rtol=1e-7
        )


@pytest.mark.parametrize(("kernel", "params"), [("polynomial", {"degree": 2}), ("rbf", {})])
def test_matches_himalaya_with_intercept(kernel, params):
    himalaya_backend = pytest.importorskip("himalaya.backend")
    himalaya_kr = pytest.importorskip("himalaya.kernel_ridge")
    himalaya_backend.set_backend("numpy")
    X, Y = _problem(n=50, v=6, seed=5)
    cv = KFold(5, shuffle=True, random_state=2)
    ref = himalaya_kr.KernelRidgeCV(
        alphas=ALPHAS, kernel=kernel, kernel_params=params, cv=cv, fit_intercept=True
    ).fit(X, Y)
    ours = KernelRidgeCV(ALPHAS, kernel, params, cv=cv, fit_intercept=True).fit(X, Y)
    np.testing.assert_allclose(ours.alpha_, ref.best_alphas_, rtol=1e-10)
    # himalaya adds 1e-10 * log(alpha) to its scores to break ties towards larger alphas
    np.testing.assert_allclose(-ours.cv_errors_.min(axis=0), ref.cv_scores_, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(ours.dual_coef_, ref.dual_coef_, rtol=1e-7, atol=1e-9)
    Xt = X[:8] * 0.9
    np.testing.assert_allclose(ours.predict(Xt), ref.predict(Xt), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("cv", [4, "loo"])
def test_linear_kernel_with_intercept_is_ridge(cv):
    X, Y = _problem(n=30, p=8, v=5, seed=6)
    ours = KernelRidgeCV(ALPHAS, "linear", cv=cv).fit(X, Y)
    ref = RidgeCV(ALPHAS, cv=cv, solver="svd").fit(X, Y)
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    np.testing.assert_allclose(ours.cv_errors_, ref.cv_errors_, rtol=1e-8)
    Xt = X[:5] * 2
    np.testing.assert_allclose(ours.predict(Xt), ref.predict(Xt), rtol=1e-8, atol=1e-9)


def test_batches_float32_masking_and_1d(caplog):
    X, Y = _problem(n=30, v=6, seed=7)
    a = KernelRidgeCV(ALPHAS, "rbf", cv=3).fit(X, Y)
    b = KernelRidgeCV(ALPHAS, "rbf", cv=3, batch_size=4).fit(X, Y)
    np.testing.assert_array_equal(a.alpha_, b.alpha_)
    np.testing.assert_allclose(a.dual_coef_, b.dual_coef_, rtol=1e-12, atol=1e-13)
    f = KernelRidgeCV(ALPHAS, "rbf", cv=3).fit(X, Y.astype(np.float32))
    assert f.dual_coef_.dtype == np.float32 and f.predict(X).dtype == np.float32
    np.testing.assert_allclose(f.predict(X), a.predict(X), rtol=1e-3, atol=1e-3)
    Yn = Y.copy()
    Yn[0, 2] = np.nan
    with caplog.at_level("WARNING", logger="dnnmap"):
        m = KernelRidgeCV(ALPHAS, "rbf", cv=3).fit(X, Yn)
    assert "1 of 6 response columns are not finite" in caplog.text
    assert np.isnan(m.dual_coef_[:, 2]).all() and np.isnan(m.alpha_[2])
    np.testing.assert_allclose(m.dual_coef_[:, [0, 1]], a.dual_coef_[:, [0, 1]], rtol=1e-12)
    one = KernelRidgeCV(ALPHAS, "rbf", cv=3).fit(X, Y[:, 1])
    assert one.dual_coef_.shape == (30,) and one.predict(X).shape == (30,)
    assert np.ndim(one.alpha_) == 0 and np.ndim(one.score(X, Y[:, 1])) == 0
    np.testing.assert_allclose(one.dual_coef_, a.dual_coef_[:, 1], rtol=1e-12)


def test_bad_input():
    X, Y = _problem(n=20, seed=8)
    with pytest.raises(InputError, match="kernel is 'sigmoid'; expected one of linear"):
        KernelRidgeCV(kernel="sigmoid").fit(X, Y)
    with pytest.raises(InputError, match=r"kernel_params has \['gamma'\] for kernel 'linear'"):
        check_kernel_params("linear", {"gamma": 1.0}, 3)
    with pytest.raises(InputError, match="kernel_params gamma is -1"):
        KernelRidgeCV(kernel="rbf", kernel_params={"gamma": -1}).fit(X, Y)
    with pytest.raises(InputError, match=r"kernel_params degree is 2\.5"):
        check_kernel_params("polynomial", {"degree": 2.5}, 3)
    with pytest.raises(InputError, match="kernel_params coef0 is"):
        check_kernel_params("polynomial", {"coef0": np.nan}, 3)
    Xn = X.copy()
    Xn[1, 1] = np.nan
    with pytest.raises(InputError, match="X contains NaN or inf"):
        KernelRidgeCV().fit(Xn, Y)
    with pytest.raises(InputError, match="alphas are"):
        KernelRidgeCV(alphas=[1.0, 0.0]).fit(X, Y)
    with pytest.raises(InputError, match="cv is 30 folds for 20 samples"):
        KernelRidgeCV(cv=30).fit(X, Y)
    with pytest.raises(InputError, match="X has 5 features; expected 6"):
        KernelRidgeCV().fit(X, Y).predict(X[:, :5])
    with pytest.raises(InputError, match="Z has 5 features; expected 6"):
        kernel_matrix(X, X[:, :5])
    assert check_kernel_params("rbf", None, 4) == {"gamma": 0.25}
    assert check_kernel_params("polynomial", {}, 2) == {"gamma": 0.5, "degree": 3, "coef0": 1.0}
