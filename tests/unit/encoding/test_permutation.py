"""Tests of dnnmap.encoding.permutation against slow reference loops, scipy and scikit-learn."""

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import r2_score as sk_r2

from dnnmap.encoding import permutation
from dnnmap.encoding.permutation import (
    PermutationResult,
    label_permutation_test,
    refit_permutation_test,
)
from dnnmap.encoding.ridge import cross_validated_encoding
from dnnmap.errors import InputError
from dnnmap.stats.inference import permutation_pvalue
from dnnmap.stats.permutations import permutations
from dnnmap.stats.splits import make_splits


def _data(n=24, v=5, seed=0, effect=(0.0, 0.3, 0.6, 1.0, 2.0)):
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n, v)) + rng.standard_normal(v)
    Y = P * np.asarray(effect)[:v] + rng.standard_normal((n, v)) + 3.0
    return P, Y


def _loop_null(P, Y, perms, metric="pearson_r"):
    """One scipy/scikit-learn call per permutation and voxel."""
    null = np.empty((perms.shape[0], P.shape[1]))
    for b, perm in enumerate(perms):
        for j in range(P.shape[1]):
            if metric == "pearson_r":
                null[b, j] = scipy.stats.pearsonr(P[:, j], Y[perm, j])[0]
            else:
                null[b, j] = sk_r2(Y[perm, j], P[:, j])
    return null


def test_permutation_indices_are_seeded_permutations():
    perms = permutations(10, 7, seed=3)
    rng = np.random.default_rng(3)
    ref = np.stack([np.argsort(rng.random(10)) for _ in range(7)])
    np.testing.assert_array_equal(perms, ref)
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.tile(np.arange(10), (7, 1)))
    groups = np.array([1, 0, 1, 2, 0, 2, 1, 0, 0, 2])
    within = permutations(10, 50, seed=1, groups=groups)
    np.testing.assert_array_equal(groups[within], np.tile(groups, (50, 1)))
    np.testing.assert_array_equal(np.sort(within, axis=1), np.tile(np.arange(10), (50, 1)))
    assert len({tuple(p) for p in within}) > 40  # shuffled, not fixed


@pytest.mark.parametrize("metric", ["pearson_r", "r2"])
@pytest.mark.parametrize("tail", ["greater", "less", "two-sided"])
def test_label_permutations_equal_slow_loop(metric, tail):
    P, Y = _data()
    n_perm, seed = 60, 5
    res = label_permutation_test(
        P, Y, n_perm, seed, metric=metric, tail=tail, batch=7, dtype=np.float64, keep_null=True
    )
    perms = permutations(P.shape[0], n_perm, seed)
    null = _loop_null(P, Y, perms, metric)
    observed = _loop_null(P, Y, np.arange(P.shape[0])[None], metric)[0]
    np.testing.assert_allclose(res.null, null, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.observed, observed, rtol=1e-10, atol=1e-12)
    if tail == "two-sided":  # |score| tested against |null|
        np.testing.assert_array_equal(res.pvalue, permutation_pvalue(abs(observed), abs(null)))
    else:
        np.testing.assert_array_equal(res.pvalue, permutation_pvalue(observed, null, tail))
    # max statistic: the extreme over voxels of each permutation, then a loop over voxels
    if tail == "less":
        extreme = null.min(axis=1)
        p_fwe = [(1 + np.sum(extreme <= o)) / (1 + n_perm) for o in observed]
    else:
        extreme = np.abs(null).max(axis=1) if tail == "two-sided" else null.max(axis=1)
        obs = np.abs(observed) if tail == "two-sided" else observed
        p_fwe = [(1 + np.sum(extreme >= o)) / (1 + n_perm) for o in obs]
    np.testing.assert_allclose(res.null_max, extreme, rtol=1e-10)
    np.testing.assert_array_equal(res.pvalue_fwe, p_fwe)
    assert (res.pvalue_fwe >= res.pvalue).all()
    np.testing.assert_allclose(
        res.qvalue, scipy.stats.false_discovery_control(res.pvalue, method="bh"), rtol=1e-13
    )
    assert res.kind == "test_labels" and res.n_perm == n_perm and res.seed == seed


def test_label_permutations_float32_and_batches(monkeypatch):
    P, Y = _data(n=30, v=6, seed=1, effect=(0, 0.2, 0.4, 0.6, 0.8, 1))
    ref = label_permutation_test(P, Y, 40, 2, dtype=np.float64, keep_null=True)
    monkeypatch.setattr(permutation, "NULL_ELEMENTS", 50)  # sweeps of a few permutations
    for batch, voxel_batch in ((1, 1), (40, 2), (9, None), (3, 4)):
        got = label_permutation_test(
            P.astype(np.float32), Y, 40, 2, batch=batch, voxel_batch=voxel_batch, keep_null=True
        )
        np.testing.assert_allclose(got.null, ref.null, atol=1e-6)
        np.testing.assert_allclose(got.observed, ref.observed, atol=1e-6)
        np.testing.assert_array_equal(got.pvalue, ref.pvalue)  # no near-ties in this data
    again = label_permutation_test(P, Y, 40, 2)
    np.testing.assert_array_equal(again.pvalue, label_permutation_test(P, Y, 40, 2).pvalue)
    np.testing.assert_array_equal(again.null_max, label_permutation_test(P, Y, 40, 2).null_max)
    assert again.null is None
    other = label_permutation_test(P, Y, 40, 3)
    assert not np.array_equal(other.null_max, again.null_max)


def test_label_permutations_within_groups_and_torch():
    P, Y = _data(n=20, v=3, seed=2, effect=(0.2, 0.5, 1.0))
    folds = np.repeat(np.arange(4), 5)
    res = label_permutation_test(P, Y, 30, 4, groups=folds, dtype=np.float64, keep_null=True)
    perms = permutations(20, 30, 4, groups=folds)
    np.testing.assert_allclose(res.null, _loop_null(P, Y, perms), rtol=1e-10, atol=1e-12)
    cpu = label_permutation_test(P, Y, 30, 4, groups=folds, device="cpu", keep_null=True)
    np.testing.assert_allclose(cpu.null, res.null, atol=1e-6)


def test_label_permutations_nan_voxels_and_untested_rows():
    P, Y = _data(n=22, v=5, seed=3)
    P[:, 1] = np.nan  # a masked column of EncodingResult.predictions
    Y[:, 2] = 4.0  # constant response
    Y[5, 3] = np.nan  # a missing response
    P[[0, 7], :] = np.nan  # stimuli no test set held
    res = label_permutation_test(P, Y, 25, 0, keep_null=True, dtype=np.float64)
    for field in (res.observed, res.pvalue, res.pvalue_fwe, res.qvalue):
        assert np.isnan(field[[1, 2, 3]]).all() and np.isfinite(field[[0, 4]]).all()
    keep = np.setdiff1d(np.arange(22), [0, 7])
    perms = permutations(20, 25, 0)
    ref = _loop_null(P[keep][:, [0, 4]], Y[keep][:, [0, 4]], perms)
    np.testing.assert_allclose(res.null[:, [0, 4]], ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.null_max, ref.max(axis=1), rtol=1e-10)
    q = scipy.stats.false_discovery_control(res.pvalue[[0, 4]], method="bh")
    np.testing.assert_allclose(res.qvalue[[0, 4]], q, rtol=1e-13)


def test_label_permutation_pvalues_are_uniform_under_the_null():
    rng = np.random.default_rng(11)
    P = rng.standard_normal((40, 400)).astype(np.float32)
    Y = rng.standard_normal((40, 400)).astype(np.float32)
    res = label_permutation_test(P, Y, 199, 0)
    assert scipy.stats.kstest(res.pvalue, "uniform").pvalue > 0.01
    assert 0.02 < np.mean(res.pvalue < 0.05) < 0.09
    assert np.mean(res.pvalue_fwe < 0.05) < 0.01  # family-wise control
    strong = label_permutation_test(P, P + 0.3 * Y, 99, 0)
    assert (strong.pvalue_fwe == 0.01).all()


def test_label_permutation_bad_input():
    P, Y = _data(n=10, v=2)
    with pytest.raises(InputError, match=r"n_perm is 0; expected an integer >= 1"):
        label_permutation_test(P, Y, 0)
    with pytest.raises(InputError, match=r"predictions have shape \(10, 2\) and Y has shape"):
        label_permutation_test(P, Y[:, :1], 5)
    with pytest.raises(InputError, match=r"predictions have shape \(9, 2\) and Y has shape"):
        label_permutation_test(P[:9], Y, 5)
    with pytest.raises(InputError, match=r"groups have shape \(3,\); expected one label per row"):
        label_permutation_test(P, Y, 5, groups=[0, 1, 2])
    with pytest.raises(InputError, match=r"metric is 'auc'; expected one of r, r2, signed_sqrt_r2"):
        label_permutation_test(P, Y, 5, metric="auc")
    with pytest.raises(InputError, match=r"tail is 'up'"):
        label_permutation_test(P, Y, 5, tail="up")
    with pytest.raises(InputError, match=r"seed is -1; expected an integer >= 0"):
        label_permutation_test(P, Y, 5, seed=-1)
    with pytest.raises(InputError, match=r"batch is 0"):
        label_permutation_test(P, Y, 5, batch=0)
    with pytest.raises(InputError, match=r"voxel_batch is 0"):
        label_permutation_test(P, Y, 5, voxel_batch=0)
    with pytest.raises(InputError, match=r"dtype is .*; expected float32 or float64"):
        label_permutation_test(P, Y, 5, dtype=np.int32)
    with pytest.raises(InputError, match=r"predictions have 2 rows with values"):
        label_permutation_test(np.where(np.arange(5)[:, None] < 2, P[:5], np.nan), Y[:5], 5)
    with pytest.raises(InputError, match=r"n is 0"):
        permutations(0, 5)


# --- full refit -------------------------------------------------------------------------------

ALPHAS = np.logspace(-2, 3, 6)


def _regression(n=30, p=6, v=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, v)) * [0.0, 0.5, 2.0] + rng.standard_normal((n, v))
    return X, Y


@pytest.mark.parametrize("metric", ["r", "r2", "signed_sqrt_r2"])
def test_refit_permutations_equal_one_fit_per_permutation(metric):
    X, Y = _regression()
    n_perm, seed = 7, 1
    res = refit_permutation_test(
        X,
        Y,
        n_perm,
        seed,
        metric=metric,
        batch_size=4,
        keep_null=True,
        alphas=ALPHAS,
        n_folds=3,
        cv_seed=2,
        inner_cv=3,
    )
    perms = permutations(30, n_perm, seed)
    null = np.empty((n_perm, 3))
    for b, perm in enumerate(perms):
        fit = cross_validated_encoding(X, Y[perm], ALPHAS, 3, 2, 3, score=metric)
        null[b] = fit.score  # the reported score: the mean of the per-fold scores
    fit = cross_validated_encoding(X, Y, ALPHAS, 3, 2, 3, score=metric)
    observed = fit.score
    np.testing.assert_allclose(res.null, null, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.observed, observed, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(res.pvalue, permutation_pvalue(observed, null))
    np.testing.assert_allclose(res.null_max, null.max(axis=1), rtol=1e-10)
    np.testing.assert_array_equal(
        res.pvalue_fwe, [(1 + np.sum(null.max(axis=1) >= o)) / (1 + n_perm) for o in observed]
    )
    assert res.kind == "refit" and res.metric == metric
    whole = refit_permutation_test(
        X, Y, n_perm, seed, metric=metric, alphas=ALPHAS, n_folds=3, cv_seed=2, inner_cv=3
    )
    np.testing.assert_array_equal(whole.pvalue, res.pvalue)


def test_refit_permutations_within_groups_and_1d():
    X, Y = _regression(seed=1)
    groups = np.repeat([0, 1], 15)
    res = refit_permutation_test(
        X, Y[:, 2], 4, 0, groups=groups, keep_null=True, alphas=ALPHAS, n_folds=3, inner_cv=3
    )
    perms = permutations(30, 4, 0, groups=groups)
    ref = [cross_validated_encoding(X, Y[perm, 2], ALPHAS, 3, 0, 3).score for perm in perms]
    np.testing.assert_allclose(res.null[:, 0], ref, rtol=1e-10)
    assert isinstance(res, PermutationResult) and res.pvalue.shape == (1,)


def _repeat_splits(splits, r):
    """The splits of repeat ``r`` alone, as a one-repeat Splits."""
    from dnnmap.stats.splits import Splits

    which = np.flatnonzero(splits.repeat == r)
    return Splits(
        splits.n,
        [splits.train[s] for s in which],
        [splits.test[s] for s in which],
        np.zeros(which.size, dtype=np.int64),
        "kfold",
        {},
    )


@pytest.mark.parametrize("pooling", ["folds", "pooled"])
def test_refit_permutations_with_repeats_score_every_repeat(pooling):
    # Defect: p-values of repeated_kfold came from the first repeat only. The permuted
    # statistic is the reported score, the mean over all repeats, and one permutation of the
    # responses serves every repeat.
    X, Y = _regression(n=36, seed=2)
    splits = make_splits(36, "repeated_kfold", n_folds=3, n_repeats=3, seed=4)
    n_perm, seed = 6, 3
    kwargs = dict(alphas=ALPHAS, inner_cv=3, pooling=pooling)
    res = refit_permutation_test(X, Y, n_perm, seed, keep_null=True, splits=splits, **kwargs)
    perms = permutations(36, n_perm, seed)

    def loop(Yp):  # one fit per repeat, averaged
        fits = [
            cross_validated_encoding(X, Yp, splits=_repeat_splits(splits, r), **kwargs).score
            for r in range(3)
        ]
        return np.mean(fits, axis=0), fits[0]

    null = np.stack([loop(Y[perm])[0] for perm in perms])
    observed, first = loop(Y)
    np.testing.assert_allclose(res.observed, observed, rtol=1e-10)
    reported = cross_validated_encoding(X, Y, splits=splits, **kwargs).score
    np.testing.assert_allclose(res.observed, reported, rtol=1e-10)
    assert np.abs(observed - first).max() > 1e-3  # the repeats do differ
    np.testing.assert_allclose(res.null, null, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(res.pvalue, permutation_pvalue(observed, null))


@pytest.mark.parametrize("pooling", ["folds", "pooled"])
def test_refit_permutations_with_repeats_have_nominal_type_one_error(pooling):
    # pure noise: per-voxel p-values uniform, type-I error within the binomial 99% interval
    rng = np.random.default_rng(8)
    n, v, n_perm = 40, 300, 39
    X, Y = rng.standard_normal((n, 8)), rng.standard_normal((n, v)).astype(np.float32)
    splits = make_splits(n, "repeated_kfold", n_folds=4, n_repeats=3, seed=0)
    kw = {"alphas": ALPHAS, "inner_cv": 3, "splits": splits, "pooling": pooling}
    res = refit_permutation_test(X, Y, n_perm, 1, **kw)
    lo, hi = scipy.stats.binom.interval(0.99, v, 0.05)
    assert lo / v <= np.mean(res.pvalue <= 0.05) <= hi / v
    assert scipy.stats.kstest(res.pvalue, "uniform").pvalue > 0.001


def test_refit_bad_input():
    X, Y = _regression()
    with pytest.raises(InputError, match=r"n_perm is 0"):
        refit_permutation_test(X, Y, 0)
    with pytest.raises(InputError, match=r"X has shape \(29, 6\) and Y has shape \(30, 3\)"):
        refit_permutation_test(X[:29], Y, 3)
    with pytest.raises(InputError, match=r"batch_size is 0"):
        refit_permutation_test(X, Y, 3, batch_size=0)
    with pytest.raises(InputError, match=r"alphas are"):
        refit_permutation_test(X, Y, 3, alphas=[-1.0])
