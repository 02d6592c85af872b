"""Advanced RSA: reweighted and remixed layer RDMs, and variance partitioning of brain RDMs.

Reweighting (Khaligh-Razavi & Kriegeskorte 2014; rsatoolbox's weighted models). A brain RDM
``y`` is modeled as a non-negative combination of ``m`` layer RDMs ``A`` (columns), fitted by
non-negative least squares (``scipy.optimize.nnls``)::

    min_{w >= 0, c}  | y - A w - c |^2

With ``intercept=True`` (default) the offset ``c`` is free: for any ``w`` the best ``c`` is
``mean(y) - mean(A) w``, so the fit is NNLS of the centered ``y`` on the centered columns of
``A`` (brain dissimilarities such as ``1 - r`` rarely reach 0, and the usual evaluation
measures ignore an offset). ``intercept=False`` is the classical NNLS without offset.
Cross-validation is over *stimuli* (:func:`held_out_folds`): the weights are fitted on the
pairs among the training stimuli and evaluated on the pairs among the held-out stimuli, so no
test stimulus has been seen (a pair-level split would leak stimuli).

Remixing (Kriegeskorte & Diedrichsen 2016's "remixed" features). A multinomial logistic
regression (``sklearn.linear_model.LogisticRegression``, after ``StandardScaler`` by default)
learns stimulus categories from a layer's features; its out-of-fold decision values
``(n_stim, n_classes)`` (one column for two classes), predicted for each stimulus by the model
that did not see it (stratified folds), are the remixed patterns whose RDM is compared with
the brain RDM.

Variance partitioning (commonality analysis). For every non-empty subset ``S`` of ``k`` (2-4)
model RDMs, ``R2(S)`` is the coefficient of determination of the ordinary least squares fit
(with intercept) of the vectorized brain RDM on the RDMs in ``S``. With
``h(U) = R2(all) - R2(all - U)`` (the variance lost without the models in ``U``), the variance
explained by exactly the models in ``T`` and by no other (one Venn region) is, by
inclusion-exclusion (Moebius inversion), ``C(T) = sum_{U in T} (-1)^(|T| - |U|) h(U)``. For two
models: ``unique_a = R2(ab) - R2(b)`` and ``shared = R2(a) + R2(b) - R2(ab)``; the regions sum
to ``R2(all)``. Shared regions can be negative (suppression).

Reweighting of units: :mod:`dnnmap.rsa.units`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from dnnmap.checks import check_count
from dnnmap.errors import InputError
from dnnmap.rsa.checks import as_rdms, check_same_pairs
from dnnmap.rsa.inference import similarity
from dnnmap.rsa.rdm import n_stimuli, pair_offset
from dnnmap.stats.splits import check_stimulus_folds, stimulus_folds, stratified_pairs

MIN_FOLD_STIMULI = 3
"""Fewest training and test stimuli of a fold (a test set of 3 stimuli has 3 pairs)."""


def held_out_folds(
    n: int, n_splits: int = 5, seed: int = 0, splits=None, groups=None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stimulus folds of a cross-validated RSA fit, checked.

    Parameters
    ----------
    n : int
        Number of stimuli.
    n_splits, seed : int
        Folds of :func:`dnnmap.stats.splits.stimulus_folds` (ignored when ``splits`` given).
    splits : list of (train, test) int arrays, optional
        Explicit folds.
    groups : array of shape (n,), optional
        Group label per stimulus: whole groups are held out.

    Returns
    -------
    list of (train, test) int64 arrays
        At least :data:`MIN_FOLD_STIMULI` stimuli on each side of every fold.
    """
    if splits is None:
        splits = stimulus_folds(n, n_splits, seed, groups=groups, min_test=MIN_FOLD_STIMULI)
    return check_stimulus_folds(splits, n, MIN_FOLD_STIMULI)


# --- stimulus-level cross-validation ----------------------------------------------------------


def pair_index(n: int, stimuli) -> np.ndarray:
    """Condensed indices of the pairs among a subset of stimuli.

    Parameters
    ----------
    n : int
        Number of stimuli of the full RDM.
    stimuli : int array of shape (k,)
        Distinct stimulus indices in ``range(n)``.

    Returns
    -------
    index : int64 array of shape (k * (k - 1) / 2,)
        ``rdm[index]`` is the RDM of ``stimuli`` (in their given order, ``pdist`` order), i.e.
        ``pdist(X[stimuli])`` for ``rdm = pdist(X)``.
    """
    s = np.asarray(stimuli, dtype=np.int64)
    if s.ndim != 1 or len(np.unique(s)) != len(s) or (s < 0).any() or (s >= n).any():
        raise InputError(f"stimuli has shape {s.shape}; expected distinct indices in [0, {n})")
    a, b = np.triu_indices(len(s), 1)
    lo, hi = np.minimum(s[a], s[b]), np.maximum(s[a], s[b])
    return pair_offset(lo, n) + hi - lo - 1


@dataclass(frozen=True)
class CVResult:
    """Cross-validated fit of a reweighted RDM model.

    Attributes
    ----------
    score : float
        Mean over folds of ``fold_scores``.
    fold_scores : array of shape (n_splits,)
        Similarity (``method``) of the predicted and measured test-stimulus RDMs.
    weights : array of shape (n_splits, k)
        Non-negative weights of each fold (layers, components or unit groups).
    intercepts : array of shape (n_splits,)
    splits : list of (train, test) int arrays
    method : str
    """

    score: float
    fold_scores: np.ndarray
    weights: np.ndarray
    intercepts: np.ndarray
    splits: list
    method: str


# --- reweighting ------------------------------------------------------------------------------


def nnls_fit(A, y, intercept: bool = True) -> tuple[np.ndarray, float]:
    """Non-negative least squares with an optional free offset.

    Parameters
    ----------
    A : array of shape (n_pairs, k)
        Predictor RDMs as columns.
    y : array of shape (n_pairs,)
        Target RDM.
    intercept : bool
        Fit a free (unconstrained) offset ``c`` (see the module docstring).

    Returns
    -------
    w : array of shape (k,)
        ``argmin_{w >= 0} |y - A w - c|``, as ``scipy.optimize.nnls``.
    c : float
        The offset (0 without intercept).
    """
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not intercept:
        return scipy.optimize.nnls(A, y)[0], 0.0
    a_mean, y_mean = A.mean(axis=0), y.mean()
    w = scipy.optimize.nnls(A - a_mean, y - y_mean)[0]
    return w, float(y_mean - a_mean @ w)


class ShrunkNNLS:
    """Non-negative least squares whose weights are shrunk toward one common weight.

    ``min_{w >= 0, b >= 0, c} |y - A w - c|^2 + shrinkage * |w - b 1|^2``: with
    ``shrinkage = 0`` it is :func:`nnls_fit`; as it grows the weights tend to a common ``b``,
    i.e. a scaled sum of the columns (for unit RDMs, the unweighted layer RDM); ``inf`` fits
    ``b`` alone. The data term is reduced once to ``k`` rows (the Cholesky factor of the
    column-normalized Gram matrix ``A.T A``), so each :meth:`fit` costs an NNLS of
    ``2k x (k + 1)``, whatever the number of pairs, and several penalties share the reduction.

    Parameters
    ----------
    A : array of shape (n_pairs, k)
        Predictor RDMs as columns.
    y : array of shape (n_pairs,)
    intercept : bool
        Free offset ``c`` (columns and ``y`` centered first).

    Attributes
    ----------
    scale : float
        Mean squared norm of the (centered) columns: a natural unit of ``shrinkage``.
    """

    def __init__(self, A, y, intercept: bool = True):
        A = np.asarray(A, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if A.ndim != 2 or y.shape != (A.shape[0],):
            raise InputError(f"A has shape {A.shape} and y {y.shape}; expected (n, k) and (n,)")
        self.a_mean = A.mean(axis=0) if intercept else np.zeros(A.shape[1])
        self.y_mean = float(y.mean()) if intercept else 0.0
        Ac, yc = A - self.a_mean, y - self.y_mean
        norms = np.sqrt(np.einsum("pk,pk->k", Ac, Ac))
        self.scale = float(np.mean(norms**2))
        self.norms = np.where(norms > 0, norms, 1.0)
        As = Ac / self.norms
        M, b = As.T @ As, As.T @ yc
        k = M.shape[0]
        L = np.linalg.cholesky(M + 1e-10 * np.eye(k))
        self.R = L.T  # |yc - As v|^2 = |rhs - R v|^2 + const
        self.rhs = np.linalg.solve(L, b)
        self.total_y = float(self.norms @ b)  # (A 1) . yc
        self.total_sq = float(self.norms @ M @ self.norms)  # |A 1|^2

    def fit(self, shrinkage: float) -> tuple[np.ndarray, float]:
        """Weights ``w`` (k,) and offset ``c`` for the penalty ``shrinkage`` (>= 0 or inf)."""
        if not shrinkage >= 0:
            raise InputError(f"shrinkage is {shrinkage!r}; expected a number >= 0 or inf")
        k = self.R.shape[0]
        if np.isinf(shrinkage):
            common = self.total_y / self.total_sq if self.total_sq > 0 else 0.0
            w = np.full(k, max(common, 0.0))
        elif shrinkage == 0:
            w = scipy.optimize.nnls(self.R, self.rhs, maxiter=50 * (k + 1))[0] / self.norms
        else:
            root = np.sqrt(shrinkage)
            design = np.block(
                [
                    [self.R, np.zeros((k, 1))],
                    [root * np.diag(1.0 / self.norms), -root * np.ones((k, 1))],
                ]
            )
            target = np.concatenate([self.rhs, np.zeros(k)])
            w = scipy.optimize.nnls(design, target, maxiter=50 * (k + 1))[0][:k] / self.norms
        return w, float(self.y_mean - self.a_mean @ w)


def nnls_shrunk(A, y, shrinkage: float, intercept: bool = True) -> tuple[np.ndarray, float]:
    """:class:`ShrunkNNLS` of ``A`` (n_pairs, k) and ``y`` (n_pairs,) at one ``shrinkage``.

    Returns
    -------
    w : array of shape (k,)
    c : float
    """
    return ShrunkNNLS(A, y, intercept).fit(shrinkage)


class RDMReweighting:
    """Non-negative weighted sum of layer RDMs fitted to a brain RDM.

    Parameters
    ----------
    intercept : bool
        Fit a free offset (default) or none (classical NNLS).

    Attributes
    ----------
    weights_ : array of shape (m,)
    intercept_ : float
    """

    def __init__(self, intercept: bool = True):
        self.intercept = intercept

    def fit(self, model_rdms, brain_rdm) -> RDMReweighting:
        """Fit the weights.

        Parameters
        ----------
        model_rdms : array of shape (m, n_pairs)
        brain_rdm : array of shape (n_pairs,)
        """
        A, _ = as_rdms(model_rdms, "model_rdms")
        y, vector = as_rdms(brain_rdm, "brain_rdm")
        if not vector:
            raise InputError(f"brain_rdm has shape {y.shape}; expected one RDM (n_pairs,)")
        check_same_pairs(A, y, ("model_rdms", "brain_rdm"))
        self.weights_, self.intercept_ = nnls_fit(A.T, y[0], self.intercept)
        return self

    def predict(self, model_rdms) -> np.ndarray:
        """The weighted RDM ``weights_ @ model_rdms + intercept_``, shape (n_pairs,)."""
        A, _ = as_rdms(model_rdms, "model_rdms")
        if A.shape[0] != len(self.weights_):
            raise InputError(f"model_rdms has {A.shape[0]} RDMs; the fit had {len(self.weights_)}")
        return self.weights_ @ A + self.intercept_

    def score(self, model_rdms, brain_rdm, method: str = "pearson") -> float:
        """Similarity (``method``, :data:`dnnmap.rsa.inference.METHODS`) with ``brain_rdm``."""
        return float(similarity(self.predict(model_rdms), brain_rdm, method)[0, 0])


def cross_validate_reweighting(
    model_rdms,
    brain_rdm,
    n_splits: int = 5,
    seed: int = 0,
    splits=None,
    method: str = "pearson",
    intercept: bool = True,
    groups=None,
) -> CVResult:
    """Stimulus-level cross-validated reweighting of layer RDMs.

    Parameters
    ----------
    model_rdms : array of shape (m, n_pairs)
    brain_rdm : array of shape (n_pairs,)
    n_splits, seed : int
        Folds of :func:`held_out_folds` (ignored when ``splits`` is given).
    splits : list of (train, test) int arrays, optional
    method : str
        Evaluation measure on the held-out stimuli.
    intercept : bool
    groups : array of shape (n_stim,), optional
        Group label per stimulus; whole groups are held out (ignored when ``splits`` given).

    Returns
    -------
    CVResult
    """
    A, _ = as_rdms(model_rdms, "model_rdms")
    n = n_stimuli(A.shape[1], "model_rdms")
    y = np.asarray(brain_rdm, dtype=np.float64)
    check_same_pairs(A, np.atleast_2d(y), ("model_rdms", "brain_rdm"))
    splits = held_out_folds(n, n_splits, seed, splits, groups)
    scores, weights, offsets = [], [], []
    for train, test in splits:
        tr, te = pair_index(n, train), pair_index(n, test)
        model = RDMReweighting(intercept).fit(A[:, tr], y[tr])
        scores.append(model.score(A[:, te], y[te], method))
        weights.append(model.weights_)
        offsets.append(model.intercept_)
    scores = np.array(scores)
    return CVResult(
        float(scores.mean()), scores, np.array(weights), np.array(offsets), splits, method
    )


# --- remixing ---------------------------------------------------------------------------------


def remix_decision(
    features, labels, n_splits: int = 5, seed: int = 0, C: float = 1.0, scale: bool = True
) -> np.ndarray:
    """Out-of-fold decision values of a logistic-regression readout of stimulus categories.

    Parameters
    ----------
    features : array of shape (n_stim, k)
    labels : array of shape (n_stim,)
        At least 2 categories, each with at least ``n_splits`` stimuli.
    n_splits, seed : int
        Stratified, shuffled folds (``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``).
    C : float
        Inverse L2 penalty of ``LogisticRegression``.
    scale : bool
        Standardize features (fitted on the training stimuli of each fold).

    Returns
    -------
    decision : array of shape (n_stim, n_classes), or (n_stim, 1) for two classes
        As ``cross_val_predict(..., method="decision_function")`` on the same folds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise InputError(f"features has shape {X.shape}; expected finite (n_stim, n_features)")
    if labels.shape != (X.shape[0],):
        raise InputError(f"labels has shape {labels.shape}; expected ({X.shape[0]},)")
    classes, counts = np.unique(labels, return_counts=True)
    n_splits = check_count(n_splits, "n_splits", 2)
    if len(classes) < 2 or counts.min() < n_splits:
        raise InputError(
            f"labels has {len(classes)} categories, the smallest with {counts.min()} stimuli; "
            f"expected >= 2 categories of >= {n_splits} (n_splits) stimuli"
        )
    if not C > 0:
        raise InputError(f"C is {C!r}; expected a positive number")
    steps = [StandardScaler()] if scale else []
    estimator = make_pipeline(*steps, LogisticRegression(C=C, max_iter=5000))
    out = np.empty((X.shape[0], 1 if len(classes) == 2 else len(classes)))
    for train, test in stratified_pairs(n_splits, labels, seed, X=X, name="n_splits"):
        fitted = estimator.fit(X[train], labels[train])
        out[test] = fitted.decision_function(X[test]).reshape(len(test), -1)
    return out


def remix_rdm(
    features,
    labels,
    metric: str = "euclidean",
    n_splits: int = 5,
    seed: int = 0,
    C: float = 1.0,
    scale: bool = True,
) -> np.ndarray:
    """RDM of the remixed (out-of-fold decision-value) patterns of :func:`remix_decision`.

    Returns
    -------
    rdm : array of shape (n_stim * (n_stim - 1) / 2,)
        ``dnnmap.rsa.rdm.compute_rdm(decision, metric)``; compare it with the brain RDM.
    """
    from dnnmap.rsa.rdm import compute_rdm

    decision = remix_decision(features, labels, n_splits, seed, C, scale)
    return compute_rdm(decision, metric)


# --- variance partitioning --------------------------------------------------------------------


@dataclass(frozen=True)
class VariancePartition:
    """Variance of brain RDMs explained by subsets of model RDMs.

    Attributes
    ----------
    names : tuple of str
        Model names, in input order.
    r2 : dict
        ``R2(S)`` for every non-empty subset ``S`` (tuple of names): array (t,) or float.
    components : dict
        Variance explained by exactly the models of each subset (Venn region).
    unique : dict
        ``components[(name,)]`` per model.
    total : array of shape (t,) or float
        ``R2`` of all models (the sum of ``components``).
    """

    names: tuple
    r2: dict
    components: dict
    unique: dict
    total: np.ndarray | float


def _r2(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """R2 (t,) of the least-squares fits with intercept of columns Y (P, t) on X (P, q)."""
    design = np.column_stack([np.ones(len(X)), X])
    coef = np.linalg.lstsq(design, Y, rcond=None)[0]
    resid = Y - design @ coef
    dev = Y - Y.mean(axis=0)
    sst = np.einsum("pt,pt->t", dev, dev)
    return 1.0 - np.einsum("pt,pt->t", resid, resid) / sst


def variance_partition(brain_rdms, model_rdms, names=None) -> VariancePartition:
    """Unique and shared variance of brain RDM(s) explained by 2-4 model RDMs.

    Parameters
    ----------
    brain_rdms : array of shape (n_pairs,) or (t, n_pairs)
        One or ``t`` brain RDMs (e.g. subjects, ROIs), partitioned independently.
    model_rdms : array of shape (k, n_pairs), 2 <= k <= 4
    names : list of str, optional
        Model names (default ``"0"``, ``"1"``, ...).

    Returns
    -------
    VariancePartition
    """
    Y, vector = as_rdms(brain_rdms, "brain_rdms")
    M, _ = as_rdms(model_rdms, "model_rdms")
    check_same_pairs(M, Y, ("model_rdms", "brain_rdms"))
    k = M.shape[0]
    if not 2 <= k <= 4:
        raise InputError(f"model_rdms has {k} RDMs; expected 2 to 4 models to partition")
    names = tuple(str(i) for i in range(k)) if names is None else tuple(map(str, names))
    if len(names) != k or len(set(names)) != k:
        raise InputError(f"names has {len(names)} entries; expected {k} distinct model names")
    if (np.ptp(Y, axis=1) == 0).any():
        raise InputError("brain_rdms has a constant RDM; expected varying dissimilarities")
    subsets = [s for r in range(1, k + 1) for s in itertools.combinations(range(k), r)]
    r2 = {s: _r2(M[list(s)].T, Y.T) for s in subsets}
    full = r2[tuple(range(k))]

    def lost(u: tuple) -> np.ndarray:  # h(U) = R2(all) - R2(all - U)
        rest = tuple(i for i in range(k) if i not in u)
        return full - (r2[rest] if rest else 0.0)

    comps = {
        t: sum(
            (-1) ** (len(t) - len(u)) * lost(u)
            for r in range(1, len(t) + 1)
            for u in itertools.combinations(t, r)
        )
        for t in subsets
    }

    def named(d: dict) -> dict:
        return {tuple(names[i] for i in s): (float(v[0]) if vector else v) for s, v in d.items()}

    components = named(comps)
    unique = {name: components[(name,)] for name in names}
    total = float(full[0]) if vector else full
    return VariancePartition(names, named(r2), components, unique, total)
