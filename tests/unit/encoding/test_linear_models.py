"""OLS, Lasso, LassoCV, PLS, estimators by path and cross-validated predictions, each against a
reference (numpy lstsq, scipy linregress, scikit-learn, dnnmap.encoding.ridge)."""

import logging

import numpy as np
import pytest
from scipy import stats
from sklearn import linear_model
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold

from dnnmap.encoding.cross_validation import cross_validated_predictions
from dnnmap.encoding.estimators import estimator_from_path, make_estimator
from dnnmap.encoding.lasso import Lasso, LassoCV, alpha_grid, lasso_gram_cd
from dnnmap.encoding.ols import OLS
from dnnmap.encoding.per_unit import PerUnitRegression
from dnnmap.encoding.pls import PLS
from dnnmap.encoding.ridge import RidgeCV, cross_validated_encoding
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r
from dnnmap.stats.splits import inner_splits, make_splits

TIGHT = {"tol": 1e-12, "max_iter": 100000}


def _data(n=40, p=6, v=4, seed=0, offset=2.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, v)) * (rng.random((p, v)) < 0.5)
    Y = X @ W + rng.standard_normal((n, v)) + offset
    return X, Y


# ---------------------------------------------------------------------------------------------
# OLS
# ---------------------------------------------------------------------------------------------


def test_ols_matches_lstsq_and_closed_form_inference():
    X, Y = _data(n=30, p=3, v=5)
    m = OLS().fit(X, Y)
    X1 = np.column_stack([np.ones(30), X])
    beta, *_ = np.linalg.lstsq(X1, Y, rcond=None)
    np.testing.assert_allclose(m.intercept_, beta[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.coef_, beta[1:], rtol=0, atol=1e-12)
    resid = Y - X1 @ beta
    sigma2 = (resid**2).sum(0) / (30 - 4)
    cov = np.linalg.inv(X1.T @ X1)
    se = np.sqrt(np.outer(np.diag(cov), sigma2))
    np.testing.assert_allclose(m.se_, se[1:], rtol=1e-10)
    np.testing.assert_allclose(m.intercept_se_, se[0], rtol=1e-10)
    t = beta / se
    np.testing.assert_allclose(m.tvalues_, t[1:], rtol=1e-10)
    np.testing.assert_allclose(m.pvalues_, 2 * stats.t.sf(np.abs(t[1:]), 26), rtol=1e-9)
    assert m.dof_resid_ == 26
    np.testing.assert_allclose(m.predict(X), X1 @ beta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.score(X, Y), pearson_r(Y, X1 @ beta))


def test_ols_single_regressor_matches_linregress():
    X, Y = _data(n=25, p=1, v=3, seed=2)
    m = OLS().fit(X, Y)
    for j in range(3):
        ref = stats.linregress(X[:, 0], Y[:, j])
        assert m.coef_[0, j] == pytest.approx(ref.slope, abs=1e-12)
        assert m.intercept_[j] == pytest.approx(ref.intercept, abs=1e-12)
        assert m.se_[0, j] == pytest.approx(ref.stderr, rel=1e-10)
        assert m.intercept_se_[j] == pytest.approx(ref.intercept_stderr, rel=1e-10)
        assert m.pvalues_[0, j] == pytest.approx(ref.pvalue, rel=1e-8)
    one = OLS().fit(X, Y[:, 0])
    assert one.coef_.shape == (1,) and isinstance(one.intercept_, float)


def test_ols_contrasts():
    X, Y = _data(n=30, p=3, v=4, seed=3)
    m = OLS().fit(X, Y)
    t, p = m.contrast([0, 1, 0])
    np.testing.assert_allclose(t, m.tvalues_[1], rtol=1e-12)
    np.testing.assert_allclose(p, m.pvalues_[1], rtol=1e-12)
    # difference of two coefficients, closed form
    X1 = np.column_stack([np.ones(30), X])
    beta = np.linalg.lstsq(X1, Y, rcond=None)[0]
    sigma2 = ((Y - X1 @ beta) ** 2).sum(0) / 26
    c = np.array([0, 1, -1, 0.0])
    ref_t = c @ beta / np.sqrt(c @ np.linalg.inv(X1.T @ X1) @ c * sigma2)
    t2, p2 = m.contrast(np.array([[1, -1, 0], [0, 0, 1]]))
    np.testing.assert_allclose(t2[0], ref_t, rtol=1e-10)
    np.testing.assert_allclose(t2[1], m.tvalues_[2], rtol=1e-12)
    np.testing.assert_allclose(p2[0], 2 * stats.t.sf(np.abs(ref_t), 26), rtol=1e-9)
    # with the intercept weight given explicitly
    ti, _ = m.contrast([1, 0, 0, 0])
    np.testing.assert_allclose(ti, m.intercept_tvalue_, rtol=1e-12)
    # without intercept
    m0 = OLS(fit_intercept=False).fit(X, Y)
    np.testing.assert_allclose(m0.coef_, np.linalg.lstsq(X, Y, rcond=None)[0], atol=1e-12)
    assert m0.dof_resid_ == 27 and np.isnan(m0.intercept_se_).all()


def test_ols_errors():
    X, Y = _data(n=10, p=3, v=2)
    with pytest.raises(InputError, match="X has rank 3 with 4 coefficients"):
        OLS().fit(np.column_stack([X[:, :2], X[:, 0] + X[:, 1]]), Y)
    with pytest.raises(InputError, match="X has 4 samples for 4 coefficients"):
        OLS().fit(X[:4], Y[:4])
    with pytest.raises(InputError, match=r"contrast has shape \(2,\); expected finite weights"):
        OLS().fit(X, Y).contrast([1, 0])
    with pytest.raises(InputError, match="OLS is not fitted"):
        OLS().contrast([1, 0, 0])
    with pytest.raises(InputError, match="Y contains NaN"):
        OLS().fit(X, np.where(Y > 0, np.nan, Y))
    with pytest.raises(InputError, match="X has 2 features; expected 3 as in fit"):
        OLS().fit(X, Y).predict(X[:, :2])


# ---------------------------------------------------------------------------------------------
# Lasso
# ---------------------------------------------------------------------------------------------


def _sk_lasso(X, Y, alphas, **kw):
    return [
        linear_model.Lasso(alpha=a, **TIGHT, **kw).fit(X, Y[:, j]) for j, a in enumerate(alphas)
    ]


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lasso_matches_sklearn_per_target(fit_intercept):
    X, Y = _data()
    m = Lasso(0.15, fit_intercept=fit_intercept, **TIGHT).fit(X, Y)
    ref = _sk_lasso(X, Y, [0.15] * 4, fit_intercept=fit_intercept)
    np.testing.assert_allclose(m.coef_, np.column_stack([r.coef_ for r in ref]), atol=1e-5)
    np.testing.assert_allclose(m.intercept_, [r.intercept_ for r in ref], atol=1e-5)
    np.testing.assert_allclose(
        m.predict(X), np.column_stack([r.predict(X) for r in ref]), atol=1e-5
    )


def test_lasso_alpha_per_target_batches_and_vector():
    X, Y = _data(v=5, seed=1)
    alphas = np.array([0.01, 0.1, 0.3, 1.0, 5.0])  # the last zeroes every coefficient
    m = Lasso(alphas, batch_size=2, **TIGHT).fit(X, Y)
    ref = _sk_lasso(X, Y, alphas)
    np.testing.assert_allclose(m.coef_, np.column_stack([r.coef_ for r in ref]), atol=1e-5)
    assert (m.coef_[:, -1] == 0).all()
    full = Lasso(alphas, **TIGHT).fit(X, Y)
    np.testing.assert_allclose(m.coef_, full.coef_, rtol=0, atol=1e-12)
    one = Lasso(0.1, **TIGHT).fit(X, Y[:, 1])
    np.testing.assert_allclose(one.coef_, ref[1].coef_, atol=1e-5)
    assert isinstance(one.intercept_, float) and one.predict(X).shape == (40,)


def test_lasso_gram_cd_warm_start_and_gap():
    X, Y = _data()
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    G, XtY, yy = Xc.T @ Xc, Xc.T @ Yc, (Yc**2).sum(0)
    W1, gap, it = lasso_gram_cd(G, XtY, yy, 40 * 0.1, tol=1e-12, max_iter=100000)
    W0 = W1 + 0.05
    W2, _, _ = lasso_gram_cd(G, XtY, yy, 40 * 0.1, W0, tol=1e-12, max_iter=100000)
    np.testing.assert_allclose(W1, W2, atol=1e-8)
    assert (gap <= 1e-12 * yy).all() and (it >= 1).all()
    assert (W0 == W1 + 0.05).all()  # the warm start is not modified


def test_lasso_warns_when_not_converged(caplog):
    X, Y = _data()
    with caplog.at_level(logging.WARNING, logger="dnnmap"):
        Lasso(0.01, tol=1e-14, max_iter=1).fit(X, Y)
    assert "did not converge in 1 sweeps" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": -1}, "alpha is -1; expected a positive number or one per target"),
        ({"alpha": [0.1, 0.2]}, r"expected a positive number or one per target \(4\)"),
        ({"alpha": 0.1, "tol": 0}, "tol is 0; expected a positive number"),
        ({"alpha": 0.1, "max_iter": 0}, "max_iter is 0; expected an integer >= 1"),
        ({"alpha": 0.1, "batch_size": 0}, "batch_size is 0; expected an integer >= 1"),
    ],
)
def test_lasso_errors(kwargs, match):
    X, Y = _data()
    with pytest.raises(InputError, match=match):
        Lasso(**kwargs).fit(X, Y)


def test_lasso_cv_equals_loop_of_sklearn_lasso_cv():
    X, Y = _data(n=40, p=5, v=4, seed=4)
    pairs = list(KFold(4, shuffle=True, random_state=0).split(X))
    ours = LassoCV(n_alphas=12, cv=pairs, batch_size=3, **TIGHT).fit(X, Y)
    ref = [linear_model.LassoCV(alphas=12, cv=pairs, **TIGHT).fit(X, Y[:, j]) for j in range(4)]
    np.testing.assert_allclose(ours.alphas_, np.column_stack([r.alphas_ for r in ref]), rtol=1e-12)
    np.testing.assert_allclose(
        ours.mse_path_, np.column_stack([r.mse_path_.mean(1) for r in ref]), rtol=1e-7
    )
    # the same grid point (floating-point alpha_max may differ in the last bit)
    np.testing.assert_allclose(ours.alpha_, [r.alpha_ for r in ref], rtol=1e-12)
    np.testing.assert_allclose(ours.coef_, np.column_stack([r.coef_ for r in ref]), atol=1e-5)
    np.testing.assert_allclose(ours.alphas_, alpha_grid(X, Y, n_alphas=12), rtol=0)
    # a given grid (sorted descending, as LassoCV does)
    grid = [0.5, 0.01, 0.1, 0.05]
    ours = LassoCV(alphas=grid, cv=pairs, **TIGHT).fit(X, Y)
    ref = [linear_model.LassoCV(alphas=grid, cv=pairs, **TIGHT).fit(X, Y[:, j]) for j in range(4)]
    np.testing.assert_array_equal(ours.alpha_, [r.alpha_ for r in ref])


def test_lasso_cv_int_cv_is_shuffled_kfold_and_grouped_pairs():
    X, Y = _data(n=30, p=4, v=2, seed=5)
    a = LassoCV(alphas=[0.01, 0.1, 1.0], cv=3, random_state=7, **TIGHT).fit(X, Y)
    pairs = list(KFold(3, shuffle=True, random_state=7).split(X))
    b = LassoCV(alphas=[0.01, 0.1, 1.0], cv=pairs, **TIGHT).fit(X, Y)
    np.testing.assert_array_equal(a.alpha_, b.alpha_)
    groups = np.repeat(np.arange(5), 6)
    g = inner_splits(np.arange(30), "group", n_folds=5, groups=groups)
    c = LassoCV(alphas=[0.01, 0.1, 1.0], cv=g, **TIGHT).fit(X, Y[:, 0])
    assert isinstance(c.alpha_, float) and c.mse_path_.shape == (3,)


def test_lasso_cv_errors():
    X, Y = _data()
    with pytest.raises(InputError, match=r"alphas are \[0, 1\]; expected a non-empty list"):
        LassoCV(alphas=[0, 1]).fit(X, Y)
    with pytest.raises(InputError, match="cv is 50 folds for 40 samples"):
        LassoCV(cv=50).fit(X, Y)
    with pytest.raises(InputError, match="cv has a split with rows"):
        LassoCV(cv=[(np.arange(10), np.array([99]))]).fit(X, Y)
    with pytest.raises(InputError, match="n_alphas is 0"):
        LassoCV(n_alphas=0).fit(X, Y)


# ---------------------------------------------------------------------------------------------
# PLS
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [True, False])
def test_pls_nested_components_equal_sklearn_for_every_k(scale):
    X, Y = _data(n=30, p=6, v=5, seed=6)
    Xt = np.random.default_rng(9).standard_normal((7, 6))
    ours = PLS(6, cv=None, scale=scale).fit(X, Y)
    assert ours.n_components_max_ == 6 and (ours.n_components_ == 6).all()
    for k in range(1, 7):
        ref = PLSRegression(n_components=k, scale=scale).fit(X, Y)
        np.testing.assert_allclose(ours.predict_components(Xt, k), ref.predict(Xt), atol=1e-10)
        fixed = PLS(k, cv=None, scale=scale).fit(X, Y)
        np.testing.assert_allclose(fixed.coef_, ref.coef_.T, atol=1e-10)
        np.testing.assert_allclose(fixed.predict(Xt), ref.predict(Xt), atol=1e-10)
    one = PLS(3, cv=None).fit(X, Y[:, 0])
    ref = PLSRegression(n_components=3).fit(X, Y[:, 0])
    np.testing.assert_allclose(one.predict(Xt), ref.predict(Xt), atol=1e-10)


@pytest.mark.parametrize("select", ["target", "all"])
def test_pls_cv_selection_equals_brute_force_sklearn(select):
    X, Y = _data(n=36, p=5, v=4, seed=7)
    pairs = list(KFold(4, shuffle=True, random_state=1).split(X))
    ours = PLS(5, cv=pairs, select=select).fit(X, Y)
    err = np.zeros((5, 4))
    for tr, te in pairs:
        for k in range(1, 6):
            pred = PLSRegression(n_components=k).fit(X[tr], Y[tr]).predict(X[te])
            err[k - 1] += ((Y[te] - pred) ** 2).mean(0) / len(pairs)
    np.testing.assert_allclose(ours.cv_errors_, err, rtol=1e-9)
    if select == "target":
        best = err.argmin(0) + 1
    else:
        best = np.full(4, (err / Y.var(0)).mean(1).argmin() + 1)
    np.testing.assert_array_equal(ours.n_components_, best)
    Xt = X[:5] + 0.1
    expect = np.column_stack(
        [PLSRegression(n_components=int(k)).fit(X, Y).predict(Xt)[:, j] for j, k in enumerate(best)]
    )
    np.testing.assert_allclose(ours.predict(Xt), expect, atol=1e-10)


def test_pls_caps_components_and_errors():
    X, Y = _data(n=12, p=8, v=2)
    m = PLS(20, cv=3).fit(X, Y)
    assert m.n_components_max_ == 7  # smallest inner training set (8 rows) minus one
    with pytest.raises(InputError, match="n_components is 0; expected an int >= 1"):
        PLS(0).fit(X, Y)
    with pytest.raises(InputError, match="select is 'best'; expected one of target, all"):
        PLS(2, select="best").fit(X, Y)
    with pytest.raises(InputError, match="k is 9; expected at most 7 fitted components"):
        m.predict_components(X, 9)


# ---------------------------------------------------------------------------------------------
# Estimators by name or path
# ---------------------------------------------------------------------------------------------


def test_estimator_from_path_and_names():
    est = estimator_from_path("sklearn.linear_model.Ridge", {"alpha": 3.0})
    assert isinstance(est, linear_model.Ridge) and est.alpha == 3.0
    assert isinstance(make_estimator("lasso", {"alpha": 0.2}), Lasso)
    assert isinstance(make_estimator("pls"), PLS)
    assert isinstance(make_estimator("per_unit"), PerUnitRegression)
    assert isinstance(make_estimator("ols"), OLS)
    assert isinstance(make_estimator("dnnmap.encoding.ridge.RidgeCV", {"alphas": [1.0]}), RidgeCV)
    import dnnmap.encoding.estimators as lm

    assert lm.OLS is OLS and lm.Lasso is Lasso and lm.PLS is PLS
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        lm.Nope  # noqa: B018


@pytest.mark.parametrize(
    ("path", "params", "match"),
    [
        ("__import__('os')", None, r"encoding\.estimator is .*; expected a dotted import path"),
        ("Ridge", None, "expected a dotted import path"),
        ("no_such_package_x.Model", None, "no module 'no_such_package_x'"),
        ("sklearn.linear_model.NoSuch", None, "sklearn.linear_model has no NoSuch"),
        ("os.path", None, "a module; expected a class"),
        ("collections.OrderedDict", None, "a class without fit and predict"),
        ("sklearn.linear_model.Ridge", {"bogus": 1}, r"encoding\.estimator_params .* do not fit"),
        ("sklearn.linear_model.Ridge", [1], "encoding.estimator_params is"),
    ],
)
def test_estimator_from_path_errors(path, params, match):
    with pytest.raises(InputError, match=match):
        estimator_from_path(path, params)


def test_make_estimator_unknown_name():
    with pytest.raises(
        InputError, match=r"encoding\.estimator is .bogus.; expected one of ridge_fixed, ols"
    ):
        make_estimator("bogus")


# ---------------------------------------------------------------------------------------------
# Cross-validated predictions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "splits",
    [
        make_splits(30, "kfold", n_folds=3, seed=2),
        make_splits(30, "repeated_kfold", n_folds=3, n_repeats=2, seed=2),
        make_splits(30, "split", split=["train"] * 20 + ["test"] * 10),
    ],
    ids=["kfold", "repeated", "split"],
)
def test_cross_validated_predictions_equal_ridge_encoding(splits):
    X, Y = _data(n=30, p=5, v=6, seed=8)
    Y[:, 2] = 1.0  # a constant column is masked by both
    alphas = [0.1, 1.0, 10.0, 100.0]
    ref = cross_validated_encoding(X, Y, alphas, splits=splits, inner_cv=4, seed=3)
    out = cross_validated_predictions(
        lambda tr: RidgeCV(alphas, cv=4, random_state=3), X, Y, splits, batch_size=4
    )
    for name in ("predictions", "score", "r2", "fold_scores", "alpha", "explained_variance"):
        np.testing.assert_allclose(getattr(out, name), getattr(ref, name), atol=1e-10, err_msg=name)
    np.testing.assert_array_equal(out.folds, ref.folds)
    np.testing.assert_array_equal(out.masked, ref.masked)


def test_cross_validated_predictions_manual_loop_and_hyperparameters():
    X, Y = _data(n=24, p=4, v=3, seed=9)
    splits = make_splits(24, "kfold", n_folds=4, seed=0)
    out = cross_validated_predictions(linear_model.Lasso(alpha=0.1), X, Y, splits)
    pred = np.empty_like(Y)
    for tr, te in zip(splits.train, splits.test, strict=True):
        pred[te] = linear_model.Lasso(alpha=0.1).fit(X[tr], Y[tr]).predict(X[te])
    np.testing.assert_allclose(out.predictions, pred, atol=1e-12)
    np.testing.assert_allclose(out.score_pooled, pearson_r(Y, pred), atol=1e-12)
    np.testing.assert_allclose(out.score, out.fold_scores.mean(axis=0), atol=1e-12)
    assert np.isnan(out.alpha).all()  # sklearn Lasso has no alpha_
    pls = cross_validated_predictions(lambda tr: PLS(3, cv=3), X, Y, splits)
    assert set(np.unique(pls.alpha)) <= {1.0, 2.0, 3.0}
    # batch size does not change per-target estimators; 1-D Y gives 1-D outputs
    a = cross_validated_predictions(Lasso(0.1), X, Y, splits)
    b = cross_validated_predictions(Lasso(0.1), X, Y, splits, batch_size=1)
    np.testing.assert_allclose(a.predictions, b.predictions, atol=1e-12)
    c = cross_validated_predictions(Lasso(0.1), X, Y[:, 1], splits)
    assert c.predictions.shape == (24,) and c.fold_scores.shape == (4,)
    np.testing.assert_allclose(c.score, a.score[1], atol=1e-12)
    loo = cross_validated_predictions(OLS(), X, Y, make_splits(24, "loo"), pooling="pooled")
    assert np.isnan(loo.fold_scores).all() and np.isfinite(loo.score).all()
    # a test set of one stimulus has no r: the per-fold mean is NaN
    assert np.isnan(cross_validated_predictions(OLS(), X, Y, make_splits(24, "loo")).score).all()


def test_cross_validated_predictions_float32_and_masking(caplog):
    X, Y = _data(n=20, p=3, v=3, seed=10)
    Y = Y.astype(np.float32)
    Y[4, 0] = np.nan
    splits = make_splits(20, "kfold", n_folds=4)
    with caplog.at_level(logging.WARNING, logger="dnnmap"):
        out = cross_validated_predictions(OLS(), X, Y, splits)
    assert "1 of 3 response columns" in caplog.text
    assert out.predictions.dtype == np.float32
    assert np.isnan(out.predictions[:, 0]).all() and np.isnan(out.score[0])
    assert np.isfinite(out.score[1:]).all()


class _BadShape:
    def fit(self, X, Y):
        return self

    def predict(self, X):
        return np.zeros((X.shape[0], 7))


def test_cross_validated_predictions_errors():
    X, Y = _data(n=20, p=3, v=2)
    splits = make_splits(20, "kfold", n_folds=4)
    with pytest.raises(InputError, match=r"_BadShape.predict returned shape \(5, 7\)"):
        cross_validated_predictions(lambda tr: _BadShape(), X, Y, splits)
    with pytest.raises(InputError, match="estimator_factory returned int"):
        cross_validated_predictions(lambda tr: 3, X, Y, splits)
    with pytest.raises(InputError, match="splits are for 20 stimuli but the data have 19"):
        cross_validated_predictions(OLS(), X[:19], Y[:19], splits)
    with pytest.raises(InputError, match="batch_size is 0"):
        cross_validated_predictions(OLS(), X, Y, splits, batch_size=0)
    with pytest.raises(InputError, match="X contains NaN"):
        cross_validated_predictions(OLS(), np.full_like(X, np.nan), Y, splits)
