"""Tests of dnnmap.stats.inference against scipy and closed-form loops."""

import numpy as np
import pytest
import scipy.stats

from dnnmap.errors import InputError
from dnnmap.stats.inference import fdr_bh, fwe_pvalue, max_statistic, permutation_pvalue


def test_fdr_bh_matches_scipy():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(size=10) * 1e-3])
    p[5] = p[6]  # ties
    ref = scipy.stats.false_discovery_control(p, method="bh")
    np.testing.assert_allclose(fdr_bh(p), ref, rtol=1e-13, atol=0)
    P = rng.uniform(size=(7, 3, 5)) ** 3
    for axis in (0, 1, -1):
        ref = scipy.stats.false_discovery_control(P, axis=axis, method="bh")
        np.testing.assert_allclose(fdr_bh(P, axis=axis), ref, rtol=1e-13)
    ref = scipy.stats.false_discovery_control(P.ravel(), method="bh").reshape(P.shape)
    np.testing.assert_allclose(fdr_bh(P), ref, rtol=1e-13)


def test_fdr_bh_nan_values_stay_nan_and_do_not_count():
    rng = np.random.default_rng(1)
    P = rng.uniform(size=(12, 4)) ** 2
    P[[1, 5, 7], 0] = np.nan
    P[:, 2] = np.nan
    q = fdr_bh(P, axis=0)
    assert np.isnan(q[[1, 5, 7], 0]).all() and np.isnan(q[:, 2]).all()
    for j in (0, 1, 3):
        ok = ~np.isnan(P[:, j])
        ref = scipy.stats.false_discovery_control(P[ok, j], method="bh")
        np.testing.assert_allclose(q[ok, j], ref, rtol=1e-13)
    flat = fdr_bh(P)
    ok = ~np.isnan(P)
    ref = scipy.stats.false_discovery_control(P[ok], method="bh")
    np.testing.assert_allclose(flat[ok], ref, rtol=1e-13)
    assert np.isnan(flat[~ok]).all()
    assert fdr_bh([]).shape == (0,)


def test_fdr_bh_bad_input():
    with pytest.raises(InputError, match=r"pvalues are outside \[0, 1\]"):
        fdr_bh([0.1, 1.5])
    with pytest.raises(InputError, match=r"pvalues are outside"):
        fdr_bh([0.1, -0.1])
    with pytest.raises(InputError, match=r"pvalues are outside"):
        fdr_bh([0.1, np.inf])
    with pytest.raises(InputError, match=r"axis is 3 for 2-D pvalues"):
        fdr_bh(np.zeros((2, 2)), axis=3)


def _loop_pvalue(obs, null, tail):
    out = np.empty(obs.shape)
    for j in range(obs.size):
        ge = np.sum(null[:, j] >= obs[j])
        le = np.sum(null[:, j] <= obs[j])
        n = null.shape[0]
        if tail == "greater":
            out[j] = (1 + ge) / (1 + n)
        elif tail == "less":
            out[j] = (1 + le) / (1 + n)
        else:
            out[j] = min(1.0, 2 * min((1 + ge) / (1 + n), (1 + le) / (1 + n)))
    return out


@pytest.mark.parametrize("tail", ["greater", "less", "two-sided"])
def test_permutation_pvalue_matches_loop(tail):
    rng = np.random.default_rng(2)
    null = np.round(rng.standard_normal((99, 6)), 1)  # ties on purpose
    obs = np.array([0.0, 0.5, -1.2, 3.0, null[3, 4], -3.0])
    np.testing.assert_allclose(permutation_pvalue(obs, null, tail), _loop_pvalue(obs, null, tail))
    assert permutation_pvalue(obs[1], null[:, 1], tail) == _loop_pvalue(obs, null, tail)[1]


def test_permutation_pvalue_matches_scipy_permutation_test():
    """Same null, same counting rule as scipy.stats.permutation_test (any tail)."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(12), rng.standard_normal(12) + 0.4

    def stat(x):
        return np.corrcoef(x, y)[0, 1]

    for alternative in ("greater", "less", "two-sided"):
        res = scipy.stats.permutation_test(
            (x,),
            stat,
            permutation_type="pairings",
            n_resamples=199,
            alternative=alternative,
            random_state=0,
            vectorized=False,
        )
        p = permutation_pvalue(res.statistic, res.null_distribution[:, None], alternative)
        np.testing.assert_allclose(p, res.pvalue, rtol=1e-12)


def test_permutation_pvalue_nan_and_broadcast():
    null = np.arange(10.0)[:, None] * np.ones((1, 3))
    null[2, 1] = np.nan
    p = permutation_pvalue([np.nan, 5.0, 5.0], null)
    assert np.isnan(p[0])
    assert p[1] == (1 + 5) / (1 + 9)  # nine finite values (row 2 is NaN); 5..9 are >= 5
    assert p[2] == (1 + 5) / (1 + 10)
    null_max = np.arange(10.0)
    np.testing.assert_allclose(permutation_pvalue([3.0, 9.5], null_max[:, None]), [8 / 11, 1 / 11])


def test_permutation_pvalue_bad_input():
    with pytest.raises(InputError, match=r"tail is 'up'"):
        permutation_pvalue(1.0, [1.0], tail="up")
    with pytest.raises(InputError, match=r"null has shape \(0,\)"):
        permutation_pvalue(1.0, [])
    with pytest.raises(InputError, match=r"observed has shape \(3,\) and null has shape"):
        permutation_pvalue(np.zeros(3), np.zeros((5, 4)))


@pytest.mark.parametrize("tail", ["greater", "less", "two-sided"])
def test_fwe_pvalue_matches_loop(tail):
    rng = np.random.default_rng(4)
    null = np.round(rng.standard_normal((50, 8)), 1)
    obs = np.round(rng.standard_normal(8) * 2, 1)
    obs[0] = np.nan
    null_max = max_statistic(null, tail)
    for i in range(50):
        row = null[i]
        ref = row.max() if tail == "greater" else row.min() if tail == "less" else abs(row).max()
        assert null_max[i] == ref
    p = fwe_pvalue(obs, null_max, tail)
    for j in range(1, 8):
        o = abs(obs[j]) if tail == "two-sided" else obs[j]
        hits = null_max <= o if tail == "less" else null_max >= o
        assert p[j] == (1 + hits.sum()) / 51
    assert np.isnan(p[0])
    assert fwe_pvalue(1.0, [0.0, 2.0]) == 2 / 3


def test_fwe_bad_input():
    with pytest.raises(InputError, match=r"null_max has shape \(2, 2\)"):
        fwe_pvalue([1.0], np.zeros((2, 2)))
    with pytest.raises(InputError, match=r"tail is 'x'"):
        max_statistic(np.zeros((2, 2)), tail="x")
