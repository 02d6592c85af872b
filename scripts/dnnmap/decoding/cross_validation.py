"""Cross-validated decoding of one attribute, with a label-permutation test.

A categorical attribute is decoded with a classifier (:mod:`dnnmap.decoding.classifiers`), a
continuous one with ridge regression (:class:`dnnmap.encoding.ridge.RidgeCV` on features
standardized with the outer training rows; the inner folds reuse that scaling, which is
label-free and never sees the test rows; alpha from a grid by inner shuffled k-fold,
``KFold(inner_folds, shuffle=True, random_state=seed)``; per outer fold Pearson r and R² of
the held-out predictions), both on explicit outer splits (:class:`dnnmap.stats.splits.Splits`)
with the penalty chosen by inner cross-validation on each outer training set only (nested CV).
Classifiers report, per outer fold, accuracy, balanced accuracy
(``sklearn.metrics.balanced_accuracy_score``) and the confusion matrix (rows true, columns
predicted; ``sklearn.metrics.confusion_matrix``); fits that stop at ``max_iter`` are counted
in a logged warning.

Permutation test: the statistic is the mean over outer splits of the fold score (accuracy,
or Pearson r); the labels are permuted over all stimuli (``y[perm]``, permutations from
:func:`dnnmap.stats.permutations.permutations` with ``draw="shuffle"``, seeded) and the whole
nested procedure, inner choice of the penalty included, is refitted for each permutation on
the same outer splits and the same inner splits (those stratified on the observed labels: a
fixed list of splits, as ``GridSearchCV`` given ``cv=`` a list). ``p = (1 + #(null >=
observed)) / (1 + n_perm)``, the semantics of ``sklearn.model_selection.permutation_test_score``
with an explicit list of splits. Only label-free work is shared between permutations
(standardization and principal coordinates of every training set, computed once). For ridge
the permutations are extra target columns of one fit per outer fold (one decomposition serves
them all; each column picks its own alpha, exactly as a refit would). For classifiers each
permutation is a refit, ``n_folds * (inner_folds * len(Cs) + 1)`` fits: the permutations are
run in ``n_jobs`` processes, each with one BLAS thread (the matrices are small; more threads
only add overhead).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from dnnmap.checks import check_matrix, is_int
from dnnmap.decoding.classifiers import (
    CLASSIFIERS,
    DEFAULT_CS,
    PreparedFold,
    check_grid,
    classifier_spec,
    select_and_fit,
)
from dnnmap.encoding.ridge import RidgeCV
from dnnmap.errors import InputError
from dnnmap.features.folds import FoldFeatures
from dnnmap.stats import permutations as stats_permutations
from dnnmap.stats.inference import permutation_pvalue
from dnnmap.stats.metrics import pearson_r, r2_score
from dnnmap.stats.splits import Splits, as_pairs, check_splits, inner_splits, stratified_pairs

REGRESSORS = ("ridge",)
"""Estimators for continuous attributes."""

DECODING_ALPHAS = tuple(10.0**k for k in range(-2, 7))
"""Default ridge penalty grid of continuous attributes (``1e-2 .. 1e6``, one per decade)."""

LOG = logging.getLogger("dnnmap")


def _pvalue(observed: float, null: np.ndarray) -> float:
    """:func:`dnnmap.stats.inference.permutation_pvalue` (greater); NaN without permutations."""
    return float("nan") if null.size == 0 else float(permutation_pvalue(observed, null))


@dataclass(frozen=True)
class DecodingResult:
    """Cross-validated decoding of one attribute with one estimator.

    Attributes
    ----------
    estimator : str
        ``logistic``, ``svm`` or ``ridge``.
    metric : str
        ``accuracy`` (classification) or ``pearson_r`` (regression).
    predictions : array of shape (n_repeats, n_stim)
        Out-of-fold predictions: class labels (str; ``""`` where a stimulus was not tested
        in a repeat) or values (float; NaN where not tested).
    folds : int array of shape (n_repeats, n_stim)
        Outer split whose test set held each stimulus; -1 where not tested.
    fold_scores : array of shape (n_splits,)
        Accuracy or Pearson r of each outer split.
    param : array of shape (n_splits,)
        ``C`` or ``alpha`` chosen by inner CV in each outer split.
    null : array of shape (n_perm,)
        Mean fold score under each label permutation.
    pvalue : float
        ``(1 + #(null >= score)) / (1 + n_perm)``; NaN when ``n_perm`` is 0.
    chance : float
        Accuracy of always guessing the most frequent class; 0 for ``pearson_r``.
    classes : str array of shape (n_classes,) or None
    fold_balanced_accuracy : array of shape (n_splits,) or None
    confusion : int array of shape (n_splits, n_classes, n_classes) or None
        Rows true class, columns predicted class, classes in ``classes`` order.
    fold_r2 : array of shape (n_splits,) or None
    n_masked : int
        Columns of X left out as masked (brain responses; set by
        :func:`dnnmap.decoding.io.run_decoding`).
    reason : str
        Why the result holds no scores (every column masked); ``""`` when it does.
    """

    estimator: str
    metric: str
    predictions: np.ndarray
    folds: np.ndarray
    fold_scores: np.ndarray
    param: np.ndarray
    null: np.ndarray
    pvalue: float
    chance: float
    classes: np.ndarray | None = None
    fold_balanced_accuracy: np.ndarray | None = None
    confusion: np.ndarray | None = None
    fold_r2: np.ndarray | None = None
    n_masked: int = 0
    reason: str = ""

    @property
    def score(self) -> float:
        """Mean fold score (the permutation test's statistic)."""
        return float(np.mean(self.fold_scores))


def _fold_index(splits: Splits) -> np.ndarray:
    folds = np.full((max(splits.n_repeats, 1), splits.n), -1, dtype=np.int64)
    for k, (test, rep) in enumerate(zip(splits.test, splits.repeat, strict=True)):
        folds[rep, test] = k
    return folds


def _check_outer(splits: Splits, n: int) -> Splits:
    """:func:`dnnmap.stats.splits.check_splits`, a size mismatch named against the rows of X."""
    if isinstance(splits, Splits) and splits.n != n:
        raise InputError(f"splits are over {splits.n} stimuli; expected {n} (rows of X)")
    return check_splits(splits, n)


def _grouped(inner_folds, groups, train):
    """Grouped inner pairs of one outer training set when ``groups`` are given, else as is."""
    if groups is None or not is_int(inner_folds):
        return inner_folds
    return inner_splits(train, "group", n_folds=int(inner_folds), groups=groups)


def _split_rows(X, folded, train, test):
    """``(X_train, X_test)`` of one split: rows of X, or the fold seam's design
    (:func:`dnnmap.features.folds.fold_design`) when the features are fitted per split."""
    if folded is not None:
        return folded.design(train, test)
    return X[train], X[test]


def _prepare_folds(
    X, codes, splits: Splits, inner_folds, seed, groups, coordinates=True, folded=None
) -> list[PreparedFold]:
    """One :class:`PreparedFold` per outer split; inner folds stratified on the observed labels
    (grouped when ``groups`` are given)."""
    folds = []
    for train, test in zip(splits.train, splits.test, strict=True):
        inner = _grouped(inner_folds, groups, train)
        X_train, X_test = _split_rows(X, folded, train, test)
        pairs = stratified_pairs(inner, codes[train], seed, X=X_train)
        folds.append(PreparedFold(X_train, pairs, X_test, coordinates))
    return folds


def _fold_predictions(folds: list[PreparedFold], splits: Splits, y, spec, Cs) -> tuple:
    """Test-set predictions of each outer split and the chosen C (n_splits,), for labels y."""
    preds, params = [], np.empty(len(folds))
    for k, (fold, train) in enumerate(zip(folds, splits.train, strict=True)):
        _, params[k], clf = select_and_fit(fold, y[train], spec, Cs)
        preds.append(clf.predict(fold.test))
    return preds, params


def _null_scores(perms, folds, splits, codes, spec, Cs) -> tuple[np.ndarray, int]:
    """Mean fold accuracy (n_batch,) for a batch of permutations; number of unconverged fits.

    Each permutation refits the whole nested procedure (inner C selection included) on the
    same outer and inner splits; only the label-independent standardization is shared.
    """
    out = np.empty(len(perms))
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
        warnings.simplefilter("always", ConvergenceWarning)
        for i, perm in enumerate(perms):
            y = codes[perm]
            preds, _ = _fold_predictions(folds, splits, y, spec, Cs)
            out[i] = np.mean([np.mean(p == y[t]) for p, t in zip(preds, splits.test, strict=True)])
    return out, sum(issubclass(w.category, ConvergenceWarning) for w in caught)


def _permutation_null(perms: np.ndarray, n_jobs: int, *args) -> tuple[np.ndarray, int]:
    """:func:`_null_scores` over ``n_jobs`` batches of permutations (processes when > 1)."""
    if perms.shape[0] == 0:
        return np.empty(0), 0
    batches = np.array_split(perms, max(1, min(int(n_jobs), perms.shape[0])))
    if len(batches) == 1:
        results = [_null_scores(batches[0], *args)]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=len(batches))(delayed(_null_scores)(b, *args) for b in batches)
    return np.concatenate([r[0] for r in results]), sum(r[1] for r in results)


def _decode_categorical(
    X, y, splits, spec, Cs, inner_folds, seed, perms, n_jobs, groups, folded=None
):
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    if classes.size < 2:
        raise InputError(f"y has one class ({str(classes[0])!r}); expected at least 2 to decode")
    folds = _prepare_folds(X, codes, splits, inner_folds, seed, groups, spec.linear, folded)
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
        warnings.simplefilter("always", ConvergenceWarning)
        preds, params = _fold_predictions(folds, splits, codes, spec, Cs)
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    labels = np.arange(classes.size)
    acc, bal = np.empty(len(splits)), np.empty(len(splits))
    conf = np.empty((len(splits), classes.size, classes.size), dtype=np.int64)
    predictions = np.full((max(splits.n_repeats, 1), splits.n), "", dtype=object)
    for k, (pred, test, rep) in enumerate(zip(preds, splits.test, splits.repeat, strict=True)):
        acc[k] = np.mean(pred == codes[test])
        with warnings.catch_warnings():  # a class absent from a small test set
            warnings.simplefilter("ignore", UserWarning)
            bal[k] = balanced_accuracy_score(codes[test], pred)
        conf[k] = confusion_matrix(codes[test], pred, labels=labels)
        predictions[rep, test] = classes[pred]
    null, more = _permutation_null(perms, n_jobs, folds, splits, codes, spec, Cs)
    unconverged += more
    if unconverged:
        LOG.warning("%s: %d fits did not converge (max_iter reached)", spec.name, unconverged)
    score = float(np.mean(acc))
    return DecodingResult(
        estimator=spec.name,
        metric="accuracy",
        predictions=predictions.astype(str),
        folds=_fold_index(splits),
        fold_scores=acc,
        param=params,
        null=null,
        pvalue=_pvalue(score, null),
        chance=float(np.bincount(codes).max() / codes.size),
        classes=classes.astype(str),
        fold_balanced_accuracy=bal,
        confusion=conf,
    )


def _decode_continuous(X, y, splits, alphas, inner_folds, seed, perms, groups, folded=None):
    y = np.asarray(y, dtype=np.float64)
    Y = np.column_stack([y, y[perms].T]) if perms.shape[0] else y[:, None]  # (n, 1 + n_perm)
    fold_r = np.empty((len(splits), Y.shape[1]))
    fold_r2, params = np.empty(len(splits)), np.empty(len(splits))
    predictions = np.full((max(splits.n_repeats, 1), splits.n), np.nan)
    for k, (train, test, rep) in enumerate(
        zip(splits.train, splits.test, splits.repeat, strict=True)
    ):
        if test.size < 2:
            raise InputError(
                f"outer split {k + 1} tests {test.size} stimulus; expected at least 2 per "
                "test set to compute Pearson r (use k-fold, not leave-one-out)"
            )
        X_train, X_test = _split_rows(X, folded, train, test)
        prep = StandardScaler().fit(X_train)
        inner = _grouped(inner_folds, groups, train)
        if is_int(inner):
            inner = as_pairs(inner, train.size, seed=seed, name="inner_folds")
        ridge = RidgeCV(alphas=alphas, cv=inner, device="numpy").fit(
            prep.transform(X_train), Y[train]
        )
        P = np.asarray(ridge.predict(prep.transform(X_test)), dtype=np.float64)
        fold_r[k] = pearson_r(Y[test], P)
        fold_r2[k] = r2_score(Y[test, 0], P[:, 0])
        params[k] = ridge.alpha_[0]
        predictions[rep, test] = P[:, 0]
    mean_r = fold_r.mean(axis=0)
    return DecodingResult(
        estimator="ridge",
        metric="pearson_r",
        predictions=predictions,
        folds=_fold_index(splits),
        fold_scores=fold_r[:, 0],
        param=params,
        null=mean_r[1:],
        pvalue=_pvalue(mean_r[0], mean_r[1:]),
        chance=0.0,
        fold_r2=fold_r2,
    )


def unfitted_result(
    y, splits: Splits, estimator: str, reason: str, n_masked: int = 0
) -> DecodingResult:
    """The result of a decoding that cannot be fitted (e.g. every voxel masked): NaN scores.

    Parameters
    ----------
    y : array of shape (n_stim,)
        Labels (``estimator`` a classifier) or values (``ridge``).
    splits : Splits
        The outer splits (kept in ``folds``).
    estimator : str
    reason : str
        Why nothing was fitted; stored in ``reason``.
    n_masked : int
        Masked columns.

    Returns
    -------
    DecodingResult
        ``fold_scores``, ``param`` (and ``fold_balanced_accuracy`` or ``fold_r2``) NaN,
        ``pvalue`` NaN, no permutations, empty predictions ("" or NaN), a zero confusion
        matrix; ``chance`` as a fitted result has it.
    """
    splits = _check_outer(splits, len(y))
    nan = np.full(len(splits), np.nan)
    shape = (max(splits.n_repeats, 1), splits.n)
    common = {
        "estimator": estimator,
        "folds": _fold_index(splits),
        "fold_scores": nan,
        "param": nan.copy(),
        "null": np.empty(0),
        "pvalue": float("nan"),
        "n_masked": int(n_masked),
        "reason": reason,
    }
    if estimator in REGRESSORS:
        return DecodingResult(
            metric="pearson_r",
            predictions=np.full(shape, np.nan),
            chance=0.0,
            fold_r2=nan.copy(),
            **common,
        )
    classes, codes = np.unique(np.asarray(y).astype(str), return_inverse=True)
    return DecodingResult(
        metric="accuracy",
        predictions=np.full(shape, "", dtype=object).astype(str),
        chance=float(np.bincount(codes).max() / codes.size),
        classes=classes,
        fold_balanced_accuracy=nan.copy(),
        confusion=np.zeros((len(splits), classes.size, classes.size), dtype=np.int64),
        **common,
    )


def cross_validated_decoding(
    X,
    y,
    splits: Splits,
    *,
    estimator: str = "logistic",
    Cs: Sequence[float] = DEFAULT_CS,
    alphas: Sequence[float] = DECODING_ALPHAS,
    inner_folds: int = 3,
    n_perm: int = 100,
    seed: int = 0,
    permutations: np.ndarray | None = None,
    n_jobs: int = 1,
    groups=None,
    estimator_params: dict | None = None,
) -> DecodingResult:
    """Decode an attribute from features on outer splits, with a permutation test.

    Parameters
    ----------
    X : array of shape (n_stim, p), or FoldFeatures
        Features (layer features or brain responses); finite. A
        :class:`dnnmap.features.folds.FoldFeatures` fitted per split (``features.fit:
        train``) gives each outer split the design of
        :func:`dnnmap.features.folds.fold_design` (label-free, shared by the permutations).
    y : array of shape (n_stim,)
        Class labels (``logistic``, ``svm``) or values (``ridge``).
    splits : Splits
        Outer splits over the ``n_stim`` rows (e.g.
        :func:`dnnmap.stats.splits.stratified_kfold`).
    estimator : {"logistic", "svm", "ridge"}, or the import path of a classifier
        An import path (e.g. ``sklearn.neighbors.KNeighborsClassifier``) is fitted on the
        standardized features with ``estimator_params``, ``C`` searched when it has one.
    Cs : sequence of float
        Classifier ``C`` grid (inner CV).
    alphas : sequence of float
        Ridge penalty grid (inner CV).
    inner_folds : int, splitter or list of (train, test) pairs
        Inner CV on each outer training set. An int gives shuffled k-fold seeded with
        ``seed``, stratified on the observed labels for classifiers; a splitter's
        ``split(X_train, y_train)`` or a list of pairs (indices into the training rows) is
        used as given.
    n_perm : int
        Label permutations (0: no test, ``pvalue`` NaN). Ignored if ``permutations`` given.
    seed : int
        Seed of the inner folds and of the label permutations
        (:func:`dnnmap.stats.permutations.permutations`, ``draw="shuffle"``).
    permutations : int array of shape (n_perm, n_stim), optional
        Explicit permutations (labels ``y[perm]``), e.g. to reproduce another tool's.
    n_jobs : int
        Processes for the classifier permutations.
    groups : array of shape (n_stim,), optional
        Group label per stimulus: an int ``inner_folds`` then gives grouped inner folds
        (:func:`dnnmap.stats.splits.inner_splits`), so no group is on both sides of an inner split
        (pair it with grouped outer splits). Labels are still permuted over all stimuli.
    estimator_params : dict, optional
        Keyword arguments of an import-path classifier.

    Returns
    -------
    DecodingResult
    """
    folded = X if isinstance(X, FoldFeatures) and X.per_fold else None
    X = check_matrix(X.matrix if isinstance(X, FoldFeatures) else X)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise InputError(f"y has shape {y.shape}; expected ({X.shape[0]},) as rows of X")
    splits = _check_outer(splits, X.shape[0])
    if groups is not None and np.shape(groups) != (X.shape[0],):
        raise InputError(f"groups have shape {np.shape(groups)}; expected ({X.shape[0]},)")
    if permutations is None:
        perms = stats_permutations.permutations(X.shape[0], n_perm, seed, draw="shuffle")
    else:
        perms = np.asarray(permutations, dtype=np.intp)
        if perms.ndim != 2 or perms.shape[1] != X.shape[0]:
            raise InputError(
                f"permutations have shape {perms.shape}; expected (n_perm, {X.shape[0]})"
            )
    if estimator in REGRESSORS:
        alphas = check_grid(alphas, "alphas")
        return _decode_continuous(X, y, splits, alphas, inner_folds, seed, perms, groups, folded)
    if isinstance(estimator, str) and estimator not in CLASSIFIERS and "." not in estimator:
        raise InputError(
            f"estimator is {estimator!r}; expected one of {', '.join(CLASSIFIERS + REGRESSORS)} "
            "or the import path of a classifier"
        )
    spec = classifier_spec(estimator, estimator_params)
    Cs = spec.grid(Cs)
    return _decode_categorical(
        X, y, splits, spec, Cs, inner_folds, seed, perms, n_jobs, groups, folded
    )
