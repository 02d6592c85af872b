"""Banded ridge against himalaya's BandedRidgeCV (same candidates), a closed form for one
candidate, and dnnmap's own ridge for one space."""

import numpy as np
import pytest
from sklearn.model_selection import KFold

from dnnmap.encoding.banded_ridge import (
    BandedRidgeCV,
    check_space_sizes,
    space_weight_candidates,
)
from dnnmap.encoding.estimators import make_estimator
from dnnmap.encoding.ridge import RidgeCV
from dnnmap.errors import InputError

SIZES = [6, 12, 9]


def _data(n=80, v=12, seed=0):
    """Three spaces on different scales; targets driven by spaces 0 and 2 only."""
    rng = np.random.default_rng(seed)
    p = sum(SIZES)
    X = rng.standard_normal((n, p)) * np.repeat([1.0, 3.0, 0.5], SIZES)
    W = rng.standard_normal((p, v)) * np.repeat([1.0, 0.0, 2.0], SIZES)[:, None]
    W *= rng.uniform(0.05, 1.0, v)  # signal strength varies over targets
    Y = X @ W + 2.0 * rng.standard_normal((n, v)) + 5.0
    return X, Y


def _himalaya(X, Y, gammas, alphas, pairs):
    backend = pytest.importorskip("himalaya.backend")
    ridge = pytest.importorskip("himalaya.ridge")
    backend.set_backend("numpy")
    groups = np.repeat(np.arange(len(SIZES)), SIZES)
    params = {"n_iter": gammas, "alphas": alphas, "progress_bar": False}
    return ridge.BandedRidgeCV(
        groups=groups, solver="random_search", solver_params=params, cv=pairs, fit_intercept=True
    ).fit(X, Y)


def test_same_choices_scores_and_predictions_as_himalaya():
    X, Y = _data()
    alphas = np.logspace(-1, 4, 9)
    gammas = space_weight_candidates(12, len(SIZES), seed=3)
    pairs = list(KFold(4, shuffle=True, random_state=0).split(X))
    ours = BandedRidgeCV(
        SIZES, alphas, n_iter=gammas, cv=pairs, space_scale="none", device="numpy"
    ).fit(X, Y)
    ref = _himalaya(X, Y, gammas, alphas, pairs)
    weights = np.exp(ref.deltas_)  # gamma / alpha
    ref_alpha = 1.0 / weights.sum(axis=0)
    np.testing.assert_allclose(ours.alpha_, ref_alpha, rtol=1e-10)
    np.testing.assert_allclose(ours.space_weights_, weights * ref_alpha, atol=1e-12)
    np.testing.assert_allclose(ours.cv_errors_, -ref.cv_scores_, rtol=1e-8)
    assert len(np.unique(ours.best_candidate_)) > 1  # the test exercises the search
    X_new = np.random.default_rng(9).standard_normal((25, X.shape[1]))
    np.testing.assert_allclose(ours.predict(X_new), ref.predict(X_new), atol=1e-4)


def test_one_candidate_is_the_closed_form_banded_ridge():
    X, Y = _data(n=50, v=4, seed=1)
    gamma = np.array([[0.2, 0.5, 0.3]])
    est = BandedRidgeCV(SIZES, [7.0], n_iter=gamma, cv=3, device="numpy").fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    scales = [
        np.trace(Xc[:, a:b] @ Xc[:, a:b].T) / len(X)
        for a, b in zip(np.cumsum([0, *SIZES[:-1]]), np.cumsum(SIZES), strict=True)
    ]
    penalty = np.repeat(7.0 * np.array(scales) / gamma[0], SIZES)
    coef = np.linalg.solve(Xc.T @ Xc + np.diag(penalty), Xc.T @ Yc)
    np.testing.assert_allclose(est.coef_, coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.intercept_, Y.mean(0) - X.mean(0) @ coef, rtol=1e-8)
    np.testing.assert_allclose(est.space_alphas_[:, 0], 7.0 * np.array(scales) / gamma[0])
    np.testing.assert_allclose(est.space_scales_, scales)
    parts = est.predict_spaces(X)
    np.testing.assert_allclose(parts.sum(0) + est.intercept_, est.predict(X), atol=1e-10)


def test_one_space_is_ridge_cv():
    X, Y = _data(n=60, v=6, seed=2)
    alphas = np.logspace(-2, 4, 13)
    pairs = list(KFold(5, shuffle=True, random_state=1).split(X))  # equal test sizes
    ours = BandedRidgeCV(None, alphas, n_iter=5, cv=pairs, space_scale="none", device="numpy")
    ref = RidgeCV(alphas, cv=pairs, alpha_scale="absolute", device="numpy").fit(X, Y)
    ours.fit(X, Y)
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    assert ours.candidates_.shape == (1, 1)  # one space: one candidate, searched once
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-7, atol=1e-10)


def test_batches_masks_and_vector_targets():
    X, Y = _data(v=7, seed=4)
    Y[3, 2] = np.nan
    kw = {"space_sizes": SIZES, "alphas": [0.1, 10.0, 1e3], "n_iter": 5, "device": "numpy"}
    whole = BandedRidgeCV(**kw).fit(X, Y)
    parts = BandedRidgeCV(**kw, batch_size=2).fit(X, Y)
    np.testing.assert_allclose(whole.coef_, parts.coef_, rtol=1e-10, equal_nan=True)
    assert np.isnan(whole.coef_[:, 2]).all() and np.isnan(whole.alpha_[2])
    assert whole.best_candidate_[2] == -1
    assert np.isfinite(whole.predict(X)[:, [0, 1, 3]]).all()
    one = BandedRidgeCV(**kw).fit(X, Y[:, 0])
    assert one.predict(X).shape == (len(X),) and isinstance(one.best_candidate_, int)
    np.testing.assert_allclose(one.predict(X), whole.predict(X)[:, 0], rtol=1e-10)


def test_candidates_and_checks():
    g = space_weight_candidates(9, 3, (0.1, 1.0), seed=0)
    assert g.shape == (9, 3) and np.allclose(g.sum(1), 1) and (g >= 0).all()
    np.testing.assert_array_equal(g[0], [1 / 3] * 3)
    np.testing.assert_array_equal(g, space_weight_candidates(9, 3, (0.1, 1.0), seed=0))
    assert space_weight_candidates(4, 1).tolist() == [[1.0]] * 4
    np.testing.assert_array_equal(check_space_sizes([2, 3], 5), [2, 3])
    X, Y = _data(n=30, v=2)
    for bad in ([6, 12], [0, 27], "abc"):
        with pytest.raises(InputError, match="space_sizes"):
            BandedRidgeCV(bad, device="numpy").fit(X, Y)
    with pytest.raises(InputError, match="n_iter"):
        BandedRidgeCV(SIZES, n_iter=np.ones((2, 2)), device="numpy").fit(X, Y)
    with pytest.raises(InputError, match="alphas"):
        BandedRidgeCV(SIZES, alphas=[-1.0], device="numpy").fit(X, Y)
    with pytest.raises(InputError, match="space_scale"):
        BandedRidgeCV(SIZES, space_scale="max", device="numpy").fit(X, Y)
    with pytest.raises(InputError, match="not fitted"):
        BandedRidgeCV(SIZES).predict(X)
    est = make_estimator("banded_ridge", {"space_sizes": SIZES, "n_iter": 3})
    assert isinstance(est, BandedRidgeCV) and est.n_iter == 3
