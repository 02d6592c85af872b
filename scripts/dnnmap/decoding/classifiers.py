"""Classifiers of categorical attributes: built-in L2 linear ones or any by import path.

:class:`ClassifierSpec` names a classifier (``logistic``: ``LogisticRegression(C=C,
max_iter=1000)``, multinomial, L2, lbfgs; ``svm``: ``LinearSVC(C=C)``, one-vs-rest, squared
hinge; or the dotted import path of a scikit-learn style classifier built with its params).
:class:`NestedCVClassifier` standardizes the features with the training rows (``StandardScaler``
fitted on training rows only, in the inner folds as in the outer ones) and chooses ``C`` from a
grid by mean inner accuracy (first ``C`` of the grid on ties) on shuffled, seeded, stratified
inner folds (:func:`dnnmap.stats.splits.stratified_pairs`), then refits on all training rows.
This is ``GridSearchCV(Pipeline([StandardScaler(), clf]), {"C": Cs},
cv=StratifiedKFold(inner_folds, shuffle=True, random_state=seed))``. A classifier without a
``C`` parameter has no inner CV.

When a training set has more features than rows (brain ROIs with thousands of voxels), the
built-in classifiers are fitted on the training rows' principal coordinates ``Z = U S`` of the
standardized design ``Xs = U S Vt`` (test rows ``Xs_test @ Vt.T``) instead of ``Xs``. The
L2-penalized optimum lies in the row space of the training design, so this is an exact
reparametrization (same decision function, ``||w|| = ||beta||``) for both, and each solver
iteration costs ``n x n`` instead of ``n x p``. Import-path classifiers are fitted on the
standardized features (principal coordinates are exact only for L2 linear models).

:class:`PreparedFold` holds the label-free work of one training set (standardization and
principal coordinates of it and of its inner folds), which :func:`select_and_fit` reuses for
every label permutation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from dnnmap.checks import check_matrix
from dnnmap.errors import InputError
from dnnmap.stats.splits import stratified_pairs

CLASSIFIERS = ("logistic", "svm")
"""Built-in estimators for categorical attributes."""

DEFAULT_CS = (0.01, 0.1, 1.0, 10.0, 100.0)
"""Default grid of the inverse penalty ``C`` of the classifiers."""


def check_grid(values, name: str) -> np.ndarray:
    """A penalty grid (``Cs``, ``alphas``) as a non-empty 1-D float64 array of positive values."""
    a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise InputError(f"{name} are {values!r}; expected a non-empty list of positive numbers")
    return a


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
            # through the (n_train, n_train) Gram matrix: for p >> n_train (every unit of a
            # layer) far cheaper than an SVD of Xs, and the same coordinates
            w, U = np.linalg.eigh(Xs @ Xs.T)
            w, U = w[::-1], U[:, ::-1]
            keep = w > w.max(initial=0.0) * max(Xs.shape) * np.finfo(np.float64).eps
            s = np.sqrt(w[keep])
            self.Vt = (U[:, keep].T @ Xs) / s[:, None]
            self.train = U[:, keep] * s
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
            return check_grid(Cs, "Cs")
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


class PreparedFold:
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


def select_and_fit(prepared: PreparedFold, y, spec: ClassifierSpec, Cs: np.ndarray):
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
        X = check_matrix(X)
        y = np.asarray(y)
        Cs = spec.grid(self.Cs)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise InputError(f"y has one class ({str(self.classes_[0])!r}); expected at least 2")
        pairs = stratified_pairs(self.inner_cv, y, self.random_state, X=X)
        prepared = PreparedFold(X, pairs, coordinates=spec.linear)
        self.cv_scores_, self.C_, self.estimator_ = select_and_fit(prepared, y, spec, Cs)
        self.prep_ = prepared.full
        return self

    def decision_function(self, X) -> np.ndarray:
        """Decision values, shape (m,) for two classes, else (m, n_classes)."""
        return self.estimator_.decision_function(self.prep_.transform(check_matrix(X)))

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (m,)."""
        return self.estimator_.predict(self.prep_.transform(check_matrix(X)))
