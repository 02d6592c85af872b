"""Tests of dnnmap.encoding.ridge against scikit-learn, himalaya and closed-form references."""

import numpy as np
import pytest
from sklearn import linear_model
from sklearn.metrics import explained_variance_score
from sklearn.metrics import r2_score as sk_r2
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, ShuffleSplit

from dnnmap.encoding.ridge import (
    DEFAULT_ALPHAS,
    Ridge,
    RidgeCV,
    centered_svd,
    cross_validated_encoding,
    outer_folds,
    ridge_svd,
    select_alpha,
    svd_ridge_predict_path,
)
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r
from dnnmap.stats.splits import Splits

ALPHAS = np.logspace(-3, 4, 8)


def _problem(n=60, p=8, v=5, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + rng.standard_normal(p) * 3
    W = rng.standard_normal((p, v)) * np.linspace(0.05, 2, v)
    Y = X @ W + noise * rng.standard_normal((n, v)) + rng.standard_normal(v) * 5
    return X, Y


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
            cv=KFold(5, shuffle=True, random_state=0),  # an int cv is shuffled, seeded k-fold
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
    Xn = X.copy()
    Xn[3, 1] = np.inf
    with pytest.raises(InputError, match="X contains NaN or inf"):
        RidgeCV().fit(Xn, Y)
    with pytest.raises(InputError, match="X contains NaN or inf"):
        cross_validated_encoding(Xn, Y)
    with pytest.raises(InputError, match=r"alphas are .*expected a non-empty 1-D list of positive"):
        select_alpha(X, Y, [0.0, 1.0])
    with pytest.raises(InputError, match="alphas are"):
        RidgeCV(alphas=[-1.0]).fit(X, Y)
    with pytest.raises(InputError, match="cv is 'bogus'"):
        select_alpha(X, Y, ALPHAS, cv="bogus")
    with pytest.raises(InputError, match=r"cv is 10 folds for 5 samples; expected 2 <= cv <= 5"):
        RidgeCV(cv=10).fit(X[:5], Y[:5])
    with pytest.raises(InputError, match=r"cv is 'loo' for 2 samples"):
        RidgeCV(cv="loo").fit(X[:2], Y[:2])
    with pytest.raises(InputError, match=r"n_folds is 20 for 30 samples"):
        cross_validated_encoding(X, Y, n_folds=20)
    with pytest.raises(InputError, match="solver is 'qr'"):
        RidgeCV(solver="qr").fit(X, Y)
    with pytest.raises(InputError, match="batch_size is 0"):
        RidgeCV(batch_size=0).fit(X, Y)
    with pytest.raises(InputError, match="device is 'gpu'"):
        RidgeCV(device="gpu").fit(X, Y)
    with pytest.raises(InputError, match="dtype is"):
        RidgeCV(dtype=np.int32).fit(X, Y)
    with pytest.raises(InputError, match=r"cv has a split with rows .* in \[0, 30\)"):
        RidgeCV(cv=[(np.arange(10), np.arange(25, 31))]).fit(X, Y)
    with pytest.raises(InputError, match=r"cv\.split\(X\) failed .*pass explicit \(train, test\)"):
        RidgeCV(cv=GroupKFold(3)).fit(X, Y)
    with pytest.raises(InputError, match="X has 4 features; expected 5"):
        RidgeCV().fit(X, Y).predict(X[:, :4])


def test_nonfinite_targets_are_masked(caplog):
    X, Y = _problem(n=40, p=6, v=4)
    Yn = Y.copy()
    Yn[5, 1] = np.nan
    Yn[:, 3] = np.inf
    with caplog.at_level("WARNING", logger="dnnmap"):
        est = RidgeCV(ALPHAS, cv=4).fit(X, Yn)
    assert "2 of 4 response columns are not finite" in caplog.text
    ref = RidgeCV(ALPHAS, cv=4).fit(X, Y[:, [0, 2]])
    np.testing.assert_array_equal(est.alpha_[[0, 2]], ref.alpha_)
    np.testing.assert_allclose(est.coef_[:, [0, 2]], ref.coef_, rtol=1e-12)
    assert np.isnan(est.coef_[:, [1, 3]]).all() and np.isnan(est.alpha_[[1, 3]]).all()
    assert np.isnan(est.intercept_[[1, 3]]).all() and np.isnan(est.cv_errors_[:, [1, 3]]).all()


# --- primal and dual solvers, references ---------------------------------------------------


@pytest.mark.parametrize("shape", [(50, 10), (25, 40)])
@pytest.mark.parametrize("cv", [5, "loo"])
def test_primal_and_dual_agree(shape, cv):
    X, Y = _problem(n=shape[0], p=shape[1], v=6, noise=2.0, seed=11)
    svd = RidgeCV(ALPHAS, cv=cv, solver="svd", device="numpy").fit(X, Y)
    eigh = RidgeCV(ALPHAS, cv=cv, solver="eigh", device="numpy").fit(X, Y)
    assert (svd.solver_, eigh.solver_) == ("svd", "eigh")
    assert RidgeCV(ALPHAS, cv=cv).fit(X, Y).solver_ == ("eigh" if shape[0] < shape[1] else "svd")
    np.testing.assert_array_equal(svd.alpha_, eigh.alpha_)
    np.testing.assert_allclose(svd.cv_errors_, eigh.cv_errors_, rtol=1e-8)
    np.testing.assert_allclose(svd.coef_, eigh.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(svd.intercept_, eigh.intercept_, rtol=1e-7, atol=1e-9)
    # One fixed alpha: the sklearn Ridge solution, by either route.
    ref = linear_model.Ridge(alpha=3.0).fit(X, Y)
    for solver in ("svd", "eigh"):
        est = RidgeCV([3.0], cv=3, solver=solver).fit(X, Y)
        np.testing.assert_allclose(est.coef_, ref.coef_.T, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["svd", "eigh"])
def test_no_intercept_matches_sklearn(solver):
    X, Y = _problem(n=30, p=12, v=5, noise=2.0, seed=12)
    ours = RidgeCV(ALPHAS, cv="loo", fit_intercept=False, solver=solver).fit(X, Y)
    ref = linear_model.RidgeCV(alphas=ALPHAS, fit_intercept=False, alpha_per_target=True).fit(X, Y)
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    np.testing.assert_allclose(ours.coef_, ref.coef_.T, rtol=1e-7, atol=1e-10)
    np.testing.assert_array_equal(ours.intercept_, 0.0)


def test_explicit_pairs_grouped_inner_cv():
    X, Y = _problem(n=48, p=7, v=3, noise=2.0, seed=13)
    groups = np.repeat(np.arange(8), 6)
    pairs = list(GroupKFold(4).split(X, groups=groups))
    est = RidgeCV(ALPHAS, cv=pairs).fit(X, Y)
    for j in range(Y.shape[1]):
        gs = GridSearchCV(
            linear_model.Ridge(), {"alpha": ALPHAS}, cv=pairs, scoring="neg_mean_squared_error"
        ).fit(X, Y[:, j])
        assert est.alpha_[j] == gs.best_params_["alpha"]
        np.testing.assert_allclose(
            est.cv_errors_[:, j], -gs.cv_results_["mean_test_score"], rtol=1e-8
        )
        np.testing.assert_allclose(est.coef_[:, j], gs.best_estimator_.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(60, 12), (30, 45)])
def test_matches_himalaya(shape):
    himalaya_backend = pytest.importorskip("himalaya.backend")
    himalaya_ridge = pytest.importorskip("himalaya.ridge")
    himalaya_backend.set_backend("numpy")
    X, Y = _problem(n=shape[0], p=shape[1], v=8, noise=3.0, seed=14)
    cv = KFold(5, shuffle=True, random_state=1)
    ref = himalaya_ridge.RidgeCV(
        alphas=ALPHAS, cv=cv, fit_intercept=True, solver_params={"warn": False}
    ).fit(X, Y)
    ours = RidgeCV(ALPHAS, cv=cv).fit(X, Y)
    np.testing.assert_allclose(ours.alpha_, ref.best_alphas_, rtol=1e-10)
    # himalaya adds 1e-10 * log(alpha) to its scores to break ties towards larger alphas
    np.testing.assert_allclose(-ours.cv_errors_.min(axis=0), ref.cv_scores_, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-7, atol=1e-9)


def test_float32_compute_close_to_float64():
    X, Y = _problem(n=80, p=15, v=20, noise=2.0, seed=15)
    Y32 = Y.astype(np.float32)
    e32 = RidgeCV(ALPHAS, cv=5).fit(X, Y32)
    e64 = RidgeCV(ALPHAS, cv=5, dtype=np.float64).fit(X, Y32)
    assert e32.coef_.dtype == np.float32 and e64.coef_.dtype == np.float64
    assert e32.predict(X).dtype == np.float32
    same = e32.alpha_ == e64.alpha_
    assert same.mean() >= 0.9
    np.testing.assert_allclose(e32.cv_errors_, e64.cv_errors_, rtol=1e-4)
    np.testing.assert_allclose(e32.coef_[:, same], e64.coef_[:, same], rtol=1e-3, atol=1e-4)
    b = RidgeCV(ALPHAS, cv=5, batch_size=7).fit(X, Y32)
    np.testing.assert_array_equal(b.alpha_, e32.alpha_)
    np.testing.assert_allclose(b.coef_, e32.coef_, rtol=1e-5, atol=1e-6)


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
    np.testing.assert_allclose(res.score_pooled, pearson_r(Y, expected), rtol=1e-8)
    np.testing.assert_allclose(res.score, res.fold_scores.mean(axis=0), rtol=1e-12)
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
    # No leakage: chance-level r within folds, and the reported score is their mean. Pooled
    # out-of-fold r on noise is biased negative (heavily shrunk predictions track the
    # training-fold means), a known CV effect kept in score_pooled.
    assert abs(res.fold_scores.mean()) < 0.05 and abs(res.score.mean()) < 0.05
    assert -0.2 < res.score_pooled.mean() < 0.02 and res.r2.mean() < 0.01


def test_encoding_inner_folds_must_fit_the_training_set():
    X, Y = _problem(n=20, p=3, v=2, seed=9)
    with pytest.raises(InputError, match="inner_cv is 17 folds for 16 training samples"):
        cross_validated_encoding(X, Y, ALPHAS, n_folds=5, seed=0, inner_cv=17)


# --- explicit outer splits, masking, inner CV variants ---------------------------------------


def _kfold_splits(n, n_folds, seed, repeat=0):
    folds = outer_folds(n, n_folds, seed)
    return (
        [np.flatnonzero(folds != f) for f in range(n_folds)],
        [np.flatnonzero(folds == f) for f in range(n_folds)],
        np.full(n_folds, repeat),
    )


def _splits(n, parts, scheme="repeated_kfold"):
    train = [t for p in parts for t in p[0]]
    test = [t for p in parts for t in p[1]]
    repeat = np.concatenate([p[2] for p in parts])
    return Splits(n=n, train=train, test=test, repeat=repeat, scheme=scheme, params={})


FIELDS = ("predictions", "score", "r2", "fold_scores", "alpha", "folds", "explained_variance")


def test_encoding_with_splits_equals_n_folds():
    X, Y = _problem(n=40, p=6, v=5, noise=2.0, seed=16)
    a = cross_validated_encoding(X, Y, ALPHAS, n_folds=4, seed=7, inner_cv=4)
    splits = _splits(40, [_kfold_splits(40, 4, 7)], scheme="kfold")
    b = cross_validated_encoding(X, Y, ALPHAS, seed=7, inner_cv=4, splits=splits)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_allclose(
        a.explained_variance, explained_variance_score(Y, a.predictions, multioutput="raw_values")
    )
    assert not a.masked.any()


def test_encoding_repeats_average_pooled_scores():
    X, Y = _problem(n=36, p=5, v=4, noise=2.0, seed=17)
    parts = [_kfold_splits(36, 3, 1, repeat=0), _kfold_splits(36, 3, 2, repeat=1)]
    both = cross_validated_encoding(X, Y, ALPHAS, seed=5, inner_cv=3, splits=_splits(36, parts))
    one = [
        cross_validated_encoding(X, Y, ALPHAS, seed=5, inner_cv=3, splits=_splits(36, [p]))
        for p in parts
    ]
    np.testing.assert_array_equal(both.predictions, one[0].predictions)
    np.testing.assert_array_equal(both.folds, one[0].folds)
    for field in ("score", "score_pooled", "r2", "explained_variance"):
        expected = (getattr(one[0], field) + getattr(one[1], field)) / 2
        np.testing.assert_allclose(getattr(both, field), expected, rtol=1e-12)
    for field in ("fold_scores", "alpha"):
        expected = np.concatenate([getattr(one[0], field), getattr(one[1], field)])
        np.testing.assert_array_equal(getattr(both, field), expected)
    # the pooled score of one repeat is Pearson r of its out-of-fold predictions
    np.testing.assert_allclose(one[1].score_pooled, pearson_r(Y, one[1].predictions), rtol=1e-12)


def test_encoding_loo_and_partial_splits():
    X, Y = _problem(n=16, p=3, v=3, noise=2.0, seed=18)
    n = 16
    loo = Splits(
        n=n,
        train=[np.delete(np.arange(n), i) for i in range(n)],
        test=[np.array([i]) for i in range(n)],
        repeat=np.zeros(n, dtype=int),
        scheme="loo",
    )
    res = cross_validated_encoding(
        X, Y, ALPHAS, seed=0, inner_cv="loo", splits=loo, pooling="pooled"
    )
    assert np.isnan(res.fold_scores).all() and res.alpha.shape == (n, 3)
    np.testing.assert_array_equal(res.folds, np.arange(n))
    for i in (0, 9):
        est = RidgeCV(ALPHAS, cv="loo").fit(np.delete(X, i, 0), np.delete(Y, i, 0))
        np.testing.assert_allclose(res.predictions[i], est.predict(X[i : i + 1])[0], rtol=1e-10)
        np.testing.assert_array_equal(res.alpha[i], est.alpha_)
    np.testing.assert_allclose(res.score, pearson_r(Y, res.predictions), rtol=1e-12)
    # One split testing rows 10..15 only: other rows untested (NaN), scores on tested rows.
    one = Splits(
        n=n, train=[np.arange(10)], test=[np.arange(10, n)], repeat=np.zeros(1, int), scheme="split"
    )
    res = cross_validated_encoding(X, Y, ALPHAS, seed=0, inner_cv=3, splits=one)
    assert np.isnan(res.predictions[:10]).all() and np.isfinite(res.predictions[10:]).all()
    np.testing.assert_array_equal(res.folds, [-1] * 10 + [0] * 6)
    np.testing.assert_allclose(res.score, pearson_r(Y[10:], res.predictions[10:]), rtol=1e-12)
    np.testing.assert_allclose(res.score, res.fold_scores[0], rtol=1e-12)
    np.testing.assert_allclose(
        res.r2, sk_r2(Y[10:], res.predictions[10:], multioutput="raw_values")
    )


def test_encoding_masks_constant_and_nan_voxels(caplog):
    X, Y = _problem(n=40, p=6, v=6, noise=2.0, seed=19)
    Yb = Y.astype(np.float32)
    Yb[:, 1] = 3.0
    Yb[7, 4] = np.nan
    with caplog.at_level("WARNING", logger="dnnmap"):
        res = cross_validated_encoding(X, Yb, ALPHAS, n_folds=4, seed=0, batch_size=2)
    assert "2 of 6 response columns are constant or not finite" in caplog.text
    np.testing.assert_array_equal(res.masked, [False, True, False, False, True, False])
    keep = [0, 2, 3, 5]
    ref = cross_validated_encoding(X, Yb[:, keep], ALPHAS, n_folds=4, seed=0)
    for field in FIELDS:
        got = getattr(res, field)
        if field == "folds":
            np.testing.assert_array_equal(got, ref.folds)
            continue
        np.testing.assert_allclose(got[..., keep], getattr(ref, field), rtol=1e-5, atol=1e-6)
        assert np.isnan(got[..., [1, 4]]).all()


def test_encoding_grouped_inner_cv_by_callable():
    X, Y = _problem(n=48, p=5, v=2, noise=2.0, seed=20)
    groups = np.repeat(np.arange(12), 4)
    outer = list(GroupKFold(3).split(X, groups=groups))
    splits = Splits(
        n=48,
        train=[tr for tr, _ in outer],
        test=[te for _, te in outer],
        repeat=np.zeros(3, dtype=int),
        scheme="group",
    )

    def inner(rows):
        return list(GroupKFold(3).split(rows, groups=groups[rows]))

    res = cross_validated_encoding(X, Y, ALPHAS, inner_cv=inner, splits=splits)
    for s, (tr, te) in enumerate(outer):
        for j in range(Y.shape[1]):
            gs = GridSearchCV(
                linear_model.Ridge(),
                {"alpha": ALPHAS},
                cv=inner(tr),
                scoring="neg_mean_squared_error",
            ).fit(X[tr], Y[tr, j])
            assert res.alpha[s, j] == gs.best_params_["alpha"]
            np.testing.assert_allclose(
                res.predictions[te, j], gs.best_estimator_.predict(X[te]), rtol=1e-8
            )


def test_encoding_dual_equals_primal():
    X, Y = _problem(n=30, p=40, v=4, noise=2.0, seed=21)
    a = cross_validated_encoding(X, Y, ALPHAS, n_folds=3, inner_cv=4, solver="svd")
    b = cross_validated_encoding(X, Y, ALPHAS, n_folds=3, inner_cv=4, solver="eigh")
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=1e-8, atol=1e-10)


def test_encoding_bad_splits():
    X, Y = _problem(n=20, p=3, v=2, seed=22)
    good = _splits(20, [_kfold_splits(20, 4, 0)])
    with pytest.raises(InputError, match="splits are for 20 stimuli but the data have 19"):
        cross_validated_encoding(X[:19], Y[:19], splits=good)
    with pytest.raises(
        InputError, match=r"splits is tuple; expected a dnnmap\.stats\.splits\.Splits"
    ):
        cross_validated_encoding(X, Y, splits=(good.train, good.test))
    bad = Splits(
        n=20,
        train=[np.arange(15)],
        test=[np.array([15, 20])],
        repeat=np.zeros(1, int),
        scheme="split",
    )
    with pytest.raises(InputError, match=r"split 0 has test rows .* in \[0, 20\)"):
        cross_validated_encoding(X, Y, splits=bad)
    with pytest.raises(InputError, match="inner_cv is a list of"):
        cross_validated_encoding(X, Y, inner_cv=[(np.arange(5), np.arange(5, 8))])


@pytest.mark.parametrize("device", ["numpy", "cpu"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("model", ["eigh", "svd", "kernel"])
def test_float32_loo_errors_at_small_alphas_with_more_features_than_samples(
    device, fit_intercept, model
):
    # Defect: the residual Yc - B (H * Z) was formed in float32 and divided by 1 - h_ii, both
    # of order alpha / s**2 when p > n: errors were off by 1e3 at alpha 1e-6 (rel. to 1e-7).
    if device == "cpu":
        pytest.importorskip("torch")
    from dnnmap.encoding.kernel_ridge import KernelRidgeCV

    rng = np.random.default_rng(0)
    n, p, v = 40, 200, 6
    X = rng.standard_normal((n, p)) + rng.standard_normal(p)
    Y = X @ rng.standard_normal((p, v)) * 0.1 + rng.standard_normal((n, v)) + 3.0
    alphas = np.logspace(-6, 2, 9)
    ref = linear_model.RidgeCV(
        alphas=alphas, alpha_per_target=True, store_cv_results=True, fit_intercept=fit_intercept
    ).fit(X, Y)
    ref_errors = ref.cv_results_.mean(axis=0).T  # (n_alphas, v), float64
    for dtype in (np.float64, np.float32):
        if model == "kernel":
            est = KernelRidgeCV(alphas, "linear", cv="loo", fit_intercept=fit_intercept)
        else:
            est = RidgeCV(alphas, cv="loo", fit_intercept=fit_intercept, solver=model)
        est.set_params(device=device).fit(X, Y.astype(dtype))
        # scikit-learn's own float64 errors are good to 1e-8 at alpha 1e-6
        rtol = 1e-6 if dtype == np.float64 else 2e-5
        np.testing.assert_allclose(est.cv_errors_, ref_errors, rtol=rtol)
        np.testing.assert_array_equal(est.alpha_, ref.alpha_)
    # the pruned search of the outer folds picks the same alphas from float32 targets
    res = cross_validated_encoding(X, Y.astype(np.float32), n_folds=2, seed=0, inner_cv="loo")
    for f in range(2):
        train = res.folds != f
        ref_f = linear_model.RidgeCV(alphas=alphas, alpha_per_target=True)
        ref_f.set_params(alphas=DEFAULT_ALPHAS).fit(X[train], Y[train])
        np.testing.assert_array_equal(res.alpha[f], ref_f.alpha_)


def test_float64_loo_errors_equal_explicit_refits_at_small_alphas():
    # exact to rounding against n refits (scikit-learn's LOO itself drifts by 1e-8 here)
    rng = np.random.default_rng(1)
    n, p = 30, 120
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, 3)) * 0.1 + rng.standard_normal((n, 3))
    alphas = np.array([1e-8, 1e-4, 1.0])
    errors = RidgeCV(alphas, cv="loo").fit(X, Y).cv_errors_
    explicit = np.zeros_like(errors)
    for r in range(n):
        m = np.arange(n) != r
        Xc, ym = X[m] - X[m].mean(0), Y[m].mean(0)
        for i, a in enumerate(alphas):
            dual = np.linalg.solve(Xc @ Xc.T + a * np.eye(n - 1), Y[m] - ym)
            pred = (X[r] - X[m].mean(0)) @ Xc.T @ dual + ym
            explicit[i] += (Y[r] - pred) ** 2 / n
    np.testing.assert_allclose(errors, explicit, rtol=1e-11)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(80, 12), (40, 60)])
def test_loo_bounds_bracket_the_exact_errors(dtype, shape):
    from dnnmap.backend import get_backend
    from dnnmap.encoding._loo_pruning import loo_bounds
    from dnnmap.encoding._ridge_solver import Design, loo_sse, outside_residual
    from dnnmap.encoding.ridge import DEFAULT_ALPHAS

    X, Y = _problem(n=shape[0], p=shape[1], v=40, noise=2.0, seed=3)
    bk = get_backend("numpy")
    basis = Design(bk, X).basis(np.arange(shape[0]), None, DEFAULT_ALPHAS, dtype, loo=True)
    Yc = (Y - Y.mean(axis=0)).astype(dtype)
    Z = basis.B.T @ Yc
    total = loo_sse(bk, basis, Z, Yc, dtype)
    for around_zero in (False, True):
        R0 = outside_residual(basis, Z, Yc)
        lower, upper = loo_bounds(bk, basis, Z, Yc, dtype, around_zero, R0)
        assert (lower <= total).all() and (total <= upper).all()
    # the bounds are tight where leverages are even (large alphas)
    assert np.median(upper[-1] / lower[-1]) < 1.01


def test_encoding_loo_pruning_picks_the_alphas_of_the_full_search():
    # many noisy and strong targets, so the best alphas spread over the grid
    rng = np.random.default_rng(4)
    X = rng.standard_normal((90, 30))
    W = rng.standard_normal((30, 200)) * (rng.random((30, 1)) < 0.3)
    Y = X @ W * np.sqrt(rng.uniform(0, 0.5, 200)) + rng.standard_normal((90, 200))
    strong = X @ W + 0.05 * rng.standard_normal((90, 200))  # small alphas win: bound around 0
    for Yd in (Y, Y.astype(np.float32), strong):
        res = cross_validated_encoding(X, Yd, n_folds=3, seed=1, inner_cv="loo")
        assert len(np.unique(res.alpha)) >= (4 if Yd is not strong else 1)
        for f in range(3):
            train = res.folds != f
            alpha, errors = select_alpha(X[train], Yd[train], cv="loo")  # every alpha scored
            np.testing.assert_array_equal(res.alpha[f], alpha)
            assert np.isfinite(errors).all()


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fixed_ridge_matches_sklearn(fit_intercept):
    X, Y = _problem(n=30, p=8, v=4, seed=41)
    alphas = np.array([0.1, 1.0, 10.0, 100.0])
    est = Ridge(alpha=alphas, fit_intercept=fit_intercept).fit(X, Y)
    for j, alpha in enumerate(alphas):
        ref = linear_model.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y[:, j])
        np.testing.assert_allclose(est.coef_[:, j], ref.coef_, atol=1e-10)
        np.testing.assert_allclose(est.intercept_[j], ref.intercept_, atol=1e-10)
    np.testing.assert_allclose(est.predict(X[:5]), X[:5] @ est.coef_ + est.intercept_)
    shared = Ridge(alpha=3.0).fit(X, Y[:, 0])
    ref = linear_model.Ridge(alpha=3.0).fit(X, Y[:, 0])
    assert shared.coef_.shape == (8,) and isinstance(shared.intercept_, float)
    np.testing.assert_allclose(shared.predict(X), ref.predict(X), atol=1e-10)


@pytest.mark.parametrize(
    ("alpha", "match"),
    [
        ([1.0, 2.0], r"alpha has shape \(2,\); expected a float or one per target \(4,\)"),
        (0.0, "expected positive finite penalties"),
        (np.nan, "expected positive finite penalties"),
    ],
)
def test_fixed_ridge_bad_alpha(alpha, match):
    X, Y = _problem(n=12, p=3, v=4, seed=42)
    with pytest.raises(InputError, match=match):
        Ridge(alpha=alpha).fit(X, Y)
