"""Randomized PCA (dnnmap.features.randomized_pca) against the exact route and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from dnnmap.errors import InputError
from dnnmap.features.pca import pca_array
from dnnmap.features.randomized_pca import randomized_pca


def _matrix(n=120, p=700, seed=0):
    """Rows with a decaying spectrum (as a layer's) and a nonzero mean."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 40)) * 0.8 ** np.arange(40)
    X = latent @ rng.standard_normal((40, p)) + 0.01 * rng.standard_normal((n, p))
    return X + rng.standard_normal(p) * 3


def _reader(X):
    return lambda c0, c1: X[:, c0:c1]


def test_matches_the_exact_pca_and_sklearn():
    X = _matrix()
    got = randomized_pca(_reader(X), *X.shape, 10, col_chunk=128, seed=1)
    exact = pca_array(X, 10, components=True)
    assert got.method == "randomized" and got.components.shape == (10, 700)
    np.testing.assert_allclose(got.explained_variance, exact.explained_variance, rtol=1e-8)
    np.testing.assert_allclose(got.explained_variance_ratio, exact.explained_variance_ratio)
    np.testing.assert_allclose(got.total_variance, exact.total_variance)
    np.testing.assert_allclose(got.mean, X.mean(axis=0))
    # the same signs convention: scores and components equal, not only up to sign
    np.testing.assert_allclose(got.scores, exact.scores, atol=1e-6 * np.abs(exact.scores).max())
    np.testing.assert_allclose(got.components, exact.components, atol=1e-6)
    ref = PCA(10, svd_solver="full").fit(X)
    np.testing.assert_allclose(got.explained_variance, ref.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(np.abs(got.components), np.abs(ref.components_), atol=1e-6)
    again = randomized_pca(_reader(X), *X.shape, 10, col_chunk=300, seed=1)
    np.testing.assert_allclose(again.scores, got.scores, atol=1e-8)  # blocks do not matter


def test_fit_on_a_subset_projects_every_row():
    X = _matrix(n=150)
    rows = np.random.default_rng(3).choice(150, 90, replace=False)
    got = randomized_pca(_reader(X), *X.shape, 8, rows=rows, col_chunk=200, seed=0)
    ref = PCA(8, svd_solver="full").fit(X[rows])
    np.testing.assert_allclose(got.explained_variance, ref.explained_variance_, rtol=1e-8)
    signs = np.sign(np.sum(got.components * ref.components_, axis=1))
    np.testing.assert_allclose(got.components, ref.components_ * signs[:, None], atol=1e-6)
    np.testing.assert_allclose(
        got.scores, ref.transform(X) * signs, atol=1e-6 * np.abs(got.scores).max()
    )
    assert got.scores.shape == (150, 8)


def test_without_power_iterations_the_error_follows_the_spectrum():
    """Fewer passes, a coarser subspace: the leading component is still found on a steep
    spectrum, and more power iterations never make the captured variance smaller."""
    X = _matrix()
    exact = pca_array(X, 5)
    captured = []
    for q in (0, 1, 3):
        res = randomized_pca(_reader(X), *X.shape, 5, n_power_iter=q, n_oversamples=5, seed=2)
        captured.append(res.explained_variance.sum())
    assert captured[0] <= captured[1] * (1 + 1e-9) <= captured[2] * (1 + 1e-9)
    assert captured[2] == pytest.approx(exact.explained_variance.sum(), rel=1e-8)
    assert captured[0] > 0.95 * exact.explained_variance.sum()


def test_bad_input():
    X = _matrix(n=20, p=30)
    with pytest.raises(InputError, match="expected indices below 20"):
        randomized_pca(_reader(X), 20, 30, 3, rows=[0, 25])
    with pytest.raises(InputError, match="n_power_iter"):
        randomized_pca(_reader(X), 20, 30, 3, n_power_iter=-1)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        randomized_pca(_reader(bad), 20, 30, 3)
