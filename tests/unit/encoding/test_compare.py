"""Paired swap-permutation comparison of two models: the swapped scores against a direct
computation, BH against scipy, type-I error at nominal on equally good models, and power."""

import numpy as np
import pytest
from scipy import stats

from dnnmap.encoding.compare import paired_comparison
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r, r2_score
from dnnmap.stats.permutations import swap_masks


def _models(n, v, noise_b, rng, noise_a=1.0):
    signal = rng.standard_normal((n, v))
    Y = signal + rng.standard_normal((n, v))
    A = signal + noise_a * rng.standard_normal((n, v))
    B = signal + noise_b * rng.standard_normal((n, v))
    return Y, A, B


@pytest.mark.parametrize("metric", ["r", "r2"])
def test_statistics_equal_a_direct_computation(metric):
    rng = np.random.default_rng(0)
    Y, A, B = _models(30, 5, 1.5, rng)
    folds = np.repeat(np.arange(3), 10)
    res = paired_comparison(Y, A, B, folds=folds, metric=metric, n_perm=20, seed=3)
    score = pearson_r if metric == "r" else r2_score

    def stat(a, b):
        per_fold = [
            score(Y[folds == f], a[folds == f]) - score(Y[folds == f], b[folds == f])
            for f in range(3)
        ]
        return np.mean(per_fold, axis=0)

    np.testing.assert_allclose(res.statistic, stat(A, B), rtol=1e-10)
    np.testing.assert_allclose(
        res.score_a, np.mean([score(Y[folds == f], A[folds == f]) for f in range(3)], 0)
    )
    swaps = swap_masks(30, 20, 3)
    null = []
    for s in swaps:
        a = np.where(s[:, None], B, A)
        b = np.where(s[:, None], A, B)
        null.append(stat(a, b))
    null = np.abs(np.array(null))
    p = (1 + (null >= np.abs(res.statistic) - 1e-12).sum(0)) / 21
    np.testing.assert_allclose(res.pvalue, p)
    np.testing.assert_allclose(res.null_max, null.max(1), rtol=1e-10)
    assert (res.p_fwe >= res.pvalue).all()
    np.testing.assert_allclose(res.q_fdr, stats.false_discovery_control(res.pvalue))


def test_type_one_error_at_nominal_and_power():
    rng = np.random.default_rng(1)
    folds = np.arange(60) % 5
    pvalues = []
    for seed in range(10):  # 10 draws of swaps, 200 voxels each
        Y, A, B = _models(60, 200, 1.0, rng)  # equally good models
        pvalues.append(paired_comparison(Y, A, B, folds=folds, n_perm=199, seed=seed).pvalue)
    pvalues = np.concatenate(pvalues)
    rate = np.mean(pvalues <= 0.05)
    low, high = stats.binom.interval(0.95, pvalues.size, 0.05)
    assert low / pvalues.size <= rate <= high / pvalues.size, rate
    # a real difference: model b is noisier
    Y, A, B = _models(120, 200, 3.0, rng)  # r about 0.5 against 0.22
    res = paired_comparison(Y, A, B, folds=np.arange(120) % 5, n_perm=199, seed=2)
    power = [np.mean(p <= 0.05) for p in (res.pvalue, res.q_fdr, res.p_fwe)]
    assert power[0] > 0.6 and power[0] >= power[1] >= power[2] > 0.05, power
    assert (res.statistic > 0).mean() > 0.95


def test_family_wise_error_on_null_families():
    rng = np.random.default_rng(4)
    hits = 0
    reps = 100
    for rep in range(reps):
        Y, A, B = _models(40, 20, 1.0, rng)
        res = paired_comparison(Y, A, B, folds=np.arange(40) % 4, n_perm=99, seed=rep)
        hits += bool((res.p_fwe <= 0.05).any())
    low, high = stats.binom.interval(0.95, reps, 0.05)
    assert low <= hits <= high, hits


def test_groups_masks_and_checks():
    s = swap_masks(6, 50, 0, groups=[0, 0, 1, 1, 2, 2])
    assert (s[:, 0] == s[:, 1]).all() and (s[:, 4] == s[:, 5]).all() and s.dtype == bool
    assert 0.3 < swap_masks(100, 100, 1).mean() < 0.7
    rng = np.random.default_rng(2)
    Y, A, B = _models(30, 4, 1.0, rng)
    A[:, 1] = np.nan
    folds = np.arange(30) % 3
    folds[:2] = -1  # untested rows are left out
    res = paired_comparison(Y, A, B, folds=folds, n_perm=10, metric="r2")
    assert np.isnan(res.statistic[1]) and np.isfinite(res.statistic[[0, 2, 3]]).all()
    with pytest.raises(InputError, match="shapes"):
        paired_comparison(Y, A[:5], B)
    with pytest.raises(InputError, match="metric"):
        paired_comparison(Y, A, B, metric="mse")
