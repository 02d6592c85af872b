"""Per-unit (univariate) mapping against a slow loop with scipy pearsonr and numpy polyfit."""

import numpy as np
import pytest
from scipy.stats import pearsonr

from dnnmap.encoding.per_unit import PerUnitRegression, unit_location
from dnnmap.errors import InputError


def _layer(n=30, shape=(3, 4, 5), v=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *shape)).astype(np.float32)
    flat = X.reshape(n, -1).astype(np.float64)
    units = rng.choice(flat.shape[1], v, replace=False)
    Y = flat[:, units] * rng.choice([-2.0, 0.5, 1.5], v) + rng.standard_normal((n, v)) + 1.0
    return X, flat, Y


def _slow(flat, Y, criterion):
    best, r_best, fits = [], [], []
    for j in range(Y.shape[1]):
        r = np.array(
            [
                pearsonr(flat[:, u], Y[:, j])[0] if flat[:, u].std() > 0 else np.nan
                for u in range(flat.shape[1])
            ]
        )
        key = np.nan_to_num(np.abs(r) if criterion == "abs" else r, nan=-np.inf)
        u = int(np.argmax(key))
        best.append(u)
        r_best.append(r[u])
        fits.append(np.polyfit(flat[:, u], Y[:, j], 1))
    return np.array(best), np.array(r_best), np.array(fits)


@pytest.mark.parametrize("criterion", ["abs", "positive"])
def test_per_unit_matches_slow_loop(criterion):
    X, flat, Y = _layer()
    flat[:, 7] = 3.0  # a constant unit is never chosen
    X = flat.reshape(X.shape).astype(np.float32)
    m = PerUnitRegression(criterion=criterion, unit_batch=11).fit(X, Y)
    best, r, fits = _slow(X.reshape(30, -1).astype(np.float64), Y, criterion)
    np.testing.assert_array_equal(m.best_unit_, best)
    np.testing.assert_allclose(m.unit_r_, r, atol=1e-10)
    np.testing.assert_allclose(m.coef_, fits[:, 0], atol=1e-8)
    np.testing.assert_allclose(m.intercept_, fits[:, 1], atol=1e-8)
    Xt = np.random.default_rng(5).standard_normal((4, 3, 4, 5))
    expect = Xt.reshape(4, -1)[:, best] * fits[:, 0] + fits[:, 1]
    np.testing.assert_allclose(m.predict(Xt), expect, atol=1e-8)
    assert m.unit_shape_ == (3, 4, 5) and m.n_features_in_ == 60
    np.testing.assert_array_equal(
        m.best_location(), np.column_stack(np.unravel_index(best, (3, 4, 5)))
    )
    # the unit batch does not change the result
    whole = PerUnitRegression(criterion=criterion).fit(X, Y)
    np.testing.assert_array_equal(whole.best_unit_, m.best_unit_)


def test_per_unit_constant_voxel_and_vector():
    _, flat, Y = _layer(v=3)
    Y[:, 1] = 2.0
    m = PerUnitRegression().fit(flat, Y)
    assert m.best_unit_[1] == -1 and np.isnan(m.unit_r_[1])
    assert m.coef_[1] == 0 and m.intercept_[1] == 2.0
    np.testing.assert_allclose(m.predict(flat)[:, 1], 2.0)
    np.testing.assert_array_equal(m.best_location()[1], [-1])
    one = PerUnitRegression().fit(flat, Y[:, 0])
    assert isinstance(one.best_unit_, int) and one.best_unit_ == m.best_unit_[0]
    assert one.predict(flat).shape == (30,)
    assert one.score(flat, Y[:, 0]) == pytest.approx(abs(m.unit_r_[0]), abs=1e-10)


def test_unit_location():
    loc = unit_location(np.array([0, 59, 23, -1]), (3, 4, 5))
    np.testing.assert_array_equal(loc, [[0, 0, 0], [2, 3, 4], [1, 0, 3], [-1, -1, -1]])
    with pytest.raises(InputError, match=r"flat_index holds values outside \[-1, 60\)"):
        unit_location(np.array([60]), (3, 4, 5))
    with pytest.raises(InputError, match="unit_shape is"):
        unit_location(np.array([0]), (3, 0))
    with pytest.raises(InputError, match="flat_index has shape"):
        unit_location(np.array([0.5]), (3,))


def test_per_unit_errors():
    _, flat, Y = _layer()
    with pytest.raises(InputError, match="criterion is 'r2'; expected one of abs, positive"):
        PerUnitRegression(criterion="r2").fit(flat, Y)
    with pytest.raises(InputError, match="unit_batch is 0; expected an int >= 1"):
        PerUnitRegression(unit_batch=0).fit(flat, Y)
    with pytest.raises(InputError, match="expected equal rows"):
        PerUnitRegression().fit(flat[:5], Y)
    bad = flat.copy()
    bad[0, 3] = np.nan
    with pytest.raises(InputError, match="X contains NaN or inf"):
        PerUnitRegression().fit(bad, Y)
    with pytest.raises(InputError, match="PerUnitRegression is not fitted"):
        PerUnitRegression().predict(flat)
    with pytest.raises(InputError, match=r"X has shape \(30, 5\); expected \(m, 60\)"):
        PerUnitRegression().fit(flat, Y).predict(flat[:, :5])
