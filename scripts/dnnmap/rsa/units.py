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
"""

from __future__ import annotations

import numpy as np

from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.features.pca import pca_array
from dnnmap.rsa.inference import similarity
from dnnmap.rsa.rdm import n_stimuli
from dnnmap.rsa.reweighting import CVResult, held_out_folds, nnls_fit, pair_index

REDUCTIONS = ("pca", "groups", "units")
MAX_UNITS = 2000
BATCH_ELEMENTS = 2**24


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
