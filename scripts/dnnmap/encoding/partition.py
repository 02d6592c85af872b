"""Variance partitioning: unique and shared explained variance of 2-3 feature spaces per voxel.

For feature spaces ``N = {A, B, ...}``, a joint encoding model (banded ridge,
:class:`dnnmap.encoding.banded_ridge.BandedRidgeCV`) is fitted on every non-empty subset
``T`` of the spaces, and its cross-validated coefficient of determination ``R2(T)`` per voxel
is the variance the union of those spaces explains (Lescroart, Stansbury & Gallant 2015;
de Heer et al. 2017). The variance explained by exactly the spaces of ``S`` (the region of the
Venn diagram inside the circles of ``S`` and outside the others) follows by set algebra, a
Moebius inversion of ``g(T) = R2(N) - R2(N minus T)`` (the variance lost when the spaces of
``T`` are left out, which sums the regions inside ``T``)::

    x(S) = sum over non-empty T in S of (-1) ** (|S| - |T|) * g(T)

For two spaces: ``unique(A) = R2(AB) - R2(B)``, ``unique(B) = R2(AB) - R2(A)``,
``shared(AB) = R2(A) + R2(B) - R2(AB)``. For three spaces the seven regions are the three
unique parts, the three pairwise shared parts (shared by exactly those two), and the part
shared by all three.

Cross-validated R² of a larger model can fall below that of a smaller one (more penalties to
choose from few stimuli, overfitting), so any part can come out negative. Negative parts are
kept as they are (not clipped) and counted per region (``n_negative``), so a reader sees how
much of a map is noise in the set algebra.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dnnmap.checks import check_matrix
from dnnmap.encoding.cross_validation import EncodingResult, cross_validated_predictions
from dnnmap.errors import InputError
from dnnmap.features.folds import FeatureSpaces, FoldFeatures, compact_features
from dnnmap.stats.splits import Splits

LOG = logging.getLogger("dnnmap")

MAX_SPACES = 3
"""Most feature spaces partitioned at once (7 joint models; 4 spaces would need 15)."""


def space_subsets(names: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of ``names``, by size, then in the order of ``names``.

    Parameters
    ----------
    names : sequence of str
        Distinct space names.

    Returns
    -------
    list of tuple of str
        ``2 ** len(names) - 1`` subsets; e.g. ``(A,), (B,), (A, B)``.
    """
    names = tuple(names)
    if len(set(names)) != len(names):
        raise InputError(f"spaces are {list(names)}; expected distinct names")
    return [c for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]


def region_name(region: tuple[str, ...]) -> str:
    """``unique:A`` for one space, ``shared:A+B`` for the part shared by exactly A and B."""
    return ("unique:" if len(region) == 1 else "shared:") + "+".join(region)


def partition_matrix(names: Sequence[str]) -> np.ndarray:
    """Coefficients of the set algebra: ``regions = C @ r2`` over :func:`space_subsets`.

    Parameters
    ----------
    names : sequence of str
        ``s`` distinct space names.

    Returns
    -------
    C : array of shape (2**s - 1, 2**s - 1)
        Row ``j``: the Venn region of subset ``j`` (the variance explained by exactly the
        spaces of that subset) as a combination of ``R2`` of the subsets (columns).
    """
    subsets = space_subsets(names)
    full = frozenset(names)
    col = {frozenset(t): i for i, t in enumerate(subsets)}

    def g(t: frozenset) -> np.ndarray:  # R2(N) - R2(N \ t) as coefficients
        out = np.zeros(len(subsets))
        out[col[full]] += 1.0
        rest = full - t
        if rest:
            out[col[rest]] -= 1.0
        return out

    C = np.zeros((len(subsets), len(subsets)))
    for j, s in enumerate(subsets):
        for k in range(1, len(s) + 1):
            for t in itertools.combinations(s, k):
                C[j] += (-1.0) ** (len(s) - k) * g(frozenset(t))
    return C


def partition_r2(r2: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Unique and shared parts from the R² of every subset of spaces.

    Parameters
    ----------
    r2 : array of shape (2**s - 1, v)
        Cross-validated R² of the joint model of each subset, in :func:`space_subsets` order.
    names : sequence of str
        The ``s`` space names.

    Returns
    -------
    parts : array of shape (2**s - 1, v)
        Variance explained by exactly the spaces of each subset (same order; names by
        :func:`region_name`); parts sum to ``R2`` of all spaces. Negative values are kept.
    """
    r2 = np.asarray(r2, dtype=np.float64)
    C = partition_matrix(names)
    if r2.ndim != 2 or r2.shape[0] != C.shape[0]:
        raise InputError(
            f"r2 has shape {r2.shape}; expected ({C.shape[0]}, n_voxels) for {len(names)} spaces"
        )
    return C @ r2


@dataclass(frozen=True)
class PartitionResult:
    """Variance partitioning of one ROI.

    Attributes
    ----------
    names : list of str
        The spaces.
    subsets : list of tuple of str
        The joint models fitted (:func:`space_subsets`).
    r2 : array of shape (n_subsets, v)
        Cross-validated R² of each joint model.
    parts : array of shape (n_subsets, v)
        Unique and shared parts (:func:`partition_r2`), row ``j`` for ``subsets[j]``.
    n_negative : int array of shape (n_subsets,)
        Voxels (not masked) with a negative part, per region.
    alpha : array of shape (n_subsets, v)
        Global penalty of each joint model, median over outer splits.
    space_weights : array of shape (s, v)
        Space weights of the joint model of all spaces, mean over outer splits.
    predictions : array of shape (n, v)
        Out-of-fold predictions of the joint model of all spaces (first repeat).
    folds : int array of shape (n,)
        First-repeat split testing each row.
    masked : bool array of shape (v,)
        Constant or non-finite voxels (NaN results).
    """

    names: list[str]
    subsets: list[tuple[str, ...]]
    r2: np.ndarray
    parts: np.ndarray
    n_negative: np.ndarray
    alpha: np.ndarray
    space_weights: np.ndarray
    predictions: np.ndarray
    folds: np.ndarray
    masked: np.ndarray

    @property
    def regions(self) -> list[str]:
        """Region names (:func:`region_name`) in the order of ``parts``."""
        return [region_name(s) for s in self.subsets]


class _Recorder:
    """Estimator factory that keeps every joint model it builds, to read their fitted space
    weights after the cross-validation (one model per split and batch of voxels, in order)."""

    def __init__(self, factory, sizes: Callable):
        self.factory, self.sizes, self.models = factory, sizes, []

    def __call__(self, train):
        est = self.factory(self.sizes(train), train)
        self.models.append(est)
        return est

    def mean_weights(self, s: int, v: int, masked: np.ndarray) -> np.ndarray:
        """Mean over outer splits of the space weights (s, v); NaN for masked voxels."""
        out = np.full((s, v), np.nan)
        cols = np.flatnonzero(~masked)
        total = np.zeros((s, cols.size))
        start, count = 0, 0
        for est in self.models:
            w = np.asarray(est.space_weights_, dtype=np.float64).reshape(s, -1)
            total[:, start : start + w.shape[1]] += w
            start += w.shape[1]
            if start >= cols.size:
                start, count = 0, count + 1
        out[:, cols] = total / max(count, 1)
        return out


def _matrix(space) -> np.ndarray:
    """The stored matrix of a fixed space (a FoldFeatures or an array)."""
    return space.matrix if isinstance(space, FoldFeatures) else space


def _fixed_sizes(sizes: list[int]) -> Callable:
    """The column counts of fixed spaces, whatever the split."""
    return lambda _train: list(sizes)


def variance_partition(
    spaces: Mapping[str, np.ndarray | FoldFeatures],
    Y,
    splits: Splits,
    estimator_factory: Callable,
    *,
    batch_size: int | None = None,
    pooling: str = "folds",
    log: Callable[[str], None] | None = None,
) -> PartitionResult:
    """Cross-validated variance partitioning of 2-3 feature spaces for many voxels.

    Parameters
    ----------
    spaces : mapping of str to array of shape (n, p_i), or to FoldFeatures
        The feature spaces, rows aligned with ``Y``, in the order to report them. With any
        :class:`dnnmap.features.folds.FoldFeatures` (a features file loaded by
        :func:`dnnmap.features.folds.load_features`), every joint model's design comes from
        :class:`dnnmap.features.folds.FeatureSpaces`: a space with ``features.fit: train``
        is fitted on each outer split's training rows, the others enter as their lossless
        basis.
    Y : array of shape (n, v)
        Responses.
    splits : dnnmap.stats.splits.Splits
        Outer splits, the same for every joint model.
    estimator_factory : callable
        ``estimator_factory(space_sizes, train_rows)`` returns an unfitted joint model (e.g.
        :class:`dnnmap.encoding.banded_ridge.BandedRidgeCV` with nested inner folds of
        ``train_rows``) of the spaces with those column counts; it must set
        ``space_weights_`` when fitted.
    batch_size : int or None
        Voxels per fit.
    pooling : {"folds", "pooled"}
        R² as the mean over test folds (default) or of the pooled out-of-fold predictions
        (:func:`dnnmap.encoding.cross_validation.cross_validated_predictions`).
    log : callable or None
        Progress messages (one per joint model).

    Returns
    -------
    PartitionResult
    """
    names = list(spaces)
    if not 2 <= len(names) <= MAX_SPACES:
        raise InputError(
            f"variance partitioning got {len(names)} spaces ({', '.join(names)}); expected 2 "
            f"to {MAX_SPACES}"
        )
    arrays = {
        k: spaces[k]
        if isinstance(spaces[k], FoldFeatures)
        else check_matrix(spaces[k], f"space {k}")
        for k in names
    }
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1:
        raise InputError(f"spaces have {sorted(n)} rows; expected the same stimuli in each")
    folded = any(isinstance(a, FoldFeatures) for a in arrays.values())
    if folded:  # fixed spaces as their lossless basis once, not once per joint model
        arrays = {
            k: a if getattr(a, "per_fold", False) else FoldFeatures(compact_features(_matrix(a)))
            for k, a in arrays.items()
        }
    subsets = space_subsets(names)
    r2, alpha, full, recorder = [], [], None, None
    for subset in subsets:
        if folded:
            X = FeatureSpaces([arrays[k] for k in subset], source="+".join(subset))
            sizes = X.split_sizes
        else:
            X = np.hstack([arrays[k] for k in subset])
            sizes = _fixed_sizes([arrays[k].shape[1] for k in subset])
        factory = _Recorder(estimator_factory, sizes)
        last = len(subset) == len(names)
        if last:
            recorder = factory
        res: EncodingResult = cross_validated_predictions(
            factory, X, Y, splits, batch_size=batch_size, score="r2", pooling=pooling
        )
        r2.append(res.score)
        alpha.append(_nanmedian(res.alpha))
        if last:
            full = res
        if log:
            finite = res.score[np.isfinite(res.score)]
            median = float(np.median(finite)) if finite.size else float("nan")
            log(f"joint model {'+'.join(subset)}: median cross-validated R2 {median:.4f}")
    r2 = np.vstack(r2)
    parts = partition_r2(r2, names)
    masked = full.masked if full.masked is not None else ~np.isfinite(r2).all(axis=0)
    n_negative = ((parts < 0) & ~masked[None, :]).sum(axis=1)
    return PartitionResult(
        names=names,
        subsets=subsets,
        r2=r2,
        parts=parts,
        n_negative=n_negative,
        alpha=np.vstack(alpha),
        space_weights=recorder.mean_weights(len(names), r2.shape[1], masked),
        predictions=full.predictions,
        folds=full.folds,
        masked=masked,
    )


def _nanmedian(a: np.ndarray) -> np.ndarray:
    """Median over axis 0 of the finite values; NaN for columns without any."""
    a = np.asarray(a, dtype=np.float64)
    out = np.full(a.shape[1], np.nan)
    ok = np.isfinite(a).any(axis=0)
    out[ok] = np.nanmedian(a[:, ok], axis=0)
    return out
