"""Voxelwise encoding models: read features and responses aligned by stimulus id, write results.

The numerical work is in the estimators (:mod:`dnnmap.encoding.ridge`,
:mod:`dnnmap.encoding.kernel_ridge`, :mod:`dnnmap.encoding.estimators`: OLS, Lasso, PLS,
per-unit and any scikit-learn estimator), the outer cross-validation
(:mod:`dnnmap.encoding.cross_validation`), :mod:`dnnmap.stats.splits` (outer and nested
splits) and :mod:`dnnmap.encoding.permutation`; this module joins them to dnnmap's files.
An encoding file holds, per voxel (grayordinate) of one ROI::

    stim_id            (n_stim,)           row ids of predictions
    index              (n_vox,)            grayordinate index into the source CIFTI
    score              (n_vox,)            the reported score (attrs score_metric, pooling):
                                           by default the mean over outer test sets of
                                           Pearson r within each (NaN: masked)
    score_pooled       (n_vox,)            Pearson r of the pooled out-of-fold predictions
                                           (biased downward; for comparison)
    r2                 (n_vox,)            R² of the pooled out-of-fold predictions
    explained_variance (n_vox,)            explained variance of the pooled predictions
    alpha              (n_splits, n_vox)   hyperparameter chosen per outer split
                                           (ridge/kernel ridge/lasso alpha, PLS components,
                                           per_unit's flat unit index;
                                           the grid multiple with alpha_scale: relative)
    alpha_edge         (n_vox,)            True where the chosen alpha is the grid's smallest
                                           or largest in any outer split (ridge, kernel ridge)
    fold_scores        (n_splits, n_vox)   score_metric within each outer test set
    predictions        (n_stim, n_vox)     out-of-fold predictions (first repeat)
    folds              (n_stim,)           first-repeat split testing each stimulus (-1: none)
    masked             (n_vox,)            voxels left out (constant or not finite)
  with permutations (``encoding.permutation.n_perm`` > 0):
    pvalue, pvalue_fwe, qvalue (n_vox,)    uncorrected, max-statistic FWE and FDR p-values
    null_max           (n_perm,)           the largest null score over voxels per permutation
  with ``estimator: per_unit`` (X is the layer's units, read from the activations file):
    unit               (n_splits, n_vox)   flat index of the unit chosen on each outer
                                           training set (-1: none)
    unit_location      (n_vox, ndim)       the unit chosen on all stimuli, in the layer's own
                                           coordinates (channel, y, x for a convolutional
                                           layer; attrs unit_shape, unit_axes)
    unit_r             (n_vox,)            that unit's Pearson r with the voxel
  with repeated measurements (the ROI file has ``noise_ceiling``):
    noise_ceiling      (n_vox,)            noise ceiling of r
    score_normalized   (n_vox,)            score over the ceiling of its metric (of r for r
                                           and signed_sqrt_r2, its square for r2), capped
                                           at 1; NaN where that ceiling is at or below
                                           encoding.min_ceiling (attr min_ceiling)

attrs: ``estimator``, ``cv`` (JSON: scheme, folds, repeats, seed, inner folds, alphas,
alpha_scale), ``score_metric`` (``r``, ``r2`` or ``signed_sqrt_r2``: of ``score`` and
``fold_scores``), ``pooling`` (``folds``: ``score`` is the mean of ``fold_scores``;
``pooled``: the score of the pooled predictions), ``permutation`` (JSON: n_perm, seed, kind,
tail, blocks), ``features`` (JSON: method, fit, n_components, seed, fitted_on of the
features file, :func:`dnnmap.features.folds.features_summary`) and dnnmap's provenance.
The permuted statistic of ``pvalue`` is ``score``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np

from dnnmap.brain.noise_ceiling import MIN_CEILING, normalized_score
from dnnmap.encoding.cross_validation import EncodingResult, cross_validated_predictions
from dnnmap.encoding.permutation import (
    PermutationResult,
    label_permutation_test,
    refit_permutation_test,
)
from dnnmap.errors import InputError
from dnnmap.features.folds import features_summary, load_features
from dnnmap.stats.splits import Splits, groups_from_table, inner_splits, splits_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_strings, write_h5

LOG = logging.getLogger("dnnmap")

RIDGE = "ridge"
KERNEL_RIDGE = "kernel_ridge"
PER_UNIT = "per_unit"
"""The estimator that reads a layer's units (activations), not its features."""
UNIT_AXES = {1: ("unit",), 3: ("channel", "y", "x")}
"""Names of the unit coordinates by the number of unit dimensions (others: dim0, dim1...)."""
PERMUTATION_KINDS = ("test_labels", "refit")


def read_roi(path: str | os.PathLike, stim_ids: list[str], table: str) -> dict[str, np.ndarray]:
    """Read an ROI file once: ``responses (n_stim, n_vox)``, ``index (n_vox,)`` and, when the
    file has them, ``noise_ceiling (n_vox,)``; stops unless its ``stim_id`` equals the table's."""
    with h5py.File(path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, path)
        out = {"responses": f["responses"][()], "index": f["index"][()]}
        if "noise_ceiling" in f:
            out["noise_ceiling"] = f["noise_ceiling"][()]
    return out


def metric_ceiling(ceiling_r, metric: str) -> np.ndarray:
    """The noise ceiling of a score metric from the ceiling of r (n_vox,): its square for
    ``r2`` (the explainable variance), itself for ``r`` and ``signed_sqrt_r2``."""
    c = np.asarray(ceiling_r, dtype=np.float64)
    return c**2 if metric == "r2" else c


def read_layer_units(
    path: str | os.PathLike, layer: str, stim_ids: list[str], table: str
) -> tuple[np.ndarray, tuple[int, ...]]:
    """A layer's units from an activations file, aligned to the stimulus table.

    Parameters
    ----------
    path : path
        ``results/activations/{model}.h5`` with ``layers/{layer} (n_stim, *unit_shape)``.
    layer : str
    stim_ids : list of str
        The table's order; the file must have exactly these ids.
    table : str
        The table's path (named in errors).

    Returns
    -------
    X : float32 array of shape (n_stim, prod(unit_shape))
        Units flattened in C order.
    unit_shape : tuple of int
        Shape of one stimulus's activations, e.g. (channels, rows, columns).
    """
    with h5py.File(path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, path)
        if f"layers/{layer}" not in f:
            known = ", ".join(f["layers"]) if "layers" in f else "none"
            raise InputError(f"{path}: no layer {layer!r}; layers in file: {known}")
        A = f[f"layers/{layer}"][()]
    unit_shape = tuple(int(s) for s in A.shape[1:]) or (1,)
    return A.reshape(A.shape[0], -1).astype(np.float32, copy=False), unit_shape


def unit_axes(unit_shape) -> tuple[str, ...]:
    """Names of a layer's unit coordinates (:data:`UNIT_AXES`)."""
    return UNIT_AXES.get(len(unit_shape), tuple(f"dim{i}" for i in range(len(unit_shape))))


@dataclass(frozen=True)
class UnitChoice:
    """The per-unit model's unit per voxel, fitted on all stimuli.

    Attributes
    ----------
    unit_shape : tuple of int
        Shape of the layer's units, e.g. (channels, rows, columns).
    best_unit : int array of shape (n_vox,)
        Flat index of the chosen unit (-1: none, a constant voxel).
    location : int array of shape (n_vox, len(unit_shape))
        The same unit in the layer's coordinates (-1 rows for none).
    r : array of shape (n_vox,)
        Pearson r of that unit with the voxel, over all stimuli.
    """

    unit_shape: tuple[int, ...]
    best_unit: np.ndarray
    location: np.ndarray
    r: np.ndarray


@dataclass(frozen=True)
class EncodingOutput:
    """Everything an encoding job writes.

    Attributes
    ----------
    result : EncodingResult
    index : array of shape (n_vox,)
    stim_ids : list of str
    splits : Splits
    permutation : PermutationResult or None
    noise_ceiling : array of shape (n_vox,) or None
    units : UnitChoice or None
        The per-unit model's units (``estimator: per_unit``).
    features : dict or None
        How the features were made (:func:`dnnmap.features.folds.features_summary`).
    """

    result: EncodingResult
    index: np.ndarray
    stim_ids: list[str]
    splits: Splits
    permutation: PermutationResult | None = None
    noise_ceiling: np.ndarray | None = None
    units: UnitChoice | None = None
    features: dict | None = None


def _cv_settings(settings: Mapping) -> dict:
    cv = dict(settings.get("cv") or {})
    if cv.get("column") is None:
        cv.pop("column", None)
    return cv


def _estimator_factory(settings: Mapping, inner, device: str):
    """``factory(train_rows) -> unfitted estimator``, with the nested inner folds (of the outer
    training rows) set where the estimator takes ``cv``."""
    from dnnmap.encoding.estimators import make_estimator
    from dnnmap.encoding.kernel_ridge import KernelRidgeCV
    from dnnmap.encoding.ridge import RidgeCV

    name, params = settings["estimator"], dict(settings.get("estimator_params") or {})

    def factory(train: np.ndarray):
        scale = settings.get("alpha_scale", "relative")
        if name == RIDGE:
            est = RidgeCV(alphas=settings["alphas"], device=device, alpha_scale=scale)
        elif name == KERNEL_RIDGE:
            est = KernelRidgeCV(
                alphas=settings["alphas"], device=device, alpha_scale=scale, **params
            )
        else:
            est = make_estimator(name, params, key="encoding.estimator")
        if hasattr(est, "get_params") and "cv" in est.get_params(deep=False):
            est.set_params(cv=inner(train))
        return est

    return factory


def run_encoding(
    stimuli_path: str,
    features_path: str,
    brain_path: str,
    settings: Mapping,
    device: str = "numpy",
    layer: str | None = None,
) -> EncodingOutput:
    """Cross-validated encoding of one ROI from one layer's features, with inference.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``; defines the stimulus order both inputs must have, and holds
        the group or split column of grouped or fixed-split cross-validation.
    features_path : str
        ``results/features/{model}/{layer}.h5`` with ``features (n_stim, k)`` (or, with
        ``features.fit: train``, the ``basis`` that each outer training set's PCA is fitted
        on: :mod:`dnnmap.features.folds`); for ``estimator: per_unit`` (DNNBrain's best single
        unit, which must see the layer's own units, not components mixing them),
        ``results/activations/{model}.h5``.
    brain_path : str
        ``results/brain/{subject}/{roi}.h5`` with ``responses (n_stim, n_vox)``, ``index``
        and optionally ``noise_ceiling``.
    settings : mapping
        The config's ``encoding`` section: estimator, estimator_params, alphas, cv (scheme,
        n_folds, n_repeats, seed, column), inner_folds, voxel_batch, permutation (n_perm,
        kind, seed).
    device : str
        Compute backend of ridge, kernel ridge and permutations (:mod:`dnnmap.backend`).
    layer : str or None
        The layer read from the activations file (``estimator: per_unit``).

    Returns
    -------
    EncodingOutput
    """
    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    unit_shape = None
    if settings["estimator"] == PER_UNIT:
        if layer is None:
            raise InputError("estimator per_unit reads a layer of the activations; layer is None")
        X, unit_shape = read_layer_units(features_path, layer, stim_ids, stimuli_path)
        features_meta = features_summary({"method": "units", "fit": "none", "fitted_on": "nothing"})
    else:
        # Ridge with an intercept sees the features only through the inner products of
        # centered rows: a wide layer's units enter as their lossless basis, the same fit from
        # n - 1 columns (stored by features.method: none, else computed here).
        ridge = settings["estimator"] == RIDGE
        features = load_features(features_path, stim_ids, stimuli_path, compact=ridge)
        features_meta = features_summary(features.attrs)
        # fit: train features are fitted per outer split (the fold seam); others are fixed
        X = features if features.per_fold else features.matrix
        if features.compact:
            LOG.info(
                "%s feature columns for %d stimuli: ridge on their lossless basis (%d columns)",
                features.attrs.get("n_components", "all"),
                X.shape[0],
                X.shape[1],
            )
    roi = read_roi(brain_path, stim_ids, stimuli_path)
    Y = roi["responses"].astype(np.float32)
    cv = _cv_settings(settings)
    splits = splits_from_table(table, cv, stimuli_path, key="encoding.cv")
    groups = groups_from_table(table, cv, stimuli_path, key="encoding.cv")
    seed = int(cv.get("seed", 0))

    def inner(train: np.ndarray):
        return inner_splits(
            train, splits.scheme, n_folds=settings["inner_folds"], seed=seed, groups=groups
        )

    factory = _estimator_factory(settings, inner, device)
    # PLS2 components depend on all targets: one fit of all voxels
    batch = None if settings["estimator"] == "pls" else settings["voxel_batch"]
    result = cross_validated_predictions(
        factory,
        X,
        Y,
        splits,
        batch_size=batch,
        score=settings.get("score", "r"),
        pooling=settings.get("pooling", "folds"),
    )
    blocks = permutation_blocks(table, settings, stimuli_path)
    permutation = _permutations(X, Y, result, splits, settings, inner, device, blocks)
    ceiling = roi.get("noise_ceiling")
    units = None
    if unit_shape is not None:
        units = _units_on_all_stimuli(X, Y, result, unit_shape, factory)
    return EncodingOutput(
        result, roi["index"], stim_ids, splits, permutation, ceiling, units, features_meta
    )


def _units_on_all_stimuli(X, Y, result, unit_shape, factory) -> UnitChoice:
    """The per-unit model fitted on every stimulus: each voxel's unit, where it sits in the
    layer, and its r (masked voxels: -1 and NaN)."""
    from dnnmap.encoding.per_unit import unit_location

    v = Y.shape[1]
    best, r = np.full(v, -1, dtype=np.int64), np.full(v, np.nan)
    keep = ~result.masked if result.masked is not None else np.ones(v, dtype=bool)
    if keep.any():
        est = factory(np.arange(X.shape[0])).fit(X, Y[:, keep])
        best[keep], r[keep] = est.best_unit_, est.unit_r_
    return UnitChoice(unit_shape, best, unit_location(best, unit_shape), r)


def permutation_blocks(table, settings: Mapping, table_path: str) -> np.ndarray | None:
    """Exchangeability blocks of the permutations (n_stim,), or None.

    From the stimulus-table column ``encoding.permutation.blocks``; when that is null and
    ``encoding.cv.scheme`` is ``group``, the CV's group column (stimuli of one group, e.g. a
    session, are exchanged only among themselves).
    """
    column = (settings.get("permutation") or {}).get("blocks")
    cv = _cv_settings(settings)
    if column is None:
        if cv.get("scheme") != "group":
            return None
        return groups_from_table(table, cv, table_path, key="encoding.cv")
    spec = {"scheme": "group", "column": column}
    return groups_from_table(table, spec, table_path, key="encoding.permutation.blocks")


def _permutations(
    X, Y, result, splits, settings, inner, device, blocks=None
) -> PermutationResult | None:
    perm = settings.get("permutation") or {}
    n_perm, kind = int(perm.get("n_perm", 0)), perm.get("kind", "refit")
    if n_perm <= 0:
        return None
    if kind not in PERMUTATION_KINDS:
        raise InputError(
            f"encoding.permutation.kind is {kind!r}; expected one of {', '.join(PERMUTATION_KINDS)}"
        )
    seed = int(perm.get("seed", 0))
    tail = perm.get("tail", "greater")
    metric, pooling = result.score_metric, result.pooling
    if kind == "test_labels":
        if splits.n_repeats > 1:
            raise InputError(
                "encoding.permutation.kind is 'test_labels' with cv.scheme repeated_kfold; "
                "the predictions of one repeat cannot give the null of a score averaged over "
                "repeats (use kind: refit)"
            )
        if np.unique(result.folds[result.folds >= 0]).size > 1:
            LOG.warning(
                "test-label permutations with %d outer folds are anti-conservative (the fold "
                "models share training responses); kind: refit or cv.scheme: split is exact",
                np.unique(result.folds[result.folds >= 0]).size,
            )
        # The responses are permuted within each test fold (and block) against the fixed
        # predictions; the permuted statistic is the reported score.
        return label_permutation_test(
            result.predictions,
            Y,
            n_perm,
            seed,
            folds=result.folds,
            groups=blocks,
            metric=metric,
            pooling=pooling,
            tail=tail,
            device=device,
        )
    if settings["estimator"] != RIDGE:
        raise InputError(
            f"encoding.permutation.kind is 'refit' with estimator {settings['estimator']!r}; "
            "refit permutations reuse the ridge decompositions, so they need estimator: ridge "
            "(use kind: test_labels for other estimators)"
        )
    return refit_permutation_test(
        X,
        Y,
        n_perm,
        seed,
        groups=blocks,
        metric=metric,
        pooling=pooling,
        tail=tail,
        alphas=settings["alphas"],
        inner_cv=inner,
        splits=splits,
        batch_size=settings["voxel_batch"],
        device=device,
        alpha_scale=settings.get("alpha_scale", "relative"),
    )


def _cv_attrs(out: EncodingOutput, settings: Mapping) -> str:
    return json.dumps(
        {
            "scheme": out.splits.scheme,
            "n_splits": len(out.splits),
            "n_repeats": out.splits.n_repeats,
            **{k: v for k, v in out.splits.params.items() if k != "scheme"},
            "inner_folds": settings["inner_folds"],
            "alphas": list(settings["alphas"]),
            "alpha_scale": settings.get("alpha_scale", "relative"),
        },
        default=str,
    )


def alpha_on_edge(alpha: np.ndarray, settings: Mapping) -> np.ndarray:
    """Voxels (n_vox,) whose chosen alpha is the smallest or largest of ``settings["alphas"]``
    in any outer split (``alpha`` (n_splits, n_vox)); all False for estimators without the
    alpha grid (a grid of one value has no edge worth reporting)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if settings.get("estimator") not in (RIDGE, KERNEL_RIDGE) or len(settings["alphas"]) < 2:
        return np.zeros(alpha.shape[-1], dtype=bool)
    grid = np.asarray(settings["alphas"], dtype=np.float64)
    edge = np.isclose(alpha, grid.min(), rtol=1e-9) | np.isclose(alpha, grid.max(), rtol=1e-9)
    return edge.any(axis=0)


def write_encoding(path, out: EncodingOutput, settings: Mapping, attrs: Mapping) -> None:
    """Write an encoding result file (layout in the module docstring), atomically."""
    r = out.result
    arrays = {
        "index": out.index,
        "score": r.score.astype(np.float32),
        "r2": r.r2.astype(np.float32),
        "alpha": r.alpha,
        "fold_scores": r.fold_scores.astype(np.float32),
        "alpha_edge": alpha_on_edge(r.alpha, settings),
        "predictions": r.predictions.astype(np.float32),
        "folds": r.folds,
    }
    if r.score_pooled is not None:
        arrays["score_pooled"] = r.score_pooled.astype(np.float32)
    if r.explained_variance is not None:
        arrays["explained_variance"] = r.explained_variance.astype(np.float32)
    if r.masked is not None:
        arrays["masked"] = r.masked
    meta = {"n_perm": 0}
    if out.permutation is not None:
        p = out.permutation
        arrays.update(pvalue=p.pvalue, pvalue_fwe=p.pvalue_fwe, qvalue=p.qvalue)
        arrays["null_max"] = p.null_max
        meta = {
            "n_perm": p.n_perm,
            "seed": p.seed,
            "kind": p.kind,
            "tail": p.tail,
            "metric": p.metric,
            "blocks": (settings.get("permutation") or {}).get("blocks"),
        }
    unit_attrs = {}
    if out.units is not None:
        u = out.units
        arrays["unit"] = np.where(np.isfinite(r.alpha), r.alpha, -1).astype(np.int64)
        arrays["unit_location"] = u.location
        arrays["unit_r"] = u.r.astype(np.float32)
        unit_attrs = {
            "unit_shape": json.dumps(list(u.unit_shape)),
            "unit_axes": json.dumps(list(unit_axes(u.unit_shape))),
        }
    ceiling_attrs = {}
    if out.noise_ceiling is not None:
        arrays["noise_ceiling"] = out.noise_ceiling.astype(np.float32)
        floor = float(settings.get("min_ceiling", MIN_CEILING))
        ceiling = metric_ceiling(out.noise_ceiling, r.score_metric)
        normalized = normalized_score(r.score, ceiling, min_ceiling=floor)
        arrays["score_normalized"] = np.asarray(normalized, dtype=np.float32)
        ceiling_attrs = {"min_ceiling": floor}
    write_h5(
        path,
        arrays,
        attrs={
            **attrs,
            "estimator": settings["estimator"],
            "cv": _cv_attrs(out, settings),
            "score_metric": r.score_metric,
            "pooling": r.pooling,
            "permutation": json.dumps(meta),
            **unit_attrs,
            **ceiling_attrs,
            "features": json.dumps(out.features or {}, default=str),
        },
        stim_id=out.stim_ids,
    )


SCORE_KEYS = ("index", "score", "r2")
OPTIONAL_KEYS = (
    "pvalue",
    "pvalue_fwe",
    "qvalue",
    "noise_ceiling",
    "score_normalized",
    "score_pooled",
    "alpha_edge",
    "null_max",
)


def read_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``index``, ``score`` and ``r2`` of an encoding file, and those of
    :data:`OPTIONAL_KEYS` that it has."""
    with h5py.File(path, "r") as f:
        return {key: f[key][()] for key in (*SCORE_KEYS, *OPTIONAL_KEYS) if key in f}


def read_permutation_meta(path: str | os.PathLike) -> dict:
    """The ``permutation`` attrs (JSON) of an encoding file: ``n_perm`` (0: none), ``seed``,
    ``kind``, ``tail``, ``metric``, ``blocks``; ``{"n_perm": 0}`` when absent."""
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("permutation")
    return json.loads(raw) if raw else {"n_perm": 0}


def read_features_meta(path: str | os.PathLike) -> dict:
    """How the features of an encoding file were made: ``features_method``, ``features_fit``,
    ``features_n_components``, ``features_seed``, ``features_fitted_on``
    (:func:`dnnmap.features.folds.features_summary`; empty strings for older files)."""
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("features")
    data = json.loads(raw) if raw else {}
    return data if "features_method" in data else features_summary(data)
