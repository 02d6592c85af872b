"""Tests of dnnmap.ridge and dnnmap.metrics against scikit-learn and scipy references."""

import numpy as np
import pytest
import scipy.stats
from sklearn import linear_model
from sklearn.metrics import r2_score as sk_r2
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit

from dnnmap.errors import InputError
from dnnmap.metrics import pearson_r, r2_score
from dnnmap.ridge import (
    RidgeCV,
    centered_svd,
    cross_validated_encoding,
    ridge_svd,
    select_alpha,
    svd_ridge_predict_path,
)

ALPHAS = np.logspace(-3, 4, 8)


def _problem(n=60, p=8, v=5, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + rng.standard_normal(p) * 3
    W = rng.standard_normal((p, v)) * np.linspace(0.05, 2, v)
    Y = X @ W + noise * rng.standard_normal((n, v)) + rng.standard_normal(v) * 5
    return X, Y


# --- metrics ----------------------------------------------------------------------------------


def test_pearson_r_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((40, 6))
    b = a * rng.standard_normal(6) + rng.standard_normal((40, 6))
    ref = [scipy.stats.pearsonr(a[:, j], b[:, j])[0] for j in range(6)]
    np.testing.assert_allclose(pearson_r(a, b), ref, rtol=1e-12)
    np.testing.assert_allclose(pearson_r(a[:, 0], b[:, 0]), ref[0], rtol=1e-12)
    np.testing.assert_allclose(pearson_r(a.astype(np.float32), b), ref, rtol=1e-6)


def test_pearson_r_constant_column_is_zero():
    a = np.ones((10, 2))
    a[:, 1] = np.arange(10)
    b = np.column_stack([np.arange(10.0), np.full(10, 0.1)])
    r = pearson_r(a, b)
    assert np.isfinite(r).all()
    np.testing.assert_array_equal(r, [0.0, 0.0])


def test_r2_matches_sklearn():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((30, 4))
    b = a + rng.standard_normal((30, 4)) * [0.1, 1, 3, 0]
    np.testing.assert_allclose(r2_score(a, b), sk_r2(a, b, multioutput="raw_values"), rtol=1e-12)
    assert r2_score(a[:, 3], b[:, 3]) == 1.0
    constant = np.zeros((30, 2))
    # sklearn gives 1 to a constant column predicted exactly; dnnmap gives 0 (nothing explained)
    assert sk_r2(constant, constant, multioutput="raw_values").tolist() == [1.0, 1.0]
    assert r2_score(constant, constant).tolist() == [0.0, 0.0]
    assert r2_score(constant, constant + 1).tolist() == [0.0, 0.0]


def test_metrics_shape_mismatch():
    with pytest.raises(InputError):
        pearson_r(np.zeros((5, 2)), np.zeros((5, 3)))


# --- pure solvers -----------------------------------------------------------------------------


def test_ridge_svd_matches_sklearn_alpha_per_target():
    X, Y = _problem(n=40, p=12, v=6)
    alpha = np.array([1e-3, 0.1, 1.0, 10.0, 100.0, 1e4])
    coef, intercept = ridge_svd(X, Y, alpha)
    ref = linear_model.Ridge(alpha=alpha).fit(X, Y)
    np.testing.assert_allclose(coef, ref.coef_.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept, ref.intercept_, rtol=1e-8, atol=1e-10)
    Xt = _problem(n=15, p=12, v=6, seed=9)[0]
    np.testing.assert_allclose(Xt @ coef + intercept, ref.predict(Xt), rtol=1e-8, atol=1e-8)
    # The estimator's prediction path gives the same fitted models, per alpha.
    svd = centered_svd(X)
    path = svd_ridge_predict_path(svd.U, svd.s, svd.Vt, Y - Y.mean(0), Xt - svd.x_mean, alpha)
    for i, a in enumerate(alpha):
        ref_a = linear_model.Ridge(alpha=a).fit(X, Y).predict(Xt)
        np.testing.assert_allclose(path[i] + Y.mean(0), ref_a, rtol=1e-8, atol=1e-8)


def test_ridge_svd_wide_design_and_no_intercept():
    X, Y = _problem(n=20, p=50, v=3)
    coef, intercept = ridge_svd(X, Y, 2.0, fit_intercept=False)
    ref = linear_model.Ridge(alpha=2.0, fit_intercept=False).fit(X, Y)
    np.testing.assert_allclose(coef, ref.coef_.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(intercept, 0.0)
    coef, intercept = ridge_svd(X, Y, 2.0)
    ref = linear_model.Ridge(alpha=2.0).fit(X, Y)
    np.testing.assert_allclose(coef, ref.coef_.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept, ref.intercept_, rtol=1e-8)


# --- alpha selection --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(50, 10), (25, 40)])
def test_loo_matches_sklearn_ridgecv(shape):
    n, p = shape
    X, Y = _problem(n=n, p=p, v=7, noise=2.0, seed=3)
    ours = RidgeCV(alphas=ALPHAS, cv="loo").fit(X, Y)
    ref = linear_model.RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, Y)
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    assert len(np.unique(ours.alpha_)) > 1  # the test exercises several alphas
    np.testing.assert_allclose(ours.coef_, ref.coef_.T, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-7, atol=1e-9)


def test_kfold_matches_gridsearch():
    X, Y = _problem(n=47, p=10, v=4, noise=2.0, seed=4)
    alpha, errors = select_alpha(X, Y, ALPHAS, cv=5)
    for j in range(Y.shape[1]):
        gs = GridSearchCV(
            linear_model.Ridge(),
            {"alpha": ALPHAS},
            cv=KFold(5),
            scoring="neg_mean_squared_error",
        ).fit(X, Y[:, j])
        assert alpha[j] == gs.best_params_["alpha"]
        np.testing.assert_allclose(errors[:, j], -gs.cv_results_["mean_test_score"], rtol=1e-8)


def test_splitter_object_and_1d_target():
    X, Y = _problem(n=40, p=6, v=2, seed=5)
    cv = ShuffleSplit(n_splits=4, test_size=0.25, random_state=0)
    alpha, errors = select_alpha(X, Y[:, 0], ALPHAS, cv=cv)
    gs = GridSearchCV(
        linear_model.Ridge(), {"alpha": ALPHAS}, cv=cv, scoring="neg_mean_squared_error"
    ).fit(X, Y[:, 0])
    assert alpha[0] == gs.best_params_["alpha"]
    np.testing.assert_allclose(errors[:, 0], -gs.cv_results_["mean_test_score"], rtol=1e-8)
    est = RidgeCV(alphas=ALPHAS, cv=5).fit(X, Y[:, 0])
    assert est.coef_.shape == (6,) and np.ndim(est.intercept_) == 0
    assert est.predict(X).shape == (40,) and np.ndim(est.score(X, Y[:, 0])) == 0


def test_ties_pick_first_alpha():
    X, Y = _problem(n=30, p=5, v=2)
    alpha, _ = select_alpha(X, Y, [1.0, 1.0, 1.0], cv=3)
    np.testing.assert_array_equal(alpha, 1.0)
    alpha, _ = select_alpha(X, np.ones((30, 2)), [0.1, 1.0], cv="loo")
    np.testing.assert_array_equal(alpha, 0.1)


def test_estimator_batches_and_score():
    X, Y = _problem(n=50, p=8, v=9)
    a = RidgeCV(alphas=ALPHAS, cv=5).fit(X, Y)
    b = RidgeCV(alphas=ALPHAS, cv=5, batch_size=4).fit(X, Y)
    np.testing.assert_array_equal(a.alpha_, b.alpha_)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)
    assert a.cv_errors_.shape == (ALPHAS.size, 9) and a.coef_.shape == (8, 9)
    np.testing.assert_allclose(a.score(X, Y), pearson_r(Y, a.predict(X)))


def test_input_checks():
    X, Y = _problem(n=30, p=5, v=2)
    with pytest.raises(InputError, match=r"\(29, 2\)"):
        RidgeCV().fit(X, Y[:29])
    Yn = Y.copy()
    Yn[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        RidgeCV().fit(X, Yn)
    with pytest.raises(InputError, match="NaN"):
        cross_validated_encoding(X, Yn)
    with pytest.raises(InputError, match="alphas"):
        select_alpha(X, Y, [0.0, 1.0])
    with pytest.raises(InputError, match="cv"):
        select_alpha(X, Y, ALPHAS, cv="bogus")


# --- outer cross-validated encoding -----------------------------------------------------------


def test_encoding_matches_manual_sklearn_loop():
    X, Y = _problem(n=60, p=8, v=3, noise=3.0, seed=6)
    res = cross_validated_encoding(X, Y, ALPHAS, n_folds=4, seed=7, inner_cv=5)
    assert np.bincount(res.folds).tolist() == [15, 15, 15, 15]
    expected = np.empty_like(Y)
    for f in range(4):
        train, test = res.folds != f, res.folds == f
        for j in range(Y.shape[1]):
            gs = GridSearchCV(
                linear_model.Ridge(),
                {"alpha": ALPHAS},
                cv=KFold(5, shuffle=True, random_state=7),  # inner folds shuffled with the seed
                scoring="neg_mean_squared_error",
            ).fit(X[train], Y[train, j])
            assert res.alpha[f, j] == gs.best_params_["alpha"]
            expected[test, j] = gs.best_estimator_.predict(X[test])
    np.testing.assert_allclose(res.predictions, expected, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(res.score, pearson_r(Y, expected), rtol=1e-8)
    np.testing.assert_allclose(res.r2, sk_r2(Y, expected, multioutput="raw_values"), rtol=1e-8)
    for f in range(4):
        np.testing.assert_allclose(
            res.fold_scores[f], pearson_r(Y[res.folds == f], expected[res.folds == f]), rtol=1e-8
        )


def test_encoding_deterministic_and_batch_invariant():
    X, Y = _problem(n=50, p=6, v=11, seed=8)
    a = cross_validated_encoding(X, Y, ALPHAS, n_folds=5, seed=3, inner_cv="loo")
    b = cross_validated_encoding(X, Y, ALPHAS, n_folds=5, seed=3, inner_cv="loo", batch_size=3)
    c = cross_validated_encoding(X, Y, ALPHAS, n_folds=5, seed=4, inner_cv="loo")
    np.testing.assert_array_equal(a.folds, b.folds)
    assert not np.array_equal(a.folds, c.folds)
    for field in ("predictions", "score", "r2", "fold_scores", "alpha"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-12, atol=1e-14)
    again = cross_validated_encoding(X, Y, ALPHAS, n_folds=5, seed=3, inner_cv="loo")
    np.testing.assert_array_equal(again.predictions, a.predictions)
    one = cross_validated_encoding(X, Y[:, 2], ALPHAS, n_folds=5, seed=3, inner_cv="loo")
    np.testing.assert_allclose(one.predictions, a.predictions[:, 2], rtol=1e-12)
    assert np.ndim(one.score) == 0


def test_encoding_recovers_signal_not_noise():
    rng = np.random.default_rng(10)
    n, p, v = 200, 20, 300
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, v)) + 0.5 * rng.standard_normal((n, v))
    res = cross_validated_encoding(X, Y.astype(np.float32), n_folds=5, seed=0, batch_size=128)
    assert res.predictions.dtype == np.float32
    assert res.score.min() > 0.9 and res.r2.min() > 0.8
    noise = rng.standard_normal((n, v))
    res = cross_validated_encoding(X, noise, n_folds=5, seed=0, inner_cv="loo")
    # No leakage: chance-level r within folds. Pooled out-of-fold r on noise is biased slightly
    # negative (heavily shrunk predictions track the training-fold means), a known CV effect.
    assert abs(res.fold_scores.mean()) < 0.05
    assert -0.2 < res.score.mean() < 0.02 and res.r2.mean() < 0.01


def test_encoding_inner_folds_must_fit_the_training_set():
    X, Y = _problem(n=20, p=3, v=2, seed=9)
    with pytest.raises(InputError, match="inner_cv is 17 folds for 16 training samples"):
        cross_validated_encoding(X, Y, ALPHAS, n_folds=5, seed=0, inner_cv=17)
