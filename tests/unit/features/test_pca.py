"""Tests of dnnmap.features.pca against sklearn.decomposition.PCA(svd_solver='full')."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from dnnmap.errors import InputError
from dnnmap.features.pca import clip_components, fit_pca, pca_array, pca_dual, pca_primal


def _data(n, p, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    # Low-rank structure plus noise and a large offset (tests centering/cancellation).
    X = rng.standard_normal((n, 5)) @ rng.standard_normal((5, p)) * 3
    X += rng.standard_normal((n, p)) + 50.0
    return X.astype(dtype)


def _sklearn(X, k):
    ref = PCA(n_components=k, svd_solver="full").fit(X.astype(np.float64))
    return ref, ref.transform(X.astype(np.float64))


def _assert_same_up_to_sign(a, b, rtol=1e-6, atol=1e-8):
    signs = np.sign(np.sum(a * b, axis=0))
    np.testing.assert_allclose(a, b * signs, rtol=rtol, atol=atol)


def _readers(X):
    return (lambda c0, c1: X[:, c0:c1]), (lambda r0, r1: X[r0:r1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dual_matches_sklearn_uneven_chunks(dtype):
    X = _data(30, 203, dtype=dtype)
    read_cols, _ = _readers(X)
    bounds = [(0, 7), (7, 100), (100, 101), (101, 203)]
    res = pca_dual(read_cols, 30, 203, 10, col_bounds=bounds, components=True)
    ref, scores = _sklearn(X, 10)
    assert res.method == "dual" and res.n_components == 10
    _assert_same_up_to_sign(res.scores, scores)
    np.testing.assert_allclose(res.explained_variance, ref.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(
        res.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-8
    )
    np.testing.assert_allclose(res.mean, X.astype(np.float64).mean(0), rtol=1e-10)
    _assert_same_up_to_sign(res.components.T, ref.components_.T, atol=1e-8)
    np.testing.assert_allclose(res.total_variance, X.astype(np.float64).var(0, ddof=1).sum())
    # col_chunk route (uneven last chunk) gives the same result.
    res2 = pca_dual(read_cols, 30, 203, 10, col_chunk=17)
    np.testing.assert_allclose(res2.scores, res.scores, rtol=1e-9, atol=1e-9)
    assert res2.components is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_primal_matches_sklearn_uneven_chunks(dtype):
    X = _data(157, 12, dtype=dtype)
    _, read_rows = _readers(X)
    res = pca_primal(read_rows, 157, 12, 6, row_bounds=[(0, 1), (1, 50), (50, 157)])
    ref, scores = _sklearn(X, 6)
    assert res.method == "primal" and res.n_components == 6
    _assert_same_up_to_sign(res.scores, scores)
    _assert_same_up_to_sign(res.components.T, ref.components_.T)
    np.testing.assert_allclose(res.explained_variance, ref.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(
        res.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-8
    )
    res2 = pca_primal(read_rows, 157, 12, 6, row_chunk=13)
    np.testing.assert_allclose(res2.scores, res.scores, rtol=1e-9, atol=1e-9)


def test_routes_agree_and_dispatch():
    X = _data(40, 25)
    read_cols, read_rows = _readers(X)
    dual = fit_pca(40, 25, 8, read_cols=read_cols, method="dual", col_chunk=6, components=True)
    primal = fit_pca(40, 25, 8, read_cols=read_cols, read_rows=read_rows, row_chunk=9)
    assert primal.method == "primal"
    np.testing.assert_allclose(dual.scores, primal.scores, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dual.components, primal.components, rtol=1e-7, atol=1e-9)
    assert pca_array(X.T, 3).method == "dual"
    assert pca_array(X, 3).method == "primal"
    # Only a column reader given: the dual route is used whatever the shape.
    assert fit_pca(40, 25, 3, read_cols=read_cols).method == "dual"


def test_clipping_of_n_components():
    X = _data(12, 50)
    res = pca_array(X, 100)
    assert res.n_components == 11 and res.scores.shape == (12, 11)
    np.testing.assert_allclose(res.explained_variance_ratio.sum(), 1.0, rtol=1e-10)
    res = pca_array(X.T, 100)  # 50 rows, 12 columns
    assert res.n_components == 12 and res.components.shape == (12, 12)
    assert clip_components(5, 3, 10) == 2
    with pytest.raises(InputError):
        clip_components(0, 10, 10)
    with pytest.raises(InputError):
        pca_array(X[:1], 2)


def test_sign_convention_is_deterministic():
    X = _data(20, 60, seed=3)
    for res in (pca_array(X, 5), pca_array(X, 5, method="primal")):
        idx = np.argmax(np.abs(res.scores), axis=0)
        assert (res.scores[idx, np.arange(5)] > 0).all()
    # Flipping the input's sign flips the data, not the convention.
    a, b = pca_array(X, 5), pca_array(-X, 5)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(pca_array(X, 5).scores, a.scores)


def test_bad_blocks_are_reported():
    X = _data(10, 20)
    read_cols, _ = _readers(X)
    with pytest.raises(InputError, match="col_bounds"):
        pca_dual(read_cols, 10, 20, 3, col_bounds=[(0, 5), (6, 20)])
    with pytest.raises(InputError, match="col_bounds"):
        pca_dual(read_cols, 10, 20, 3, col_bounds=[(0, 5), (5, 19)])
    with pytest.raises(InputError, match="expected"):
        pca_dual(lambda c0, c1: X[:5, c0:c1], 10, 20, 3)
    Xn = X.copy()
    Xn[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        pca_array(Xn, 3)


def test_input_not_modified():
    X = _data(10, 20)
    X0 = X.copy()
    pca_array(X, 3, method="dual")
    pca_array(X, 3, method="primal")
    np.testing.assert_array_equal(X, X0)
