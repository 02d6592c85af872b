"""Encoding on time series: ridge over an FIR-delayed design, folds grouped by run.

The voxelwise-modeling recipe for continuous stimuli (movies, stories, sound): the FIR design
of :mod:`dnnmap.brain.fir` (stimulus features on the TR grid, z-scored within run, delayed by a
few TRs) predicts each voxel's time series, z-scored within run too. Cross-validation holds
out whole runs, since neighbouring TRs share the slow hemodynamic response and drift: the
outer folds are grouped by run (:func:`dnnmap.stats.splits.make_splits` with scheme
``group``: leave-one-run-out when the runs are at most ``n_folds``), and each outer training
set picks its ridge penalty per voxel by inner folds grouped by its own runs
(:func:`dnnmap.stats.splits.inner_splits`), with :class:`dnnmap.encoding.ridge.RidgeCV` and
the one outer loop :func:`dnnmap.encoding.cross_validation.cross_validated_predictions`.
The score of a voxel is Pearson r between the held-out runs' data and their predictions, per
fold, averaged over folds.

Inference (optional, :func:`circular_shift_null`): TRs are autocorrelated, so shuffling them
would make a null far too narrow. Instead each run's data are shifted circularly in time by a
random offset (the same for every voxel), which keeps their autocorrelation and breaks only
their alignment with the stimulus, and the whole cross-validated encoding runs again on the
shifted data, as extra target columns of one pass over the folds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from dnnmap.brain.fir import DEFAULT_DELAYS, run_rows, zscore_within_runs
from dnnmap.brain.summary import masked_voxels
from dnnmap.checks import check_int
from dnnmap.encoding.cross_validation import (
    EncodingResult,
    cross_validated_predictions,
    cross_validated_scores,
)
from dnnmap.encoding.permutation import PermutedResponses
from dnnmap.errors import InputError
from dnnmap.stats.inference import fwe_pvalue, max_statistic, permutation_pvalue
from dnnmap.stats.splits import Splits, inner_splits, make_splits

LOG = logging.getLogger("dnnmap")


@dataclass(frozen=True)
class ShiftNull:
    """Circular-shift null of a time-series encoding (:func:`circular_shift_null`).

    Attributes
    ----------
    null : ndarray of float64, shape (n_perm, v)
        The score of each voxel on each shifted copy of the data.
    pvalue : ndarray of float64, shape (v,)
        ``(1 + #{null >= score}) / (1 + n_perm)`` (NaN for masked voxels).
    pvalue_fwe : ndarray of float64, shape (v,)
        Max-statistic family-wise p-values over the voxels.
    null_max : ndarray of float64, shape (n_perm,)
        The largest null score of each shift over the voxels.
    n_perm, seed, min_shift : int
        Shifts drawn, their seed, and the smallest shift in TRs.
    """

    null: np.ndarray
    pvalue: np.ndarray
    pvalue_fwe: np.ndarray
    null_max: np.ndarray
    n_perm: int
    seed: int
    min_shift: int


def run_splits(runs: np.ndarray, n_folds: int = 5) -> Splits:
    """Outer folds grouped by run: one per run (leave-one-run-out) when there are at most
    ``n_folds`` runs, else ``n_folds`` folds of whole runs balanced by TRs.

    Parameters
    ----------
    runs : ndarray, shape (n_tr,)
        Run label of each TR.

    Returns
    -------
    Splits
        Scheme ``group``.
    """
    runs = np.asarray(runs)
    if np.unique(runs).size < 2:
        raise InputError(
            f"the time series hold {np.unique(runs).size} run; expected at least 2 runs for "
            "folds grouped by run"
        )
    return make_splits(runs.size, "group", n_folds=n_folds, groups=runs)


def encode_timeseries(
    X: np.ndarray,
    Y: np.ndarray,
    runs: np.ndarray,
    *,
    alphas: Sequence[float],
    n_folds: int = 5,
    inner_folds: int = 5,
    alpha_scale: str = "relative",
    device: str = "numpy",
    batch_size: int | None = None,
) -> tuple[EncodingResult, Splits]:
    """Cross-validated ridge encoding of time series from an FIR design, folds by run.

    Parameters
    ----------
    X : ndarray, shape (n_tr, q)
        The FIR design (:func:`dnnmap.brain.fir.fir_design`).
    Y : ndarray, shape (n_tr, v)
        The voxels' time series, runs one after the other; z-scored within run here.
    runs : ndarray, shape (n_tr,)
        Run label of each TR.
    alphas : sequence of float
        Ridge penalties (``alpha_scale`` as :class:`dnnmap.encoding.ridge.RidgeCV`).
    n_folds : int
        Outer folds of whole runs (:func:`run_splits`).
    inner_folds : int
        Inner folds of whole runs inside each outer training set (leave-one-run-out there
        when it has at most ``inner_folds`` runs; contiguous blocks of its one run when it
        has one: :func:`inner_groups`).
    device : str
        Compute backend (:mod:`dnnmap.backend`).
    batch_size : int or None
        Voxels per fit (bounds memory).

    Returns
    -------
    result : EncodingResult
        ``score`` (v,): mean over outer folds of Pearson r on the held-out runs;
        ``fold_scores`` and ``alpha`` (n_folds, v); ``predictions`` (n_tr, v) out of fold,
        in the units of the z-scored data.
    splits : Splits
    """
    X, Yz, splits, factory = _timeseries_setup(
        X, Y, runs, alphas, n_folds, inner_folds, alpha_scale, device
    )
    result = cross_validated_predictions(factory, X, Yz, splits, batch_size=batch_size, score="r")
    return result, splits


def _timeseries_setup(
    X,
    Y,
    runs,
    alphas: Sequence[float],
    n_folds: int = 5,
    inner_folds: int = 5,
    alpha_scale: str = "relative",
    device: str = "numpy",
) -> tuple:
    """The checked pieces of :func:`encode_timeseries`: the design (float64), the series
    z-scored within run (float32, NaN in columns that are not finite), the splits by run and
    the :class:`dnnmap.encoding.ridge.RidgeCV` factory of each outer training set."""
    from dnnmap.encoding.ridge import RidgeCV

    X = np.asarray(X, dtype=np.float64)
    runs = np.asarray(runs)
    if X.shape[0] != runs.size or np.shape(Y)[0] != runs.size:
        raise InputError(
            f"design has {X.shape[0]} rows, data {np.shape(Y)[0]} and runs {runs.size}; "
            "expected one row per TR in each"
        )
    Yz = zscore_within_runs(Y, runs)
    Yz[:, ~np.isfinite(np.asarray(Y, dtype=np.float64)).all(axis=0)] = np.nan
    splits = run_splits(runs, n_folds)
    inner_folds = check_int(inner_folds, "inner_folds", 2)

    def factory(train: np.ndarray) -> RidgeCV:
        inner = inner_splits(
            train, "group", n_folds=inner_folds, groups=inner_groups(runs, train, inner_folds)
        )
        return RidgeCV(alphas=alphas, cv=inner, device=device, alpha_scale=alpha_scale)

    return X, Yz.astype(np.float32), splits, factory


def inner_groups(runs: np.ndarray, train: np.ndarray, n_blocks: int) -> np.ndarray:
    """Group labels of the inner folds of one outer training set: its runs, or, when it
    holds a single run (two runs in all, one held out), ``n_blocks`` contiguous blocks of
    that run (neighbouring TRs stay on one side of each inner split).

    Parameters
    ----------
    runs : ndarray, shape (n_tr,)
        Run label of every TR.
    train : ndarray of int, shape (n_train,)
        The outer training rows (a run's TRs in time order).
    n_blocks : int

    Returns
    -------
    ndarray, shape (n_tr,)
        A label for every row (only ``train`` rows are read).
    """
    runs = np.asarray(runs)
    if np.unique(runs[train]).size >= 2:
        return runs
    groups = np.full(runs.size, -1, dtype=np.int64)
    groups[train] = np.arange(train.size) * n_blocks // train.size
    return groups


def shifted_order(runs: np.ndarray, rng: np.random.Generator, min_shift: int) -> np.ndarray:
    """A row order that shifts each run circularly in time by a random offset.

    Parameters
    ----------
    runs : ndarray, shape (n_tr,)
        Run label of each TR (a run's TRs in time order).
    rng : numpy Generator
    min_shift : int
        Smallest offset in TRs (and at most ``m - min_shift`` for a run of ``m`` TRs).

    Returns
    -------
    ndarray of int, shape (n_tr,)
        ``order[rows[t]] = rows[(t + shift) % m]`` for the rows of each run.
    """
    order = np.arange(np.asarray(runs).size)
    for rows in run_rows(runs):
        m = rows.size
        low, high = min(min_shift, m // 2), max(m - min_shift, m // 2)
        shift = int(rng.integers(low, high + 1)) if m > 1 else 0
        order[rows] = rows[(np.arange(m) + shift) % m]
    return order


def circular_shift_null(
    X: np.ndarray,
    Y: np.ndarray,
    runs: np.ndarray,
    score: np.ndarray,
    *,
    n_perm: int = 1000,
    seed: int = 0,
    min_shift: int | None = None,
    chunk: int = 10000,
    **encode,
) -> ShiftNull:
    """P-values of time-series encoding scores by circular shifts of each run's data.

    For each of ``n_perm`` draws, every run's time series is shifted circularly in time by one
    random offset (:func:`shifted_order`; the same for all voxels, so their spatial
    correlation is kept too), and the whole cross-validated encoding
    (:func:`encode_timeseries`, same folds, same inner alpha choice) is run again on the
    shifted data. Refitting matters: the out-of-fold scores of one voxel are positively
    correlated across folds (each fold's model was fitted on the other folds' data), so
    shifting only the held-out predictions gives a null that is too narrow (on AR(1) noise
    about 16% of voxels below p 0.05 instead of 5%). The shifted series are extra target
    columns (:class:`dnnmap.encoding.permutation.PermutedResponses`, gathered batch by
    batch) of one pass over the outer folds: one decomposition per fold serves the data and
    every shift.

    Parameters
    ----------
    X : ndarray, shape (n_tr, q)
        The FIR design.
    Y : ndarray, shape (n_tr, v)
        The data the encoding was fitted on.
    runs : ndarray, shape (n_tr,)
    score : ndarray, shape (v,)
        The observed scores (:func:`encode_timeseries`), NaN for masked voxels.
    n_perm : int
        Shifts drawn.
    seed : int
    min_shift : int, optional
        Smallest shift in TRs; default a tenth of the shortest run (at least 1), so a
        shifted series is not a near copy of the real one.
    chunk : int
        Most target columns (voxels x shifts) per fit (bounds memory).
    **encode
        The settings of :func:`encode_timeseries` (alphas, n_folds, inner_folds, ...).

    Returns
    -------
    ShiftNull
    """
    n_perm = check_int(n_perm, "n_perm", 1)
    runs = np.asarray(runs)
    lengths = [rows.size for rows in run_rows(runs)]
    if min_shift is None:
        min_shift = max(1, min(lengths) // 10)
    score = np.asarray(score, dtype=np.float64)
    cols = np.flatnonzero(np.isfinite(score))
    v = score.size
    rng = np.random.default_rng(seed)
    orders = [shifted_order(runs, rng, min_shift) for _ in range(n_perm)]
    null = np.full((n_perm, v), np.nan)
    if cols.size:
        encode.pop("batch_size", None)
        Xd, Yz, splits, factory = _timeseries_setup(X, Y, runs, **encode)
        # a circular shift within each run is a row order: z-scoring within run commutes
        # with it, so the shifted copies are the z-scored series' rows in that order
        shifted = PermutedResponses(np.ascontiguousarray(Yz[:, cols]), np.stack(orders))
        scores = cross_validated_scores(
            factory,
            Xd,
            shifted,
            splits,
            masked=shifted.masked(masked_voxels(shifted.Y)),
            batch_size=chunk,
            score="r",
            progress=f"circular shifts ({n_perm})",
        )
        null[:, cols] = scores[cols.size :].reshape(n_perm, cols.size)
    pvalue = np.full(v, np.nan)
    pvalue_fwe = np.full(v, np.nan)
    null_max = np.full(n_perm, np.nan)
    if cols.size:
        pvalue[cols] = permutation_pvalue(score[cols], null[:, cols])
        null_max = max_statistic(null[:, cols])
        pvalue_fwe[cols] = fwe_pvalue(score[cols], null_max)
    return ShiftNull(null, pvalue, pvalue_fwe, null_max, n_perm, int(seed), int(min_shift))


def fir_arrays(
    result: EncodingResult,
    index: np.ndarray,
    runs: np.ndarray,
    alphas: Sequence[float],
    null: ShiftNull | None = None,
) -> dict[str, np.ndarray]:
    """The datasets of a time-series encoding file, named as those of an encoding file
    (:func:`dnnmap.encoding.io.write_encoding`) so the summary and map code read both.

    Returns
    -------
    dict
        ``index (v,)``, ``score``, ``r2``, ``score_pooled``, ``explained_variance``,
        ``masked``, ``alpha_edge`` (v,), ``alpha`` and ``fold_scores`` (n_folds, v),
        ``predictions`` (n_tr, v), ``folds`` and ``run`` (n_tr,), and with a null
        ``pvalue``, ``pvalue_fwe`` (v,) and ``null_max`` (n_perm,).
    """
    grid = np.asarray(alphas, dtype=np.float64)
    alpha = np.asarray(result.alpha, dtype=np.float64)
    edge = np.zeros(alpha.shape[-1], dtype=bool)
    if grid.size > 1:
        edge = (np.isclose(alpha, grid.min()) | np.isclose(alpha, grid.max())).any(axis=0)
    arrays = {
        "index": np.asarray(index),
        "score": result.score.astype(np.float32),
        "r2": result.r2.astype(np.float32),
        "score_pooled": result.score_pooled.astype(np.float32),
        "explained_variance": result.explained_variance.astype(np.float32),
        "masked": result.masked,
        "alpha_edge": edge,
        "alpha": alpha,
        "fold_scores": result.fold_scores.astype(np.float32),
        "predictions": result.predictions.astype(np.float32),
        "folds": result.folds,
        "run": np.asarray(runs, dtype=np.int64),
    }
    if null is not None:
        arrays.update(pvalue=null.pvalue, pvalue_fwe=null.pvalue_fwe, null_max=null.null_max)
    return arrays


def fir_attrs(
    splits: Splits, settings: Mapping, encoding: Mapping, null: ShiftNull | None = None
) -> dict[str, str]:
    """The attrs of a time-series encoding file: ``estimator``, ``cv`` and ``permutation``
    (JSON, as an encoding file's), ``score_metric``, ``pooling``, ``delays`` (JSON)."""
    meta = {"n_perm": 0}
    if null is not None:
        meta = {
            "n_perm": null.n_perm,
            "seed": null.seed,
            "kind": "circular_shift",
            "tail": "greater",
            "metric": "r",
            "min_shift": null.min_shift,
        }
    cv = {
        "scheme": "group",
        "groups": "run",
        "n_splits": len(splits),
        **splits.params,
        "inner_folds": encoding["inner_folds"],
        "alphas": list(encoding["alphas"]),
        "alpha_scale": encoding.get("alpha_scale", "relative"),
    }
    return {
        "estimator": "ridge",
        "cv": json.dumps(cv, default=str),
        "score_metric": "r",
        "pooling": "folds",
        "permutation": json.dumps(meta),
        "delays": json.dumps([int(d) for d in settings.get("delays", DEFAULT_DELAYS)]),
    }


def read_roi_series(
    entry: Mapping, roi: str, labels: Sequence[str], where: str, base: str = "."
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The time series of one ROI's columns over every run of a time-series subject.

    Parameters
    ----------
    entry : mapping
        The subject's config entry (``timeseries.runs``, ``mask``, ``roi_files``).
    roi : str
        ROI name.
    labels : sequence of str
        Its labels (``brain.rois.<roi>``), in the subject's ROI files or the atlas
        (:func:`dnnmap.brain.subjects.roi_index`, on the runs' space).
    where : str
        Config key of the subject, for messages.

    Returns
    -------
    series : ndarray of float32, shape (sum(n_scans), n_vox)
        The runs one after the other, in config order, each cleaned of its nuisance
        regressors (:func:`dnnmap.brain.fir.nuisance_design`: cosine drifts below
        ``timeseries.high_pass``, the run's ``confounds``, a constant).
    n_scans : ndarray of int64, shape (n_runs,)
    index : ndarray of int64, shape (n_vox,)
        The ROI's columns in the runs' space.
    """
    from pathlib import Path

    from dnnmap.brain.fir import nuisance_design, regress_out
    from dnnmap.brain.spaces import SubjectData, read_series
    from dnnmap.brain.subjects import roi_index
    from dnnmap.brain.timeseries import read_confounds

    settings = entry["timeseries"]
    parts, space, index = [], None, None
    for i, run in enumerate(tqdm(settings["runs"], desc="runs", mininterval=5)):
        key = f"{where}.timeseries.runs.{i}.data"
        data = SubjectData.from_config(run["data"], entry.get("mask"), None, key, base)
        values, header = read_series(data)
        if space is None:
            space = header.space
            index = roi_index(space, roi, labels, entry.get("roi_files"), where, base)
        elif reason := space.mismatch(header.space):
            raise InputError(f"{key}: {reason}; expected every run in one space")
        confounds = None
        if run.get("confounds"):
            confounds = read_confounds(
                Path(base, run["confounds"]), values.shape[0], f"{where}.timeseries.runs.{i}"
            )
        nuisance = nuisance_design(
            values.shape[0], settings["tr"], settings.get("high_pass", 0.01), confounds
        )
        parts.append(regress_out(values[:, index], nuisance))
    n_scans = np.array([p.shape[0] for p in parts], dtype=np.int64)
    return np.concatenate(parts).astype(np.float32), n_scans, index


def stimulus_features(
    features_path: str, stim_ids: Sequence[str], table: str
) -> tuple[np.ndarray, dict]:
    """Per-stimulus features of a layer for the FIR design, rows in table order.

    A file of fixed features gives its ``features``. A file whose PCA is fitted per outer
    split of stimuli (``features.fit: train``) gives the first ``n_components`` columns of its
    lossless ``basis`` (the principal components of all stimuli): folds over runs are not
    folds over stimuli, and a PCA of the stimuli never sees the brain data.

    Returns
    -------
    features : ndarray of float64, shape (n_stim, p)
    summary : dict
        :func:`dnnmap.features.folds.features_summary` of the file (``features_fit`` is
        ``all`` and ``features_fitted_on`` says ``all stimuli`` for a ``basis``).
    """
    from dnnmap.features.folds import features_summary, load_features

    features = load_features(features_path, stim_ids, table)
    matrix = np.asarray(features.matrix, dtype=np.float64)
    summary = features_summary(features.attrs)
    if features.per_fold:
        matrix = matrix[:, : int(features.attrs["n_components"])]
        summary.update(features_fit="all", features_fitted_on="all stimuli")
    return matrix, summary


def run_fir_encoding(
    stimuli_path: str,
    features_path: str,
    series_path: str,
    settings: Mapping,
    encoding: Mapping,
    device: str = "numpy",
    where: str = "",
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The FIR encoding of one ROI from one layer: design, cross-validation and null.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``.
    features_path : str
        ``results/features/{model}/{layer}.h5`` (:func:`stimulus_features`).
    series_path : str
        ``results/brain_series/{subject}/{roi}.h5``: ``series (n_tr, n_vox)``, ``n_scans``
        (n_runs,), ``index`` (n_vox,).
    settings : mapping
        The subject's ``timeseries`` section: ``tr``, ``runs`` (their ``events``), ``fir``
        (``delays``, ``n_folds``, ``n_perm``, ``seed``).
    encoding : mapping
        The config's ``encoding`` section: ``alphas``, ``alpha_scale``, ``inner_folds``,
        ``voxel_batch``.
    device : str
    where : str
        Config key of the subject, for messages.

    Returns
    -------
    arrays : dict
        :func:`fir_arrays`.
    attrs : dict
        :func:`fir_attrs` and ``features`` (JSON: how the layer's features were made).
    """
    import h5py

    from dnnmap.brain.fir import fir_design
    from dnnmap.brain.timeseries import read_events
    from dnnmap.stimuli import read_stimuli

    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    fir = dict(settings.get("fir") or {})
    delays = list(fir.get("delays", DEFAULT_DELAYS))
    with h5py.File(series_path, "r") as f:
        Y, n_scans, index = f["series"][()], f["n_scans"][()], f["index"][()]
    if len(n_scans) != len(settings["runs"]):
        raise InputError(
            f"{series_path} holds {len(n_scans)} runs; expected the {len(settings['runs'])} "
            f"runs of {where}.timeseries"
        )
    events = [
        read_events(run["events"], stim_ids, int(n), settings["tr"], f"{where}.runs.{i}.events")
        for i, (run, n) in enumerate(zip(settings["runs"], n_scans, strict=True))
    ]
    F, summary = stimulus_features(features_path, stim_ids, stimuli_path)
    X, runs = fir_design(events, n_scans, settings["tr"], F, stim_ids, delays, where)
    options = dict(
        alphas=list(encoding["alphas"]),
        n_folds=int(fir.get("n_folds", 5)),
        inner_folds=int(encoding["inner_folds"]),
        alpha_scale=encoding.get("alpha_scale", "relative"),
        device=device,
        batch_size=encoding.get("voxel_batch"),
    )
    LOG.info(
        "FIR design: %d TRs in %d runs, %d features x %d delays %s",
        X.shape[0],
        len(n_scans),
        F.shape[1],
        len(delays),
        delays,
    )
    result, splits = encode_timeseries(X, Y, runs, **options)
    null = None
    if int(fir.get("n_perm", 0)) > 0:
        null = circular_shift_null(
            X,
            Y,
            runs,
            result.score,
            n_perm=int(fir["n_perm"]),
            seed=int(fir.get("seed", 0)),
            chunk=int(encoding.get("voxel_batch") or 10000),
            **options,
        )
    arrays = fir_arrays(result, index, runs, options["alphas"], null)
    attrs = fir_attrs(splits, fir, encoding, null)
    attrs["features"] = json.dumps(summary, default=str)
    return arrays, attrs
