"""FIR-delayed stimulus features on the TR grid, for encoding continuous stimuli on time series.

Voxelwise modeling of naturalistic data (movies, stories, sound) predicts the BOLD time
series itself from features of the stimulus shown at each moment, delayed by a few TRs so
that a linear model learns each voxel's hemodynamic response (a finite impulse response,
FIR) instead of assuming a canonical one. For each run:

1. :func:`tr_features`: each TR ``t`` (the interval ``[t * tr, (t + 1) * tr)``) gets the
   average of the features of the stimuli that overlap it, weighted by how many seconds of
   the TR each covers (events ``[onset, onset + duration)`` from the run's events table,
   features aligned by ``stim_id``); zeros where no stimulus overlaps the TR.
2. :func:`zscore_within_runs`: each feature column z-scored over the TRs of its run.
3. :func:`delay_within_runs`: copies of the features shifted by each delay (in TRs; default
   1, 2, 3 and 4), concatenated column-wise; a copy shifted by ``d`` holds at TR ``t`` the
   features of TR ``t - d`` of the same run, and zeros where ``t - d`` is outside the run, so
   no delayed sample ever comes from another run.

:func:`fir_design` chains them over every run of a subject. The voxels' side of each run is
cleaned by :func:`regress_out` of :func:`nuisance_design` (cosine drifts, confounds, a
constant). The encoding itself (ridge over
the delayed design, folds grouped by run) is :mod:`dnnmap.encoding.fir`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dnnmap.errors import InputError

LOG = logging.getLogger("dnnmap")

DEFAULT_DELAYS = (1, 2, 3, 4)
"""TR delays of the FIR design when the config names none (4-8 s at a TR of 2 s)."""
MIN_RUNS = 2
"""Fewest runs of a subject whose time series are encoded with folds grouped by run."""
FIR_METHOD = "fir"
"""``timeseries.method`` of a subject encoded only through its FIR design (no betas)."""


def encodes_fir(entry: Mapping) -> bool:
    """Whether a subject's time series are encoded through an FIR design: ``responses:
    timeseries`` with a ``timeseries.fir`` section or ``timeseries.method: fir``."""
    settings = entry.get("timeseries") or {}
    return entry.get("responses") == "timeseries" and (
        settings.get("fir") is not None or settings.get("method") == FIR_METHOD
    )


def fir_only(entry: Mapping) -> bool:
    """Whether a subject is encoded only through its FIR design (``timeseries.method: fir``):
    it has no per-stimulus betas, so it stays out of every per-stimulus analysis."""
    return encodes_fir(entry) and entry["timeseries"].get("method") == FIR_METHOD


def feature_rows(
    stim_ids: Sequence[str], feature_ids: Sequence[str], where: str = ""
) -> np.ndarray:
    """Row of each stimulus in a features table, found by ``stim_id``.

    Parameters
    ----------
    stim_ids : sequence of str, length n_events
    feature_ids : sequence of str, length n_stimuli
        The ``stim_id`` of each row of the features.

    Returns
    -------
    ndarray of int, shape (n_events,)

    Raises
    ------
    InputError
        A stimulus without features (the first one named).
    """
    row = {s: i for i, s in enumerate(feature_ids)}
    missing = [s for s in stim_ids if s not in row]
    if missing:
        at = f"{where}: " if where else ""
        raise InputError(
            f"{at}stim_id {missing[0]!r} has no features ({len(set(missing))} stimuli "
            "missing); expected every event's stimulus among the features' stim_id"
        )
    return np.array([row[s] for s in stim_ids], dtype=np.intp)


def overlap_weights(events: pd.DataFrame, n_scans: int, tr: float) -> np.ndarray:
    """Seconds of each TR covered by each event.

    Parameters
    ----------
    events : DataFrame
        ``onset`` and ``duration`` in seconds (n_events rows).
    n_scans : int
        Volumes of the run.
    tr : float
        Repetition time (s).

    Returns
    -------
    ndarray of float64, shape (n_scans, n_events)
        ``max(0, min(onset + duration, (t + 1) tr) - max(onset, t tr))``.
    """
    onset = events["onset"].to_numpy(dtype=np.float64)
    end = onset + events["duration"].to_numpy(dtype=np.float64)
    start = tr * np.arange(n_scans, dtype=np.float64)[:, None]
    return np.clip(np.minimum(end, start + tr) - np.maximum(onset, start), 0.0, None)


def tr_features(
    events: pd.DataFrame,
    features: np.ndarray,
    feature_ids: Sequence[str],
    n_scans: int,
    tr: float,
    where: str = "",
) -> np.ndarray:
    """Stimulus features of a run on its TR grid.

    Parameters
    ----------
    events : DataFrame
        The run's ``onset``, ``duration`` (s) and ``stim_id`` (n_events rows), as
        :func:`dnnmap.brain.timeseries.read_events` gives them.
    features : ndarray, shape (n_stimuli, p)
        Features of each stimulus.
    feature_ids : sequence of str, length n_stimuli
        ``stim_id`` of each row of ``features``: events find their features by it.
    n_scans : int
        Volumes of the run.
    tr : float
        Repetition time (s).

    Returns
    -------
    ndarray of float64, shape (n_scans, p)
        Row ``t``: the average of the features of the events overlapping TR ``t``, each
        weighted by the seconds of the TR it covers (:func:`overlap_weights`); zeros where
        no event overlaps the TR (events of duration 0 cover nothing).
    """
    features = np.asarray(features, dtype=np.float64)
    rows = feature_rows(list(events["stim_id"]), feature_ids, where)
    W = overlap_weights(events, n_scans, tr)
    total = W.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (W @ features[rows]) / total
    return np.where(total > 0, out, 0.0)


def run_rows(runs: np.ndarray) -> list[np.ndarray]:
    """The rows of each run, in order of first appearance; rows within a run in time order.

    Parameters
    ----------
    runs : ndarray, shape (n_tr,)
        Run label of each TR.

    Returns
    -------
    list of ndarray of int
        One array of row indices per run.
    """
    runs = np.asarray(runs)
    if runs.ndim != 1:
        raise InputError(f"runs have shape {runs.shape}; expected one run label per TR")
    _, first = np.unique(runs, return_index=True)
    return [np.flatnonzero(runs == runs[i]) for i in np.sort(first)]


def zscore_within_runs(X: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Z-score every column over the TRs of each run.

    Parameters
    ----------
    X : ndarray, shape (n_tr, p)
    runs : ndarray, shape (n_tr,)
        Run label of each TR.

    Returns
    -------
    ndarray of float64, shape (n_tr, p)
        ``(X - mean) / std`` per run and column (population std); 0 where a column is
        constant within a run.
    """
    X = np.asarray(X, dtype=np.float64)
    out = np.zeros_like(X)
    for rows in run_rows(runs):
        block = X[rows]
        sd = block.std(axis=0)
        centered = block - block.mean(axis=0)
        out[rows] = np.divide(centered, sd, out=np.zeros_like(centered), where=sd > 0)
    return out


def delay_within_runs(X: np.ndarray, runs: np.ndarray, delays: Sequence[int]) -> np.ndarray:
    """Concatenated copies of ``X`` shifted by each delay within each run (FIR design).

    Parameters
    ----------
    X : ndarray, shape (n_tr, p)
    runs : ndarray, shape (n_tr,)
        Run label of each TR; a run's TRs are in time order (they need not be contiguous).
    delays : sequence of int, length n_delays
        Shifts in TRs; ``d > 0`` looks back (the response at ``t`` sees the stimulus at
        ``t - d``), ``d < 0`` ahead, ``0`` is ``X`` itself.

    Returns
    -------
    ndarray of float64, shape (n_tr, n_delays * p)
        Columns ``k * p : (k + 1) * p`` hold delay ``delays[k]``: at TR ``t`` of a run,
        ``X`` at the run's TR ``t - delays[k]``, or 0 where that TR is outside the run.
    """
    X = np.asarray(X, dtype=np.float64)
    delays = [int(d) for d in delays]
    if not delays:
        raise InputError("delays are empty; expected at least one delay in TRs")
    n, p = X.shape
    out = np.zeros((n, len(delays) * p))
    for rows in run_rows(runs):
        m = rows.size
        block = X[rows]
        for k, d in enumerate(delays):
            target = out[:, k * p : (k + 1) * p]
            if abs(d) >= m:
                continue
            if d >= 0:
                target[rows[d:]] = block[: m - d]
            else:
                target[rows[: m + d]] = block[-d:]
    return out


def fir_design(
    run_events: Sequence[pd.DataFrame],
    n_scans: Sequence[int],
    tr: float,
    features: np.ndarray,
    feature_ids: Sequence[str],
    delays: Sequence[int] = DEFAULT_DELAYS,
    where: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """The FIR design of a subject's runs: TR features, z-scored within run, delayed.

    Parameters
    ----------
    run_events : sequence of DataFrame
        Each run's events (``onset``, ``duration``, ``stim_id``).
    n_scans : sequence of int
        Each run's volumes.
    tr : float
        Repetition time (s), the same for every run.
    features : ndarray, shape (n_stimuli, p)
    feature_ids : sequence of str, length n_stimuli
        ``stim_id`` of each row of ``features``.
    delays : sequence of int
        FIR delays in TRs (:func:`delay_within_runs`).

    Returns
    -------
    X : ndarray of float64, shape (sum(n_scans), len(delays) * p)
        The runs' TRs one after the other.
    runs : ndarray of int64, shape (sum(n_scans),)
        The run (0-based, config order) of each row.
    """
    if len(run_events) != len(n_scans):
        raise InputError(
            f"{len(run_events)} events tables for {len(n_scans)} runs; expected one per run"
        )
    parts = [
        tr_features(ev, features, feature_ids, int(n), tr, f"{where}.runs.{i}" if where else "")
        for i, (ev, n) in enumerate(zip(run_events, n_scans, strict=True))
    ]
    runs = np.repeat(np.arange(len(parts), dtype=np.int64), [int(n) for n in n_scans])
    X = zscore_within_runs(np.concatenate(parts), runs)
    return delay_within_runs(X, runs, delays), runs


def nuisance_design(
    n_scans: int, tr: float, high_pass: float | None = 0.01, confounds: pd.DataFrame | None = None
) -> np.ndarray:
    """A run's nuisance regressors: nilearn's cosine drifts below ``high_pass`` (Hz), the
    run's confounds, and a constant.

    Parameters
    ----------
    n_scans : int
    tr : float
        Repetition time (s).
    high_pass : float or None
        Cutoff of the cosine drift basis (``drift_model="cosine"`` of
        :func:`nilearn.glm.first_level.make_first_level_design_matrix`); None: no drifts.
    confounds : DataFrame, optional
        (n_scans, n_confounds) regressors (:func:`dnnmap.brain.timeseries.read_confounds`).

    Returns
    -------
    ndarray of float64, shape (n_scans, n_nuisance)
    """
    from nilearn.glm.first_level import make_first_level_design_matrix

    design = make_first_level_design_matrix(
        tr * np.arange(n_scans),
        None,
        drift_model=None if high_pass is None else "cosine",
        high_pass=high_pass if high_pass is not None else 0.01,
        add_regs=None if confounds is None else confounds.to_numpy(dtype=float),
    )
    return design.to_numpy(dtype=np.float64)


def regress_out(Y: np.ndarray, nuisance: np.ndarray) -> np.ndarray:
    """Residuals of ``Y`` after least squares on ``nuisance``.

    Parameters
    ----------
    Y : ndarray, shape (n_scans, v)
    nuisance : ndarray, shape (n_scans, k)

    Returns
    -------
    ndarray of float32, shape (n_scans, v)
    """
    Y = np.asarray(Y, dtype=np.float64)
    beta, *_ = np.linalg.lstsq(nuisance, Y, rcond=None)
    return (Y - nuisance @ beta).astype(np.float32)


def check_fir(settings: Mapping, n_scans: Sequence[int], run_events, where: str) -> None:
    """Start-up checks of ``timeseries.fir``: at least :data:`MIN_RUNS` runs (folds are
    grouped by run), delays shorter than every run, events with a positive duration.

    Parameters
    ----------
    settings : mapping
        The subject's ``timeseries`` section (with ``fir`` or ``method: fir``; else nothing
        is checked).
    n_scans : sequence of int
        Each run's volumes.
    run_events : sequence of DataFrame
        Each run's checked events.
    where : str
        Config key of the subject, for messages.

    Raises
    ------
    InputError
    """
    fir = settings.get("fir")
    if fir is None and settings.get("method") != FIR_METHOD:
        return
    fir = fir or {}
    if len(n_scans) < MIN_RUNS:
        raise InputError(
            f"{where}.timeseries.fir: {len(n_scans)} run; expected at least {MIN_RUNS} runs "
            "(the encoding's folds are grouped by run)"
        )
    delays = list(fir.get("delays", DEFAULT_DELAYS))
    longest = max(abs(int(d)) for d in delays)
    for i, n in enumerate(n_scans):
        if longest >= n:
            raise InputError(
                f"{where}.timeseries.fir.delays: delay {longest} TRs is not shorter than run "
                f"{i} ({n} volumes); expected delays shorter than every run"
            )
    for i, events in enumerate(run_events):
        zero = np.flatnonzero(events["duration"].to_numpy() <= 0)
        if zero.size:
            raise InputError(
                f"{where}.timeseries.runs.{i}.events: stim_id {events['stim_id'].iloc[zero[0]]!r} "
                "has duration 0; expected the seconds each stimulus is shown (> 0) for FIR "
                "features"
            )
