"""The fold seam: design matrices of one layer for one training/test split, without leakage.

Every cross-validated analysis that reads a features file (encoding, decoding, stacking,
banded ridge) gets its design matrices here, whatever ``features.method`` and
``features.fit`` made the file:

* features fixed before any split (``method: none`` or ``random_projection``, or ``pca``
  with ``fit: all`` or ``external``): the rows of the stored ``features``;
* ``pca`` with ``fit: train``: a PCA fitted on the training rows only, which then transforms
  the training and the test rows, so no test stimulus shapes the features. It is fitted on
  the file's lossless ``basis (n_stim, r)`` (all principal components of the centered
  activations: a rotation that keeps every inner product and every difference between rows,
  so the PCA of any subset of rows equals, up to signs, the PCA of those rows' activations).

One call::

    from dnnmap.features.folds import fold_design

    X_train, X_test = fold_design("results/features/alexnet/conv3.h5", train, test)

Many splits of one file: load it once (:func:`load_features`) and pass the
:class:`FoldFeatures` instead of the path; it caches the fitted splits, so permutations that
refit the same splits pay for each PCA once.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence

import h5py
import numpy as np

from dnnmap.errors import InputError
from dnnmap.features.pca import clip_components, pca_array
from dnnmap.store import check_stim_ids, read_strings

CACHE_SPLITS = 64
"""Fitted splits a :class:`FoldFeatures` keeps (least recently used dropped first)."""


def fold_pca(basis: np.ndarray, train: np.ndarray, n_components: int) -> np.ndarray:
    """PCA fitted on rows ``train`` of ``basis``, applied to every row.

    Parameters
    ----------
    basis : array of shape (n, q)
        Features of all rows (activations, or a rotation of them).
    train : int array of shape (n_train,)
        Rows the PCA is fitted on (centered by their mean).
    n_components : int
        Components; clipped to ``min(n_components, n_train - 1, q)``.

    Returns
    -------
    array of shape (n, k)
        ``(basis - mean_train) @ components.T``; its rows ``train`` equal
        ``sklearn.decomposition.PCA(k).fit_transform(basis[train])`` up to column signs
        (signs as :mod:`dnnmap.features.pca`).
    """
    res = pca_array(np.asarray(basis[train], dtype=np.float64), n_components, components=True)
    return (np.asarray(basis, dtype=np.float64) - res.mean) @ res.components.T


def lossless_basis(X: np.ndarray) -> np.ndarray:
    """Coordinates of the rows of ``X`` in the span of its centered rows (every principal
    component): a rotation that keeps every inner product of centered rows and every
    difference between rows.

    Estimators whose fit depends on the features only through those (ridge with an
    intercept, on raw units or on this basis, with absolute or relative penalties; PCA of any
    subset of rows) give the same result on it, from ``n - 1`` columns instead of ``p``.

    Parameters
    ----------
    X : array of shape (n, p)

    Returns
    -------
    array of shape (n, min(n - 1, p)), float64
    """
    X = np.asarray(X)
    return pca_array(X, max(1, min(X.shape[0] - 1, X.shape[1]))).scores


def compact_features(X: np.ndarray) -> np.ndarray:
    """``X``, or its :func:`lossless_basis` when it has at least as many columns as rows.

    For ridge-type models with an intercept (stacking's per-space ridge, banded ridge's
    per-space kernels) the result is the same, from ``n - 1`` columns instead of every unit
    of a wide layer.

    Parameters
    ----------
    X : array of shape (n, p)

    Returns
    -------
    array of shape (n, p) or (n, n - 1), float64
    """
    X = np.asarray(X, dtype=np.float64)
    return lossless_basis(X) if X.shape[1] >= X.shape[0] else X


class FoldFeatures:
    """The features of one layer, ready to give the design matrices of any split.

    Parameters
    ----------
    matrix : array of shape (n_stim, q)
        ``features`` (fixed features) or ``basis`` (``per_fold``).
    per_fold : bool
        Fit a PCA of ``n_components`` on each split's training rows.
    n_components : int
        Components of the per-fold PCA.
    stim_ids : list of str
        Row ids.
    attrs : dict
        The features file's attributes (method, fit, ...).
    source : str
        Where the features came from, for messages.
    compact : bool
        ``matrix`` is the :func:`lossless_basis` of the stored features, not the features
        themselves (:func:`load_features` with ``compact=True``): for ridge-type models only.

    Attributes
    ----------
    shape : tuple of int
        ``(n_stim, q)`` of ``matrix``.
    """

    def __init__(
        self,
        matrix: np.ndarray,
        *,
        per_fold: bool = False,
        n_components: int | None = None,
        stim_ids: Sequence[str] | None = None,
        attrs: dict | None = None,
        source: str = "features",
        compact: bool = False,
    ):
        self.compact = bool(compact)
        self.matrix = np.asarray(matrix, dtype=np.float64)
        if self.matrix.ndim != 2:
            raise InputError(f"{source}: features have shape {self.matrix.shape}; expected 2-D")
        if not np.isfinite(self.matrix).all():
            raise InputError(f"{source}: features hold NaN or inf; expected finite values")
        if per_fold and (n_components is None or n_components < 1):
            raise InputError(f"{source}: per-fold PCA needs n_components >= 1")
        self.per_fold = bool(per_fold)
        self.n_components = n_components
        self.stim_ids = list(stim_ids) if stim_ids is not None else None
        self.attrs = dict(attrs or {})
        self.source = source
        self.shape = self.matrix.shape
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def _rows(self, rows, what: str) -> np.ndarray:
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.intp)
        if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= self.shape[0])):
            raise InputError(
                f"{what} rows {rows[:5]}...; expected indices into the {self.shape[0]} stimuli"
            )
        return rows

    def split_design(self, train) -> np.ndarray:
        """Features of every row for the split whose training rows are ``train``.

        Parameters
        ----------
        train : int or bool array of shape (n_train,) or (n_stim,)

        Returns
        -------
        array of shape (n_stim, k), float64
            Fixed features as stored; with ``per_fold``, the PCA fitted on ``train``
            (:func:`fold_pca`) applied to every row. Do not use its test rows to fit anything.
        """
        if not self.per_fold:
            return self.matrix
        train = self._rows(train, "training")
        if train.size < 2:
            raise InputError(f"{self.source}: a training set of {train.size} rows; expected >= 2")
        key = np.sort(train).tobytes()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        X = fold_pca(self.matrix, train, self.n_components)
        self._cache[key] = X
        while len(self._cache) > CACHE_SPLITS:
            self._cache.popitem(last=False)
        return X

    def design(self, train, test) -> tuple[np.ndarray, np.ndarray]:
        """``(X_train (n_train, k), X_test (n_test, k))`` of one split (:func:`fold_design`)."""
        train, test = self._rows(train, "training"), self._rows(test, "test")
        X = self.split_design(train)
        return X[train], X[test]

    def all_rows(self) -> np.ndarray:
        """Features of every stimulus for analyses without held-out stimuli (RSA): fixed
        features as stored, or the PCA fitted on all rows. Shape (n_stim, k)."""
        return self.split_design(np.arange(self.shape[0])) if self.per_fold else self.matrix


class FeatureSpaces(FoldFeatures):
    """Several feature spaces side by side, ready to give the design of any split.

    The joint models (stacking, banded ridge) fit one design made of every space's columns.
    Each space keeps its own ``features.fit``: fixed features enter as their
    :func:`compact_features` (every unit of a wide layer in ``n - 1`` columns, the same ridge
    fits), and ``pca`` with ``fit: train`` as the PCA fitted on each split's training rows.

    Parameters
    ----------
    spaces : sequence of FoldFeatures
        One per space, rows aligned (the same stimuli in the same order).
    source : str
        For messages.

    Attributes
    ----------
    spaces : list of FoldFeatures
    matrix : array of shape (n_stim, q)
        Without any per-fold space: the joint design of every split (columns of each space
        in order). With one: the spaces' stored matrices side by side, used for nothing but
        checks; :meth:`split_design` gives the designs.
    per_fold : bool
        Whether any space is fitted per split.
    """

    def __init__(self, spaces: Sequence[FoldFeatures], source: str = "feature spaces"):
        spaces = list(spaces)
        if not spaces:
            raise InputError(f"{source}: no feature spaces; expected at least one")
        rows = {s.shape[0] for s in spaces}
        if len(rows) != 1:
            raise InputError(
                f"{source}: the spaces have {sorted(rows)} rows; expected the same stimuli"
            )
        self._fixed = [None if s.per_fold else compact_features(s.matrix) for s in spaces]
        parts = [s.matrix if f is None else f for s, f in zip(spaces, self._fixed, strict=True)]
        super().__init__(np.hstack(parts), source=source)
        self.spaces = spaces
        self.per_fold = any(s.per_fold for s in spaces)

    def split_design(self, train) -> np.ndarray:
        """Every space's design for the split whose training rows are ``train``, side by side.

        Parameters
        ----------
        train : int or bool array of shape (n_train,) or (n_stim,)

        Returns
        -------
        array of shape (n_stim, sum of :meth:`split_sizes`), float64
        """
        if not self.per_fold:
            return self.matrix
        train = self._rows(train, "training")
        key = np.sort(train).tobytes()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        blocks = [
            s.split_design(train) if f is None else f
            for s, f in zip(self.spaces, self._fixed, strict=True)
        ]
        X = np.hstack(blocks)
        self._cache[key] = X
        while len(self._cache) > CACHE_SPLITS:
            self._cache.popitem(last=False)
        return X

    def split_sizes(self, train) -> list[int]:
        """Columns of each space in :meth:`split_design` of ``train``, in order (a per-fold
        PCA keeps ``min(n_components, n_train - 1, q)``, as :func:`fold_pca` does)."""
        n_train = self._rows(train, "training").size
        return [
            clip_components(s.n_components, n_train, s.shape[1]) if f is None else f.shape[1]
            for s, f in zip(self.spaces, self._fixed, strict=True)
        ]


def load_features(
    path: str | os.PathLike,
    stim_ids: Sequence[str] | None = None,
    table: str | os.PathLike = "results/stimuli.tsv",
    compact: bool = False,
) -> FoldFeatures:
    """Read a features file (``results/features/{model}/{layer}.h5``) for :func:`fold_design`.

    Parameters
    ----------
    path : path
    stim_ids : list of str, optional
        The stimulus table's ids; the file's ``stim_id`` must equal them (same order).
    table : path
        The table's name, for the message when they differ.
    compact : bool
        For ridge-type models (with an intercept), which see the features only through the
        inner products of centered rows: fixed features as their :func:`compact_features`,
        read from the file's ``lossless`` basis when ``features.method: none`` stored one
        (the same numbers, without reading every unit), else computed from ``features``.

    Returns
    -------
    FoldFeatures
        Per-fold (from ``basis``) when the file says ``fit: train`` and has a ``basis``;
        else the stored ``features`` (with ``compact``, as their lossless basis when they
        have at least as many columns as rows).
    """
    with h5py.File(path, "r") as f:
        ids = read_strings(f["stim_id"])
        if stim_ids is not None:
            check_stim_ids(stim_ids, ids, table, path)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        per_fold = attrs.get("fit") == "train" and "basis" in f
        is_compact = compact and not per_fold and "lossless" in f
        name = "basis" if per_fold else "lossless" if is_compact else "features"
        matrix = f[name][()]
    if compact and not per_fold and not is_compact and matrix.shape[1] >= matrix.shape[0]:
        matrix, is_compact = compact_features(matrix), True  # no stored basis: the same one
    k = int(attrs["n_components"]) if per_fold else None
    return FoldFeatures(
        matrix,
        per_fold=per_fold,
        n_components=k,
        stim_ids=ids,
        attrs=attrs,
        source=str(path),
        compact=is_compact,
    )


def fold_design(
    features: FoldFeatures | str | os.PathLike, train, test
) -> tuple[np.ndarray, np.ndarray]:
    """The design matrices of one split, fitted on its training rows only.

    Parameters
    ----------
    features : FoldFeatures or path
        A loaded features file (:func:`load_features`), or its path.
    train : int array of shape (n_train,)
        Training rows (indices into the stimuli of the file, which are the table's).
    test : int array of shape (n_test,)
        Test rows.

    Returns
    -------
    X_train : array of shape (n_train, k), float64
    X_test : array of shape (n_test, k), float64
        For ``pca`` with ``fit: train``: the PCA of ``n_components`` fitted on the training
        rows (so ``X_train`` is ``PCA(k).fit_transform`` of their activations, up to column
        signs) and applied to the test rows; otherwise the stored features' rows.
    """
    if not isinstance(features, FoldFeatures):
        features = load_features(features)
    return features.design(train, test)


def features_summary(attrs: dict) -> dict:
    """The provenance of features as short table columns: ``features_method``,
    ``features_fit``, ``features_n_components``, ``features_seed``, ``features_fitted_on``.

    Parameters
    ----------
    attrs : dict
        A features file's attributes (or the ``features`` attrs an encoding file copies).
    """
    raw = attrs.get("features")
    if isinstance(raw, str | bytes):
        attrs = json.loads(raw)
    out = {
        "features_method": attrs.get("method", ""),
        "features_fit": attrs.get("fit", attrs.get("fit_partition", "")),
        "features_n_components": attrs.get("n_components", ""),
        "features_seed": attrs.get("seed", ""),
        "features_fitted_on": attrs.get("fitted_on", ""),
    }
    # HDF5 attributes come back as numpy scalars and bytes: plain Python values for JSON
    for key, value in out.items():
        value = value.decode() if isinstance(value, bytes) else value
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out
