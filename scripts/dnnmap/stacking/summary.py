"""Stacking results per region: the summary table and the voxels the seed study's figure shows.

:func:`best_voxels` picks a region's best ``n_best`` voxels by stacked ``R`` (the signed
square root of R², as Wang, Lin, Tarr & Wehbe select them); :func:`median_profile` gives the
median weight profile of a set of voxels with a percentile bootstrap interval over voxels;
:func:`summarize_stacking` tabulates every stacking file, one row per subject, set, ROI and
space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.stacking.io import read_stacking

COLUMNS = (
    "subject",
    "stack",
    "roi",
    "space",
    "position",
    "n_vox",
    "n_masked",
    "n_best",
    "stacked_r_median",
    "stacked_R_median",
    "space_r_median",
    "space_R_median",
    "weight_mean",
    "weight_median",
    "weight_mean_best",
    "weight_median_best",
    "weight_median_best_lo",
    "weight_median_best_hi",
    "best_fraction",
)
"""Columns of :func:`summarize_stacking`, in order (``R``: signed square root of R²)."""


def best_voxels(res: Mapping, n_best: int) -> np.ndarray:
    """Indices of the ``n_best`` unmasked voxels with the highest stacked ``R`` (all when
    fewer), best first.

    Parameters
    ----------
    res : mapping
        :func:`dnnmap.stacking.io.read_stacking` of one file.
    n_best : int

    Returns
    -------
    int array of shape (min(n_best, n_unmasked),)
    """
    n_best = check_int(n_best, "n_best", 1)
    score = np.asarray(res["signed_sqrt_r2"], dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(score) & ~np.asarray(res["masked"], dtype=bool))
    order = ok[np.argsort(-score[ok], kind="stable")]
    return order[:n_best]


def median_profile(
    weights: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median over voxels of each space's weight, with a percentile bootstrap interval.

    Parameters
    ----------
    weights : array of shape (n_vox, k)
    n_boot : int
        Resamples of the voxels (with replacement).
    seed : int
    level : float
        Coverage of the interval.

    Returns
    -------
    median, lo, hi : arrays of shape (k,)
        NaN when there are no voxels.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        raise InputError(f"weights have shape {w.shape}; expected (n_vox, k)")
    n_boot = check_int(n_boot, "n_boot", 1)
    if not 0 < level < 1:
        raise InputError(f"level is {level}; expected a number between 0 and 1")
    if w.shape[0] == 0:
        nan = np.full(w.shape[1], np.nan)
        return nan, nan.copy(), nan.copy()
    med = np.median(w, axis=0)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, w.shape[1]))
    for b0 in range(0, n_boot, 100):
        b = min(100, n_boot - b0)
        idx = rng.integers(0, w.shape[0], size=(b, w.shape[0]))
        boot[b0 : b0 + b] = np.median(w[idx], axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(boot, [tail, 1 - tail], axis=0)
    return med, lo, hi


def summarize_stacking(
    paths: Sequence[str],
    jobs: Sequence[Mapping],
    n_best: int = 200,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per subject, stack set, ROI and space of every stacking file.

    Parameters
    ----------
    paths : sequence of str
        Stacking files.
    jobs : sequence of mapping
        ``subject``, ``stack`` and ``roi`` of each file, in the same order.
    n_best : int
        Voxels of :func:`best_voxels` for the ``*_best`` columns.
    n_boot, seed : int
        Bootstrap of the ``weight_median_best`` interval (:func:`median_profile`).

    Returns
    -------
    DataFrame
        :data:`COLUMNS`. Medians and means over the unmasked voxels of the ROI (stacked and
        single-space scores, weights); ``*_best`` over its best ``n_best`` voxels;
        ``best_fraction``: share of unmasked voxels where the space has the largest weight.
    """
    if len(paths) != len(jobs):
        raise InputError(f"{len(paths)} stacking files for {len(jobs)} jobs; expected one each")
    rows = []
    for path, job in zip(paths, jobs, strict=True):
        res = read_stacking(path)
        ok = ~np.asarray(res["masked"], dtype=bool) & np.isfinite(res["weights"]).all(axis=1)
        w = res["weights"][ok].astype(np.float64)
        best = best_voxels(res, n_best)
        med, lo, hi = median_profile(res["weights"][best], n_boot, seed)
        winner = np.bincount(np.argmax(w, axis=1), minlength=w.shape[1]) if w.size else None
        for j, space in enumerate(res["spaces"]):
            rows.append(
                {
                    "subject": job["subject"],
                    "stack": job["stack"],
                    "roi": job["roi"],
                    "space": space,
                    "position": j + 1,
                    "n_vox": int(ok.sum()),
                    "n_masked": int((~ok).sum()),
                    "n_best": int(best.size),
                    "stacked_r_median": _nanmedian(res["r"][ok]),
                    "stacked_R_median": _nanmedian(res["signed_sqrt_r2"][ok]),
                    "space_r_median": _nanmedian(res["space_r"][ok, j]),
                    "space_R_median": _nanmedian(res["space_signed_sqrt_r2"][ok, j]),
                    "weight_mean": float(w[:, j].mean()) if w.size else np.nan,
                    "weight_median": float(np.median(w[:, j])) if w.size else np.nan,
                    "weight_mean_best": float(res["weights"][best, j].mean())
                    if best.size
                    else np.nan,
                    "weight_median_best": med[j],
                    "weight_median_best_lo": lo[j],
                    "weight_median_best_hi": hi[j],
                    "best_fraction": winner[j] / w.shape[0] if w.size else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _nanmedian(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else np.nan
