"""Validity of the features options (issue 10, defect 3): truncation and leakage.

Truncation. A layer whose brain-relevant dimensions rank 150-200 by variance: PCA to 100
components keeps the 100 largest, so the encoding model loses the signal, while ridge on the
raw units (``features.method: none``) finds it. Simulated before the test was written (2
seeds, the data of :func:`_truncation_data`): median r 0.598 and 0.605 with ``none``, 0.008
and -0.003 with PCA to 100; the thresholds (> 0.4, < 0.05) sit far from both.

Leakage. A PCA fitted on all stimuli sees the test stimuli's activations (never their
responses). On null data (responses independent of the features and of each other) this
cannot bias the score: each test fold's responses are exchangeable and independent of its
predictions, so each fold's r has mean 0 whatever the features. Simulated (8 seeds, n=150,
2,000 units, 100 components, 200 null voxels, 5 folds; :func:`_null_medians`): the median r
of fit ``all`` minus that of fit ``train`` on the same data was -0.0005 (sd 0.002 over
seeds); with signal (r about 0.2) it was -0.003 (sd 0.0015). The test pins the null case
within 3 sd; that no test row shapes a split's features is tested exactly in
``tests/unit/features/test_folds.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from dnnmap.encoding.ridge import cross_validated_encoding
from dnnmap.features.folds import FoldFeatures
from dnnmap.features.pca import pca_array
from dnnmap.stats.splits import make_splits

ALPHAS = [10.0**a for a in range(-2, 7)]


def _encode(X, Y, n):
    splits = make_splits(n, "kfold", n_folds=5, seed=0)
    return cross_validated_encoding(
        X, Y, ALPHAS, splits=splits, inner_cv=5, alpha_scale="relative", device="numpy"
    ).score


def _truncation_data(seed: int, n=1000, v=10):
    """Units in a random rotation: 150 of variance 1 (no signal), 50 of variance 0.05 (the
    responses' drive, ranks 150-200), 10 of variance 0.01; responses at SNR 1."""
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.r_[np.full(150, 1.0), np.full(50, 0.05), np.full(10, 0.01)])
    Q = np.linalg.qr(rng.standard_normal((sd.size, sd.size)))[0]
    Z = rng.standard_normal((n, sd.size)) * sd
    S = Z[:, 150:200] @ rng.standard_normal((50, v))
    Y = S / S.std(axis=0) + rng.standard_normal((n, v))
    return Z @ Q.T, Y


@pytest.mark.slow
def test_pca_truncation_loses_a_low_variance_signal_that_raw_units_keep():
    X, Y = _truncation_data(0)
    r_none = np.median(_encode(X, Y, X.shape[0]))
    r_pca = np.median(_encode(pca_array(X, 100).scores, Y, X.shape[0]))
    assert r_none > 0.4
    assert abs(r_pca) < 0.05


def _null_medians(seed: int, n=150, p=2000, v=200, k=100):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) / np.sqrt(1 + np.arange(p))
    Y = rng.standard_normal((n, v))
    r_all = _encode(pca_array(X, k).scores, Y, n)
    basis = pca_array(X, n - 1).scores
    r_train = _encode(FoldFeatures(basis, per_fold=True, n_components=k), Y, n)
    return np.median(r_all), np.median(r_train)


@pytest.mark.slow
def test_pca_fit_all_and_fit_train_agree_on_null_data():
    diffs = [np.subtract(*_null_medians(seed)) for seed in range(3)]
    assert abs(np.mean(diffs)) < 3 * 0.002
