"""Tests of dnnmap.features.random_projection against scikit-learn's random projections."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.random_projection import (
    GaussianRandomProjection,
    SparseRandomProjection,
    johnson_lindenstrauss_min_dim,
)

from dnnmap.errors import InputError
from dnnmap.features.random_projection import (
    BLOCK,
    check_density,
    projection_matrix,
    random_projection,
)


def _reader(X):
    return lambda c0, c1: X[:, c0:c1]


@pytest.mark.parametrize("cls", [GaussianRandomProjection, SparseRandomProjection])
def test_same_components_same_output_as_sklearn(cls):
    """Given scikit-learn's components, the streamed projection equals its transform."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 500))
    ref = cls(n_components=40, random_state=1).fit(X)
    R = ref.components_.toarray() if hasattr(ref.components_, "toarray") else ref.components_
    got = np.zeros((30, 40))
    for c0 in range(0, 500, 128):  # column slabs, as a layer is read
        c1 = min(c0 + 128, 500)
        got += X[:, c0:c1] @ R[:, c0:c1].T
    np.testing.assert_allclose(got, ref.transform(X), rtol=1e-10, atol=1e-10)


def test_entries_have_sklearns_distribution():
    """Gaussian entries N(0, 1/k); sparse entries +-1/sqrt(d k) with density d, as sklearn's."""
    k, p = 50, 20000
    G = projection_matrix("gaussian", k, p, seed=3)
    ref = GaussianRandomProjection(k, random_state=0).fit(np.zeros((2, p))).components_
    assert G.shape == (k, p)
    assert G.std() == pytest.approx(ref.std(), rel=0.02) and abs(G.mean()) < 0.002
    S = projection_matrix("sparse", k, p, seed=3)
    ref = SparseRandomProjection(k, random_state=0).fit(np.zeros((2, p))).components_.toarray()
    d = 1 / np.sqrt(p)
    assert np.unique(np.abs(S[S != 0])) == pytest.approx([1 / np.sqrt(d * k)])
    assert np.unique(np.abs(ref[ref != 0])) == pytest.approx([1 / np.sqrt(d * k)])
    assert (S != 0).mean() == pytest.approx(d, rel=0.1)
    assert (S > 0).sum() == pytest.approx((S < 0).sum(), rel=0.1)


@pytest.mark.parametrize("kind", ["gaussian", "sparse"])
def test_johnson_lindenstrauss_distance_preservation(kind):
    """Pairwise distances of n points within 1 +- eps at k = johnson_lindenstrauss_min_dim."""
    rng = np.random.default_rng(1)
    n, p, eps = 40, 5000, 0.5
    X = rng.standard_normal((n, p)) * (1 + rng.random(p))
    k = int(johnson_lindenstrauss_min_dim(n, eps=eps))
    Z = random_projection(_reader(X), n, p, k, seed=0, kind=kind)
    ratio = pdist(Z) / pdist(X)
    assert ratio.min() > 1 - eps and ratio.max() < 1 + eps
    # and on average distances are kept (E ||R x||^2 = ||x||^2)
    assert np.mean(ratio**2) == pytest.approx(1, abs=0.05)


@pytest.mark.parametrize("kind", ["gaussian", "sparse"])
def test_independent_of_how_the_layer_is_read(kind):
    rng = np.random.default_rng(2)
    p = 2 * BLOCK + 37
    X = rng.standard_normal((7, p))
    a = random_projection(_reader(X), 7, p, 12, seed=5, kind=kind)
    bounds = [(0, 10), (10, BLOCK + 3), (BLOCK + 3, p)]
    b = random_projection(_reader(X), 7, p, 12, seed=5, kind=kind, col_bounds=bounds)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    R = projection_matrix(kind, 12, p, seed=5)
    np.testing.assert_allclose(a, X @ R.T, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(R[:, 100:200], projection_matrix(kind, 12, p, 5, 100, 200))
    c = random_projection(_reader(X), 7, p, 12, seed=6, kind=kind)
    assert not np.allclose(a, c)


def test_bad_arguments():
    with pytest.raises(InputError, match="kind"):
        projection_matrix("uniform", 3, 10, 0)
    with pytest.raises(InputError, match="density"):
        check_density(1.5, 100)
    assert check_density("auto", 100) == pytest.approx(0.1)
    X = np.ones((3, 4))
    X[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        random_projection(_reader(X), 3, 4, 2, seed=0)
