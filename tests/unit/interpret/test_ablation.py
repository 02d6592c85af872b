"""Tests of dnnmap.interpret.ablation: against ablating each channel by hand and re-predicting,
and a voxel simulated to read one channel ranks that channel first."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr

from dnnmap.errors import InputError
from dnnmap.interpret.ablation import ablate_channels
from dnnmap.interpret.readout import fit_readout
from dnnmap.interpret.targets import unit_values

SHAPE = (6, 3, 3)


def _data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.gamma(2.0, size=(n, *SHAPE)).reshape(n, -1)
    return rng, A


@pytest.mark.parametrize("mode", ["mean", "zero"])
def test_matches_ablating_by_hand(mode):
    rng, A = _data()
    w = rng.normal(size=(A.shape[1], 2))
    mean = A.mean(axis=0)
    b = np.array([0.3, -1.0])
    Y = (A - mean) @ w + rng.normal(size=(len(A), 2))
    out = ablate_channels(A, SHAPE, w, mean, b, Y, mode)
    per = int(np.prod(SHAPE[1:]))
    for c in range(SHAPE[0]):
        X = A.copy()
        X[:, c * per : (c + 1) * per] = mean[c * per : (c + 1) * per] if mode == "mean" else 0
        P = (X - mean) @ w + b
        for j in range(2):
            assert out.r[c, j] == pytest.approx(pearsonr(P[:, j], Y[:, j])[0], abs=1e-10)
            assert out.mse[c, j] == pytest.approx(np.mean((P[:, j] - Y[:, j]) ** 2), rel=1e-10)
    full = (A - mean) @ w + b
    assert out.r_full[0] == pytest.approx(pearsonr(full[:, 0], Y[:, 0])[0], abs=1e-10)
    with pytest.raises(InputError, match="ablation mode 'noise'"):
        ablate_channels(A, SHAPE, w, mean, b, Y, "noise")


def test_voxel_reading_one_channel_ranks_it_first():
    """A voxel simulated as channel 4's mean plus noise: through its refitted encoding model,
    ablating channel 4 costs the most accuracy."""
    rng, A = _data(n=120, seed=2)
    y = unit_values(A, SHAPE, [4])[:, 0] + 0.1 * rng.normal(size=len(A))
    settings = {
        "estimator": "ridge",
        "alphas": [0.1, 1, 10, 100],
        "inner_folds": 4,
        "alpha_scale": "relative",
        "cv": {"seed": 0},
    }
    out = fit_readout(A, A, y[:, None], np.ones((1, 1)), settings)
    ab = ablate_channels(A, SHAPE, out.weights, out.mean, out.intercept, y[:, None])
    assert ab.ranking()[0, 0] == 4
    assert ab.importance[4, 0] > 3 * np.delete(ab.importance[:, 0], 4).max()


def test_decoding_ablation_against_sklearn_and_chance():
    """Each channel ablated in the test set equals sklearn's prediction on the ablated
    (standardized) design; every channel ablated leaves one class guessed: chance level."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from dnnmap.interpret.ablation import decoding_ablation
    from dnnmap.stats.splits import stratified_kfold

    _, A = _data(n=90, seed=5)
    labels = np.repeat(["a", "b", "c"], 30)
    A[:, :9] += np.repeat([0.0, 3.0, 6.0], 30)[:, None]  # channel 0 carries the classes
    out = decoding_ablation(A, SHAPE, labels, n_folds=3, seed=0)
    assert out.accuracy_full > 0.8 and out.chance == pytest.approx(1 / 3)
    assert np.argmax(out.importance) == 0
    assert out.accuracy_all <= out.chance + 1e-12
    splits = stratified_kfold(labels, 3, 0)
    acc = []
    for train, test in zip(splits.train, splits.test, strict=True):
        scaler = StandardScaler().fit(A[train])
        model = LogisticRegression(C=1.0, max_iter=2000).fit(
            scaler.transform(A[train]), labels[train]
        )
        Z = scaler.transform(A[test])
        Z[:, 9:18] = 0  # channel 1 at its training mean
        acc.append(np.mean(model.predict(Z) == labels[test]))
    assert out.accuracy[1] == pytest.approx(np.mean(acc))
