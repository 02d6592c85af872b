"""family_fwe (dnnmap.stats.inference) and signed_sqrt_r2 (dnnmap.stats.metrics): closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score as sk_r2

from dnnmap.errors import InputError
from dnnmap.stats.inference import family_fwe
from dnnmap.stats.metrics import SCORES, score_function, signed_sqrt_r2


@pytest.mark.parametrize("tail", ["greater", "less", "two-sided"])
def test_family_fwe_equals_the_max_over_the_pooled_null(tail):
    rng = np.random.default_rng(0)
    n_perm = 49
    nulls = [rng.standard_normal((n_perm, v)) for v in (5, 3, 4)]
    observed = [rng.standard_normal(v) * 2 for v in (5, 3, 4)]
    observed[1][0] = np.nan
    if tail == "greater":
        maxima = [n.max(axis=1) for n in nulls]
        fam, stat = np.max(maxima, axis=0), observed
    elif tail == "less":
        maxima = [n.min(axis=1) for n in nulls]
        fam, stat = np.min(maxima, axis=0), observed
    else:
        maxima = [np.abs(n).max(axis=1) for n in nulls]
        fam, stat = np.max(maxima, axis=0), [np.abs(o) for o in observed]
    got = family_fwe(observed, maxima, tail)
    # brute force: one test over all voxels of all jobs
    allnull = np.concatenate(nulls, axis=1)
    for o, p in zip(stat, got, strict=True):
        for x, q in zip(o, p, strict=True):
            if np.isnan(x):
                assert np.isnan(q)
                continue
            hits = (fam <= x) if tail == "less" else (fam >= x)
            assert q == (1 + hits.sum()) / (1 + n_perm)
    if tail == "greater":  # the family max is the max of the concatenated null
        np.testing.assert_array_equal(fam, allnull.max(axis=1))
    # one job: equal to that job's own max-statistic p-values
    single = family_fwe(observed[:1], maxima[:1], tail)[0]
    assert np.all(got[0] >= single)


def test_family_fwe_bad_input():
    with pytest.raises(InputError, match="tail is 'up'"):
        family_fwe([np.zeros(2)], [np.zeros(3)], "up")
    with pytest.raises(InputError, match="expected one shape"):
        family_fwe([np.zeros(2), np.zeros(2)], [np.zeros(3), np.zeros(4)])


def test_signed_sqrt_r2_closed_form():
    rng = np.random.default_rng(1)
    y = rng.standard_normal((20, 4))
    p = y * [1.0, 0.5, 0.0, -1.0] + rng.standard_normal((20, 4))
    r2 = sk_r2(y, p, multioutput="raw_values")
    np.testing.assert_allclose(signed_sqrt_r2(y, p), np.sign(r2) * np.sqrt(np.abs(r2)))
    assert signed_sqrt_r2(y[:, 3], p[:, 3]) < 0
    assert set(SCORES) == {"r", "r2", "signed_sqrt_r2"}
    with pytest.raises(InputError, match="score is 'auc'"):
        score_function("auc")
