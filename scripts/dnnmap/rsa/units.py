"""Cross-validated reweighting of a layer's units (or unit groups) to fit a brain RDM.

Weighting unit ``u`` of a layer by ``s_u`` changes its squared Euclidean RDM to::

    d_ab(w) = sum_u s_u^2 (x_au - x_bu)^2 = sum_u w_u D^u_ab,   w_u = s_u^2 >= 0

which is linear in the non-negative weights ``w``: fitting the weighted RDM to a brain RDM is
non-negative least squares on the per-unit RDMs ``D^u`` (:func:`dnnmap.rsa.reweighting.nnls_fit`,
with a free offset by default). Layers have far more units than there are stimulus pairs to
fit them, so the units are reduced first (``reduce``):

``"pca"`` (default)
    The ``n_components`` principal components of the training stimuli's features
    (:func:`dnnmap.features.pca.pca_array`, centered by the training mean); each component is a
    unit.
    The unweighted RDM of all components is the layer's squared Euclidean RDM, so the fit
    reweights the layer's main axes of variation (a diagonal metric in PC space).
``"groups"``
    Units grouped by ``groups`` (one label per unit, e.g. the channel of each unit of a
    convolutional layer); a group's RDM is the squared Euclidean RDM of its units, and all
    units of a group share one weight.
``"units"``
    Every unit its own weight (for small layers or pre-selected units).

The reduction and the weights are fitted on the training stimuli only; the test stimuli are
projected on the training components (or grouped) and their weighted RDM is compared with
the brain RDM of the test stimuli (:func:`cross_validate_unit_reweighting`, stimulus-level
folds as in :func:`dnnmap.rsa.reweighting.cross_validate_reweighting`).

The per-unit RDMs are the squared differences ``(z_a - z_b)^2`` of all pairs, computed in
batches of units so that at most :data:`BATCH_ELEMENTS` values are held, and summed per group
by one product with the group indicator matrix.

**The workflow's unit reweighting** (:func:`cross_validate_gram_reweighting`, the
``reweighted_units`` rows of :func:`dnnmap.rsa.tables.reweighting_table`) works from a
layer's activations as its RDM saw them: :func:`pattern_gram` streams the layer in unit
chunks, centers (``rsa.center_units``) or z-scores each unit over the stimuli, and for
``correlation`` (``cosine``) distance centers (not) and scales each stimulus's pattern to unit
norm, so that squared Euclidean distances of the patterns are twice the layer RDM; only the
``(n_stim, n_stim)`` Gram matrix ``G`` of the patterns is kept. Per fold, the training
stimuli's centered Gram matrix gives the principal components of the patterns (kernel PCA,
exact whatever the number of units) and the test stimuli are projected on them. Each
component is one weight, and so is the **residual**: the part of each pattern outside the
kept components, whose RDM is the full squared distance minus the components' (it is 0 among
the training stimuli when every component is kept, but not among test stimuli, whose patterns
leave the training span). The unweighted sum of all of them is exactly the layer RDM, for
training and test stimuli alike.

The weights are **shrunk toward one common weight** (:class:`dnnmap.rsa.reweighting.ShrunkNNLS`):
with ``n_train - 1`` free non-negative weights fitted to the pairs of ``n_train`` stimuli, the
plain fit overfits (on the demo brain every ROI preferred a reweighted fully connected layer,
and conv1 in V1 fell from a held-out r of 0.83 unweighted to 0.17). The penalty is chosen per
outer fold by an inner stimulus-level cross-validation over :data:`SHRINKAGE_GRID` (multiples
of the mean squared norm of the centered component RDMs, ``inf`` being the unweighted layer
RDM), so a reweighting that does not generalise falls back on the layer's own RDM.
"""

from __future__ import annotations

import numpy as np

from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.features.pca import pca_array
from dnnmap.rsa.inference import similarity
from dnnmap.rsa.rdm import ColumnReader, n_stimuli
from dnnmap.rsa.reweighting import CVResult, ShrunkNNLS, held_out_folds, nnls_fit, pair_index

REDUCTIONS = ("pca", "groups", "units")
MAX_UNITS = 2000
BATCH_ELEMENTS = 2**24
SHRINKAGE_GRID = (np.inf, 1e3, 1e2, 10.0, 1.0, 0.1, 0.01, 0.0)
"""Penalties of the shrunk unit reweighting, as multiples of the mean squared norm of the
centered component RDMs; ties go to the first (the most shrunk)."""
PATTERN_CHUNK_ELEMENTS = 2**23
"""Values of one unit chunk read by :func:`pattern_gram` (64 MB of float64)."""


def unit_rdms(Z, groups=None) -> np.ndarray:
    """Squared-difference RDMs of units, summed per group.

    Parameters
    ----------
    Z : array of shape (n_stim, n_units)
        Unit (or component) activations.
    groups : int array of shape (n_units,), optional
        Group index in ``range(n_groups)`` of each unit; None: every unit its own group.

    Returns
    -------
    D : array of shape (n_groups, n_stim * (n_stim - 1) / 2)
        ``D[g] = pdist(Z[:, groups == g], "sqeuclidean")``.
    """
    Z = np.asarray(Z, dtype=np.float64)
    n, u = Z.shape
    i, j = np.triu_indices(n, 1)
    if groups is None:
        groups = np.arange(u)
    n_groups = int(groups.max()) + 1
    D = np.zeros((len(i), n_groups))
    batch = max(1, BATCH_ELEMENTS // max(len(i), 1))
    for start in range(0, u, batch):
        block = Z[:, start : start + batch]
        sq = (block[i] - block[j]) ** 2  # (P, b)
        indicator = np.zeros((block.shape[1], n_groups))
        indicator[np.arange(block.shape[1]), groups[start : start + batch]] = 1.0
        D += sq @ indicator
    return D.T


class UnitReweighting:
    """Non-negative weights of units (after a reduction) fitted to a brain RDM.

    Parameters
    ----------
    reduce : {"pca", "groups", "units"}
        How units are reduced before the fit (module docstring).
    n_components : int
        Principal components kept (``reduce="pca"``; clipped to the data).
    groups : array of shape (n_units,), optional
        Group label of each unit (``reduce="groups"``).
    intercept : bool
        Fit a free offset of the RDM.

    Attributes
    ----------
    weights_ : array of shape (k,)
        Weight of each component, group or unit (``w = s^2``).
    intercept_ : float
    n_units_ : int
    mean_ : array of shape (n_units,), components_ : array of shape (k, n_units)
        The training PCA (``reduce="pca"``).
    group_index_ : array of shape (n_units,)
        Group of each unit in ``range(k)`` (``reduce="groups"``); ``group_names_`` their labels.
    """

    def __init__(self, reduce: str = "pca", n_components: int = 20, groups=None, intercept=True):
        self.reduce = reduce
        self.n_components = n_components
        self.groups = groups
        self.intercept = intercept

    def _reduced(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self.reduce == "pca":
            return (X - self.mean_) @ self.components_.T, None
        if self.reduce == "groups":
            return X, self.group_index_
        return X, None

    def fit(self, features, brain_rdm) -> UnitReweighting:
        """Fit the reduction and the weights.

        Parameters
        ----------
        features : array of shape (n_stim, n_units)
        brain_rdm : array of shape (n_stim * (n_stim - 1) / 2,)
        """
        if self.reduce not in REDUCTIONS:
            raise InputError(f"reduce is {self.reduce!r}; expected one of {', '.join(REDUCTIONS)}")
        X = _features(features)
        y = np.asarray(brain_rdm, dtype=np.float64)
        if y.ndim != 1 or n_stimuli(len(y), "brain_rdm") != X.shape[0]:
            raise InputError(
                f"brain_rdm has shape {y.shape}; expected the condensed RDM of the "
                f"{X.shape[0]} stimuli of features"
            )
        if self.reduce == "pca":
            k = check_int(self.n_components, "n_components", 1)
            pca = pca_array(X, k, components=True)
            self.mean_, self.components_ = pca.mean, pca.components
        elif self.reduce == "groups":
            groups = np.asarray(self.groups) if self.groups is not None else None
            if groups is None or groups.shape != (X.shape[1],):
                raise InputError(
                    f"groups has shape {None if groups is None else groups.shape}; expected "
                    f"one label per unit ({X.shape[1]},)"
                )
            self.group_names_, self.group_index_ = np.unique(groups, return_inverse=True)
        elif X.shape[1] > MAX_UNITS:
            raise InputError(
                f"features has {X.shape[1]} units; reduce='units' takes at most {MAX_UNITS} "
                "(use 'pca' or 'groups')"
            )
        self.n_units_ = X.shape[1]
        D = unit_rdms(*self._reduced(X))
        self.weights_, self.intercept_ = nnls_fit(D.T, y, self.intercept)
        return self

    def transform(self, features) -> np.ndarray:
        """Per-component (group, unit) RDMs of ``features`` (n_stim', n_units): (k, n_pairs')."""
        X = _features(features)
        if X.shape[1] != self.n_units_:
            raise InputError(f"features has {X.shape[1]} units; the fit had {self.n_units_}")
        return unit_rdms(*self._reduced(X))

    def predict(self, features) -> np.ndarray:
        """Weighted squared Euclidean RDM (plus offset) of ``features``: (n_pairs',)."""
        return self.weights_ @ self.transform(features) + self.intercept_

    def score(self, features, brain_rdm, method: str = "pearson") -> float:
        """Similarity (``method``) of :meth:`predict` with ``brain_rdm`` of the same stimuli."""
        return float(similarity(self.predict(features), brain_rdm, method)[0, 0])


def _features(features) -> np.ndarray:
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 3 or not np.isfinite(X).all():
        raise InputError(
            f"features has shape {X.shape}; expected finite (n_stim, n_units), n_stim >= 3"
        )
    return X


def cross_validate_unit_reweighting(
    features,
    brain_rdm,
    n_splits: int = 5,
    seed: int = 0,
    splits=None,
    method: str = "pearson",
    groups=None,
    **params,
) -> CVResult:
    """Stimulus-level cross-validated :class:`UnitReweighting`.

    Parameters
    ----------
    features : array of shape (n_stim, n_units)
    brain_rdm : array of shape (n_stim * (n_stim - 1) / 2,)
    n_splits, seed : int
        Folds of :func:`dnnmap.rsa.reweighting.held_out_folds` (unless ``splits`` is given).
    splits : list of (train, test) int arrays, optional
    groups : array of shape (n_stim,), optional
        Group label per stimulus; whole groups are held out (ignored when ``splits`` given).
    method : str
        Evaluation measure on the test stimuli.
    **params
        :class:`UnitReweighting` parameters (``reduce``, ``n_components``, ``groups``,
        ``intercept``).

    Returns
    -------
    CVResult
        ``weights`` (n_splits, k): per fold (components differ between folds for PCA).
    """
    X = _features(features)
    y = np.asarray(brain_rdm, dtype=np.float64)
    n = X.shape[0]
    if y.ndim != 1 or n_stimuli(len(y), "brain_rdm") != n:
        raise InputError(f"brain_rdm has shape {y.shape}; expected the RDM of {n} stimuli")
    splits = held_out_folds(n, n_splits, seed, splits, groups)
    scores, weights, offsets = [], [], []
    for train, test in splits:
        model = UnitReweighting(**params).fit(X[train], y[pair_index(n, train)])
        scores.append(model.score(X[test], y[pair_index(n, test)], method))
        weights.append(model.weights_)
        offsets.append(model.intercept_)
    scores = np.array(scores)
    k = max(len(w) for w in weights)
    padded = np.array([np.pad(w, (0, k - len(w)), constant_values=np.nan) for w in weights])
    return CVResult(float(scores.mean()), scores, padded, np.array(offsets), splits, method)


# --- the workflow's unit reweighting: Gram matrices of a layer's patterns -----------------------


def pattern_gram(
    patterns, metric: str = "correlation", *, zscore: bool = False, center: bool = True
) -> np.ndarray:
    """Gram matrix of a layer's patterns whose squared distances are its RDM's.

    Parameters
    ----------
    patterns : array of shape (n_stim, n_units) or :class:`dnnmap.rsa.rdm.ColumnReader`
        The layer (a reader is streamed in unit chunks of :data:`PATTERN_CHUNK_ELEMENTS`).
    metric : str
        The layer RDM's metric: for ``correlation`` each stimulus's pattern is centered over
        units and scaled to unit norm (squared distances ``2 * (1 - r)``), for ``cosine``
        scaled to unit norm; any other metric keeps the patterns (squared Euclidean
        distances).
    zscore : bool
        Standardize each unit over the stimuli first (constant units become 0), as
        ``rsa.zscore``.
    center : bool
        Subtract each unit's mean over the stimuli first (implied by ``zscore``), as
        ``rsa.center_units``.

    Returns
    -------
    G : array of shape (n_stim, n_stim), float64
        ``P @ P.T`` of the transformed patterns ``P``.
    """
    if not isinstance(patterns, ColumnReader):
        X = np.asarray(patterns)
        if X.ndim != 2:
            raise InputError(f"patterns has shape {X.shape}; expected (n_stim, n_units)")
        patterns = ColumnReader(X.shape[0], X.shape[1], lambda a, b: X[:, a:b], "patterns")
    n, p = patterns.n_rows, patterns.n_cols
    if n < 3 or p < 1:
        raise InputError(f"{patterns.name} has shape ({n}, {p}); expected >= 3 stimuli, >= 1 unit")
    G = np.zeros((n, n))
    sums = np.zeros(n)
    step = max(1, PATTERN_CHUNK_ELEMENTS // n)
    for c0 in range(0, p, step):
        B = np.asarray(patterns.read(c0, min(c0 + step, p)), dtype=np.float64)
        if not np.isfinite(B).all():
            raise InputError(f"{patterns.name} holds NaN or inf; expected finite activations")
        if zscore or center:
            B = B - B.mean(axis=0)
        if zscore:
            sd = B.std(axis=0)
            B = np.divide(B, sd, out=np.zeros_like(B), where=sd > 0)
        G += B @ B.T
        sums += B.sum(axis=1)
    if metric == "correlation":
        G -= np.outer(sums, sums) / p
    if metric in ("correlation", "cosine"):
        norm = np.sqrt(np.clip(np.diag(G), 0.0, None))
        if (norm <= 1e-12 * max(norm.max(), 1e-300)).any():
            raise InputError(
                f"{patterns.name}: {int((norm <= 1e-12 * norm.max()).sum())} stimuli have "
                f"constant patterns; {metric} distance is undefined for them"
            )
        G = G / np.outer(norm, norm)
    return G


def gram_distances(G, rows) -> np.ndarray:
    """Squared distances ``G_aa + G_bb - 2 G_ab`` of the pairs among ``rows`` (pdist order)."""
    rows = np.asarray(rows, dtype=np.int64)
    i, j = np.triu_indices(len(rows), 1)
    a, b = rows[i], rows[j]
    return np.clip(G[a, a] + G[b, b] - 2.0 * G[a, b], 0.0, None)


class GramComponents:
    """Principal components of the training patterns (kernel PCA of their Gram matrix).

    Parameters
    ----------
    G : array of shape (n_stim, n_stim)
        Gram matrix of all stimuli's patterns (:func:`pattern_gram`).
    train : int array of shape (n_train,)
        The stimuli the components are fitted on.
    n_components : int or None
        Components kept (largest first; None or more than there are: all with a positive
        eigenvalue, at most ``n_train - 1``).
    """

    def __init__(self, G, train, n_components: int | None = None):
        self.G = G
        self.train = np.asarray(train, dtype=np.int64)
        K = G[np.ix_(self.train, self.train)]
        self.col_mean = K.mean(axis=0)
        self.all_mean = float(self.col_mean.mean())
        Kc = K - self.col_mean[None, :] - self.col_mean[:, None] + self.all_mean
        lam, V = np.linalg.eigh(Kc)
        lam, V = lam[::-1], V[:, ::-1]
        keep = lam > max(lam[0], 0.0) * len(lam) * np.finfo(np.float64).eps * 10
        k = int(keep.sum()) if n_components is None else min(int(n_components), int(keep.sum()))
        self.lam, self.V = lam[:k], V[:, :k]

    def scores(self, rows) -> np.ndarray:
        """Component scores (len(rows), k) of stimuli ``rows``."""
        Kr = self.G[np.ix_(np.asarray(rows, dtype=np.int64), self.train)]
        Kc = Kr - Kr.mean(axis=1, keepdims=True) - self.col_mean[None, :] + self.all_mean
        return Kc @ self.V / np.sqrt(self.lam)

    def rdms(self, rows) -> np.ndarray:
        """Component RDMs and the residual RDM among ``rows``: (k + 1, n_pairs).

        The residual is the full squared distance minus the components' (clipped at 0): the
        rows sum to the layer's squared distances.
        """
        comps = unit_rdms(self.scores(rows))
        residual = np.clip(gram_distances(self.G, rows) - comps.sum(axis=0), 0.0, None)
        return np.vstack([comps, residual])


def _component_fit(G, y, train, n_components):
    """Components of ``train`` and the shrunk NNLS of ``y`` (pairs of ``train``) on their RDMs."""
    comps = GramComponents(G, train, n_components)
    return comps, ShrunkNNLS(comps.rdms(train).T, y)


def _inner_shrinkage(G, y_full, n, train, method, n_inner, seed, n_components, groups):
    """The penalty of :data:`SHRINKAGE_GRID` with the best inner-CV similarity on ``train``."""
    inner = held_out_folds(
        len(train), n_inner, seed, groups=None if groups is None else groups[train]
    )
    scores = np.zeros(len(SHRINKAGE_GRID))
    for tr, te in inner:
        tr, te = train[tr], train[te]
        comps, problem = _component_fit(G, y_full[pair_index(n, tr)], tr, n_components)
        D_te = comps.rdms(te)
        preds = []
        for shrinkage in SHRINKAGE_GRID:
            w, c = problem.fit(shrinkage * problem.scale)
            preds.append(w @ D_te + c)
        scores += similarity(np.array(preds), y_full[pair_index(n, te)], method)[:, 0]
    scores = np.nan_to_num(scores, nan=-np.inf)
    return SHRINKAGE_GRID[int(np.argmax(scores))]  # first on ties: the most shrunk


def cross_validate_gram_reweighting(
    G,
    brain_rdm,
    n_splits: int = 5,
    seed: int = 0,
    splits=None,
    method: str = "pearson",
    groups=None,
    n_components: int | None = None,
    n_inner: int = 5,
    shrinkage=None,
) -> tuple[CVResult, np.ndarray]:
    """Stimulus-level cross-validated, shrunk reweighting of a layer's principal components.

    Parameters
    ----------
    G : array of shape (n_stim, n_stim)
        Gram matrix of the layer's patterns (:func:`pattern_gram`).
    brain_rdm : array of shape (n_stim * (n_stim - 1) / 2,)
    n_splits, seed : int
        Outer folds (:func:`dnnmap.rsa.reweighting.held_out_folds`, unless ``splits``).
    splits : list of (train, test) int arrays, optional
    method : str
        Similarity of predicted and measured test RDMs (and of the inner CV).
    groups : array of shape (n_stim,), optional
        Group label per stimulus: outer and inner folds hold out whole groups.
    n_components : int or None
        Components reweighted (with the residual, ``n_components + 1`` weights); None: all.
    n_inner : int
        Inner folds choosing the penalty.
    shrinkage : float or None
        A fixed penalty (a multiple as in :data:`SHRINKAGE_GRID`) instead of the inner CV.

    Returns
    -------
    CVResult
        ``weights`` (n_splits, k + 1) per fold, NaN-padded (components, then the residual).
    shrinkages : array of shape (n_splits,)
        The penalty of each fold.
    """
    G = np.asarray(G, dtype=np.float64)
    y = np.asarray(brain_rdm, dtype=np.float64)
    n = G.shape[0]
    if G.shape != (n, n) or not np.isfinite(G).all():
        raise InputError(f"G has shape {G.shape}; expected a finite square Gram matrix")
    if y.ndim != 1 or n_stimuli(len(y), "brain_rdm") != n:
        raise InputError(f"brain_rdm has shape {y.shape}; expected the RDM of {n} stimuli")
    groups = None if groups is None else np.asarray(groups)
    splits = held_out_folds(n, n_splits, seed, splits, groups)
    scores, weights, offsets, chosen = [], [], [], []
    for train, test in splits:
        penalty = shrinkage
        if penalty is None:
            penalty = _inner_shrinkage(G, y, n, train, method, n_inner, seed, n_components, groups)
        comps, problem = _component_fit(G, y[pair_index(n, train)], train, n_components)
        w, c = problem.fit(penalty * problem.scale)
        scores.append(similarity(w @ comps.rdms(test) + c, y[pair_index(n, test)], method)[0, 0])
        weights.append(w)
        offsets.append(c)
        chosen.append(penalty)
    k = max(len(w) for w in weights)
    padded = np.array([np.pad(w, (0, k - len(w)), constant_values=np.nan) for w in weights])
    scores = np.array(scores)
    result = CVResult(float(scores.mean()), scores, padded, np.array(offsets), splits, method)
    return result, np.array(chosen, dtype=np.float64)
