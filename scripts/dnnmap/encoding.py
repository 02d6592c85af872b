"""Voxelwise encoding models: read features and responses aligned by stimulus id, write results.

The numerical work is in :mod:`dnnmap.ridge`; this module joins it to dnnmap's files.
An encoding file holds, per voxel (grayordinate) of one ROI::

    stim_id        (n_stim,)          row ids of predictions
    index          (n_vox,)           grayordinate index into the source CIFTI
    score          (n_vox,)           Pearson r of out-of-fold predictions
    r2             (n_vox,)           R² of out-of-fold predictions
    alpha          (n_folds, n_vox)   ridge penalty chosen by inner CV per outer fold
    fold_scores    (n_folds, n_vox)   Pearson r within each outer fold
    predictions    (n_stim, n_vox)    out-of-fold predictions
    folds          (n_stim,)          outer fold of each stimulus
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from dnnmap.ridge import EncodingResult, cross_validated_encoding
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_strings, write_h5


def read_aligned(path: str | os.PathLike, dataset: str, stim_ids: list[str], table: str):
    """Read a stimulus-indexed dataset, stopping unless its ``stim_id`` equals the table's.

    Returns
    -------
    ndarray of shape (n_stim, ...)
    """
    with h5py.File(path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, path)
        return f[dataset][()]


def run_encoding(
    stimuli_path: str, features_path: str, brain_path: str, settings: dict
) -> tuple[EncodingResult, np.ndarray, list[str]]:
    """Cross-validated ridge encoding of one ROI from one layer's features.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``; defines the stimulus order both inputs must have.
    features_path : str
        ``results/features/{model}/{layer}.h5`` with ``features (n_stim, k)``.
    brain_path : str
        ``results/brain/{subject}/{roi}.h5`` with ``responses (n_stim, n_vox)``, ``index``.
    settings : dict
        The config's ``encoding`` section (alphas, n_folds, inner_folds, seed, voxel_batch).

    Returns
    -------
    result : EncodingResult
    index : ndarray of shape (n_vox,)
    stim_ids : list of str
    """
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    X = read_aligned(features_path, "features", stim_ids, stimuli_path)
    Y = read_aligned(brain_path, "responses", stim_ids, stimuli_path)
    with h5py.File(brain_path, "r") as f:
        index = f["index"][()]
    result = cross_validated_encoding(
        X.astype(np.float64),
        Y.astype(np.float32),
        alphas=settings["alphas"],
        n_folds=settings["n_folds"],
        seed=settings["seed"],
        inner_cv=settings["inner_folds"],
        batch_size=settings["voxel_batch"],
    )
    return result, index, stim_ids


def write_encoding(path, result: EncodingResult, index, stim_ids, settings, attrs) -> None:
    """Write an encoding result file (layout in the module docstring), atomically."""
    write_h5(
        path,
        {
            "index": index,
            "score": result.score.astype(np.float32),
            "r2": result.r2.astype(np.float32),
            "alpha": result.alpha,
            "fold_scores": result.fold_scores.astype(np.float32),
            "predictions": result.predictions.astype(np.float32),
            "folds": result.folds,
        },
        attrs={
            **attrs,
            "estimator": "ridge",
            "cv": json.dumps(
                {
                    "outer": "kfold",
                    "n_folds": settings["n_folds"],
                    "seed": settings["seed"],
                    "inner_folds": settings["inner_folds"],
                    "alphas": list(settings["alphas"]),
                }
            ),
            "score_metric": "pearson_r",
        },
        stim_id=stim_ids,
    )


def read_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``index``, ``score`` and ``r2`` of an encoding file."""
    with h5py.File(path, "r") as f:
        return {key: f[key][()] for key in ("index", "score", "r2")}
