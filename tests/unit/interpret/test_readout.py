"""Tests of dnnmap.interpret.readout: the refit against scikit-learn's Ridge, and the unit
read-out against the encoding model it stands for (raw units and PCA features)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge

from dnnmap.errors import InputError
from dnnmap.interpret.readout import fit_readout, refit_all_stimuli, unit_readout

SETTINGS = {
    "estimator": "ridge",
    "alphas": [0.1, 1.0, 10.0, 100.0, 1000.0],
    "alpha_scale": "absolute",
    "inner_folds": 4,
    "cv": {"scheme": "kfold", "seed": 0},
}


def _data(n=50, p=300, v=3, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.gamma(2.0, size=(n, p))
    Y = A[:, :20] @ rng.normal(size=(20, v)) + rng.normal(size=(n, v)) * 3
    return A, Y


def test_refit_matches_sklearn_ridge_at_the_chosen_alpha():
    A, Y = _data()
    P, alpha = refit_all_stimuli(A, Y, SETTINGS)
    for j in range(Y.shape[1]):
        ref = Ridge(alpha=float(alpha[j])).fit(A, Y[:, j]).predict(A)
        np.testing.assert_allclose(P[:, j], ref, rtol=1e-6, atol=1e-6)


def test_refit_needs_ridge():
    A, Y = _data()
    with pytest.raises(InputError, match=r"encoding\.estimator: ridge"):
        refit_all_stimuli(A, Y, {**SETTINGS, "estimator": "pls"})


def test_readout_of_raw_units_is_the_ridge_model():
    """features.method none: the read-out's weights are ridge's own, so they predict new
    activations as the refitted model does."""
    A, Y = _data()
    T = np.array([[1 / 3, 1.0], [1 / 3, 0.0], [1 / 3, 0.0]])
    out = fit_readout(A, A, Y, T, SETTINGS)
    rng = np.random.default_rng(9)
    new = rng.gamma(2.0, size=(7, A.shape[1]))
    ridge = [Ridge(alpha=float(a)).fit(A, Y[:, j]) for j, a in enumerate(out.alpha)]
    ref = np.stack([m.predict(new) for m in ridge], axis=1) @ T
    np.testing.assert_allclose((new - out.mean) @ out.weights + out.intercept, ref, rtol=1e-6)
    assert out.reconstruction_error < 1e-8


def test_readout_of_pca_features_generalizes_exactly():
    """features.method pca (fitted on these stimuli): the read-out of the units equals the
    PCA projection followed by the ridge weights, on stimuli it never saw."""
    A, Y = _data(seed=1)
    pca = PCA(8, svd_solver="full").fit(A)
    F = pca.transform(A)
    T = np.eye(3)[:, :2]
    out = fit_readout(A, F, Y, T, SETTINGS)
    rng = np.random.default_rng(5)
    new = rng.gamma(2.0, size=(6, A.shape[1]))
    ridge = [Ridge(alpha=float(a)).fit(F, Y[:, j]) for j, a in enumerate(out.alpha[:2])]
    ref = np.stack([m.predict(pca.transform(new)) for m in ridge], axis=1)
    np.testing.assert_allclose((new - out.mean) @ out.weights + out.intercept, ref, rtol=1e-6)


def test_unit_readout_reproduces_predictions():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(20, 100))
    P = (A - A.mean(0)) @ rng.normal(size=(100, 2)) + 4.0
    w, mean, c, err = unit_readout(A, P)
    np.testing.assert_allclose((A - mean) @ w + c, P, atol=1e-8)
    assert err < 1e-10
    # the minimum-norm solution lies in the span of the centered rows
    Ac = A - mean
    coef, *_ = np.linalg.lstsq(Ac.T, w, rcond=None)
    np.testing.assert_allclose(Ac.T @ coef, w, atol=1e-8)
