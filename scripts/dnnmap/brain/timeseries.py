"""Per-stimulus betas from time series: a run's data and its events, a GLM with a canonical HRF.

Naturalistic and event-related studies hold time series, not betas. For each run, the events
table (``onset``, ``duration`` in seconds, ``stim_id``; TSV as BIDS ``events.tsv``) and the
repetition time give a design matrix with nilearn's canonical HRF
(:func:`nilearn.glm.first_level.make_first_level_design_matrix`: HRF regressors, cosine drifts,
a constant, and the optional confounds), which nilearn's first-level GLM fits
(:func:`nilearn.glm.first_level.run_glm`, OLS or AR(1)). Two designs give the betas:

- least-squares-all (``lsa``): one regressor per stimulus in one model (repeats of a stimulus
  within a run share it);
- least-squares-separate (``lss``, Mumford et al. 2012): one model per stimulus, with that
  stimulus' regressor and one regressor for all other events.

Betas of a stimulus shown in several runs are averaged over those runs. The result is a
``(n_stim, n_columns)`` array in stimulus-table order, on the columns of the runs' space.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dnnmap.errors import InputError

LOG = logging.getLogger("dnnmap")

METHODS = ("lsa", "lss")
_OTHER = "__other__"


def read_events(
    path: str | os.PathLike,
    stim_ids: Sequence[str],
    n_scans: int,
    tr: float,
    where: str = "",
) -> pd.DataFrame:
    """Read and check a run's events table.

    Parameters
    ----------
    path : path
        TSV (or CSV) with columns ``onset``, ``duration`` (seconds) and ``stim_id``; rows
        whose ``stim_id`` is empty or ``n/a`` (fixation, responses) are left out.
    stim_ids : sequence of str
        The stimulus table's ids; every event must name one of them.
    n_scans, tr : int, float
        The run's length in volumes and its repetition time (s): every onset must fall inside
        the run, ``0 <= onset < n_scans * tr``.
    where : str
        Config key, for messages.

    Returns
    -------
    DataFrame
        ``onset``, ``duration`` (float), ``stim_id`` (str), in file order.

    Raises
    ------
    InputError
        A missing column, a non-numeric or negative onset or duration, an unknown stim_id or
        an onset past the run's end (the row and value named).
    """
    at = f"{where}: " if where else ""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{at}events file {path} does not exist")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    missing = [c for c in ("onset", "duration", "stim_id") if c not in table.columns]
    if missing:
        raise InputError(
            f"{at}{path} has columns {list(table.columns)}; expected onset, duration and "
            f"stim_id (missing {', '.join(missing)})"
        )
    table = table[~table["stim_id"].str.strip().isin(["", "n/a"])].copy()
    known = set(stim_ids)
    run_end = n_scans * tr
    for column in ("onset", "duration"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{at}{path} row {table.index[row] + 2}: {column} {table[column].iloc[row]!r}; "
                "expected a number of seconds >= 0"
            )
        table[column] = values.astype(float)
    for line, (stim, onset) in zip(
        table.index + 2, table[["stim_id", "onset"]].itertuples(index=False), strict=True
    ):
        if stim not in known:
            raise InputError(
                f"{at}{path} row {line}: stim_id {stim!r} is not in the stimulus table; "
                "expected a stimulus id (or n/a for events without a stimulus)"
            )
        if onset >= run_end:
            raise InputError(
                f"{at}{path} row {line}: onset {onset:g} s is past the run's end "
                f"({n_scans} volumes x TR {tr:g} s = {run_end:g} s)"
            )
    if table.empty:
        raise InputError(f"{at}{path}: no events with a stim_id; expected at least one")
    return table[["onset", "duration", "stim_id"]].reset_index(drop=True)


def read_confounds(path: str | os.PathLike, n_scans: int, where: str = "") -> pd.DataFrame:
    """A confounds TSV (one row per volume, numeric columns; ``n/a`` as 0, as fMRIPrep's
    first rows of derivatives)."""
    at = f"{where}: " if where else ""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{at}confounds file {path} does not exist")
    table = pd.read_csv(path, sep="\t")
    if len(table) != n_scans:
        raise InputError(
            f"{at}{path} has {len(table)} rows but the run has {n_scans} volumes; expected one "
            "row per volume"
        )
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in numeric.columns if numeric[c].isna().all()]
    if bad:
        raise InputError(f"{at}{path}: column {bad[0]!r} is not numeric; expected numbers")
    return numeric.fillna(0.0)


def design_matrix(
    events: pd.DataFrame,
    n_scans: int,
    tr: float,
    *,
    trial_types: Sequence[str] | None = None,
    confounds: pd.DataFrame | None = None,
    hrf_model: str = "glover",
    high_pass: float = 0.01,
) -> pd.DataFrame:
    """nilearn's first-level design matrix of a run (frame times ``tr * arange(n_scans)``).

    Parameters
    ----------
    events : DataFrame
        ``onset``, ``duration`` and ``trial_type`` (one regressor per trial type).
    trial_types : sequence of str, optional
        Regressor names to keep in this order first (the rest follow: drifts, constant).

    Returns
    -------
    DataFrame, shape (n_scans, n_regressors)
    """
    from nilearn.glm.first_level import make_first_level_design_matrix

    frame_times = tr * np.arange(n_scans)
    add = None if confounds is None else confounds.to_numpy(dtype=float)
    names = None if confounds is None else [f"confound_{c}" for c in confounds.columns]
    design = make_first_level_design_matrix(
        frame_times,
        events[["onset", "duration", "trial_type"]],
        hrf_model=hrf_model,
        drift_model="cosine",
        high_pass=high_pass,
        add_regs=add,
        add_reg_names=names,
    )
    if trial_types is not None:
        rest = [c for c in design.columns if c not in set(trial_types)]
        design = design[list(trial_types) + rest]
    return design


def _fit(Y: np.ndarray, X: np.ndarray, noise_model: str) -> np.ndarray:
    """nilearn's GLM fit: coefficients (n_regressors, n_columns)."""
    from nilearn.glm.first_level import run_glm

    labels, results = run_glm(Y, X, noise_model=noise_model)
    theta = np.zeros((X.shape[1], Y.shape[1]))
    for label, result in results.items():
        theta[:, labels == label] = result.theta
    return theta


def run_betas(
    Y: np.ndarray,
    events: pd.DataFrame,
    tr: float,
    *,
    method: str = "lsa",
    confounds: pd.DataFrame | None = None,
    hrf_model: str = "glover",
    high_pass: float = 0.01,
    noise_model: str = "ols",
) -> tuple[list[str], np.ndarray]:
    """Per-stimulus betas of one run.

    Parameters
    ----------
    Y : ndarray, shape (n_scans, n_columns)
        The run's time series.
    events : DataFrame
        :func:`read_events` output.
    tr : float
        Repetition time (s).
    method : {'lsa', 'lss'}
    confounds : DataFrame, optional
        (n_scans, n_confounds) nuisance regressors.
    hrf_model, high_pass, noise_model
        nilearn's (``glover``, ``spm``, ...; Hz of the cosine drifts; ``ols`` or ``ar1``).

    Returns
    -------
    stims : list of str
        The stimuli of the run, in order of first appearance.
    betas : ndarray of float64, shape (n_stims, n_columns)
    """
    if method not in METHODS:
        raise InputError(f"method {method!r}; expected one of {', '.join(METHODS)}")
    Y = np.asarray(Y, dtype=np.float64)
    n_scans = Y.shape[0]
    stims = list(dict.fromkeys(events["stim_id"]))
    options = dict(confounds=confounds, hrf_model=hrf_model, high_pass=high_pass)
    if method == "lsa":
        ev = events.assign(trial_type=events["stim_id"])
        X = design_matrix(ev, n_scans, tr, trial_types=stims, **options)
        return stims, _fit(Y, X.to_numpy(), noise_model)[: len(stims)]
    betas = np.zeros((len(stims), Y.shape[1]))
    for k, stim in enumerate(stims):
        types = np.where(events["stim_id"] == stim, stim, _OTHER)
        ev = events.assign(trial_type=types)
        order = [stim] + ([_OTHER] if (types == _OTHER).any() else [])
        X = design_matrix(ev, n_scans, tr, trial_types=order, **options)
        betas[k] = _fit(Y, X.to_numpy(), noise_model)[0]
    return stims, betas


def betas_over_runs(
    runs: Sequence[tuple[list[str], np.ndarray]], stim_ids: Sequence[str], where: str = ""
) -> np.ndarray:
    """Average each stimulus' betas over the runs that show it, rows in table order.

    Raises
    ------
    InputError
        If a stimulus of the table is in no run's events.
    """
    n_cols = runs[0][1].shape[1]
    total = np.zeros((len(stim_ids), n_cols))
    count = np.zeros(len(stim_ids))
    row = {s: i for i, s in enumerate(stim_ids)}
    for stims, betas in runs:
        for stim, beta in zip(stims, betas, strict=True):
            total[row[stim]] += beta
            count[row[stim]] += 1
    if (count == 0).any():
        first = stim_ids[int(np.flatnonzero(count == 0)[0])]
        at = f"{where}: " if where else ""
        raise InputError(
            f"{at}stim_id {first!r} is in no run's events ({int((count == 0).sum())} stimuli "
            "missing); expected every stimulus of the table in some run"
        )
    LOG.info("betas of %d stimuli from %d runs", len(stim_ids), len(runs))
    return total / count[:, None]


def repeats_over_runs(
    runs: Sequence[tuple[list[str], np.ndarray]], stim_ids: Sequence[str]
) -> np.ndarray | None:
    """Each stimulus' betas from each run that shows it, as repeated measurements.

    Repeat ``r`` of a stimulus is its beta in the ``r``-th run (in run order) that shows it
    (a stimulus shown twice in one run has one beta there). Stimuli in fewer runs get NaN
    maps, as :func:`dnnmap.brain.noise_ceiling.response_noise_ceiling` expects.

    Returns
    -------
    ndarray of float32, shape (n_rep, n_stim, n_columns), or None
        None when no stimulus is in two runs.
    """
    row = {s: i for i, s in enumerate(stim_ids)}
    count = np.zeros(len(stim_ids), dtype=int)
    for stims, _ in runs:
        count[[row[s] for s in stims]] += 1
    n_rep = int(count.max()) if count.size else 0
    if n_rep < 2:
        return None
    out = np.full((n_rep, len(stim_ids), runs[0][1].shape[1]), np.nan, dtype=np.float32)
    seen = np.zeros(len(stim_ids), dtype=int)
    for stims, betas in runs:
        for stim, beta in zip(stims, betas, strict=True):
            i = row[stim]
            out[seen[i], i] = beta
            seen[i] += 1
    return out


def _runs(entry, where, base):
    from dnnmap.brain.spaces import SubjectData

    settings = entry["timeseries"]
    out = []
    for i, run in enumerate(settings["runs"]):
        key = f"{where}.timeseries.runs.{i}"
        data = SubjectData.from_config(run["data"], entry.get("mask"), None, f"{key}.data", base)
        out.append((key, run, data))
    return settings, out


def check_runs(entry, stim_ids: Sequence[str], where: str, base: str | os.PathLike = "."):
    """Start-up checks of a time-series subject (``responses: timeseries``), headers only.

    Every run in one space (format, mask grid or mesh), each run's events inside the run and
    naming known stimuli, confounds with one row per volume, every stimulus in some run; with
    ``fir``, :func:`dnnmap.brain.fir.check_fir` (at least two runs, delays shorter than every
    run, events with a duration).

    Returns
    -------
    BrainSpace
        The runs' space.
    """
    from dnnmap.brain.fir import check_fir
    from dnnmap.brain.spaces import read_data_header

    settings, runs = _runs(entry, where, base)
    space, seen, lengths, tables = None, set(), [], []
    for key, run, data in runs:
        header = read_data_header(data)
        if space is None:
            space = header.space
        elif reason := space.mismatch(header.space):
            raise InputError(f"{key}.data: {reason}; expected every run in one space")
        events = read_events(
            Path(base, run["events"]), stim_ids, header.n_maps, settings["tr"], f"{key}.events"
        )
        if run.get("confounds"):
            read_confounds(Path(base, run["confounds"]), header.n_maps, f"{key}.confounds")
        seen.update(events["stim_id"])
        lengths.append(header.n_maps)
        tables.append(events)
    check_fir(settings, lengths, tables, where)
    missing = [s for s in stim_ids if s not in seen]
    if missing:
        raise InputError(
            f"{where}.timeseries: stim_id {missing[0]!r} is in no run's events "
            f"({len(missing)} stimuli missing); expected every stimulus of the table in some run"
        )
    return space


def subject_betas(entry, stim_ids: Sequence[str], where: str, base: str | os.PathLike = "."):
    """Betas of every stimulus of a time-series subject, in table order, and their space.

    Reads each run (:func:`dnnmap.brain.spaces.read_series`), fits :func:`run_betas` with
    the subject's ``timeseries`` settings and averages over runs (:func:`betas_over_runs`).

    Returns
    -------
    betas : ndarray of float32, shape (n_stim, n_columns)
    space : BrainSpace
    repeats : ndarray of float32, shape (n_rep, n_stim, n_columns), or None
        Per-run betas of the stimuli shown in several runs (:func:`repeats_over_runs`).
    """
    from tqdm import tqdm

    from dnnmap.brain.spaces import read_series

    settings, runs = _runs(entry, where, base)
    fitted, space = [], None
    for key, run, data in tqdm(runs, desc="runs", unit="run", mininterval=5):
        values, header = read_series(data)
        if space is None:
            space = header.space
        elif reason := space.mismatch(header.space):
            raise InputError(f"{key}.data: {reason}; expected every run in one space")
        n_scans = values.shape[0]
        events = read_events(
            Path(base, run["events"]), stim_ids, n_scans, settings["tr"], f"{key}.events"
        )
        confounds = None
        if run.get("confounds"):
            confounds = read_confounds(Path(base, run["confounds"]), n_scans, f"{key}.confounds")
        stims, betas = run_betas(
            values,
            events,
            settings["tr"],
            method=settings.get("method", "lsa"),
            confounds=confounds,
            hrf_model=settings.get("hrf_model", "glover"),
            high_pass=settings.get("high_pass", 0.01),
            noise_model=settings.get("noise_model", "ols"),
        )
        LOG.info("%s: %d volumes, %d events, %d stimuli", key, n_scans, len(events), len(stims))
        fitted.append((stims, betas))
    betas = betas_over_runs(fitted, stim_ids, f"{where}.timeseries").astype(np.float32)
    return betas, space, repeats_over_runs(fitted, stim_ids)


def read_run_repeats(
    betas_path: str | os.PathLike, stim_ids: Sequence[str], index: np.ndarray
) -> np.ndarray | None:
    """The ``repeats`` of a betas file (:func:`repeats_over_runs`) at columns ``index``,
    stimuli in table order; None when the file has none.

    Returns
    -------
    ndarray of float32, shape (n_rep, n_stim, n_vox), or None
    """
    import h5py

    from dnnmap.brain.roi import align_maps

    with h5py.File(betas_path, "r") as f:
        if "repeats" not in f:
            return None
        names = [s.decode() if isinstance(s, bytes) else str(s) for s in f["stim_id"][()]]
        repeats = f["repeats"][()]
    order = align_maps(names, stim_ids, betas_path, "the stimulus table")
    return np.ascontiguousarray(repeats[:, order][:, :, index], dtype=np.float32)
