"""Tests of dnnmap.stats.metrics against scipy and scikit-learn."""

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import explained_variance_score
from sklearn.metrics import r2_score as sk_r2

from dnnmap.errors import InputError
from dnnmap.stats.metrics import explained_variance, pearson_r, r2_score


def _pairs(seed=0, n=40, v=6):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, v)) * rng.uniform(0.5, 3, v) + rng.standard_normal(v)
    b = a * rng.standard_normal(v) + rng.standard_normal((n, v)) + rng.standard_normal(v)
    return a, b


def test_pearson_r_matches_scipy():
    a, b = _pairs()
    ref = [scipy.stats.pearsonr(a[:, j], b[:, j])[0] for j in range(a.shape[1])]
    np.testing.assert_allclose(pearson_r(a, b), ref, rtol=1e-12)
    np.testing.assert_allclose(pearson_r(a[:, 0], b[:, 0]), ref[0], rtol=1e-12)
    np.testing.assert_allclose(pearson_r(a.astype(np.float32), b), ref, rtol=1e-6)
    assert isinstance(pearson_r(a[:, 0], b[:, 0]), float)


def test_r2_and_explained_variance_match_sklearn():
    a, b = _pairs(1)
    np.testing.assert_allclose(r2_score(a, b), sk_r2(a, b, multioutput="raw_values"), rtol=1e-12)
    ref = explained_variance_score(a, b, multioutput="raw_values")
    np.testing.assert_allclose(explained_variance(a, b), ref, rtol=1e-12)
    np.testing.assert_allclose(explained_variance(a[:, 2], b[:, 2]), ref[2], rtol=1e-12)
    # explained variance ignores a constant offset, R² does not
    assert explained_variance(a[:, 0], a[:, 0] + 3.0) == 1.0
    assert r2_score(a[:, 0], a[:, 0]) == 1.0
    assert r2_score(a[:, 0], a[:, 0] + 3.0) < 1.0


def test_constant_or_nan_columns_give_nan_scores():
    a, b = _pairs(2, v=5)
    a[:, 1] = 0.1  # constant measurement
    b[:, 2] = 7.0  # constant prediction
    a[3, 3] = np.nan  # missing measurement
    b[4, 4] = np.inf  # broken prediction
    r = pearson_r(a, b)
    r2 = r2_score(a, b)
    ev = explained_variance(a, b)
    assert np.isnan(r[1:]).all() and np.isfinite(r[0])
    # a constant prediction is a valid (poor) prediction for R² and explained variance
    np.testing.assert_allclose(r2[2], sk_r2(a[:, 2], b[:, 2]), rtol=1e-12)
    np.testing.assert_allclose(ev[2], explained_variance_score(a[:, 2], b[:, 2]), atol=1e-12)
    for s in (r2, ev):
        assert np.isnan(s[[1, 3, 4]]).all() and np.isfinite(s[[0, 2]]).all()
    constant = np.zeros((30, 2))
    for f in (pearson_r, r2_score, explained_variance):
        assert np.isnan(f(constant, constant)).all()
        assert np.isnan(f(constant[:, 0], constant[:, 0] + 1))


def test_scores_bad_input():
    for f in (pearson_r, r2_score, explained_variance):
        with pytest.raises(InputError, match=r"y_true has shape \(5, 2\) and y_pred has shape"):
            f(np.zeros((5, 2)), np.zeros((5, 3)))
        with pytest.raises(InputError, match=r"y_true has 1 rows; expected at least 2"):
            f(np.zeros((1, 2)), np.zeros((1, 2)))
        with pytest.raises(InputError, match=r"expected equal shapes"):
            f(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
