"""Tests of dnnmap.interpret.ablation: cross-validated channel ablation (lesion reading)
against a direct loop of scikit-learn Ridge per outer split, the encoding's own out-of-fold
predictions, mean- against zero-ablation, a voxel simulated to read one channel, every
channel ablated, reading an encoding file by stimulus id, and decoding ablation against
scikit-learn."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from dnnmap.encoding.ridge import gram_scale
from dnnmap.errors import InputError
from dnnmap.interpret.ablation import (
    cv_channel_ablation,
    cv_channel_drop,
    read_encoding_splits,
    split_readouts,
    splits_from_folds,
)
from dnnmap.interpret.targets import unit_values
from dnnmap.stats.splits import kfold_assignment

SHAPE = (6, 3, 3)
PER = 9
GRID = np.array([0.01, 0.1, 1.0, 10.0])


def _data(n=48, seed=0, v=3):
    rng = np.random.default_rng(seed)
    A = rng.gamma(2.0, size=(n, *SHAPE)).reshape(n, -1)  # channel means far from zero
    Y = A @ rng.normal(size=(A.shape[1], v)) + 2.0 * rng.normal(size=(n, v))
    folds = kfold_assignment(n, 4, seed)
    alpha = rng.choice(GRID, size=(4, v))
    T = np.column_stack([np.full(v, 1 / v), np.eye(v)[:, 0]])  # ROI mean, voxel 0
    return rng, A, Y, folds, alpha, T


def _sklearn_loop(A, Y, T, folds, alpha, mode, transform=None):
    """Per split: sklearn Ridge per voxel on the training features (penalty = stored alpha x
    the mean eigenvalue of the centered training Gram matrix), predict the held-out stimuli
    with each channel's units zeroed or set to their training mean; mean over splits of r
    and R² of each target."""
    transform = transform or (lambda X: X)
    F = transform(A)
    C = SHAPE[0]
    r = np.zeros((len(np.unique(folds)), C + 1, T.shape[1]))
    r2 = np.zeros_like(r)
    pooled = np.zeros((A.shape[0], C + 1, T.shape[1]))
    for s in range(r.shape[0]):
        tr, te = np.flatnonzero(folds != s), np.flatnonzero(folds == s)
        scale = gram_scale(F[tr])
        models = [Ridge(alpha=alpha[s, j] * scale).fit(F[tr], Y[tr, j]) for j in range(Y.shape[1])]
        fill = np.zeros(A.shape[1]) if mode == "zero" else A[tr].mean(axis=0)
        for c in range(-1, C):
            X = A[te].copy()
            if c >= 0:
                X[:, c * PER : (c + 1) * PER] = fill[c * PER : (c + 1) * PER]
            P = np.column_stack([m.predict(transform(X)) for m in models]) @ T
            pooled[te, c + 1] = P
            for j in range(T.shape[1]):
                r[s, c + 1, j] = pearsonr(P[:, j], (Y[te] @ T)[:, j])[0]
                r2[s, c + 1, j] = r2_score((Y[te] @ T)[:, j], P[:, j])
    pooled_r = np.array(
        [
            [pearsonr(pooled[:, c, j], (Y @ T)[:, j])[0] for j in range(T.shape[1])]
            for c in range(C + 1)
        ]
    )
    return r.mean(axis=0), r2.mean(axis=0), pooled_r


@pytest.mark.parametrize("mode", ["mean", "zero"])
@pytest.mark.parametrize("features", ["none", "pca"])
def test_cv_ablation_matches_sklearn_loop(mode, features):
    """Within 1e-6 of the direct loop, for raw units (a wide layer: 54 units, 48 stimuli,
    fitted on its lossless basis) and for a PCA of all stimuli (the read-out is then exact
    for ablated inputs as well)."""
    _, A, Y, folds, alpha, T = _data()
    transform = None
    X = A
    if features == "pca":
        pca = PCA(n_components=12).fit(A)
        transform = pca.transform
        X = pca.transform(A)
    ro = split_readouts(A, X, Y, T, alpha, folds, "relative")
    assert ro.reconstruction_error < 1e-8
    ab = cv_channel_ablation(ro, A, SHAPE, Y @ T, mode)
    r, r2, pooled_r = _sklearn_loop(A, Y, T, folds, alpha, mode, transform)
    np.testing.assert_allclose(ab.r_full, r[0], atol=1e-6)
    np.testing.assert_allclose(ab.r, r[1:], atol=1e-6)
    np.testing.assert_allclose(ab.r2_full, r2[0], atol=1e-6)
    np.testing.assert_allclose(ab.r2, r2[1:], atol=1e-6)
    pooled = cv_channel_ablation(ro, A, SHAPE, Y @ T, mode, pooling="pooled")
    np.testing.assert_allclose(pooled.r_full, pooled_r[0], atol=1e-6)
    np.testing.assert_allclose(pooled.r, pooled_r[1:], atol=1e-6)


@pytest.mark.parametrize("scale", ["relative", "absolute"])
def test_drop_reading_matches_sklearn_refit_without_the_channel(scale):
    """Each split refitted by sklearn Ridge on the units minus the channel's columns (the
    stored alpha; relative: times the reduced training Gram's mean eigenvalue): within 1e-6.
    Nothing dropped equals the lesion reading's intact score; every channel: the training
    mean, r undefined."""
    _, A, Y, folds, alpha, T = _data(seed=6)
    out = cv_channel_drop(A, SHAPE, Y, T, alpha, folds, scale)
    ro = split_readouts(A, A, Y, T, alpha, folds, scale)
    lesion = cv_channel_ablation(ro, A, SHAPE, Y @ T)
    np.testing.assert_allclose(out.r_full, lesion.r_full, atol=1e-8)
    assert np.isnan(out.r_all).all()
    S, C = alpha.shape[0], SHAPE[0]
    r = np.zeros((S, C, T.shape[1]))
    for s in range(S):
        tr, te = np.flatnonzero(folds != s), np.flatnonzero(folds == s)
        for c in range(C):
            X = np.delete(A, np.s_[c * PER : (c + 1) * PER], axis=1)
            k = gram_scale(X[tr]) if scale == "relative" else 1.0
            P = np.column_stack(
                [
                    Ridge(alpha=alpha[s, j] * k).fit(X[tr], Y[tr, j]).predict(X[te])
                    for j in range(Y.shape[1])
                ]
            )
            P = P @ T
            r[s, c] = [pearsonr(P[:, j], (Y[te] @ T)[:, j])[0] for j in range(T.shape[1])]
    np.testing.assert_allclose(out.r, r.mean(axis=0), atol=1e-6)


def test_intact_predictions_are_the_encodings_out_of_fold_predictions():
    """The split models refitted from the stored folds and alphas reproduce the encoding's own
    cross-validated predictions (RidgeCV with inner folds, relative alphas)."""
    from dnnmap.encoding.cross_validation import cross_validated_predictions
    from dnnmap.encoding.ridge import RidgeCV
    from dnnmap.stats.splits import inner_splits, make_splits

    _, A, Y, _, _, _ = _data(n=60, seed=3)
    splits = make_splits(60, "kfold", n_folds=5, seed=1)

    def factory(train):
        cv = inner_splits(train, "kfold", n_folds=3, seed=0)
        return RidgeCV(alphas=GRID, cv=cv, device="numpy", alpha_scale="relative")

    res = cross_validated_predictions(factory, A, Y, splits)
    ro = split_readouts(A, A, Y, np.eye(3), res.alpha, res.folds, "relative")
    for s, te in enumerate(ro.test):
        np.testing.assert_allclose(ro.predict(s, A[te]), res.predictions[te], atol=1e-8)
    ab = cv_channel_ablation(ro, A, SHAPE, Y, "mean")
    np.testing.assert_allclose(ab.r_full, res.score, atol=1e-8)


def test_mean_and_zero_ablation_same_r_different_r2():
    """A linear read-out shifts every held-out prediction of a split by one constant between the
    modes: r is the same, R² is not (the channels' means are far from zero)."""
    _, A, Y, folds, alpha, T = _data(seed=4)
    ro = split_readouts(A, A, Y, T, alpha, folds)
    mean = cv_channel_ablation(ro, A, SHAPE, Y @ T, "mean")
    zero = cv_channel_ablation(ro, A, SHAPE, Y @ T, "zero")
    np.testing.assert_allclose(mean.r, zero.r, atol=1e-10)
    assert np.all(np.abs(mean.r2 - zero.r2) > 1e-3)
    ranked = cv_channel_ablation(ro, A, SHAPE, Y @ T, "zero", metric="r2")
    np.testing.assert_allclose(ranked.importance, zero.r2_full - zero.r2)
    # pooled over test sets, each split's own offset counts: r differs too
    mean_p = cv_channel_ablation(ro, A, SHAPE, Y @ T, "mean", pooling="pooled")
    zero_p = cv_channel_ablation(ro, A, SHAPE, Y @ T, "zero", pooling="pooled")
    assert np.all(np.abs(mean_p.r - zero_p.r) > 1e-4)


def test_voxel_reading_one_channel_ranks_it_first_and_every_channel_is_undefined():
    rng, A, _, folds, _, _ = _data(n=120, seed=2)
    folds = kfold_assignment(120, 5, 0)
    y = unit_values(A, SHAPE, [4])[:, 0] + 0.1 * rng.normal(size=len(A))
    alpha = np.full((5, 1), 0.1)
    ro = split_readouts(A, A, y[:, None], np.ones((1, 1)), alpha, folds)
    ab = cv_channel_ablation(ro, A, SHAPE, y[:, None], "mean")
    assert ab.r_full[0] > 0.9
    assert ab.ranking()[0, 0] == 4
    assert ab.importance[4, 0] > 3 * np.delete(ab.importance[:, 0], 4).max()
    assert np.isnan(ab.r_all[0])  # a constant prediction in every test set: r undefined
    assert ab.r2_all[0] <= 0.0


def test_splits_from_folds_and_bad_folds():
    train, test = splits_from_folds([1, 0, -1, 1, 0])
    assert [t.tolist() for t in test] == [[1, 4], [0, 3]]
    assert [t.tolist() for t in train] == [[0, 2, 3], [1, 2, 4]]
    with pytest.raises(InputError, match="expected splits numbered"):
        splits_from_folds([0, 2, 2])


def test_read_encoding_splits_aligns_by_stim_id_and_grayordinate(tmp_path):
    path = tmp_path / "enc.h5"
    ids = ["c", "a", "b", "d"]
    with h5py.File(path, "w") as f:
        f.create_dataset("stim_id", data=np.array(ids, dtype="S"))
        f.create_dataset("folds", data=np.array([1, 0, 1, 0]))
        f.create_dataset("alpha", data=np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        f.create_dataset("index", data=np.array([70, 50]))
        f.attrs["estimator"] = "ridge"
        f.attrs["score_metric"] = "r"
        f.attrs["cv"] = json.dumps({"alpha_scale": "absolute", "n_repeats": 1})
    out = read_encoding_splits(path, ["a", "b", "c", "d"], np.array([50]))
    assert out.folds.tolist() == [0, 1, 1, 0]
    assert out.alpha.tolist() == [[2.0], [4.0]]  # two splits in the first repeat
    assert out.alpha_scale == "absolute"
    with pytest.raises(InputError, match="stimulus ids are not the table's"):
        read_encoding_splits(path, ["a", "b", "c", "e"], np.array([50]))
    with pytest.raises(InputError, match="grayordinates \\[99\\]"):
        read_encoding_splits(path, ["a", "b", "c", "d"], np.array([99]))


def test_bad_mode_and_masked_voxel():
    _, A, Y, folds, alpha, T = _data()
    bad = alpha.copy()
    bad[1, 2] = np.nan  # a constant (masked) voxel has no alpha
    with pytest.raises(InputError, match="has no alpha in some outer split"):
        split_readouts(A, A, Y, T, bad, folds)
    ro = split_readouts(A, A, Y, T, alpha, folds)
    with pytest.raises(InputError, match="ablation mode 'noise'"):
        cv_channel_ablation(ro, A, SHAPE, Y @ T, "noise")


@pytest.mark.parametrize("mode", ["mean", "zero"])
def test_decoding_ablation_against_sklearn_and_chance(mode):
    """Each channel ablated in the test set equals sklearn's prediction on the ablated design
    (zero: raw zeros, standardized by the training scaler); every channel ablated leaves one
    class guessed: at most chance level."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from dnnmap.interpret.ablation import decoding_ablation
    from dnnmap.stats.splits import stratified_kfold

    rng = np.random.default_rng(5)
    A = rng.gamma(2.0, size=(90, *SHAPE)).reshape(90, -1)
    labels = np.repeat(["a", "b", "c"], 30)
    A[:, :9] += np.repeat([0.0, 3.0, 6.0], 30)[:, None]  # channel 0 carries the classes
    out = decoding_ablation(A, SHAPE, labels, n_folds=3, seed=0, mode=mode)
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
        X = A[test].copy()
        X[:, 9:18] = A[train][:, 9:18].mean(axis=0) if mode == "mean" else 0.0
        acc.append(np.mean(model.predict(scaler.transform(X)) == labels[test]))
    assert out.accuracy[1] == pytest.approx(np.mean(acc))


def test_fit_logistic_in_the_row_span_equals_sklearn():
    """With more units than stimuli the logistic regression is fitted on U S of the thin SVD
    and mapped back by Vt: the coefficients, intercepts and predictions equal scikit-learn's
    fit on the full design (both converged to tol 1e-10)."""
    from sklearn.linear_model import LogisticRegression

    from dnnmap.interpret.ablation import fit_logistic

    rng = np.random.default_rng(3)
    for k in (2, 4):
        y = np.repeat(np.arange(k), 10)
        X = rng.normal(size=(y.size, 300)) + 0.3 * y[:, None]
        classes, coef, intercept = fit_logistic(X, y, C=0.5, tol=1e-10)
        ref = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(X, y)
        assert coef.shape == ref.coef_.shape == (1 if k == 2 else k, 300)
        np.testing.assert_allclose(coef, ref.coef_, atol=1e-5)
        np.testing.assert_allclose(intercept, ref.intercept_, atol=1e-5)
        assert (classes == ref.classes_).all()
        Xt = rng.normal(size=(30, 300))
        np.testing.assert_allclose(
            Xt @ coef.T + intercept, ref.decision_function(Xt).reshape(30, -1), atol=1e-4
        )
