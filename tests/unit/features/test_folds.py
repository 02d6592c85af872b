"""Tests of the fold seam (dnnmap.features.folds) against a manual per-fold scikit-learn PCA."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV as SkRidgeCV

from dnnmap.encoding.io import run_encoding
from dnnmap.encoding.ridge import cross_validated_encoding
from dnnmap.errors import InputError
from dnnmap.features.folds import (
    FeatureSpaces,
    FoldFeatures,
    features_summary,
    fold_design,
    fold_pca,
    load_features,
    lossless_basis,
)
from dnnmap.features.reduce import layer_features
from dnnmap.stats.splits import inner_splits, make_splits
from dnnmap.stimuli import write_stimuli
from dnnmap.store import write_h5, write_strings


def _same_up_to_sign(a, b, atol=1e-8):
    signs = np.sign(np.sum(a * b, axis=0))
    assert (signs != 0).all()
    np.testing.assert_allclose(a, b * signs, atol=atol, rtol=1e-6)
    return signs


def _layer(path, n=40, shape=(6, 5, 5), seed=0):
    rng = np.random.default_rng(seed)
    p = int(np.prod(shape))
    X = (rng.standard_normal((n, p)) * 0.9 ** np.arange(p) + rng.standard_normal(p) * 2).astype(
        np.float32
    )
    with h5py.File(path, "w") as f:
        write_strings(f, "stim_id", [f"s{i:03d}" for i in range(n)])
        f.create_group("layers").create_dataset("conv", data=X.reshape(n, *shape), chunks=True)
    return X.astype(np.float64)


def _write(path, out):
    write_h5(path, {"features": out.features, **out.arrays}, attrs=out.attrs, stim_id=out.stim_id)


def test_fold_pca_matches_sklearn_fitted_on_the_training_rows():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 80)) * 0.95 ** np.arange(80) + 3
    train, test = np.arange(6, 30), np.arange(6)
    got = fold_pca(X, train, 5)
    ref = PCA(5, svd_solver="full").fit(X[train])
    signs = _same_up_to_sign(got[train], ref.transform(X[train]))
    np.testing.assert_allclose(got[test], ref.transform(X[test]) * signs, atol=1e-8)


@pytest.mark.parametrize("shape", [(6, 5, 5), (12,)])  # p > n (dual) and p < n (primal)
def test_seam_from_the_lossless_basis_equals_a_manual_per_fold_pca(tmp_path, shape):
    """fit: train: each split's design is sklearn's PCA fitted on that split's training rows
    of the raw activations, applied to its training and test rows."""
    X = _layer(tmp_path / "act.h5", shape=shape)
    out = layer_features(
        tmp_path / "act.h5", "conv", {"method": "pca", "fit": "train", "n_components": 8}
    )
    _write(tmp_path / "f.h5", out)
    feats = load_features(tmp_path / "f.h5")
    assert feats.per_fold and feats.n_components == 8
    splits = make_splits(40, "kfold", n_folds=5, seed=0)
    for train, test in zip(splits.train, splits.test, strict=True):
        X_train, X_test = fold_design(feats, train, test)
        ref = PCA(8, svd_solver="full").fit(X[train])
        signs = _same_up_to_sign(X_train, ref.transform(X[train]), atol=1e-4)
        np.testing.assert_allclose(X_test, ref.transform(X[test]) * signs, atol=1e-4, rtol=1e-4)
    # the path works too, and RSA-like consumers get the PCA of all rows
    a, _ = fold_design(tmp_path / "f.h5", splits.train[0], splits.test[0])
    np.testing.assert_allclose(a, fold_design(feats, splits.train[0], splits.test[0])[0])
    ref = PCA(8, svd_solver="full").fit_transform(X)
    _same_up_to_sign(feats.all_rows(), ref, atol=1e-4)
    _same_up_to_sign(out.features, ref, atol=1e-4)


def test_no_test_row_shapes_the_features_of_a_split(tmp_path):
    """The leak, structurally: changing the test rows' activations changes no training
    feature with fit: train, and changes them with fit: all."""
    X = _layer(tmp_path / "a.h5", n=30, shape=(50,))
    Y = X.copy()
    test = np.arange(6)
    train = np.arange(6, 30)
    Y[test] = Y[test] * 3 + np.random.default_rng(0).standard_normal((6, 50)) * 5
    with h5py.File(tmp_path / "b.h5", "w") as f:
        write_strings(f, "stim_id", [f"s{i:03d}" for i in range(30)])
        f.create_group("layers").create_dataset("conv", data=Y.astype(np.float32))
    for fit, leaks in (("train", False), ("all", True)):
        settings = {"method": "pca", "fit": fit, "n_components": 5}
        designs = []
        for name in ("a", "b"):
            out = layer_features(tmp_path / f"{name}.h5", "conv", settings)
            _write(tmp_path / f"f{name}.h5", out)
            designs.append(fold_design(tmp_path / f"f{name}.h5", train, test)[0])
        assert np.allclose(np.abs(designs[0]), np.abs(designs[1]), atol=1e-5) != leaks


@pytest.mark.parametrize(
    "settings",
    [
        {"method": "none"},
        {"method": "pca", "fit": "all", "n_components": 5},
        {"method": "random_projection", "n_components": 7, "seed": 3},
    ],
)
def test_fixed_features_are_the_stored_rows(tmp_path, settings):
    _layer(tmp_path / "act.h5", n=20)
    out = layer_features(tmp_path / "act.h5", "conv", settings)
    _write(tmp_path / "f.h5", out)
    feats = load_features(tmp_path / "f.h5", [f"s{i:03d}" for i in range(20)])
    assert not feats.per_fold
    train, test = np.arange(5, 20), np.arange(5)
    a, b = fold_design(feats, train, test)
    np.testing.assert_allclose(a, out.features[train], rtol=1e-6)
    np.testing.assert_allclose(b, out.features[test], rtol=1e-6)
    with pytest.raises(InputError, match="stim_id"):
        load_features(tmp_path / "f.h5", [f"x{i}" for i in range(20)])


def test_cross_validation_with_per_fold_features_equals_a_manual_loop():
    """The encoding CV driver given FoldFeatures fits ridge on each split's own design."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 120)) * 0.97 ** np.arange(120)
    Y = X[:, :30] @ rng.standard_normal((30, 3)) + rng.standard_normal((50, 3))
    basis = PCA(49, svd_solver="full").fit_transform(X)
    feats = FoldFeatures(basis, per_fold=True, n_components=10)
    splits = make_splits(50, "kfold", n_folds=5, seed=0)
    alphas = [0.1, 1.0, 10.0, 100.0]
    res = cross_validated_encoding(feats, Y, alphas, splits=splits, inner_cv="loo", device="numpy")
    for k, (train, test) in enumerate(zip(splits.train, splits.test, strict=True)):
        pca = PCA(10, svd_solver="full").fit(X[train])
        ridge = SkRidgeCV(alphas=alphas, alpha_per_target=True).fit(
            pca.transform(X[train]), Y[train]
        )
        pred = ridge.predict(pca.transform(X[test]))
        np.testing.assert_allclose(res.predictions[test], pred, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(res.alpha[k], ridge.alpha_)


def test_features_summary_and_errors():
    attrs = {"method": "pca", "fit": "train", "n_components": 100, "seed": 0, "fitted_on": "x"}
    assert features_summary(attrs) == {
        "features_method": "pca",
        "features_fit": "train",
        "features_n_components": 100,
        "features_seed": 0,
        "features_fitted_on": "x",
    }
    assert features_summary({"fit_partition": "all", "method": "pca"})["features_fit"] == "all"
    numpy_attrs = features_summary({"method": np.str_("none"), "n_components": np.int64(7)})
    assert numpy_attrs["features_n_components"] == 7
    assert type(numpy_attrs["features_n_components"]) is int
    with pytest.raises(InputError, match="n_components"):
        FoldFeatures(np.ones((4, 2)), per_fold=True)
    with pytest.raises(InputError, match="NaN"):
        FoldFeatures(np.full((4, 2), np.nan))
    with pytest.raises(InputError, match="rows"):
        FoldFeatures(np.eye(4), per_fold=True, n_components=2).design([0, 9], [1])


@pytest.mark.parametrize("alpha_scale", ["absolute", "relative"])
def test_ridge_on_the_lossless_basis_equals_ridge_on_every_unit(alpha_scale):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 400)) * 0.99 ** np.arange(400) + 4
    Y = X[:, :50] @ rng.standard_normal((50, 4)) + rng.standard_normal((30, 4)) * 3
    basis = lossless_basis(X)
    assert basis.shape == (30, 29)
    splits = make_splits(30, "kfold", n_folds=5, seed=1)
    kw = {"splits": splits, "inner_cv": 4, "alpha_scale": alpha_scale, "device": "numpy"}
    alphas = [0.01, 1.0, 100.0, 1e4]
    raw = cross_validated_encoding(X, Y, alphas, **kw)
    got = cross_validated_encoding(basis, Y, alphas, **kw)
    np.testing.assert_allclose(got.predictions, raw.predictions, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(got.alpha, raw.alpha)


def test_encoding_job_with_every_unit_matches_ridge_on_the_raw_units(tmp_path):
    """run_encoding on a features file of raw units (p > n) fits ridge on their lossless
    basis; the scores are those of ridge on the units themselves."""
    rng = np.random.default_rng(6)
    n, p, v = 40, 300, 5
    ids = [f"s{i:02d}" for i in range(n)]
    table = pd.DataFrame({"stim_id": ids, "path": [f"/x/{s}.png" for s in ids]})
    table["modality"] = "image"
    write_stimuli(table, tmp_path / "stimuli.tsv")
    X = (rng.standard_normal((n, p)) * 0.99 ** np.arange(p)).astype(np.float32)
    Y = (X[:, :20] @ rng.standard_normal((20, v)) + rng.standard_normal((n, v))).astype(np.float32)
    write_h5(
        tmp_path / "f.h5", {"features": X}, attrs={"method": "none", "fit": "none"}, stim_id=ids
    )
    write_h5(tmp_path / "b.h5", {"responses": Y, "index": np.arange(v)}, stim_id=ids)
    settings = {
        "estimator": "ridge",
        "alphas": [0.1, 1.0, 10.0, 100.0],
        "cv": {"scheme": "kfold", "n_folds": 4, "seed": 0},
        "inner_folds": 3,
        "voxel_batch": 10,
        "permutation": {"n_perm": 0},
    }
    out = run_encoding(tmp_path / "stimuli.tsv", tmp_path / "f.h5", tmp_path / "b.h5", settings)
    splits = make_splits(n, "kfold", n_folds=4, seed=0)
    ref = cross_validated_encoding(
        X.astype(np.float64),
        Y,
        settings["alphas"],
        splits=splits,
        inner_cv=lambda train: inner_splits(train, "kfold", n_folds=3, seed=0),
        alpha_scale="relative",
        device="numpy",
    )
    np.testing.assert_allclose(out.result.score, ref.score, rtol=1e-5, atol=1e-6)
    assert out.features["features_method"] == "none"
    from dnnmap.encoding.io import read_features_meta, write_encoding

    write_encoding(tmp_path / "e.h5", out, settings, {})
    assert read_features_meta(tmp_path / "e.h5") == out.features


def test_stored_lossless_basis_gives_the_encoding_of_every_unit(tmp_path):
    """features.method none stores a wide layer's lossless basis once; run_encoding reads it
    (compact) instead of every unit, with the same results as computing it in the job."""
    rng = np.random.default_rng(16)
    n, p, v = 30, 200, 4
    ids = [f"s{i:02d}" for i in range(n)]
    table = pd.DataFrame({"stim_id": ids, "path": [f"/x/{s}.png" for s in ids]})
    table["modality"] = "image"
    write_stimuli(table, tmp_path / "stimuli.tsv")
    X = rng.standard_normal((n, p)).astype(np.float32)
    Y = (X[:, :10] @ rng.standard_normal((10, v)) + rng.standard_normal((n, v))).astype(np.float32)
    attrs = {"method": "none", "fit": "none", "n_components": p}
    basis = lossless_basis(X.astype(np.float64))
    write_h5(tmp_path / "units.h5", {"features": X}, attrs=attrs, stim_id=ids)
    write_h5(tmp_path / "both.h5", {"features": X, "lossless": basis}, attrs=attrs, stim_id=ids)
    write_h5(tmp_path / "b.h5", {"responses": Y, "index": np.arange(v)}, stim_id=ids)
    stored = load_features(tmp_path / "both.h5", ids, compact=True)
    computed = load_features(tmp_path / "units.h5", ids, compact=True)
    assert stored.compact and computed.compact and stored.shape == (n, n - 1)
    np.testing.assert_array_equal(stored.matrix, computed.matrix)
    assert not load_features(tmp_path / "both.h5", ids).compact  # units unless asked
    narrow = tmp_path / "narrow.h5"
    write_h5(narrow, {"features": X[:, :8]}, attrs=attrs, stim_id=ids)
    assert not load_features(narrow, ids, compact=True).compact
    settings = {
        "estimator": "ridge",
        "alphas": [0.1, 1.0, 10.0],
        "cv": {"scheme": "kfold", "n_folds": 3, "seed": 0},
        "inner_folds": 3,
        "voxel_batch": 10,
        "permutation": {"n_perm": 0},
    }
    run = [
        run_encoding(tmp_path / "stimuli.tsv", tmp_path / f, tmp_path / "b.h5", settings)
        for f in ("units.h5", "both.h5")
    ]
    np.testing.assert_array_equal(run[0].result.score, run[1].result.score)
    np.testing.assert_array_equal(run[0].result.predictions, run[1].result.predictions)


def test_decoding_fits_each_split_on_its_own_features():
    """Continuous decoding with fit: train features: per split, a PCA of the training rows,
    standardized on them, then nested ridge (as a manual loop with scikit-learn's PCA)."""
    from sklearn.preprocessing import StandardScaler

    from dnnmap.decoding.cross_validation import cross_validated_decoding
    from dnnmap.encoding.ridge import RidgeCV
    from dnnmap.stats.splits import as_pairs

    rng = np.random.default_rng(7)
    X = rng.standard_normal((40, 90)) * 0.97 ** np.arange(90)
    y = X[:, :5].sum(axis=1) + rng.standard_normal(40) * 0.5
    feats = FoldFeatures(PCA(39, svd_solver="full").fit_transform(X), per_fold=True, n_components=6)
    splits = make_splits(40, "kfold", n_folds=4, seed=0)
    alphas = (0.1, 1.0, 10.0)
    res = cross_validated_decoding(
        feats, y, splits, estimator="ridge", alphas=alphas, inner_folds=3, n_perm=0, seed=0
    )
    for train, test in zip(splits.train, splits.test, strict=True):
        pca = PCA(6, svd_solver="full").fit(X[train])
        scaler = StandardScaler().fit(pca.transform(X[train]))
        inner = as_pairs(3, train.size, seed=0, name="inner_folds")
        ridge = RidgeCV(alphas=alphas, cv=inner, device="numpy").fit(
            scaler.transform(pca.transform(X[train])), y[train][:, None]
        )
        pred = ridge.predict(scaler.transform(pca.transform(X[test])))[:, 0]
        np.testing.assert_allclose(res.predictions[0, test], pred, rtol=1e-6, atol=1e-8)


def test_refit_permutations_refit_the_per_fold_features():
    """Refit permutations take FoldFeatures: the observed score is the fold-fitted CV's, and
    each split's PCA is fitted once (cached) for all permutations."""
    from dnnmap.encoding.permutation import refit_permutation_test

    rng = np.random.default_rng(8)
    X = rng.standard_normal((30, 60))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((30, 4))
    feats = FoldFeatures(PCA(29, svd_solver="full").fit_transform(X), per_fold=True, n_components=5)
    splits = make_splits(30, "kfold", n_folds=3, seed=0)
    kw = {"splits": splits, "inner_cv": 3, "device": "numpy"}
    cv = cross_validated_encoding(feats, Y, [0.1, 1.0, 10.0], **kw)
    perm = refit_permutation_test(feats, Y, 9, 0, alphas=[0.1, 1.0, 10.0], batch_size=5, **kw)
    np.testing.assert_allclose(perm.observed, cv.score, rtol=1e-10)
    assert perm.pvalue.shape == (4,) and len(feats._cache) == 3


def test_compact_features_give_the_same_ridge_and_banded_ridge_fits():
    """Stacking and the joint models fit wide layers on their lossless basis: the same
    predictions as on every unit, for any training subset (RidgeCV, BandedRidgeCV)."""
    from dnnmap.encoding.banded_ridge import BandedRidgeCV
    from dnnmap.encoding.ridge import RidgeCV
    from dnnmap.features.folds import compact_features

    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((40, 300)), rng.standard_normal((40, 120))
    Y = A[:, :5] @ rng.standard_normal((5, 6)) + rng.standard_normal((40, 6))
    train, test = np.arange(30), np.arange(30, 40)
    cA, cB = compact_features(A), compact_features(B)
    assert cA.shape == (40, 39) and compact_features(A[:, :20]).shape == (40, 20)
    raw = RidgeCV(device="numpy").fit(A[train], Y[train]).predict(A[test])
    got = RidgeCV(device="numpy").fit(cA[train], Y[train]).predict(cA[test])
    np.testing.assert_allclose(got, raw, rtol=1e-8, atol=1e-10)
    raw = BandedRidgeCV(space_sizes=[300, 120], n_iter=4, device="numpy").fit(
        np.hstack([A, B])[train], Y[train]
    )
    got = BandedRidgeCV(space_sizes=[39, 39], n_iter=4, device="numpy").fit(
        np.hstack([cA, cB])[train], Y[train]
    )
    np.testing.assert_allclose(
        got.predict(np.hstack([cA, cB])[test]),
        raw.predict(np.hstack([A, B])[test]),
        rtol=1e-7,
        atol=1e-9,
    )


def test_feature_spaces_side_by_side_per_split():
    """FeatureSpaces: fixed spaces as their lossless basis, once for every split; a space with
    fit: train as the PCA of each split's training rows (sklearn), with its column count."""
    rng = np.random.default_rng(7)
    wide = rng.standard_normal((30, 200)) * 0.99 ** np.arange(200)
    narrow = rng.standard_normal((30, 6))
    acts = rng.standard_normal((30, 50)) * 0.9 ** np.arange(50) + 2
    basis = PCA(29, svd_solver="full").fit_transform(acts)
    fixed = FeatureSpaces([FoldFeatures(wide), FoldFeatures(narrow)])
    assert not fixed.per_fold and fixed.split_sizes(np.arange(20)) == [29, 6]
    np.testing.assert_allclose(fixed.matrix, np.hstack([lossless_basis(wide), narrow]))
    mixed = FeatureSpaces(
        [FoldFeatures(narrow), FoldFeatures(basis, per_fold=True, n_components=4)]
    )
    assert mixed.per_fold
    train, test = np.arange(8, 30), np.arange(8)
    assert mixed.split_sizes(train) == [6, 4]
    X_train, X_test = mixed.design(train, test)
    np.testing.assert_allclose(X_train[:, :6], narrow[train])
    ref = PCA(4, svd_solver="full").fit(acts[train])
    signs = _same_up_to_sign(X_train[:, 6:], ref.transform(acts[train]), atol=1e-6)
    np.testing.assert_allclose(X_test[:, 6:], ref.transform(acts[test]) * signs, atol=1e-6)
    with pytest.raises(InputError, match="same stimuli"):
        FeatureSpaces([FoldFeatures(narrow), FoldFeatures(narrow[:20])])
