"""StackedRegression and its outer cross-validation: the scikit-learn contract, agreement with
a direct computation, with the encoding driver's single-space scores, and simulations with a
known convex mix."""

import numpy as np
import pytest
from sklearn.base import clone

from dnnmap.encoding.cross_validation import cross_validated_predictions
from dnnmap.encoding.ridge import RidgeCV
from dnnmap.errors import InputError
from dnnmap.stacking.regression import (
    StackedRegression,
    cross_validated_stacking,
    residual_covariance,
    signed_sqrt,
)
from dnnmap.stacking.simplex import simplex_qp
from dnnmap.stats.metrics import pearson_r, r2_score
from dnnmap.stats.splits import as_pairs, inner_splits, make_splits

ALPHAS = [0.1, 1.0, 10.0, 100.0, 1000.0]


def two_spaces(n=200, p=15, mix=(0.7, 0.3), noise=0.3, seed=0, v=4):
    """Two independent feature spaces; voxel j reads sqrt(mix) of each space's signal, so the
    signals' variance shares are ``mix`` (the population stacking weights)."""
    rng = np.random.default_rng(seed)
    X1, X2 = rng.standard_normal((n, p)), rng.standard_normal((n, p))
    s1 = X1 @ rng.standard_normal((p, v))
    s2 = X2 @ rng.standard_normal((p, v))
    s1 /= s1.std(axis=0)
    s2 /= s2.std(axis=0)
    a, b = np.sqrt(mix[0]), np.sqrt(mix[1])
    Y = a * s1 + b * s2 + noise * rng.standard_normal((n, v))
    return np.hstack([X1, X2]), Y


def test_is_a_clonable_estimator():
    est = StackedRegression([3, 4], estimator=RidgeCV(alphas=ALPHAS), cv=3, jitter=1e-9)
    params = est.get_params(deep=False)
    assert params["spaces"] == [3, 4] and params["cv"] == 3
    twin = clone(est)
    assert twin is not est and twin.get_params(deep=False).keys() == params.keys()
    X, Y = two_spaces(n=60, p=3, v=2)
    X = np.hstack([X, X[:, :1]])
    est.fit(X, Y)
    assert est.weights_.shape == (2, 2) and len(est.estimators_) == 2
    assert not hasattr(clone(est), "weights_")
    assert est.predict(X).shape == (60, 2) and est.score(X, Y).shape == (2,)
    with pytest.raises(InputError, match="not fitted"):
        clone(est).predict(X)


def test_fit_matches_a_direct_computation():
    """Out-of-fold predictions of each space's own model, the residual covariance, the
    simplex QP, and the refit on all rows, written out by hand."""
    X, Y = two_spaces(n=80, p=5, v=3, seed=1)
    pairs = as_pairs(4, 80, seed=0)
    est = StackedRegression([5, 5], estimator=RidgeCV(alphas=ALPHAS, cv=3), cv=pairs)
    est.fit(X, Y)
    blocks = [X[:, :5], X[:, 5:]]
    oof = np.empty((2, 80, 3))
    for tr, te in pairs:
        for s, Xk in enumerate(blocks):
            oof[s, te] = RidgeCV(alphas=ALPHAS, cv=3).fit(Xk[tr], Y[tr]).predict(Xk[te])
    S = np.einsum("inv,jnv->vij", Y[None] - oof, Y[None] - oof) / 80
    np.testing.assert_allclose(residual_covariance(Y, oof), S)
    w = simplex_qp(S).weights
    np.testing.assert_allclose(est.weights_, w, atol=1e-12)
    full = [RidgeCV(alphas=ALPHAS, cv=3).fit(Xk, Y).predict(Xk[:7]) for Xk in blocks]
    np.testing.assert_allclose(est.predict(X[:7]), w[:, 0] * full[0] + w[:, 1] * full[1])


def test_space_scores_equal_the_encoding_driver():
    """Each single space's score under stacking is the encoding rule's score of that space:
    same outer splits, same nested folds, same RidgeCV."""
    X, Y = two_spaces(n=90, p=6, v=3, seed=2)
    splits = make_splits(90, "kfold", n_folds=5, seed=0)

    def inner(rows):
        return inner_splits(rows, "kfold", n_folds=4, seed=0)

    def factory(train):
        return StackedRegression(
            [6, 6],
            estimator=RidgeCV(alphas=ALPHAS),
            cv=inner(train),
            estimator_cv=lambda rows: inner(train[rows]),
        )

    res = cross_validated_stacking(factory, X, Y, splits)
    for s, cols in enumerate([slice(0, 6), slice(6, 12)]):

        def single(train):
            return RidgeCV(alphas=ALPHAS, cv=inner(train))

        enc = cross_validated_predictions(single, X[:, cols], Y, splits, score="r")
        np.testing.assert_allclose(res.space_r[:, s], enc.score, atol=1e-10)
        enc2 = cross_validated_predictions(single, X[:, cols], Y, splits, score="r2")
        np.testing.assert_allclose(res.space_r2[:, s], enc2.score, atol=1e-10)
    # stacked scores are the fold means of the combined out-of-fold predictions
    for f in range(len(splits)):
        te = splits.test[f]
        np.testing.assert_allclose(res.fold_r[f], pearson_r(Y[te], res.predictions[te]))
        np.testing.assert_allclose(res.fold_r2[f], r2_score(Y[te], res.predictions[te]))
    np.testing.assert_allclose(res.signed_sqrt_r2, signed_sqrt(res.r2))
    np.testing.assert_allclose(res.weights, res.fold_weights.mean(axis=0))


@pytest.mark.parametrize("mix", [(0.7, 0.3), (0.5, 0.5), (1.0, 0.0)])
def test_simulation_recovers_a_convex_mix(mix):
    """y mixes two spaces' signals with variance shares ``mix``: the weights recover it, and
    the stack predicts at least as well as the better single space."""
    X, Y = two_spaces(n=400, p=10, mix=mix, noise=0.2, seed=3, v=20)
    splits = make_splits(400, "kfold", n_folds=5, seed=0)
    est = StackedRegression([10, 10], estimator=RidgeCV(alphas=ALPHAS), cv=5)
    res = cross_validated_stacking(est, X, Y, splits)
    np.testing.assert_allclose(np.median(res.weights[:, 0]), mix[0], atol=0.05)
    assert np.allclose(res.weights.sum(axis=1), 1.0) and (res.weights >= 0).all()
    assert np.median(res.r - res.space_r.max(axis=1)) > -0.01


def test_null_and_driven_spaces():
    """A third space of pure noise features gets almost no weight."""
    rng = np.random.default_rng(4)
    X, Y = two_spaces(n=300, p=8, mix=(0.6, 0.4), noise=0.3, seed=4, v=10)
    X = np.hstack([X, rng.standard_normal((300, 8))])
    est = StackedRegression([8, 8, 8], estimator=RidgeCV(alphas=ALPHAS), cv=5)
    res = cross_validated_stacking(est, X, Y, make_splits(300, "kfold", n_folds=5))
    assert np.median(res.weights[:, 2]) < 0.05
    assert res.fold_weights.shape == (5, 10, 3)


def test_masked_voxels_and_bad_spaces():
    X, Y = two_spaces(n=60, p=4, v=4, seed=5)
    Y[:, 1] = 3.0  # constant
    Y[5, 2] = np.nan
    est = StackedRegression([4, 4], estimator=RidgeCV(alphas=ALPHAS), cv=3)
    res = cross_validated_stacking(est, X, Y, make_splits(60, "kfold", n_folds=3))
    assert res.masked.tolist() == [False, True, True, False]
    assert np.isnan(res.weights[[1, 2]]).all() and np.isnan(res.r[[1, 2]]).all()
    assert np.isfinite(res.weights[[0, 3]]).all() and np.isfinite(res.space_r[[0, 3]]).all()
    with pytest.raises(InputError, match="at least 2 spaces"):
        StackedRegression([8]).fit(X, Y)
    with pytest.raises(InputError, match="sum to 7 columns"):
        StackedRegression([3, 4]).fit(X, Y)


def test_per_fold_pca_spaces_equal_a_manual_loop():
    """Stacking through the fold seam: a space with features.fit: train is fitted on each
    outer training set only; the result equals stacking the manually fitted PCA scores split
    by split."""
    from sklearn.decomposition import PCA

    from dnnmap.features.folds import FeatureSpaces, FoldFeatures

    X, Y = two_spaces(n=80, p=12, v=3, seed=4)
    acts = X[:, 12:]
    basis = PCA(12, svd_solver="full").fit_transform(acts)
    spaces = FeatureSpaces(
        [FoldFeatures(X[:, :12]), FoldFeatures(basis, per_fold=True, n_components=5)]
    )
    splits = make_splits(80, "kfold", n_folds=4, seed=0)

    def factory(train):
        return StackedRegression(
            spaces.split_sizes(train), estimator=RidgeCV(alphas=ALPHAS, cv=3), cv=3
        )

    res = cross_validated_stacking(factory, spaces, Y, splits)
    for s, (train, test) in enumerate(zip(splits.train, splits.test, strict=True)):
        pca = PCA(5, svd_solver="full").fit(acts[train])
        design = np.hstack([X[:, :12], pca.transform(acts)])
        est = StackedRegression([12, 5], estimator=RidgeCV(alphas=ALPHAS, cv=3), cv=3)
        est.fit(design[train], Y[train])
        np.testing.assert_allclose(res.fold_weights[s], est.weights_, atol=1e-6)
        np.testing.assert_allclose(res.predictions[test], est.predict(design[test]), atol=1e-6)
