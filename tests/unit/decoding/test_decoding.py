"""Tests of dnnmap.decoding against scikit-learn (nested CV, metrics, permutation test)."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    StratifiedKFold,
    cross_val_score,
    permutation_test_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from dnnmap.brain.summary import masked_voxels
from dnnmap.decoding.attributes import attribute_values, check_class_counts
from dnnmap.decoding.classifiers import NestedCVClassifier
from dnnmap.decoding.cross_validation import cross_validated_decoding
from dnnmap.decoding.io import (
    check_decoding_settings,
    decoding_splits,
    read_decoding,
    run_decoding,
    usable_columns,
    write_decoding,
)
from dnnmap.decoding.probing import decoding_table, plot_probing_profile
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r, r2_score
from dnnmap.stats.permutations import permutations
from dnnmap.stats.splits import Splits, inner_splits, make_splits, stratified_kfold
from dnnmap.store import write_h5

CS = [0.01, 1.0, 100.0]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny matrices: BLAS threads only add overhead on a shared machine."""
    with threadpool_limits(1):
        yield


def _data(n=36, p=6, n_classes=3, signal=1.5, seed=0):
    """Features whose first columns carry class means (times ``signal``)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n // n_classes)
    X = rng.standard_normal((n, p))
    X[:, :n_classes] += signal * np.eye(n_classes)[y]
    return X * rng.uniform(0.5, 3.0, p) + rng.normal(0, 2, p), y


def _grid(clf, Cs, inner):
    pipe = Pipeline([("scale", StandardScaler()), ("clf", clf)])
    return GridSearchCV(pipe, {"clf__C": Cs}, cv=inner)


def _pairs(splits):
    return list(zip(splits.train, splits.test, strict=True))


# --- nested classifier ------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["logistic", "svm"])
def test_nested_classifier_matches_gridsearch(estimator):
    X, y = _data()
    ours = NestedCVClassifier(estimator, CS, inner_cv=3, random_state=4).fit(X, y)
    clf = LogisticRegression(max_iter=1000) if estimator == "logistic" else LinearSVC()
    ref = _grid(clf, CS, StratifiedKFold(3, shuffle=True, random_state=4)).fit(X, y)
    np.testing.assert_array_equal(ours.cv_scores_, ref.cv_results_["mean_test_score"])
    assert ref.best_params_["clf__C"] == ours.C_
    Xt, _ = _data(seed=1)
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))
    np.testing.assert_allclose(ours.decision_function(Xt), ref.decision_function(Xt), atol=1e-10)


@pytest.mark.parametrize("estimator", ["logistic", "svm"])
def test_principal_coordinates_when_wider_than_tall(estimator):
    """p > n: the fit on principal coordinates gives sklearn's decision function."""
    X, y = _data(n=24, p=60, signal=2.0)
    ours = NestedCVClassifier(estimator, [0.1], inner_cv=2).fit(X, y)
    assert ours.prep_.Vt is not None and ours.prep_.train.shape[1] <= 24
    tight = {"tol": 1e-10, "max_iter": 100000}
    clf = (
        LogisticRegression(C=0.1, **tight) if estimator == "logistic" else LinearSVC(C=0.1, **tight)
    )
    ref = Pipeline([("s", StandardScaler()), ("c", clf)]).fit(X, y)
    ours.estimator_.set_params(**tight)
    ours.estimator_.fit(ours.prep_.train, y)
    Xt, _ = _data(n=24, p=60, seed=3)
    np.testing.assert_allclose(ours.decision_function(Xt), ref.decision_function(Xt), atol=1e-5)


# --- cross-validated decoding -----------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["logistic", "svm"])
def test_fold_scores_match_cross_val_score(estimator):
    X, y = _data(n=45)
    splits = stratified_kfold(y, 5, seed=2)
    res = cross_validated_decoding(
        X, y, splits, estimator=estimator, Cs=CS, inner_folds=3, n_perm=0, seed=7
    )
    clf = LogisticRegression(max_iter=1000) if estimator == "logistic" else LinearSVC()
    grid = _grid(clf, CS, StratifiedKFold(3, shuffle=True, random_state=7))
    ref = cross_val_score(grid, X, y, cv=_pairs(splits))
    np.testing.assert_array_equal(res.fold_scores, ref)
    assert res.score == pytest.approx(ref.mean(), abs=1e-15)
    assert np.isnan(res.pvalue) and res.null.shape == (0,)
    for k, (train, test) in enumerate(_pairs(splits)):
        pred = grid.fit(X[train], y[train]).predict(X[test])
        assert res.param[k] == grid.best_params_["clf__C"]
        np.testing.assert_array_equal(res.predictions[0, test], pred.astype(str))
        assert res.fold_balanced_accuracy[k] == balanced_accuracy_score(y[test], pred)
        np.testing.assert_array_equal(res.confusion[k], confusion_matrix(y[test], pred))
    assert res.confusion.shape == (5, 3, 3) and list(res.classes) == ["0", "1", "2"]
    np.testing.assert_array_equal(res.folds[0], np.argsort(np.concatenate(splits.test)) // 9)


def test_import_path_classifier_without_c_matches_sklearn_pipeline():
    """No C: one fit per outer split on standardized features (no principal coordinates)."""
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _data(n=30, p=40, signal=1.0)  # wider than the training sets
    splits = stratified_kfold(y, 3, seed=0)
    perms = permutations(y.size, 5, seed=1, draw="shuffle")
    path = "sklearn.neighbors.KNeighborsClassifier"
    res = cross_validated_decoding(
        X, y, splits, estimator=path, estimator_params={"n_neighbors": 3}, permutations=perms
    )
    pipe = Pipeline([("scale", StandardScaler()), ("clf", KNeighborsClassifier(n_neighbors=3))])
    np.testing.assert_array_equal(res.fold_scores, cross_val_score(pipe, X, y, cv=_pairs(splits)))
    null = [cross_val_score(pipe, X, y[perm], cv=_pairs(splits)).mean() for perm in perms]
    np.testing.assert_allclose(res.null, null, atol=1e-15)
    assert res.estimator == path and np.isnan(res.param).all()


def test_import_path_classifier_with_c_searches_the_grid():
    from sklearn.svm import SVC

    X, y = _data(n=45)
    splits = stratified_kfold(y, 5, seed=2)
    res = cross_validated_decoding(
        X, y, splits, estimator="sklearn.svm.SVC", Cs=CS, inner_folds=3, n_perm=0, seed=7
    )
    grid = _grid(SVC(), CS, StratifiedKFold(3, shuffle=True, random_state=7))
    np.testing.assert_array_equal(res.fold_scores, cross_val_score(grid, X, y, cv=_pairs(splits)))
    for k, (train, _) in enumerate(_pairs(splits)):
        assert res.param[k] == grid.fit(X[train], y[train]).best_params_["clf__C"]


def test_bad_import_path_classifier():
    X, y = _data(n=30)
    splits = stratified_kfold(y, 3)
    with pytest.raises(InputError, match=r"decoding\.estimators is 'sklearn\.nothing\.Here'"):
        cross_validated_decoding(X, y, splits, estimator="sklearn.nothing.Here", n_perm=0)
    with pytest.raises(InputError, match=r"do not fit sklearn\.svm\.SVC"):
        cross_validated_decoding(
            X, y, splits, estimator="sklearn.svm.SVC", estimator_params={"bad": 1}, n_perm=0
        )
    with pytest.raises(InputError, match="expected one of logistic, svm, ridge or the import"):
        cross_validated_decoding(X, y, splits, estimator="forest", n_perm=0)


def test_string_labels_and_chance():
    X, y = _data(n=40, n_classes=2)
    labels = np.where(y == 0, "animate", "inanimate")
    labels[:4] = "inanimate"  # 16 vs 24
    res = cross_validated_decoding(
        X, labels, stratified_kfold(labels, 4), Cs=[1.0], inner_folds=2, n_perm=0
    )
    assert list(res.classes) == ["animate", "inanimate"]
    assert set(res.predictions[0]) <= {"animate", "inanimate"}
    assert res.chance == pytest.approx(24 / 40)


def test_permutation_p_matches_permutation_test_score():
    """Label-independent inner folds: sklearn's permutation_test_score on the same splits."""
    X, y = _data(n=30, p=4, signal=0.6)
    splits = stratified_kfold(y, 3, seed=0)
    inner = KFold(2, shuffle=True, random_state=3)
    n_perm, seed = 9, 5
    rs = np.random.RandomState(seed)  # permutation_test_score's draws, in order
    perms = np.stack([rs.permutation(y.size) for _ in range(n_perm)])
    res = cross_validated_decoding(
        X, y, splits, Cs=[0.1, 10.0], inner_folds=inner, permutations=perms
    )
    grid = _grid(LogisticRegression(max_iter=1000), [0.1, 10.0], inner)
    score, null, p = permutation_test_score(
        grid, X, y, cv=_pairs(splits), n_permutations=n_perm, random_state=seed
    )
    assert res.score == pytest.approx(score, abs=1e-15)
    np.testing.assert_allclose(res.null, null, atol=1e-15)
    assert res.pvalue == pytest.approx(p, abs=1e-15)


def test_permutation_null_is_a_full_nested_refit():
    """Default stratified inner folds (from the observed labels), slow loop over permutations."""
    X, y = _data(n=30, p=4, signal=0.6)
    splits = stratified_kfold(y, 3, seed=1)
    perms = permutations(y.size, 4, seed=2, draw="shuffle")
    res = cross_validated_decoding(X, y, splits, Cs=[0.1, 10.0], inner_folds=2, n_perm=4, seed=2)
    null = []
    for perm in perms:
        yp = y[perm]
        accs = []
        for train, test in _pairs(splits):
            inner = list(StratifiedKFold(2, shuffle=True, random_state=2).split(X[train], y[train]))
            grid = _grid(LogisticRegression(max_iter=1000), [0.1, 10.0], inner)
            accs.append(grid.fit(X[train], yp[train]).score(X[test], yp[test]))
        null.append(np.mean(accs))
    np.testing.assert_allclose(res.null, null, atol=1e-15)
    assert res.pvalue == (1 + np.sum(np.array(null) >= res.score)) / 5


def test_parallel_permutations_equal_serial():
    X, y = _data(n=24, p=4)
    splits = stratified_kfold(y, 3)
    kw = {"Cs": [1.0], "inner_folds": 2, "n_perm": 2, "seed": 1}
    serial = cross_validated_decoding(X, y, splits, **kw)
    parallel = cross_validated_decoding(X, y, splits, n_jobs=2, **kw)
    np.testing.assert_array_equal(serial.null, parallel.null)


def test_decodable_attribute_high_accuracy_small_p():
    X, y = _data(n=30, p=5, signal=4.0)
    res = cross_validated_decoding(X, y, stratified_kfold(y, 3), Cs=[1.0], inner_folds=2, n_perm=19)
    assert res.score > 0.9
    assert res.pvalue == pytest.approx(1 / 20)
    assert res.null.mean() < 0.6


def test_random_attribute_at_chance():
    X, _ = _data(n=30, p=5)
    y = np.random.default_rng(11).permutation(np.repeat([0, 1, 2], 10))
    res = cross_validated_decoding(
        X, y, stratified_kfold(y, 3), Cs=[1.0], inner_folds=2, n_perm=19, seed=3
    )
    assert abs(res.score - 1 / 3) < 0.2
    assert res.pvalue > 0.05
    assert abs(res.null.mean() - 1 / 3) < 0.1


# --- ridge for continuous attributes ----------------------------------------------------------


def test_ridge_decoding_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 8)) * rng.uniform(0.5, 4, 8)
    y = X[:, 0] - 0.5 * X[:, 3] + rng.normal(0, 2.0, 40)
    splits = make_splits(40, "kfold", n_folds=4, seed=1)
    alphas = [0.1, 10.0, 1000.0]
    perms = permutations(40, 3, seed=2, draw="shuffle")
    res = cross_validated_decoding(
        X, y, splits, estimator="ridge", alphas=alphas, inner_folds=3, n_perm=3, seed=2
    )
    ref_null = np.zeros(3)
    for k, (train, test) in enumerate(_pairs(splits)):
        scaler = StandardScaler().fit(X[train])
        inner = KFold(3, shuffle=True, random_state=2)
        for j, target in enumerate([y, *(y[p] for p in perms)]):
            grid = GridSearchCV(
                Ridge(), {"alpha": alphas}, cv=inner, scoring="neg_mean_squared_error"
            ).fit(scaler.transform(X[train]), target[train])
            pred = grid.predict(scaler.transform(X[test]))
            if j == 0:
                assert res.param[k] == grid.best_params_["alpha"]
                np.testing.assert_allclose(res.predictions[0, test], pred, atol=1e-9)
                assert res.fold_scores[k] == pytest.approx(pearson_r(y[test], pred), abs=1e-10)
                assert res.fold_r2[k] == pytest.approx(r2_score(y[test], pred), abs=1e-10)
            else:
                ref_null[j - 1] += pearson_r(target[test], pred) / len(splits)
    np.testing.assert_allclose(res.null, ref_null, atol=1e-10)
    assert res.score > 0.5 and res.pvalue == pytest.approx(0.25)
    assert res.metric == "pearson_r" and res.confusion is None


def test_ridge_pvalues_uniform_under_the_null():
    """Random targets: p-values over 40 independent attributes look uniform."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 4))
    splits = make_splits(30, "kfold", n_folds=3, seed=0)
    ps = [
        cross_validated_decoding(
            X, rng.standard_normal(30), splits, estimator="ridge", alphas=[1.0, 100.0],
            inner_folds=3, n_perm=49, seed=s,
        ).pvalue
        for s in range(40)
    ]  # fmt: skip
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    assert 0.3 < np.mean(ps) < 0.7


# --- permutations and p-values ----------------------------------------------------------------


def test_label_permutations():
    perms = permutations(7, 5, seed=3, draw="shuffle")
    assert perms.shape == (5, 7)
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.tile(np.arange(7), (5, 1)))
    np.testing.assert_array_equal(perms, permutations(7, 5, seed=3, draw="shuffle"))
    assert permutations(7, 0, draw="shuffle").shape == (0, 7)
    with pytest.raises(InputError, match="n_perm is -1; expected an int >= 0"):
        permutations(7, -1, draw="shuffle")


def test_stratified_splits_match_sklearn():
    y = np.repeat(["a", "b", "c"], [5, 6, 7])
    splits = stratified_kfold(y, 5, seed=3)
    ref = StratifiedKFold(5, shuffle=True, random_state=3).split(y, y)
    for (tr, te), (rtr, rte) in zip(_pairs(splits), ref, strict=True):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(te, rte)
    assert splits.params == {"n_folds": 5, "seed": 3} and splits.n == 18
    repeated = stratified_kfold(y, 3, seed=3, n_repeats=2)
    assert repeated.scheme == "stratified_repeated_kfold" and len(repeated) == 6
    second = StratifiedKFold(3, shuffle=True, random_state=4).split(y, y)
    for (_, te), (_, rte) in zip(_pairs(repeated)[3:], second, strict=True):
        np.testing.assert_array_equal(te, rte)
    np.testing.assert_array_equal(repeated.repeat, [0, 0, 0, 1, 1, 1])


def test_decoding_splits_follow_the_scheme():
    table = _table(category=list("aabbccaabbcc"), session=list("111122223333"))
    y = table["category"].to_numpy()
    splits, groups = decoding_splits(table, y, "categorical", {"n_folds": 2, "seed": 1}, "t")
    assert splits.scheme == "stratified_kfold" and groups is None
    settings = {"n_folds": 3, "seed": 2}
    splits, groups = decoding_splits(table, np.arange(12.0), "continuous", settings, "t")
    ref = make_splits(12, "kfold", n_folds=3, seed=2)
    for got, want in zip(splits.test, ref.test, strict=True):
        np.testing.assert_array_equal(got, want)
    grouped = {"cv": {"scheme": "group", "column": "session"}, "n_folds": 3, "seed": 0}
    splits, groups = decoding_splits(table, y, "categorical", grouped, "t")
    assert splits.scheme == "group" and len(splits) == 3
    assert list(groups) == list("111122223333")
    with pytest.raises(InputError, match=r"decoding\.cv\.shuffle is not a setting"):
        decoding_splits(table, y, "categorical", {"cv": {"shuffle": True}}, "t")


def test_grouped_inner_folds():
    X, y = _data(n=24, p=4, n_classes=2, signal=1.0)
    groups = np.repeat(list("abcdef"), 4)
    rng = np.random.default_rng(0)
    groups = groups[rng.permutation(24)]
    splits = make_splits(24, "group", n_folds=3, groups=groups)
    res = cross_validated_decoding(
        X, y, splits, Cs=[0.01, 1.0], inner_folds=2, n_perm=0, groups=groups
    )
    for k, (train, test) in enumerate(_pairs(splits)):
        inner = inner_splits(train, "group", n_folds=2, groups=groups)
        for tr, te in inner:
            assert not set(groups[train][tr]) & set(groups[train][te])
        grid = _grid(LogisticRegression(max_iter=1000), [0.01, 1.0], inner)
        assert res.fold_scores[k] == grid.fit(X[train], y[train]).score(X[test], y[test])


# --- bad input ---------------------------------------------------------------------------------


def _table(**columns):
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"stim_id": [f"s{i}" for i in range(n)], **columns}, dtype=str)


def test_attribute_values():
    table = _table(category=["cat", "dog", "cat"], size=["1.5", "2", "-3e1"])
    assert list(attribute_values(table, "category", "categorical", "t.tsv")) == [
        "cat",
        "dog",
        "cat",
    ]
    np.testing.assert_array_equal(attribute_values(table, "size", "continuous"), [1.5, 2, -30])


def test_missing_attribute_column():
    with pytest.raises(InputError, match=r"t\.tsv: no column 'animacy' \(columns: stim_id, cat"):
        attribute_values(_table(category=["a", "b"]), "animacy", "categorical", "t.tsv")


@pytest.mark.parametrize("missing", ["", "NaN", "n/a", " NA "])
def test_missing_attribute_values_name_the_rows(missing):
    table = _table(category=["a", missing, "b", missing])
    with pytest.raises(
        InputError,
        match=r"t\.tsv: column 'category' has no value in rows 3, 5 \(stim_id s1, s3\)",
    ):
        attribute_values(table, "category", "categorical", "t.tsv")


def test_nan_in_numeric_column_names_the_row():
    table = pd.DataFrame({"stim_id": ["a", "b", "c"], "size": [1.0, np.nan, 2.0]})
    with pytest.raises(InputError, match=r"'size' has no value in row 3 \(stim_id b\)"):
        attribute_values(table, "size", "continuous", "t.tsv")


def test_one_class():
    with pytest.raises(
        InputError, match=r"t\.tsv: column 'category' has one class \('cat'\) for all 3 stimuli"
    ):
        attribute_values(_table(category=["cat"] * 3), "category", "categorical", "t.tsv")


def test_continuous_not_numeric_or_constant():
    with pytest.raises(InputError, match=r"'size' is not numeric in row 3 \(stim_id s1\)"):
        attribute_values(_table(size=["1", "big", "2"]), "size", "continuous", "t.tsv")
    with pytest.raises(InputError, match="'size' is 2 for all stimuli"):
        attribute_values(_table(size=["2", "2.0"]), "size", "continuous", "t.tsv")


def test_class_with_fewer_members_than_folds():
    y = np.repeat(["a", "b", "rare"], [6, 6, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # StratifiedKFold's own warning
        splits = stratified_kfold(y, 5)
    with pytest.raises(
        InputError,
        match=r"t\.tsv: column 'category' class 'rare' has 3 stimuli, fewer than the 5 outer",
    ):
        check_class_counts(y, splits, 2, "category", "t.tsv")


def test_class_too_small_for_inner_folds():
    y = np.repeat(["a", "b"], [3, 8])
    splits = stratified_kfold(y, 3)
    with pytest.raises(InputError, match=r"class 'a' has 2 stimuli in the training set of outer"):
        check_class_counts(y, splits, 3, "category", "t.tsv")
    check_class_counts(y, splits, 3, "category", "t.tsv", grouped=True)


def test_class_absent_from_a_training_set():
    y = np.array(list("aabbcc"))
    splits = Splits(6, [np.arange(4)], [np.array([4, 5])], np.zeros(1, int), "split")
    with pytest.raises(InputError, match=r"class 'c' has 0 stimuli in the training set of outer"):
        check_class_counts(y, splits, 2, "category", "t.tsv", grouped=True)


def test_bad_arguments():
    X, y = _data(n=12)
    splits = stratified_kfold(y, 2)
    with pytest.raises(InputError, match="estimator is 'forest'; expected one of logistic"):
        cross_validated_decoding(X, y, splits, estimator="forest")
    with pytest.raises(InputError, match=r"Cs are \[0, 1\]; expected a non-empty list of pos"):
        cross_validated_decoding(X, y, splits, Cs=[0, 1])
    with pytest.raises(InputError, match="splits are over 13 stimuli; expected 12"):
        cross_validated_decoding(X, y, Splits(13, [], [], np.zeros(0), "kfold"))
    with pytest.raises(InputError, match=r"y has shape \(11,\); expected \(12,\)"):
        cross_validated_decoding(X, y[:11], splits)
    with pytest.raises(InputError, match="X contains NaN or inf"):
        cross_validated_decoding(np.where(X > 2, np.nan, X), y, splits)
    with pytest.raises(InputError, match=r"permutations have shape \(2, 5\); expected \(n_perm"):
        cross_validated_decoding(X, y, splits, permutations=np.zeros((2, 5), int))
    with pytest.raises(InputError, match="n_folds is 1; expected an int >= 2"):
        stratified_kfold(y, 1)


# --- files -------------------------------------------------------------------------------------


def _stimuli(tmp_path, n, **columns):
    path = tmp_path / "stimuli.tsv"
    table = pd.DataFrame(
        {
            "stim_id": [f"s{i:02d}" for i in range(n)],
            "path": [f"/x/s{i}.png" for i in range(n)],
            "modality": ["image"] * n,
            **columns,
        }
    )
    table.to_csv(path, sep="\t", index=False)
    return str(path), list(table["stim_id"])


def test_run_write_read_categorical(tmp_path):
    X, y = _data(n=30, p=5, signal=3.0)
    stim, ids = _stimuli(tmp_path, 30, category=np.array(["a", "b", "c"])[y])
    feats = str(tmp_path / "conv1.h5")
    write_h5(feats, {"features": X.astype(np.float32)}, stim_id=ids)
    settings = {
        "continuous": [],
        "estimators": ["logistic", "svm"],
        "Cs": [1.0],
        "n_folds": 3,
        "inner_folds": 2,
        "n_perm": 3,
        "seed": 0,
    }
    results, splits, stim_ids = run_decoding(stim, feats, "features", "category", settings)
    assert list(results) == ["logistic", "svm"] and stim_ids == ids
    out = tmp_path / "dec" / "category.h5"
    write_decoding(out, results, splits, stim_ids, "category", settings, {"config_digest": "x"})
    back = read_decoding(out)
    assert back["kind"] == "categorical" and back["metric"] == "accuracy"
    assert back["classes"] == ["a", "b", "c"] and back["stim_id"] == ids
    assert back["cv"]["outer"] == "stratified_kfold" and back["cv"]["n_perm"] == 3
    lr = back["estimators"]["logistic"]
    np.testing.assert_array_equal(lr["fold_scores"], results["logistic"].fold_scores)
    np.testing.assert_array_equal(lr["predictions"], results["logistic"].predictions)
    assert lr["confusion"].shape == (3, 3, 3) and lr["null"].shape == (3,)
    assert lr["pvalue"] == results["logistic"].pvalue
    # a classifier by import path, with its params, in the same run and file
    knn = "sklearn.neighbors.KNeighborsClassifier"
    settings = {**settings, "estimators": ["logistic", knn]}
    settings["estimator_params"] = {knn: {"n_neighbors": 4}}
    results, splits, _ = run_decoding(stim, feats, "features", "category", settings)
    assert list(results) == ["logistic", knn] and results[knn].score > 0.8
    write_decoding(out, results, splits, stim_ids, "category", settings, {})
    assert set(read_decoding(out)["estimators"]) == {"logistic", knn}


def test_run_continuous_and_brain_columns_with_nan(tmp_path, caplog):
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((24, 6))
    size = Y[:, 0] + 0.1 * rng.standard_normal(24)
    Y[:, 5] = np.nan  # a voxel outside the mask
    Y[:, 4] = 0.0  # outside the acquisition's coverage: constant, masked too
    stim, ids = _stimuli(tmp_path, 24, size=size)
    brain = str(tmp_path / "V1.h5")
    write_h5(brain, {"responses": Y}, stim_id=ids)
    settings = {
        "continuous": ["size"],
        "alphas": [1.0, 10.0],
        "n_folds": 3,
        "inner_folds": 2,
        "n_perm": 5,
        "seed": 0,
    }
    with caplog.at_level("INFO", logger="dnnmap"):
        results, splits, _ = run_decoding(stim, brain, "responses", "size", settings)
    assert "2 of 6 responses columns masked (NaN, inf or constant) and left out" in caplog.text
    assert list(results) == ["ridge"] and results["ridge"].score > 0.9
    out = tmp_path / "size.h5"
    write_decoding(out, results, splits, ids, "size", settings, {})
    back = read_decoding(out)
    assert back["kind"] == "continuous" and back["classes"] is None
    assert back["cv"]["alphas"] == [1.0, 10.0]
    np.testing.assert_allclose(back["estimators"]["ridge"]["fold_r2"], results["ridge"].fold_r2)


def test_run_stim_id_mismatch_names_both_files(tmp_path):
    stim, ids = _stimuli(tmp_path, 6, category=list("aabbcc"))
    feats = str(tmp_path / "f.h5")
    write_h5(feats, {"features": np.zeros((6, 2))}, stim_id=ids[::-1])
    settings = {"n_folds": 2, "inner_folds": 2, "n_perm": 0, "seed": 0}
    with pytest.raises(InputError, match=r"f\.h5 has stim_id 's05' at position 1 where .*stimuli"):
        run_decoding(stim, feats, "features", "category", settings)


def test_run_unknown_estimator_for_categorical(tmp_path):
    stim, ids = _stimuli(tmp_path, 6, category=list("aabbcc"))
    feats = str(tmp_path / "f.h5")
    write_h5(feats, {"features": np.zeros((6, 2))}, stim_id=ids)
    settings = {"estimators": ["ridge"], "n_folds": 2, "inner_folds": 2, "n_perm": 0, "seed": 0}
    with pytest.raises(InputError, match=r"decoding\.estimators has 'ridge'; expected logistic"):
        run_decoding(stim, feats, "features", "category", settings)


# --- masking and fold checks (one masking policy; checks before scikit-learn's) -------------


def test_usable_columns_use_the_one_masking(tmp_path, caplog):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 5))
    X[2, 1] = np.inf
    X[:, 3] = 7.0
    with caplog.at_level("INFO", logger="dnnmap"):
        kept, n_masked = usable_columns(X, "V1.h5")
    np.testing.assert_array_equal(kept, X[:, ~masked_voxels(X)])
    np.testing.assert_array_equal(kept, X[:, [0, 2, 4]])
    assert n_masked == 2 and "V1.h5: 2 of 5 responses columns masked" in caplog.text
    kept, n_masked = usable_columns(np.zeros((10, 5)), "V1.h5")
    assert kept.shape == (10, 0) and n_masked == 5
    # features: constant columns (silent units) stay, non-finite ones go
    kept, n_masked = usable_columns(X, "f.h5", "features")
    np.testing.assert_array_equal(kept, X[:, [0, 2, 3, 4]])
    assert n_masked == 1


@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_run_fully_masked_roi_gives_nan_results_with_a_reason(tmp_path, caplog, fill):
    """An all-NaN ROI, or one outside the acquisition's coverage (all zeros): NaN, no crash."""
    stim, ids = _stimuli(tmp_path, 12, category=list("aabbcc") * 2, size=np.arange(12.0))
    brain = str(tmp_path / "V1.h5")
    write_h5(brain, {"responses": np.full((12, 4), fill)}, stim_id=ids)
    settings = {"n_folds": 2, "inner_folds": 2, "n_perm": 5, "seed": 0, "continuous": ["size"]}
    reason = "all 4 voxels masked (NaN, inf or constant responses)"
    for attribute, est in (("category", "logistic"), ("size", "ridge")):
        with caplog.at_level("WARNING", logger="dnnmap"):
            results, splits, _ = run_decoding(stim, brain, "responses", attribute, settings)
        assert reason in caplog.text
        res = results[est]
        assert np.isnan(res.score) and np.isnan(res.pvalue) and res.null.size == 0
        assert res.n_masked == 4 and res.reason == reason
        out = tmp_path / f"{attribute}.h5"
        write_decoding(out, results, splits, ids, attribute, settings, {})
        back = read_decoding(out)
        assert back["n_masked"] == 4 and back["reason"] == reason
        row = decoding_table([str(out)], [{"roi": "V1"}]).iloc[0]
        assert np.isnan(row.score) and row.reason == reason and row.n_masked == 4
        table = decoding_table([str(out)] * 2, [{"roi": "V1"}, {"roi": "V4"}])
        plt.close(plot_probing_profile(table, x="roi"))  # NaN scores plot, no error
    if est == "ridge":
        np.testing.assert_array_equal(res.folds, _fold_reference(splits))
    feats = str(tmp_path / "f.h5")
    write_h5(feats, {"features": np.full((12, 3), np.nan)}, stim_id=ids)
    with pytest.raises(InputError, match=r"f\.h5: every features column has NaN or inf"):
        run_decoding(stim, feats, "features", "category", settings)


def _fold_reference(splits):
    folds = np.full((max(splits.n_repeats, 1), splits.n), -1)
    for k, (test, rep) in enumerate(zip(splits.test, splits.repeat, strict=True)):
        folds[rep, test] = k
    return folds


def test_run_class_smaller_than_folds_is_our_error_not_sklearns(tmp_path):
    """scikit-learn's StratifiedKFold raised its own ValueError before dnnmap's check."""
    stim, ids = _stimuli(tmp_path, 13, category=list("aaaaaabbbbbbc"))
    feats = str(tmp_path / "f.h5")
    write_h5(feats, {"features": np.random.default_rng(0).standard_normal((13, 3))}, stim_id=ids)
    settings = {"n_folds": 2, "inner_folds": 2, "n_perm": 0, "seed": 0}
    with pytest.raises(InputError, match=r"class 'c' has 1 stimuli, fewer than the 2 outer"):
        run_decoding(stim, feats, "features", "category", settings)


def test_check_decoding_settings(tmp_path):
    table = pd.DataFrame(
        {
            "stim_id": [f"s{i}" for i in range(12)],
            "category": list("aabbcc") * 2,
            "size": [str(i) for i in range(12)],
        }
    )
    settings = {"n_folds": 3, "inner_folds": 2, "seed": 0, "continuous": ["size"]}
    plan = check_decoding_settings(table, "category", settings, "t.tsv")
    assert plan.kind == "categorical" and plan.estimators == ["logistic"]
    assert plan.splits.scheme == "stratified_kfold" and len(plan.splits) == 3
    plan = check_decoding_settings(table, "size", settings, "t.tsv")
    assert plan.kind == "continuous" and plan.estimators == ["ridge"]
    with pytest.raises(InputError, match=r"t\.tsv: no column 'colour'"):
        check_decoding_settings(table, "colour", settings, "t.tsv")
    with pytest.raises(InputError, match=r"class 'a' has 4 stimuli, fewer than the 5 outer"):
        check_decoding_settings(table, "category", {**settings, "n_folds": 5}, "t.tsv")
    with pytest.raises(InputError, match=r"class 'a' has 2 stimuli in the training set"):
        check_decoding_settings(table, "category", {**settings, "inner_folds": 3}, "t.tsv")
    with pytest.raises(InputError, match=r"inner_folds is 9 for the 8 training stimuli"):
        check_decoding_settings(table, "size", {**settings, "inner_folds": 9}, "t.tsv")
    loo = {**settings, "cv": {"scheme": "loo"}}
    with pytest.raises(InputError, match=r"outer split 1 tests 1 stimulus of continuous"):
        check_decoding_settings(table, "size", loo, "t.tsv")
