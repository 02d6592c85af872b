"""Decoding stimulus attributes from layer features or brain responses (probing).

A categorical attribute (e.g. ``category``) is decoded with a linear classifier, a continuous
one (e.g. rated size) with ridge regression, both cross-validated on explicit outer splits
(:class:`dnnmap.stats.splits.Splits`) with the penalty chosen by inner cross-validation on each
outer
training set only (nested CV):

classification (``estimator`` ``"logistic"`` or ``"svm"``)
    :class:`NestedCVClassifier`: features standardized with the training rows' means and
    standard deviations (``StandardScaler`` fitted on training rows only, in the inner folds
    as in the outer ones), ``sklearn.linear_model.LogisticRegression`` (multinomial, L2,
    lbfgs, ``max_iter=1000``) or ``sklearn.svm.LinearSVC`` (one-vs-rest, squared hinge,
    scikit-learn's defaults; fits that stop at ``max_iter`` are counted in a logged
    warning), ``C`` from a grid
    chosen by mean inner accuracy (first ``C`` of the grid on ties) on shuffled, seeded,
    stratified inner folds, then refitted on the whole outer training set. This is
    ``GridSearchCV(Pipeline([StandardScaler(), clf]), {"C": Cs},
    cv=StratifiedKFold(inner_folds, shuffle=True, random_state=seed))``; per outer fold it
    reports accuracy, balanced accuracy (``sklearn.metrics.balanced_accuracy_score``) and the
    confusion matrix (rows true, columns predicted; ``sklearn.metrics.confusion_matrix``).
classification by import path (``estimator`` e.g. ``"sklearn.neighbors.KNeighborsClassifier"``)
    The escape hatch (:class:`ClassifierSpec`): any scikit-learn style classifier, built with
    ``estimator_params`` and fitted on the standardized features (never on principal
    coordinates, which are exact only for L2 linear models); ``C`` is chosen from the grid
    as above when the class has a ``C`` parameter, otherwise there is no inner CV.
regression (``estimator`` ``"ridge"``)
    :class:`dnnmap.encoding.ridge.RidgeCV` on features standardized with the outer training rows
    (the inner folds reuse that scaling; it is label-free and never sees the test rows),
    alpha from a grid by inner shuffled k-fold (``KFold(inner_folds, shuffle=True,
    random_state=seed)``); per outer fold Pearson r and R² of the held-out predictions.

When a training set has more features than rows (brain ROIs with thousands of voxels), the
classifier is fitted on the training rows' principal coordinates ``Z = U S`` of the
standardized design ``Xs = U S Vt`` (test rows ``Xs_test @ Vt.T``) instead of ``Xs``. The
L2-penalized optimum lies in the row space of the training design, so this is an exact
reparametrization (same decision function, ``||w|| = ||beta||``) for both estimators, and
each solver iteration costs ``n x n`` instead of ``n x p``.

Outer splits (:func:`decoding_splits`): for a categorical attribute and a k-fold scheme,
shuffled seeded stratified k-fold (``StratifiedKFold(n_folds, shuffle=True,
random_state=seed)``, :func:`stratified_splits`), so every fold holds every class; otherwise
the schemes of :mod:`dnnmap.stats.splits` (``kfold`` as the encoding folds, ``repeated_kfold``,
``loo``, ``group`` with grouped inner folds, a fixed ``split``), read from the stimulus
table. Any :class:`~dnnmap.stats.splits.Splits` may be passed to :func:`cross_validated_decoding`.

Permutation test: the statistic is the mean over outer splits of the fold score (accuracy,
or Pearson r); the labels are permuted over all stimuli (``y[perm]``, permutations from
:func:`label_permutations`, seeded) and the whole nested procedure, inner choice of the
penalty included, is refitted for each permutation on the same outer splits and the same
inner splits (those stratified on the observed labels: a fixed list of splits, as
``GridSearchCV`` given ``cv=`` a list). ``p = (1 + #(null >= observed)) / (1 + n_perm)``, the
semantics of ``sklearn.model_selection.permutation_test_score`` with an explicit list of
splits. Only label-free work is shared between permutations (standardization and principal
coordinates of every training set, computed once). For ridge the permutations are extra
target columns of one fit per outer fold (one decomposition serves them all; each column
picks its own alpha, exactly as a refit would). For classifiers each permutation is a
refit, ``n_folds * (inner_folds * len(Cs) + 1)`` fits: the permutations are run in
``n_jobs`` processes, each with one BLAS thread (the matrices are small; more threads only
add overhead).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from dnnmap.encoding.ridge import RidgeCV
from dnnmap.errors import InputError
from dnnmap.stats.inference import permutation_pvalue
from dnnmap.stats.metrics import pearson_r, r2_score
from dnnmap.stats.splits import Splits, groups_from_table, inner_splits, splits_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_strings, write_h5

CLASSIFIERS = ("logistic", "svm")
"""Estimators for categorical attributes."""

REGRESSORS = ("ridge",)
"""Estimators for continuous attributes."""

DEFAULT_CS = (0.01, 0.1, 1.0, 10.0, 100.0)
DEFAULT_ALPHAS = tuple(10.0**k for k in range(-2, 7))
MISSING = frozenset({"", "nan", "na", "n/a", "null"})
"""Table cells (case-insensitive, stripped) read as a missing attribute value."""

LOG = logging.getLogger("dnnmap")


# ---------------------------------------------------------------------------------------------
# Attributes from the stimulus table
# ---------------------------------------------------------------------------------------------


def _rows_text(table: pd.DataFrame, rows: np.ndarray, limit: int = 10) -> str:
    """'rows 3, 7 (stim_id a, b)' for row positions (line = position + 2, after the header)."""
    shown = rows[:limit]
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    lines = ", ".join(str(int(r) + 2) for r in shown)
    ids = ""
    if "stim_id" in table.columns:
        ids = f" (stim_id {', '.join(str(table['stim_id'].iloc[r]) for r in shown)})"
    return f"row{'s' if rows.size > 1 else ''} {lines}{more}{ids}"


def attribute_values(
    table: pd.DataFrame, column: str, kind: str, source: str | os.PathLike = "stimulus table"
) -> np.ndarray:
    """One attribute column of a stimulus table, checked for decoding.

    Parameters
    ----------
    table : DataFrame
        Stimulus table, one row per stimulus (values as strings, as
        :func:`dnnmap.stimuli.read_stimuli` gives them, or numbers).
    column : str
        The attribute column.
    kind : {"categorical", "continuous"}
    source : path or str
        The table's file, named in messages (rows are named by line number, header = 1).

    Returns
    -------
    values : array of shape (n_stim,)
        str labels (categorical) or float64 values (continuous).

    Raises
    ------
    InputError
        The column is missing, has missing values (empty, NaN, NA, N/A, null), has a single
        class (categorical), is not numeric or is constant (continuous).
    """
    if kind not in ("categorical", "continuous"):
        raise InputError(f"kind is {kind!r}; expected 'categorical' or 'continuous'")
    if column not in table.columns:
        found = ", ".join(map(str, table.columns))
        raise InputError(
            f"{source}: no column {column!r} (columns: {found}); expected the decoding "
            "attribute as a stimulus-table column"
        )
    raw = table[column]
    missing = raw.isna().to_numpy() | raw.astype(str).str.strip().str.lower().isin(MISSING)
    if missing.any():
        rows = _rows_text(table, np.flatnonzero(missing))
        raise InputError(
            f"{source}: column {column!r} has no value in {rows}; "
            "expected a value for every stimulus"
        )
    if kind == "categorical":
        values = raw.astype(str).str.strip().to_numpy(dtype=object).astype(str)
        classes = np.unique(values)
        if classes.size < 2:
            raise InputError(
                f"{source}: column {column!r} has one class ({str(classes[0])!r}) for all "
                f"{values.size} stimuli; expected at least 2 classes to decode"
            )
        return values
    numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        first = raw.iloc[int(np.flatnonzero(bad)[0])]
        rows = _rows_text(table, np.flatnonzero(bad))
        raise InputError(
            f"{source}: column {column!r} is not numeric in {rows} "
            f"(e.g. {first!r}); expected finite numbers for a continuous attribute"
        )
    if np.ptp(numbers) == 0:
        raise InputError(
            f"{source}: column {column!r} is {numbers[0]:g} for all stimuli; expected a "
            "varying continuous attribute"
        )
    return numbers


def check_class_counts(
    y,
    splits: Splits,
    inner_folds: int,
    column: str = "attribute",
    source: str = "stimuli",
    *,
    grouped: bool = False,
) -> None:
    """Stop unless every class can be split by the outer and the inner folds.

    Parameters
    ----------
    y : array of shape (n_stim,)
        Class labels.
    splits : Splits
        Outer splits.
    inner_folds : int
        Inner folds on each outer training set.
    column, source : str
        Attribute and table named in messages.
    grouped : bool
        Inner folds are grouped (not stratified): only the presence of every class in every
        outer training set is checked.

    Raises
    ------
    InputError
        A class has fewer stimuli than the outer folds (stratified k-fold schemes), is
        absent from an outer training set, or (stratified inner folds) has fewer members in
        an outer training set than ``inner_folds``.
    """
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    if splits.scheme.startswith("stratified") and counts.min() < splits.params["n_folds"]:
        n_folds = splits.params["n_folds"]
        c = int(np.argmin(counts))
        raise InputError(
            f"{source}: column {column!r} class {str(classes[c])!r} has {counts[c]} stimuli, "
            f"fewer than the {n_folds} outer folds; expected at least {n_folds} per class "
            "(drop the class or lower decoding.n_folds)"
        )
    least = 1 if grouped else inner_folds
    for k, train in enumerate(splits.train):
        cls, cnt = np.unique(y[train], return_counts=True)
        absent = np.setdiff1d(classes, cls)
        if absent.size or cnt.min() < least:
            name = str(absent[0] if absent.size else cls[int(np.argmin(cnt))])
            have = 0 if absent.size else int(cnt.min())
            raise InputError(
                f"{source}: column {column!r} class {name!r} has {have} stimuli in the "
                f"training set of outer split {k + 1}; expected at least {least}"
                + ("" if grouped else " (decoding.inner_folds)")
                + " per class"
            )


# ---------------------------------------------------------------------------------------------
# Splits and permutations
# ---------------------------------------------------------------------------------------------


def _check_folds(n_folds, n: int, name: str = "n_folds") -> int:
    if isinstance(n_folds, bool) or not isinstance(n_folds, int | np.integer) or n_folds < 2:
        raise InputError(f"{name} is {n_folds!r}; expected an int >= 2")
    if n_folds > n:
        raise InputError(f"{name} is {n_folds} for {n} stimuli; expected at most {n}")
    return int(n_folds)


def stratified_splits(y, n_folds: int = 5, seed: int = 0, n_repeats: int = 1) -> Splits:
    """Shuffled, seeded, stratified k-fold splits of labels ``y`` (n_stim,).

    Repeat ``r`` is ``StratifiedKFold(n_folds, shuffle=True, random_state=seed + r)
    .split(y, y)`` (seeds as in :func:`dnnmap.stats.splits.make_splits`), as a
    :class:`~dnnmap.stats.splits.Splits` of scheme ``stratified_kfold``
    (``stratified_repeated_kfold``
    when ``n_repeats > 1``).
    """
    y = np.asarray(y)
    n_folds = _check_folds(n_folds, y.size)
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int | np.integer) or n_repeats < 1:
        raise InputError(f"n_repeats is {n_repeats!r}; expected an int >= 1")
    train, test, repeat = [], [], []
    for r in range(int(n_repeats)):
        cv = StratifiedKFold(n_folds, shuffle=True, random_state=seed + r)
        for tr, te in cv.split(y, y):
            train.append(tr.astype(np.intp))
            test.append(te.astype(np.intp))
            repeat.append(r)
    params = {"n_folds": n_folds, "seed": seed}
    scheme = "stratified_kfold"
    if n_repeats > 1:
        params["n_repeats"] = int(n_repeats)
        scheme = "stratified_repeated_kfold"
    return Splits(y.size, train, test, np.asarray(repeat, np.int64), scheme, params)


def label_permutations(n: int, n_perm: int, seed: int = 0) -> np.ndarray:
    """Row permutations for the permutation test.

    Returns
    -------
    perms : int array of shape (n_perm, n)
        Row ``i`` holds a permutation of ``range(n)``: permuted labels are ``y[perms[i]]``.
        From ``np.random.default_rng(seed)``, drawn in one call (no loop).
    """
    if isinstance(n_perm, bool) or not isinstance(n_perm, int | np.integer) or n_perm < 0:
        raise InputError(f"n_perm is {n_perm!r}; expected an int >= 0")
    rng = np.random.default_rng(seed)
    return rng.permuted(np.broadcast_to(np.arange(n), (int(n_perm), n)), axis=1)


def _pvalue(observed: float, null: np.ndarray) -> float:
    """:func:`dnnmap.stats.inference.permutation_pvalue` (greater); NaN without permutations."""
    return float("nan") if null.size == 0 else float(permutation_pvalue(observed, null))


# ---------------------------------------------------------------------------------------------
# Nested-CV classifier
# ---------------------------------------------------------------------------------------------


def _check_grid(values, name: str) -> np.ndarray:
    a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise InputError(f"{name} are {values!r}; expected a non-empty list of positive numbers")
    return a


def _check_features(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"{name} has shape {X.shape}; expected (n_stim, n_features)")
    if not np.isfinite(X).all():
        raise InputError(f"{name} contains NaN or inf; expected finite features")
    return X


class _Standardize:
    """Training-row standardization, then principal coordinates when p > n_train (only with
    ``coordinates``: exact for L2 linear classifiers, not for others).

    Attributes: ``train`` (n_train, r) design to fit on; ``transform(X)`` maps new rows.
    """

    def __init__(self, X, coordinates: bool = True):
        self.scaler = StandardScaler().fit(X)
        Xs = self.scaler.transform(X)
        self.Vt = None
        if coordinates and Xs.shape[1] > Xs.shape[0]:
            U, s, Vt = np.linalg.svd(Xs, full_matrices=False)
            keep = s > s.max(initial=0.0) * max(Xs.shape) * np.finfo(np.float64).eps
            self.Vt = Vt[keep]
            self.train = U[:, keep] * s[keep]
        else:
            self.train = Xs

    def transform(self, X) -> np.ndarray:
        Xs = self.scaler.transform(X)
        return Xs if self.Vt is None else Xs @ self.Vt.T


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier of categorical attributes: a built-in name or an import path.

    Attributes
    ----------
    name : str
        ``logistic``, ``svm`` or the dotted import path of a scikit-learn style classifier
        (e.g. ``sklearn.neighbors.KNeighborsClassifier``).
    params : tuple of (str, value)
        Keyword arguments of an import-path classifier.
    """

    name: str
    params: tuple = ()

    @property
    def linear(self) -> bool:
        """Built-in L2 linear classifier (fitted on principal coordinates when p > n)."""
        return self.name in CLASSIFIERS

    def make(self, C: float | None = None):
        """A new unfitted classifier; ``C`` set where the classifier has one."""
        if self.name == "logistic":
            return LogisticRegression(C=C, max_iter=1000)
        if self.name == "svm":
            return LinearSVC(C=C)
        from dnnmap.encoding.estimators import estimator_from_path

        clf = estimator_from_path(self.name, dict(self.params), key="decoding.estimators")
        if C is not None and np.isfinite(C):
            clf.set_params(C=C)
        return clf

    def grid(self, Cs) -> np.ndarray:
        """The ``C`` grid to search: ``Cs`` when the classifier takes ``C``, else ``[nan]``."""
        if self.linear or "C" in self.make().get_params():
            return _check_grid(Cs, "Cs")
        return np.array([np.nan])


def classifier_spec(estimator, params=None) -> ClassifierSpec:
    """Check a classifier name or import path (and its params) and return its spec.

    Raises
    ------
    InputError
        An unknown name, a path that does not import, or a class without ``fit`` and
        ``predict`` (named with the config key ``decoding.estimators``).
    """
    if isinstance(estimator, ClassifierSpec):
        return estimator
    if isinstance(estimator, str) and estimator in CLASSIFIERS:
        return ClassifierSpec(estimator)
    if not (isinstance(estimator, str) and "." in estimator):
        raise InputError(
            f"estimator is {estimator!r}; expected one of {', '.join(CLASSIFIERS)} or the "
            "import path of a classifier (e.g. sklearn.neighbors.KNeighborsClassifier)"
        )
    spec = ClassifierSpec(estimator, tuple(sorted(dict(params or {}).items())))
    spec.make()  # imports and instantiates: errors now, not in a worker process
    return spec


class _Prepared:
    """Label-independent work for one training set: standardized inner splits and the
    standardized training rows, with the test rows mapped; reused by every permutation.

    Parameters
    ----------
    X : array of shape (n, p)
        Training rows.
    pairs : list of (train, test)
        Inner splits, row indices into ``X``.
    X_test : array of shape (m, p), optional
        Rows to predict after the refit.
    coordinates : bool
        Fit on principal coordinates when p > n (built-in linear classifiers).
    """

    def __init__(self, X, pairs, X_test=None, coordinates: bool = True):
        self.pairs = pairs
        self.inner = []
        for tr, te in pairs:
            prep = _Standardize(X[tr], coordinates)
            self.inner.append((prep.train, prep.transform(X[te])))
        self.full = _Standardize(X, coordinates)
        self.test = None if X_test is None else self.full.transform(X_test)


def _select_and_fit(prepared: _Prepared, y, spec: ClassifierSpec, Cs: np.ndarray):
    """Mean inner accuracy per C (n_Cs,), the chosen C and the refitted classifier.

    A single candidate (a classifier without ``C``: ``Cs = [nan]``) skips the inner CV.
    """
    scores = np.full(Cs.size, np.nan)
    if Cs.size > 1:
        scores[:] = 0.0
        for (tr, te), (Ztr, Zte) in zip(prepared.pairs, prepared.inner, strict=True):
            for i, C in enumerate(Cs):
                pred = spec.make(C).fit(Ztr, y[tr]).predict(Zte)
                scores[i] += np.mean(pred == y[te])
        scores /= len(prepared.pairs)
    C = float(Cs[int(np.argmax(scores))]) if Cs.size > 1 else float(Cs[0])
    return scores, C, spec.make(C).fit(prepared.full.train, y)


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _inner_pairs(inner_cv, X, y, random_state) -> list:
    """Inner (train, test) pairs of the rows of X.

    An int gives ``StratifiedKFold(inner_cv, shuffle=True, random_state=random_state)`` on
    ``y``; a splitter gives ``inner_cv.split(X, y)``; a list of pairs is used as it is.
    """
    if _is_int(inner_cv):
        if not 2 <= inner_cv <= len(y):
            raise InputError(f"inner_folds is {inner_cv}; expected an int from 2 to {len(y)}")
        inner_cv = StratifiedKFold(int(inner_cv), shuffle=True, random_state=random_state)
    if hasattr(inner_cv, "split"):
        with warnings.catch_warnings():  # permuted labels may leave a class small
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            pairs = list(inner_cv.split(X, y))
    elif isinstance(inner_cv, list | tuple):
        pairs = list(inner_cv)
    else:
        raise InputError(
            f"inner_folds is {inner_cv!r}; expected an int, a splitter or (train, test) pairs"
        )
    return [(np.asarray(tr, np.intp), np.asarray(te, np.intp)) for tr, te in pairs]


class NestedCVClassifier(ClassifierMixin, BaseEstimator):
    """Standardize, then a linear classifier with ``C`` chosen by inner stratified CV.

    Equivalent to ``GridSearchCV(Pipeline([StandardScaler(), clf]), {"C": Cs},
    cv=StratifiedKFold(inner_cv, shuffle=True, random_state=random_state))`` (see the module
    docstring for the principal-coordinate fit when p > n).

    Parameters
    ----------
    estimator : {"logistic", "svm"}, str or ClassifierSpec
        ``LogisticRegression(C=C, max_iter=1000)``, ``LinearSVC(C=C)``, or a classifier by
        import path (:func:`classifier_spec`; fitted on the standardized features).
    Cs : sequence of float
        Candidate inverse penalties, tried in this order (ties go to the first); ignored by
        a classifier without a ``C`` parameter (then no inner CV).
    inner_cv : int or list of (train, test) pairs
        int: ``StratifiedKFold(inner_cv, shuffle=True, random_state=random_state)`` on the
        labels passed to ``fit``.
    random_state : int
        Seed of the inner folds.

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
    C_ : float
        Chosen ``C``.
    cv_scores_ : array of shape (n_Cs,)
        Mean inner accuracy per ``C``.
    estimator_ : LogisticRegression or LinearSVC
        Refitted on all rows with ``C_`` (on principal coordinates when p > n).
    """

    def __init__(self, estimator="logistic", Cs=DEFAULT_CS, inner_cv=3, random_state=0):
        self.estimator = estimator
        self.Cs = Cs
        self.inner_cv = inner_cv
        self.random_state = random_state

    def fit(self, X, y) -> NestedCVClassifier:
        """Choose ``C`` by inner CV on X (n, p) and labels y (n,); refit on all rows."""
        spec = classifier_spec(self.estimator)
        X = _check_features(X)
        y = np.asarray(y)
        Cs = spec.grid(self.Cs)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise InputError(f"y has one class ({str(self.classes_[0])!r}); expected at least 2")
        pairs = _inner_pairs(self.inner_cv, X, y, self.random_state)
        prepared = _Prepared(X, pairs, coordinates=spec.linear)
        self.cv_scores_, self.C_, self.estimator_ = _select_and_fit(prepared, y, spec, Cs)
        self.prep_ = prepared.full
        return self

    def decision_function(self, X) -> np.ndarray:
        """Decision values, shape (m,) for two classes, else (m, n_classes)."""
        return self.estimator_.decision_function(self.prep_.transform(_check_features(X)))

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (m,)."""
        return self.estimator_.predict(self.prep_.transform(_check_features(X)))


# ---------------------------------------------------------------------------------------------
# Cross-validated decoding with a permutation test
# ---------------------------------------------------------------------------------------------


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

    @property
    def score(self) -> float:
        """Mean fold score (the permutation test's statistic)."""
        return float(np.mean(self.fold_scores))


def _fold_index(splits: Splits) -> np.ndarray:
    folds = np.full((max(splits.n_repeats, 1), splits.n), -1, dtype=np.int64)
    for k, (test, rep) in enumerate(zip(splits.test, splits.repeat, strict=True)):
        folds[rep, test] = k
    return folds


def _check_splits(splits: Splits, n: int) -> None:
    if not isinstance(splits, Splits):
        raise InputError(
            f"splits is {type(splits).__name__}; expected a dnnmap.stats.splits.Splits"
        )
    if splits.n != n:
        raise InputError(f"splits are over {splits.n} stimuli; expected {n} (rows of X)")
    if len(splits) == 0:
        raise InputError("splits hold no (train, test) pair; expected at least one")


def _grouped(inner_folds, groups, train):
    """Grouped inner pairs of one outer training set when ``groups`` are given, else as is."""
    if groups is None or not _is_int(inner_folds):
        return inner_folds
    return inner_splits(train, "group", n_folds=int(inner_folds), groups=groups)


def _prepare_folds(
    X, codes, splits: Splits, inner_folds, seed, groups, coordinates=True
) -> list[_Prepared]:
    """One :class:`_Prepared` per outer split; inner folds stratified on the observed labels
    (grouped when ``groups`` are given)."""
    folds = []
    for train, test in zip(splits.train, splits.test, strict=True):
        inner = _grouped(inner_folds, groups, train)
        pairs = _inner_pairs(inner, X[train], codes[train], seed)
        folds.append(_Prepared(X[train], pairs, X[test], coordinates))
    return folds


def _fold_predictions(folds: list[_Prepared], splits: Splits, y, spec, Cs) -> tuple:
    """Test-set predictions of each outer split and the chosen C (n_splits,), for labels y."""
    preds, params = [], np.empty(len(folds))
    for k, (fold, train) in enumerate(zip(folds, splits.train, strict=True)):
        _, params[k], clf = _select_and_fit(fold, y[train], spec, Cs)
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


def _decode_categorical(X, y, splits, spec, Cs, inner_folds, seed, perms, n_jobs, groups):
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    if classes.size < 2:
        raise InputError(f"y has one class ({str(classes[0])!r}); expected at least 2 to decode")
    folds = _prepare_folds(X, codes, splits, inner_folds, seed, groups, spec.linear)
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


def _decode_continuous(X, y, splits, alphas, inner_folds, seed, perms, groups):
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
        prep = StandardScaler().fit(X[train])
        inner = _grouped(inner_folds, groups, train)
        if _is_int(inner):
            n_inner = _check_folds(inner_folds, train.size, "inner_folds")
            inner = KFold(n_inner, shuffle=True, random_state=seed)
        ridge = RidgeCV(alphas=alphas, cv=inner, device="numpy").fit(
            prep.transform(X[train]), Y[train]
        )
        P = np.asarray(ridge.predict(prep.transform(X[test])), dtype=np.float64)
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


def cross_validated_decoding(
    X,
    y,
    splits: Splits,
    *,
    estimator: str = "logistic",
    Cs: Sequence[float] = DEFAULT_CS,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
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
    X : array of shape (n_stim, p)
        Features (layer features or brain responses); finite.
    y : array of shape (n_stim,)
        Class labels (``logistic``, ``svm``) or values (``ridge``).
    splits : Splits
        Outer splits over the ``n_stim`` rows (e.g. :func:`stratified_splits`).
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
        Seed of the inner folds and of :func:`label_permutations`.
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
    X = _check_features(X)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise InputError(f"y has shape {y.shape}; expected ({X.shape[0]},) as rows of X")
    _check_splits(splits, X.shape[0])
    if groups is not None and np.shape(groups) != (X.shape[0],):
        raise InputError(f"groups have shape {np.shape(groups)}; expected ({X.shape[0]},)")
    if permutations is None:
        perms = label_permutations(X.shape[0], n_perm, seed)
    else:
        perms = np.asarray(permutations, dtype=np.intp)
        if perms.ndim != 2 or perms.shape[1] != X.shape[0]:
            raise InputError(
                f"permutations have shape {perms.shape}; expected (n_perm, {X.shape[0]})"
            )
    if estimator in REGRESSORS:
        alphas = _check_grid(alphas, "alphas")
        return _decode_continuous(X, y, splits, alphas, inner_folds, seed, perms, groups)
    if isinstance(estimator, str) and estimator not in CLASSIFIERS and "." not in estimator:
        raise InputError(
            f"estimator is {estimator!r}; expected one of {', '.join(CLASSIFIERS + REGRESSORS)} "
            "or the import path of a classifier"
        )
    spec = classifier_spec(estimator, estimator_params)
    Cs = spec.grid(Cs)
    return _decode_categorical(X, y, splits, spec, Cs, inner_folds, seed, perms, n_jobs, groups)


# ---------------------------------------------------------------------------------------------
# Files: read inputs, run, write
# ---------------------------------------------------------------------------------------------


def attribute_kind(attribute: str, settings: dict) -> str:
    """``continuous`` if ``attribute`` is listed under ``settings["continuous"]``, else
    ``categorical``."""
    return "continuous" if attribute in (settings.get("continuous") or []) else "categorical"


def _finite_columns(X: np.ndarray, source) -> np.ndarray:
    bad = ~np.isfinite(X).all(axis=0)
    if bad.all():
        raise InputError(f"{source}: every column has NaN or inf; expected finite responses")
    if bad.any():
        LOG.warning("%s: %d of %d columns have NaN or inf; left out", source, bad.sum(), bad.size)
        return X[:, ~bad]
    return X


def decoding_splits(
    table: pd.DataFrame, y, kind: str, settings: dict, table_path: str
) -> tuple[Splits, np.ndarray | None]:
    """Outer splits (and inner-CV groups) of a decoding job.

    Parameters
    ----------
    table : DataFrame
        The stimulus table, in stimulus order.
    y : array of shape (n_stim,)
        The attribute (labels or values).
    kind : {"categorical", "continuous"}
    settings : dict
        The ``decoding`` section: ``n_folds`` and ``seed``, and an optional ``cv`` mapping
        with the keys of :func:`dnnmap.stats.splits.splits_from_table` (``scheme``, ``n_folds``,
        ``n_repeats``, ``seed``, ``column``), which overrides them.
    table_path : str
        Named in messages.

    Returns
    -------
    splits : Splits
        ``kfold``/``repeated_kfold`` of a categorical attribute: :func:`stratified_splits`
        (every fold holds every class); any other case:
        :func:`dnnmap.stats.splits.splits_from_table`
        (``kfold`` is then :func:`dnnmap.stats.splits.make_splits`'s, the encoding folds).
    groups : str array of shape (n_stim,) or None
        Group labels for grouped inner folds (scheme ``group``), else None.
    """
    cv = {"n_folds": settings.get("n_folds", 5), "seed": settings.get("seed", 0)}
    cv.update(settings.get("cv") or {})
    groups = groups_from_table(table, cv, table_path, key="decoding.cv")  # validates cv
    scheme = cv.get("scheme", "kfold")
    if kind == "categorical" and scheme in ("kfold", "repeated_kfold"):
        return stratified_splits(y, cv["n_folds"], cv["seed"], cv.get("n_repeats", 1)), None
    return splits_from_table(table, cv, table_path, key="decoding.cv"), groups


def run_decoding(
    stimuli_path: str,
    source_path: str,
    dataset: str,
    attribute: str,
    settings: dict,
    n_jobs: int = 1,
) -> tuple[dict[str, DecodingResult], Splits, list[str]]:
    """Decode one attribute of the stimulus table from one features or responses file.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``: stimulus order and the attribute column.
    source_path : str
        ``results/features/{model}/{layer}.h5`` or ``results/brain/{subject}/{roi}.h5``.
    dataset : str
        ``features`` or ``responses`` (n_stim, k); columns with NaN/inf are left out.
    attribute : str
        Column of the stimulus table.
    settings : dict
        The config's ``decoding`` section: ``continuous``, ``estimators``, ``Cs``,
        ``alphas``, ``n_folds``, ``inner_folds``, ``n_perm``, ``seed`` and optionally ``cv``
        (see :func:`decoding_splits`).
    n_jobs : int
        Processes for classifier permutations.

    Returns
    -------
    results : dict of str to DecodingResult
        One per estimator (``ridge`` alone for a continuous attribute).
    splits : Splits
        The outer splits.
    stim_ids : list of str
    """
    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    kind = attribute_kind(attribute, settings)
    y = attribute_values(table, attribute, kind, stimuli_path)
    with h5py.File(source_path, "r") as f:
        if dataset not in f or "stim_id" not in f:
            raise InputError(f"{source_path}: no {dataset!r} or 'stim_id' dataset")
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), stimuli_path, source_path)
        X = _finite_columns(np.asarray(f[dataset][()], dtype=np.float64), source_path)
    inner, seed = settings["inner_folds"], settings["seed"]
    splits, groups = decoding_splits(table, y, kind, settings, stimuli_path)
    if kind == "categorical":
        estimators = list(settings.get("estimators") or ["logistic"])
        unknown = [e for e in estimators if e not in CLASSIFIERS and "." not in str(e)]
        if unknown:
            raise InputError(
                f"decoding.estimators has {unknown[0]!r}; expected {', '.join(CLASSIFIERS)} "
                "or a classifier's import path (continuous attributes always use ridge)"
            )
        check_class_counts(y, splits, inner, attribute, stimuli_path, grouped=groups is not None)
    else:
        estimators = ["ridge"]
    results = {}
    for est in estimators:
        results[est] = cross_validated_decoding(
            X,
            y,
            splits,
            estimator=est,
            Cs=settings.get("Cs", DEFAULT_CS),
            alphas=settings.get("alphas", DEFAULT_ALPHAS),
            inner_folds=inner,
            n_perm=settings["n_perm"],
            seed=seed,
            n_jobs=n_jobs,
            groups=groups,
            estimator_params=(settings.get("estimator_params") or {}).get(est),
        )
        LOG.info(
            "%s %s (%s): %s %.3f (sd %.3f over %d folds), chance %.3f, p %.4g (%d permutations)",
            attribute,
            est,
            kind,
            results[est].metric,
            results[est].score,
            np.std(results[est].fold_scores),
            len(splits),
            results[est].chance,
            results[est].pvalue,
            results[est].null.size,
        )
    return results, splits, stim_ids


def write_decoding(
    path: str | os.PathLike,
    results: dict[str, DecodingResult],
    splits: Splits,
    stim_ids: Sequence[str],
    attribute: str,
    settings: dict,
    attrs: dict,
) -> None:
    """Write a decoding file atomically.

    Layout: root ``stim_id (n_stim,)``, ``classes (n_classes,)`` (categorical) and one group
    per estimator with ``predictions (n_repeats, n_stim)``, ``folds (n_repeats, n_stim)``,
    ``fold_scores (n_splits,)``, ``param (n_splits,)`` (C or alpha), ``null (n_perm,)``,
    scalars ``score``, ``pvalue``, ``chance`` and, for classifiers,
    ``fold_balanced_accuracy (n_splits,)`` and ``confusion (n_splits, n_classes, n_classes)``,
    for ridge ``fold_r2 (n_splits,)``. Root attrs: ``attribute``, ``kind``, ``estimators``
    (JSON list), ``metric``, ``cv`` (JSON) and the provenance in ``attrs``.
    """
    datasets = {}
    first = next(iter(results.values()))
    if first.classes is not None:
        datasets["classes"] = first.classes
    for est, res in results.items():
        datasets.update(
            {
                f"{est}/predictions": res.predictions,
                f"{est}/folds": res.folds,
                f"{est}/fold_scores": res.fold_scores,
                f"{est}/param": res.param,
                f"{est}/null": res.null,
                f"{est}/score": np.float64(res.score),
                f"{est}/pvalue": np.float64(res.pvalue),
                f"{est}/chance": np.float64(res.chance),
            }
        )
        for name in ("fold_balanced_accuracy", "confusion", "fold_r2"):
            if getattr(res, name) is not None:
                datasets[f"{est}/{name}"] = getattr(res, name)
    cv = {
        "outer": splits.scheme,
        **splits.params,
        "inner_folds": settings["inner_folds"],
        "n_perm": int(first.null.size),
        "permutation_seed": settings["seed"],
    }
    if first.metric == "accuracy":
        cv["Cs"] = list(settings.get("Cs", DEFAULT_CS))
    else:
        cv["alphas"] = list(settings.get("alphas", DEFAULT_ALPHAS))
    write_h5(
        path,
        datasets,
        attrs={
            **attrs,
            "attribute": attribute,
            "kind": "categorical" if first.metric == "accuracy" else "continuous",
            "estimators": json.dumps(list(results)),
            "metric": first.metric,
            "cv": json.dumps(cv),
        },
        stim_id=stim_ids,
    )


def read_decoding(path: str | os.PathLike) -> dict:
    """Read a decoding file.

    Returns
    -------
    dict
        ``attribute``, ``kind``, ``metric``, ``cv`` (dict), ``stim_id`` (list),
        ``classes`` (list or None) and ``estimators``: estimator name -> dict of its arrays
        and scalars (see :func:`write_decoding`).
    """
    with h5py.File(path, "r") as f:
        out = {
            "attribute": str(f.attrs["attribute"]),
            "kind": str(f.attrs["kind"]),
            "metric": str(f.attrs["metric"]),
            "cv": json.loads(f.attrs["cv"]),
            "stim_id": read_strings(f["stim_id"]),
            "classes": read_strings(f["classes"]) if "classes" in f else None,
            "estimators": {},
        }
        for est in json.loads(f.attrs["estimators"]):
            group = f[est]
            values = {}
            for key in group:
                data = group[key]
                if key == "predictions" and data.dtype.kind == "O":
                    values[key] = np.array(
                        [
                            [s.decode() if isinstance(s, bytes) else s for s in row]
                            for row in data[()]
                        ]
                    )
                else:
                    values[key] = data[()]
            out["estimators"][est] = values
    return out
