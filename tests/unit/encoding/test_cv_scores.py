"""The scores-only outer loop (``cross_validated_scores``) and the permuted responses made on
demand (``PermutedResponses``) that let refit permutations decompose each split once."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from dnnmap.encoding.base import take
from dnnmap.encoding.cross_validation import (
    _PooledSums,
    cross_validated_predictions,
    cross_validated_scores,
)
from dnnmap.encoding.permutation import PermutedResponses, refit_permutation_test
from dnnmap.encoding.ridge import RidgeCV, cross_validated_encoding
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r, r2_score, signed_sqrt_r2
from dnnmap.stats.permutations import permutations
from dnnmap.stats.splits import make_splits

ALPHAS = [0.1, 1.0, 10.0, 100.0]


def _data(n=40, p=8, v=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X[:, :3] @ rng.standard_normal((3, v)) + rng.standard_normal((n, v)) + 50.0
    Y[:, 1] = 7.0  # constant: masked
    Y[3, 4] = np.nan  # not finite: masked
    return X, Y.astype(dtype)


SCHEMES = {
    "kfold": {"n_folds": 4, "seed": 1},
    "repeated_kfold": {"n_folds": 4, "n_repeats": 3, "seed": 2},
    "split": {"split": np.where(np.arange(40) % 4 == 0, "test", "train")},
    "loo": {},  # test sets of one row: fold scores undefined, pooled scores defined
}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("score", ["r", "r2", "signed_sqrt_r2"])
@pytest.mark.parametrize("pooling", ["folds", "pooled"])
def test_scores_equal_the_scores_of_the_predictions(scheme, score, pooling):
    X, Y = _data()
    splits = make_splits(40, scheme, **SCHEMES[scheme])
    factory = RidgeCV(ALPHAS, cv=3, random_state=0)
    kw = {"score": score, "pooling": pooling}
    ref = cross_validated_predictions(factory, X, Y, splits, **kw).score
    out = cross_validated_scores(factory, X, Y, splits, batch_size=2, **kw)
    assert np.isnan(out[[1, 4]]).all()
    # test sets of one row have no fold score
    assert np.isfinite(out[[0, 2, 3, 5]]).all() == (scheme != "loo" or pooling == "pooled")
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("pooling", ["folds", "pooled"])
def test_scores_of_any_estimator_and_float32_responses(pooling):
    """An estimator without ``fit_predict_batches`` (scikit-learn's Ridge) and float32 Y."""
    X, Y = _data(seed=1, dtype=np.float32)
    splits = make_splits(40, "kfold", n_folds=5, seed=0)
    ref = cross_validated_predictions(Ridge(3.0), X, Y, splits, pooling=pooling).score
    out = cross_validated_scores(Ridge(3.0), X, Y, splits, pooling=pooling)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)


def test_pooled_sums_stay_exact_far_from_zero():
    """The sums are shifted per column, so responses around 1e6 lose nothing to cancellation:
    the pooled scores equal the two-pass scores of metrics.py on the same rows."""
    rng = np.random.default_rng(2)
    y = 1e6 + rng.standard_normal((90, 4))
    p = 1e6 + 0.3 * (y - 1e6) + rng.standard_normal((90, 4))
    p[:, 3] = 1e6 + 0.5  # a constant prediction: r undefined, R² defined
    sums = _PooledSums(4)
    for rows in np.array_split(rng.permutation(90), 3):  # three test sets
        sums.add(slice(0, 4), y[rows], p[rows])
    np.testing.assert_allclose(sums.score("r")[:3], pearson_r(y, p)[:3], rtol=1e-9)
    assert np.isnan(sums.score("r")[3]) and np.isnan(pearson_r(y, p)[3])
    np.testing.assert_allclose(sums.score("r2"), r2_score(y, p), rtol=1e-9)
    np.testing.assert_allclose(sums.score("signed_sqrt_r2"), signed_sqrt_r2(y, p), rtol=1e-9)
    few = _PooledSums(4)
    few.add(slice(0, 4), y[:2], p[:2])
    assert np.isnan(few.score("r2")).all()  # fewer than 3 pooled rows


def test_scores_need_a_mask_of_the_right_shape_for_responses_made_on_demand():
    X, Y = _data()
    splits = make_splits(40, "kfold", n_folds=4, seed=0)
    lazy = PermutedResponses(Y, permutations(40, 2, 0))
    with pytest.raises(InputError, match=r"masked \(6,\); expected \(n, p\), \(n, v\) and \(v,\)"):
        cross_validated_scores(Ridge(), X, lazy, splits, masked=np.zeros(6, dtype=bool))
    with pytest.raises(InputError, match=r"pooling is 'mean'"):
        cross_validated_scores(Ridge(), X, Y, splits, pooling="mean")


def test_permuted_responses_equal_the_copies_side_by_side():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((12, 5)).astype(np.float32)
    perms = permutations(12, 3, 4).astype(np.int32)
    lazy = PermutedResponses(Y, perms)
    full = np.concatenate([Y] + [Y[perm] for perm in perms], axis=1)
    assert lazy.shape == full.shape == (12, 20) and lazy.dtype == np.float32
    rows = np.array([0, 3, 4, 11])
    for cols in (slice(0, 20), slice(3, 12), slice(7, 8), np.array([0, 2, 5, 9, 10, 19])):
        np.testing.assert_array_equal(lazy[:, cols], full[:, cols])
        np.testing.assert_array_equal(take(lazy, rows, cols), take(full, rows, cols))
    np.testing.assert_array_equal(
        lazy.masked(np.array([0, 1, 0, 0, 1], bool)), np.tile([0, 1, 0, 0, 1], 4)
    )


def test_refit_permutations_decompose_each_split_once(ridge_plans):
    """Every permutation rides in the same pass over the outer splits: one plan (the
    decompositions of the training set and its inner folds) per split, whatever the number of
    permutations and of target batches."""
    X, Y = _data(n=36, seed=4)
    res = refit_permutation_test(
        X, Y, 25, 0, alphas=ALPHAS, n_folds=3, inner_cv=3, batch_size=7, keep_null=True
    )
    assert len(ridge_plans) == 3
    perm = permutations(36, 25, 0)[24]
    last = cross_validated_encoding(X, Y[perm], ALPHAS, 3, 0, 3).score
    np.testing.assert_allclose(res.null[24], last, rtol=1e-10, atol=1e-12)
    assert np.isnan(res.null[:, [1, 4]]).all() and np.isnan(res.pvalue[[1, 4]]).all()


def test_pooled_sums_shift_predictions_on_their_own_level():
    """Predictions far from the responses' level with a tiny spread keep their correlation
    (one shared shift would leave their sum of squares to cancellation)."""
    rng = np.random.default_rng(5)
    y = rng.standard_normal((60, 2))
    p = 1e4 + 1e-5 * (y + rng.standard_normal((60, 2)))
    sums = _PooledSums(2)
    for rows in np.array_split(np.arange(60), 3):
        sums.add(slice(0, 2), y[rows], p[rows])
    np.testing.assert_allclose(sums.score("r"), pearson_r(y, p), rtol=1e-6)
    np.testing.assert_allclose(sums.score("r2"), r2_score(y, p), rtol=1e-12)


def test_pooled_scores_pool_in_the_responses_dtype():
    """float32 responses with float64 predictions: pooled as cross_validated_predictions
    pools them, in its float32 buffer."""
    X, Y = _data(seed=2, dtype=np.float32)
    splits = make_splits(40, "kfold", n_folds=4, seed=0)
    factory = RidgeCV(ALPHAS, cv=3, random_state=0, dtype=np.float64)
    for score in ("r", "signed_sqrt_r2"):
        kw = {"score": score, "pooling": "pooled"}
        ref = cross_validated_predictions(factory, X, Y, splits, **kw).score
        out = cross_validated_scores(factory, X, Y, splits, **kw)
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)


def test_permuted_responses_refuse_columns_out_of_order():
    Y = np.arange(12.0).reshape(4, 3)
    lazy = PermutedResponses(Y, permutations(4, 1, 0))
    assert lazy[:, slice(2, 2)].shape == (4, 0)
    for cols in ([0, 2, 1, 3], [-1, 0], [5, 6]):
        with pytest.raises(IndexError, match=r"increasing indices in 0 \.\. 5"):
            lazy[:, np.array(cols)]
