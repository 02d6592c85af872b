"""Paired tests of two encoding models' voxelwise scores: which feature space predicts better.

Two encoding models (two layers, two networks, or two joint models) predict the same
responses ``Y`` (n, v) out of fold, ``P_a`` and ``P_b``. The statistic per voxel is the
difference of their cross-validated scores, ``score(Y, P_a) - score(Y, P_b)`` (Pearson r or
R²), computed as the encoding rule reports it: within each outer test fold and averaged over
folds (or on the pooled predictions when no folds are given).

Null distribution: under the hypothesis that the two models predict equally well, the two
predictions of a stimulus are exchangeable, so each stimulus's pair is swapped at random
(a sign flip of its difference; :func:`dnnmap.stats.permutations.swap_masks`, with blocks of
the stimulus table's groups swapped together) and the statistic recomputed. Swaps are exact
and cheap: every sum the scores need is linear in the swap indicators, so the statistics of
a batch of swaps are a few matrix products ``S (n_perm, n_fold) @ A (n_fold, v)``, with no
refit and no loop over voxels or swaps.

Inference, two-sided on ``|statistic|`` (the swap null is symmetric about 0): uncorrected
p-values ``(1 + #{|null| >= |obs|}) / (1 + n_perm)``, family-wise error across the ROI's
voxels by the maximum statistic (:func:`dnnmap.stats.inference.max_statistic`,
:func:`~dnnmap.stats.inference.fwe_pvalue`), and Benjamini-Hochberg false discovery rate
(:func:`dnnmap.stats.inference.fdr_bh`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnnmap.checks import check_choice, check_count
from dnnmap.errors import InputError
from dnnmap.stats.inference import fdr_bh, fwe_pvalue
from dnnmap.stats.permutations import swap_masks

METRICS = ("r", "r2")
"""Scores the paired test compares."""


@dataclass(frozen=True)
class ComparisonResult:
    """Paired comparison of two models' scores per voxel.

    Attributes
    ----------
    statistic : array of shape (v,)
        ``score_a - score_b``.
    score_a, score_b : array of shape (v,)
        Each model's cross-validated score (``metric``).
    pvalue : array of shape (v,)
        Two-sided swap-permutation p-value, uncorrected.
    p_fwe : array of shape (v,)
        Family-wise corrected over the voxels (maximum statistic).
    q_fdr : array of shape (v,)
        Benjamini-Hochberg adjusted p-values over the voxels.
    null_max : array of shape (n_perm,)
        Largest ``|statistic|`` over voxels of each swap draw.
    metric : str
    n_perm : int
    """

    statistic: np.ndarray
    score_a: np.ndarray
    score_b: np.ndarray
    pvalue: np.ndarray
    p_fwe: np.ndarray
    q_fdr: np.ndarray
    null_max: np.ndarray
    metric: str
    n_perm: int


def _fold_scores(metric, y, pa, pb, S):
    """Scores of models a and b for the observed pairing (row 0) and every swap (rows 1..),
    within one fold. ``S`` (n_perm, m) holds the swaps of the fold's rows."""
    m = y.shape[0]
    if metric == "r2":
        ea, eb = ((y - pa) ** 2).sum(0), ((y - pb) ** 2).sum(0)
        sst = ((y - y.mean(0)) ** 2).sum(0)
        shift = S @ ((y - pb) ** 2 - (y - pa) ** 2)  # SSE_a gains, SSE_b loses
        with np.errstate(invalid="ignore", divide="ignore"):
            a = 1.0 - np.vstack([ea[None], ea + shift]) / sst
            b = 1.0 - np.vstack([eb[None], eb - shift]) / sst
        return a, b
    D = pb - pa
    sy, syy = y.sum(0), (y * y).sum(0)
    vy = syy - sy * sy / m

    def r(sp, spp, syp):
        cov = syp - sy * sp / m
        vp = spp - sp * sp / m
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.clip(cov / np.sqrt(vy * vp), -1.0, 1.0)

    dS, dQ, dY = S @ D, S @ (pb * pb - pa * pa), S @ (y * D)
    spa, spb = pa.sum(0), pb.sum(0)
    sqa, sqb = (pa * pa).sum(0), (pb * pb).sum(0)
    sya, syb = (y * pa).sum(0), (y * pb).sum(0)
    a = np.vstack([r(spa, sqa, sya)[None], r(spa + dS, sqa + dQ, sya + dY)])
    b = np.vstack([r(spb, sqb, syb)[None], r(spb - dS, sqb - dQ, syb - dY)])
    return a, b


def paired_comparison(
    Y,
    pred_a,
    pred_b,
    *,
    folds=None,
    metric: str = "r",
    n_perm: int = 1000,
    seed: int = 0,
    groups=None,
    batch_size: int = 4096,
) -> ComparisonResult:
    """Swap-permutation test of two models' cross-validated scores, per voxel, with FWE/FDR.

    Parameters
    ----------
    Y : array of shape (n, v)
        Responses.
    pred_a, pred_b : array of shape (n, v)
        Out-of-fold predictions of the two models (rows that are NaN for every voxel, which
        no test fold holds, are left out; voxels with any other NaN get NaN results).
    folds : int array of shape (n,) or None
        Outer test fold of each row (``EncodingResult.folds``; -1: untested): the score is
        the mean of the per-fold scores. None: one pool of all rows.
    metric : {"r", "r2"}
    n_perm : int
        Swap draws (>= 1).
    seed : int
        Seed of the swaps.
    groups : array of shape (n,) or None
        Rows swapped together (e.g. the stimulus table's group column).
    batch_size : int
        Voxels per block (bounds memory to ``n_perm * batch_size`` per fold).

    Returns
    -------
    ComparisonResult
    """
    metric = check_choice(metric, "metric", METRICS)
    n_perm = check_count(n_perm, "n_perm", 1)
    batch_size = check_count(batch_size, "batch_size", 1)
    Y = np.asarray(Y, dtype=np.float64)
    A = np.asarray(pred_a, dtype=np.float64)
    B = np.asarray(pred_b, dtype=np.float64)
    if Y.ndim != 2 or A.shape != Y.shape or B.shape != Y.shape:
        raise InputError(
            f"Y, pred_a and pred_b have shapes {Y.shape}, {A.shape}, {B.shape}; expected the "
            "same (n_stimuli, n_voxels)"
        )
    n, v = Y.shape
    folds = np.zeros(n, dtype=np.intp) if folds is None else np.asarray(folds)
    if folds.shape != (n,):
        raise InputError(f"folds has shape {folds.shape}; expected ({n},)")
    tested = (folds >= 0) & ~np.isnan(A).all(axis=1) & ~np.isnan(B).all(axis=1)
    ok = np.isfinite(Y[tested]).all(0) & np.isfinite(A[tested]).all(0)
    ok &= np.isfinite(B[tested]).all(0)
    if not tested.any():
        raise InputError("no row has finite predictions of both models; nothing to compare")
    swaps = swap_masks(n, n_perm, seed, groups=groups).astype(np.float64)
    fold_ids = np.unique(folds[tested])
    stat = np.full((n_perm + 1, v), np.nan)
    score_a = np.full(v, np.nan)
    score_b = np.full(v, np.nan)
    cols = np.flatnonzero(ok)
    for b0 in range(0, cols.size, batch_size):
        c = cols[b0 : b0 + batch_size]
        sa = np.zeros((n_perm + 1, c.size))
        sb = np.zeros((n_perm + 1, c.size))
        count = np.zeros(c.size)
        for f in fold_ids:
            rows = np.flatnonzero(tested & (folds == f))
            if rows.size < 3:
                continue
            a, b = _fold_scores(
                metric,
                Y[np.ix_(rows, c)],
                A[np.ix_(rows, c)],
                B[np.ix_(rows, c)],
                swaps[:, rows],
            )
            good = np.isfinite(a[0]) & np.isfinite(b[0])
            sa[:, good] += a[:, good]
            sb[:, good] += b[:, good]
            count += good
        with np.errstate(invalid="ignore", divide="ignore"):
            sa /= np.where(count > 0, count, np.nan)
            sb /= np.where(count > 0, count, np.nan)
        stat[:, c] = sa - sb
        score_a[c], score_b[c] = sa[0], sb[0]
    observed, null = stat[0], np.abs(stat[1:])
    with np.errstate(invalid="ignore"):
        pvalue = (1.0 + (null >= np.abs(observed) - 1e-12).sum(0)) / (1.0 + n_perm)
    pvalue[~np.isfinite(observed)] = np.nan
    finite = np.isfinite(null)
    null_max = np.where(finite.any(1), np.where(finite, null, -np.inf).max(1), np.nan)
    p_fwe = fwe_pvalue(np.abs(observed) - 1e-12, null_max, "greater")
    return ComparisonResult(
        statistic=observed,
        score_a=score_a,
        score_b=score_b,
        pvalue=pvalue,
        p_fwe=np.asarray(p_fwe),
        q_fdr=fdr_bh(pvalue),
        null_max=null_max,
        metric=metric,
        n_perm=n_perm,
    )
