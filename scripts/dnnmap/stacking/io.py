"""Stacked regression of one ROI over the spaces of one stack set: read, run, write, read back.

A stack set (config ``stacking.sets``) names its feature spaces as ``{model: [layers]}``; a
space is called ``model/layer``. :func:`run_stacking` reads each space's features file and
the ROI aligned by stimulus id, builds the outer splits and the nested folds exactly as the
encoding rule does (``encoding.cv``, ``encoding.inner_folds``, ``encoding.alphas``,
``encoding.alpha_scale``; dnnmap's ridge for every space), and runs
:func:`dnnmap.stacking.regression.cross_validated_stacking`. A stacking file holds::

    stim_id         (n_stim,)                      row ids of predictions
    index           (n_vox,)                       grayordinate index into the source CIFTI
    spaces          (k,)                           space names, model/layer, in set order
    r               (n_vox,)                       stacked Pearson r, mean over outer folds
    r2              (n_vox,)                       stacked R², mean over outer folds
    signed_sqrt_r2  (n_vox,)                       R = sign(r2) sqrt(|r2|)
    fold_r, fold_r2 (n_splits, n_vox)              stacked scores per outer test set
    weights         (n_vox, k)                     convex weights, mean over outer folds
    fold_weights    (n_splits, n_vox, k)           weights of each outer training set
    space_r, space_r2, space_signed_sqrt_r2
                    (n_vox, k)                     each space's own model, same folds
    predictions     (n_stim, n_vox)                out-of-fold stacked predictions
    folds           (n_stim,)                      first-repeat split testing each stimulus
    masked          (n_vox,)                       constant or non-finite voxels (NaN results)

attrs: ``stack`` (the set's name), ``cv`` (JSON), ``estimator`` and dnnmap's provenance.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import h5py
import numpy as np

from dnnmap.errors import InputError
from dnnmap.features.folds import FeatureSpaces, load_features
from dnnmap.spaces import space_names as space_names
from dnnmap.stacking.regression import StackedRegression, StackingResult, cross_validated_stacking
from dnnmap.stats.splits import Splits, groups_from_table, inner_splits, splits_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_strings, write_h5

LOG = logging.getLogger("dnnmap")


@dataclass(frozen=True)
class StackingOutput:
    """Everything a stacking job writes.

    Attributes
    ----------
    result : StackingResult
    spaces : list of str
    index : array of shape (n_vox,)
    stim_ids : list of str
    splits : Splits
    """

    result: StackingResult
    spaces: list[str]
    index: np.ndarray
    stim_ids: list[str]
    splits: Splits


def read_features(paths: Sequence[str], stim_ids: list[str], table: str) -> FeatureSpaces:
    """Features of every space side by side, aligned by stimulus id, through the fold seam.

    Parameters
    ----------
    paths : sequence of str
        ``results/features/{model}/{layer}.h5`` of each space, in order.
    stim_ids : list of str
        The stimulus table's ids; every file's rows must be these, in this order.
    table : str
        The table's path, for messages.

    Returns
    -------
    FeatureSpaces
        Each split's design (:meth:`~dnnmap.features.folds.FeatureSpaces.split_design`):
        fixed features as their lossless basis, ``pca`` with ``fit: train`` fitted on the
        split's training rows.
    """
    return FeatureSpaces(
        [load_features(path, stim_ids, table, compact=True) for path in paths],
        source=", ".join(paths),
    )


def run_stacking(
    stimuli_path: str,
    features_paths: Sequence[str],
    spaces: Sequence[str],
    brain_path: str,
    encoding: Mapping,
    device: str = "numpy",
    log=None,
) -> StackingOutput:
    """Cross-validated stacked regression of one ROI over the spaces of one set.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``: the stimulus order every input must have, and the group or
        split column of the CV.
    features_paths : sequence of str
        ``results/features/{model}/{layer}.h5`` of each space, in ``spaces`` order.
    spaces : sequence of str
        Space names (``model/layer``), at least 2.
    brain_path : str
        ``results/brain/{subject}/{roi}.h5``.
    encoding : mapping
        The config's ``encoding`` section: cv, inner_folds, alphas, alpha_scale.
    device : str
        Backend of the ridge fits (:mod:`dnnmap.backend`).
    log : callable or None
        ``log(split, n_splits)`` after each outer split.

    Returns
    -------
    StackingOutput
    """
    if len(features_paths) != len(spaces):
        raise InputError(
            f"{len(features_paths)} features files for {len(spaces)} spaces; expected one each"
        )
    if len(spaces) < 2:
        raise InputError(f"spaces are {list(spaces)}; expected at least 2 spaces to weigh")
    from dnnmap.encoding.ridge import RidgeCV

    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    X = read_features(features_paths, stim_ids, stimuli_path)
    with h5py.File(brain_path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), stimuli_path, brain_path)
        Y, index = f["responses"][()], f["index"][()]
    cv = dict(encoding.get("cv") or {})
    if cv.get("column") is None:
        cv.pop("column", None)
    splits = splits_from_table(table, cv, stimuli_path, key="encoding.cv")
    groups = groups_from_table(table, cv, stimuli_path, key="encoding.cv")
    seed, n_inner = int(cv.get("seed", 0)), encoding["inner_folds"]

    def inner(rows: np.ndarray):
        return inner_splits(rows, splits.scheme, n_folds=n_inner, seed=seed, groups=groups)

    ridge = RidgeCV(
        alphas=encoding["alphas"],
        alpha_scale=encoding.get("alpha_scale", "relative"),
        device=device,
    )

    def factory(train: np.ndarray) -> StackedRegression:
        # Stacking folds inside the outer training set, and each space's alpha chosen by
        # folds nested inside whatever rows it is fitted on (the encoding rule's folds for
        # the refit on the whole outer training set).
        return StackedRegression(
            X.split_sizes(train),
            estimator=ridge,
            cv=inner(train),
            estimator_cv=lambda rows: inner(train[rows]),
        )

    result = cross_validated_stacking(factory, X, Y, splits, log=log)
    return StackingOutput(result, list(spaces), index, stim_ids, splits)


def write_stacking(
    path: str | os.PathLike, out: StackingOutput, stack: str, encoding: Mapping, attrs: Mapping
) -> None:
    """Write a stacking file (layout in the module docstring), atomically."""
    r = out.result
    f32 = np.float32
    arrays = {
        "index": out.index,
        "r": r.r.astype(f32),
        "r2": r.r2.astype(f32),
        "signed_sqrt_r2": r.signed_sqrt_r2.astype(f32),
        "fold_r": r.fold_r.astype(f32),
        "fold_r2": r.fold_r2.astype(f32),
        "weights": r.weights.astype(f32),
        "fold_weights": r.fold_weights.astype(f32),
        "space_r": r.space_r.astype(f32),
        "space_r2": r.space_r2.astype(f32),
        "space_signed_sqrt_r2": r.space_signed_sqrt_r2.astype(f32),
        "predictions": r.predictions.astype(f32),
        "folds": r.folds,
        "masked": r.masked,
    }
    cv = {
        "scheme": out.splits.scheme,
        "n_splits": len(out.splits),
        **{k: v for k, v in out.splits.params.items() if k != "scheme"},
        "inner_folds": encoding["inner_folds"],
        "alphas": list(encoding["alphas"]),
        "alpha_scale": encoding.get("alpha_scale", "relative"),
    }
    arrays["spaces"] = np.asarray(out.spaces, dtype=object)
    write_h5(
        path,
        arrays,
        attrs={**attrs, "stack": stack, "estimator": "ridge", "cv": json.dumps(cv, default=str)},
        stim_id=out.stim_ids,
    )


SUMMARY_KEYS = (
    "index",
    "r",
    "r2",
    "signed_sqrt_r2",
    "weights",
    "space_r",
    "space_r2",
    "space_signed_sqrt_r2",
    "masked",
)


def read_stacking(path: str | os.PathLike) -> dict:
    """The per-voxel results of a stacking file: :data:`SUMMARY_KEYS` and ``spaces`` (list)."""
    with h5py.File(path, "r") as f:
        out = {key: f[key][()] for key in SUMMARY_KEYS}
        out["spaces"] = read_strings(f["spaces"])
    return out
