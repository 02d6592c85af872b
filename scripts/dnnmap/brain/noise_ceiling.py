"""Noise ceilings of voxel responses from repeated measurements of the same stimuli.

A voxel's response to stimulus ``s`` in repeat ``r`` is modelled as ``x[r, s] = mu[s] +
e[r, s]``: a stimulus-driven signal ``mu`` with variance ``sigma_s^2`` across stimuli plus
independent noise of variance ``sigma_n^2``. An encoding model is fitted to the mean response
over the ``n`` repeats, whose variance across stimuli is ``sigma_s^2 + sigma_n^2 / n``; even a
perfect model of ``mu`` explains only the signal part of it. From ``repeats (n_rep, n_stim,
n_vox)``, per voxel (all variances with ``ddof=1``, so each estimate is unbiased)::

    noise_var  = mean over stimuli of the variance across repeats         (sigma_n^2)
    signal_var = variance across stimuli of the mean response - noise_var / n_rep
                                                                            (sigma_s^2)
    ncsnr      = sqrt(max(signal_var, 0) / noise_var)     (noise-ceiling signal-to-noise ratio)
    explainable variance (of a mean over n_average repeats)
               = ncsnr^2 / (ncsnr^2 + 1 / n_average)      = noise ceiling of R²
    noise ceiling of r = sqrt(explainable variance)

These are the NCSNR and noise-ceiling formulas of the Natural Scenes Dataset (Allen et al.
2022, Nat. Neurosci., Methods "Noise ceiling": ``NC = 100 * ncsnr^2 / (ncsnr^2 + 1/n)``, in
percent there, a fraction here). NSD z-scores single-trial betas and takes ``sigma_s^2 = 1 -
sigma_n^2`` (total single-trial variance minus noise); here the signal variance is the
variance of the mean response minus ``sigma_n^2 / n_rep``, which has the same expectation and
needs no z-scoring. With ``n_average = n_rep`` (default), the explainable variance is ``1 -
(noise_var / n_rep) / var(mean response)``: the largest R² any model can reach on the
responses dnnmap fits, and the ceiling of r is the correlation of the signal with them.

Split-half reliability: the repeats are split into two halves, the correlation ``r_h`` across
stimuli between the two half means is computed per voxel, averaged over splits (``"random"``:
``n_splits`` seeded random splits; ``"odd-even"``: repeats 0, 2, 4, ... against 1, 3, 5, ...)
and stepped up to the full number of repeats with the Spearman–Brown formula ``2 r_h / (1 +
r_h)``. For an even ``n_rep`` its expectation equals the explainable variance above (with
an odd ``n_rep`` the halves differ by one repeat and the step-up by 2 is approximate).

Unequal repeat counts (NSD has 1-3 repeats per image): ``repeats`` is NaN-padded, stimulus
``s`` having ``n_s`` measurements. The noise variance is then pooled,
``sum_s sum_r (x - mean_s)^2 / sum_s (n_s - 1)``, the mean response of stimulus ``s`` has noise
variance ``sigma_n^2 / n_s``, and ``1 / n_rep`` becomes ``mean_s(1 / n_s)`` in the signal
variance and in the ceiling (NSD's ``(A/3 + B/2 + C/1) / (A + B + C)``); both stay unbiased.

Session effects: a per-session offset or gain of a voxel varies across repeats but not across
stimuli, so it counts as noise and lowers the ceiling. NSD z-scores each session per voxel
first; :func:`zscore_sessions` does that to each repeat (``brain.zscore_sessions``). The ceiling
then describes the mean of the z-scored repeats.

Undefined values are NaN, never an error: a voxel with an inf value, a stimulus without any
measurement, no stimulus measured twice, or constant over all repeats and stimuli.
:func:`normalized_score` divides a model's score by the ceiling of the same metric (r by the
ceiling of r, R² by the ceiling of R²), NaN at ceilings ``<= MIN_CEILING`` and capped at 1
(:func:`count_above_ceiling` counts the capped voxels); :func:`roi_normalized_score` gives an
ROI's aggregate score over its aggregate ceiling.
"""

from __future__ import annotations

import numpy as np

from dnnmap.checks import check_choice, check_int
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r

CEILING_METRICS = ("r", "r2")
"""Scores whose noise ceiling :func:`noise_ceiling` gives: Pearson r and R²."""
SPLITS = ("random", "odd-even")
MIN_CEILING = 0.2
"""Default ceiling (of r) at or below which a normalized score is NaN: 4 % explainable
variance. Below it the ratio is mostly the ceiling's estimation noise, and the estimate is
biased upwards on pure noise: at 10,000 stimuli and 3 repeats 1 % of noise voxels exceed 0.2
(27 % exceed 0.1); at 150 stimuli and 2 repeats still about 40 % do."""


def _check_repeats(repeats) -> np.ndarray:
    x = np.asarray(repeats)
    if x.dtype != np.float32:
        x = x.astype(np.float64, copy=False)
    if x.ndim != 3 or x.shape[0] < 2 or x.shape[1] < 2:
        raise InputError(f"repeats have shape {x.shape}; expected (n_rep >= 2, n_stim >= 2, n_vox)")
    return x


def _vox_batches(n_vox: int, batch_size: int):
    for v0 in range(0, n_vox, batch_size):
        yield slice(v0, min(v0 + batch_size, n_vox))


def repeat_counts(repeats) -> np.ndarray:
    """Measurements per stimulus and voxel: the repeats that are not NaN padding.

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
        Single measurements, NaN where a stimulus has fewer than ``n_rep`` repeats.

    Returns
    -------
    counts : int64 array of shape (n_stim, n_vox)
    """
    return (~np.isnan(_check_repeats(repeats))).sum(axis=0).astype(np.int64)


def zscore_sessions(repeats) -> np.ndarray:
    """Z-score each repeat (session) per voxel over stimuli, as NSD does before its ceilings.

    Removes a session's offset and gain of each voxel, which would otherwise count as noise
    (they vary across repeats but not across stimuli). NaN padding is ignored and kept.

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)

    Returns
    -------
    float64 array of shape (n_rep, n_stim, n_vox)
        ``(x - mean) / std`` over the stimuli of each repeat and voxel (``ddof=0``, NaN
        ignored, as ``scipy.stats.zscore(..., axis=1, nan_policy="omit")``); NaN where a
        repeat of a voxel is constant or has fewer than 2 values.
    """
    x = _check_repeats(repeats).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = (~np.isnan(x)).sum(axis=1, keepdims=True)
        mean = np.nansum(x, axis=1, keepdims=True) / n
        centred = x - mean
        sd = np.sqrt(np.nansum(centred**2, axis=1, keepdims=True) / n)
        out = centred / np.where((sd > 0) & (n >= 2), sd, np.nan)
    return out


def signal_noise_variance(repeats, batch_size: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """Signal and noise variance per voxel (see the module docstring).

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
        Single measurements, NaN-padded where stimulus ``s`` has ``n_s < n_rep`` repeats;
        ``nanmean(repeats, axis=0)`` is the response a model is fitted to.
    batch_size : int
        Voxels per batch (bounds the float64 temporaries).

    Returns
    -------
    signal_var : array of shape (n_vox,)
        ``var_stim(mean response) - noise_var * mean_s(1 / n_s)``; unbiased, so it can be
        negative for a voxel without signal. NaN where undefined.
    noise_var : array of shape (n_vox,)
        Pooled variance across repeats, ``sum_s sum_r (x - mean_s)^2 / sum_s (n_s - 1)``
        (with equal counts, the mean over stimuli of the variance across repeats). NaN where
        undefined: an inf value, a stimulus without any measurement, no stimulus measured
        twice, or a voxel constant throughout.
    """
    x = _check_repeats(repeats)
    step = check_int(batch_size, "batch_size", 1)
    n_vox = x.shape[2]
    signal = np.full(n_vox, np.nan)
    noise = np.full(n_vox, np.nan)
    for b in _vox_batches(n_vox, step):
        xb = x[:, :, b].astype(np.float64)
        present = ~np.isnan(xb)
        counts = present.sum(axis=0)  # (n_stim, nb)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(xb, axis=0) / counts
            dev = np.where(present, xb - mean, 0.0)
            top = np.fmax.reduce(xb, axis=0)  # NaN only where all repeats are NaN
            same = top == np.fmin.reduce(xb, axis=0)
            dev[:, same] = 0.0  # identical repeats: exactly no noise
            df = (counts - 1).clip(min=0).sum(axis=0)
            noise_b = (dev**2).sum(axis=(0, 1)) / df
            total_b = mean.var(axis=0, ddof=1)
            inv_n = (1.0 / counts).mean(axis=0)
            spread = np.fmax.reduce(top, axis=0) - np.fmin.reduce(
                np.fmin.reduce(xb, axis=0), axis=0
            )
        bad = np.isinf(xb).any(axis=(0, 1)) | (counts == 0).any(axis=0) | (df < 1) | ~(spread > 0)
        noise_b[bad] = np.nan
        noise[b] = noise_b
        signal[b] = np.where(bad, np.nan, total_b - noise_b * inv_n)
    return signal, noise


def _mean_inverse_count(x: np.ndarray, batch_size: int) -> np.ndarray:
    """mean over stimuli of 1 / n_s per voxel, shape (n_vox,)."""
    out = np.empty(x.shape[2])
    for b in _vox_batches(x.shape[2], batch_size):
        with np.errstate(divide="ignore"):
            out[b] = (1.0 / (~np.isnan(x[:, :, b])).sum(axis=0)).mean(axis=0)
    return out


def ncsnr(repeats, batch_size: int = 10000) -> np.ndarray:
    """Noise-ceiling signal-to-noise ratio ``sqrt(max(signal_var, 0) / noise_var)`` per voxel.

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
    batch_size : int
        Voxels per batch.

    Returns
    -------
    ncsnr : array of shape (n_vox,)
        ``inf`` where the repeats are identical but vary across stimuli; NaN where undefined.
    """
    signal, noise = signal_noise_variance(repeats, batch_size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.maximum(signal, 0.0) / noise)


def explainable_variance(repeats, n_average: int | None = None, batch_size: int = 10000):
    """Fraction of the variance of a mean over ``n_average`` repeats that is signal.

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
    n_average : int or None
        Repeats averaged in the response the model is scored on (None: the mean response over
        each stimulus' own repeats, ``1 / n_average`` replaced by ``mean_s(1 / n_s)``; 1:
        single trials).
    batch_size : int
        Voxels per batch.

    Returns
    -------
    ev : array of shape (n_vox,)
        ``ncsnr^2 / (ncsnr^2 + 1 / n_average)`` in [0, 1]: the noise ceiling of R². NaN
        where undefined. With unequal counts and ``n_average=None`` this is NSD's
        ``ncsnr^2 / (ncsnr^2 + (A/3 + B/2 + C/1) / (A + B + C))`` for A, B, C stimuli with
        3, 2, 1 repeats, generalised to any counts.
    """
    x = _check_repeats(repeats)
    step = check_int(batch_size, "batch_size", 1)
    if n_average is None:
        inv_n = _mean_inverse_count(x, step)
    else:
        inv_n = 1.0 / check_int(n_average, "n_average", 1)
    signal, noise = signal_noise_variance(x, step)
    signal = np.maximum(signal, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ev = signal / (signal + noise * inv_n)
    return ev


def noise_ceiling(
    repeats, metric: str = "r", n_average: int | None = None, batch_size: int = 10000
) -> np.ndarray:
    """Noise ceiling per voxel: the best score a perfect model of the signal can reach.

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
    metric : {"r", "r2"}
        Ceiling of the Pearson r (``sqrt`` of the explainable variance) or of R² (the
        explainable variance).
    n_average : int or None
        Repeats averaged in the scored response (None: all, the mean response).
    batch_size : int
        Voxels per batch.

    Returns
    -------
    ceiling : array of shape (n_vox,)
        In [0, 1]; NaN where undefined.
    """
    metric = check_choice(metric, "metric", CEILING_METRICS)
    ev = explainable_variance(repeats, n_average, batch_size)
    return np.sqrt(ev) if metric == "r" else ev


def response_noise_ceiling(repeats, batch_size: int = 10000) -> np.ndarray:
    """Noise ceiling of r for the mean response over all repeats: ``noise_ceiling(repeats)``.

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
    batch_size : int
        Voxels per batch.

    Returns
    -------
    ceiling : array of shape (n_vox,)
        The largest Pearson r a model of ``repeats.mean(axis=0)`` can expect; NaN where
        undefined.
    """
    return noise_ceiling(repeats, "r", None, batch_size)


def split_half_reliability(
    repeats,
    n_splits: int = 100,
    seed: int = 0,
    method: str = "random",
    spearman_brown: bool = True,
    batch_size: int = 10000,
) -> np.ndarray:
    """Split-half reliability of the mean response per voxel.

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
        Single measurements (n_stim >= 3).
    n_splits : int
        Random splits to average (``method="random"``); each split is
        ``np.random.default_rng(seed).permutation(n_rep)`` (drawn in sequence) cut into its
        first ``n_rep // 2`` repeats and the rest.
    seed : int
        Seed of the random splits.
    method : {"random", "odd-even"}
        Random splits, or one split of even against odd repeat indices.
    spearman_brown : bool
        Step the mean half correlation ``r_h`` up to the full data: ``2 r_h / (1 + r_h)``.
    batch_size : int
        Voxels per batch.

    Returns
    -------
    reliability : array of shape (n_vox,)
        Spearman–Brown corrected (or raw) mean split-half correlation; an estimate of the
        explainable variance (R² ceiling) of the mean response. NaN where undefined.
    """
    x = _check_repeats(repeats)
    method = check_choice(method, "method", SPLITS)
    n_splits = check_int(n_splits, "n_splits", 1)
    step = check_int(batch_size, "batch_size", 1)
    n_rep, n_stim, n_vox = x.shape
    if n_stim < 3:
        raise InputError(f"repeats have {n_stim} stimuli; expected at least 3 for a correlation")
    if method == "odd-even":
        halves = [(np.arange(0, n_rep, 2), np.arange(1, n_rep, 2))]
    else:
        rng = np.random.default_rng(seed)
        halves = []
        for _ in range(n_splits):
            order = rng.permutation(n_rep)
            halves.append((np.sort(order[: n_rep // 2]), np.sort(order[n_rep // 2 :])))
    r = np.zeros(n_vox)
    for b in _vox_batches(n_vox, step):
        xb = x[:, :, b]
        for first, second in halves:
            r[b] += pearson_r(xb[first].mean(axis=0), xb[second].mean(axis=0))
    r /= len(halves)
    if not spearman_brown:
        return r
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * r / (1.0 + r)


def normalized_score(score, ceiling, min_ceiling: float = MIN_CEILING) -> np.ndarray:
    """A model's score as a fraction of the noise ceiling of the same metric, capped at 1.

    Parameters
    ----------
    score : array of shape (n_vox,) (or any shape broadcasting with ``ceiling``)
        Encoding score per voxel (r, or R²).
    ceiling : array of shape (n_vox,)
        Noise ceiling of the same metric (:func:`noise_ceiling` with ``metric="r"`` for r,
        ``"r2"`` for R²).
    min_ceiling : float
        Voxels whose ceiling is NaN or ``<= min_ceiling`` get NaN: a ceiling near 0 makes the
        ratio explode. Default :data:`MIN_CEILING`.

    Returns
    -------
    normalized : float64 array of the broadcast shape
        ``min(score / ceiling, 1)``. A ratio above 1 happens by chance where the ceiling is
        underestimated; :func:`count_above_ceiling` counts those voxels.
    """
    s, c, ok = _score_and_ceiling(score, ceiling, min_ceiling)
    out = np.full(ok.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.broadcast_to(s / c, ok.shape)
    out[ok] = np.minimum(ratio[ok], 1.0)
    return out


def count_above_ceiling(score, ceiling, min_ceiling: float = MIN_CEILING) -> int:
    """Voxels whose score exceeds its ceiling (the normalized scores :func:`normalized_score`
    caps at 1), among those with a ceiling above ``min_ceiling``.

    Parameters
    ----------
    score, ceiling : arrays of shape (n_vox,)
    min_ceiling : float

    Returns
    -------
    int
    """
    s, c, ok = _score_and_ceiling(score, ceiling, min_ceiling)
    with np.errstate(invalid="ignore"):
        above = np.broadcast_to(s > c, ok.shape)
    return int(np.count_nonzero(above & ok))


def roi_normalized_score(
    scores, ceilings, min_ceiling: float = MIN_CEILING, aggregate: str = "mean"
) -> float:
    """An ROI's aggregate score over its aggregate ceiling (not the mean of voxel ratios).

    Voxel ratios are noisy and skewed where ceilings are small; the ratio of aggregates is
    stable, and for a model whose prediction correlates ``rho`` with every voxel's signal it
    estimates ``rho`` (a voxel's expected r is ``rho`` times its ceiling of r).

    Parameters
    ----------
    scores : array of shape (n_vox,)
        Encoding score per voxel of the ROI (r or R²).
    ceilings : array of shape (n_vox,)
        Noise ceiling of the same metric.
    min_ceiling : float
        Only voxels whose ceiling is above ``min_ceiling`` enter (as in
        :func:`normalized_score`); NaN when the aggregate ceiling is ``<= min_ceiling``.
    aggregate : {"mean", "median"}
        How voxels are aggregated; both over the voxels where the score is finite and the
        ceiling finite and above ``min_ceiling``.

    Returns
    -------
    float
        ``aggregate(scores) / aggregate(ceilings)``, not capped (a value above 1 says the
        ceiling is underestimated); NaN without usable voxels.
    """
    s, c, ok = _score_and_ceiling(scores, ceilings, min_ceiling)
    if s.shape != c.shape or s.ndim != 1:
        raise InputError(
            f"scores have shape {s.shape} and ceilings {c.shape}; expected equal (n_vox,)"
        )
    how = check_choice(aggregate, "aggregate", ("mean", "median"))
    use = np.isfinite(s) & ok
    if not use.any():
        return float("nan")
    agg = np.mean if how == "mean" else np.median
    top, bottom = float(agg(s[use])), float(agg(c[use]))
    return top / bottom if bottom > float(min_ceiling) else float("nan")


def _score_and_ceiling(score, ceiling, min_ceiling):
    s = np.asarray(score, dtype=np.float64)
    c = np.asarray(ceiling, dtype=np.float64)
    try:
        shape = np.broadcast_shapes(s.shape, c.shape)
    except ValueError:
        raise InputError(
            f"score has shape {s.shape} and ceiling has shape {c.shape}; expected equal shapes"
        ) from None
    try:
        floor = float(min_ceiling)
    except (TypeError, ValueError):
        floor = np.nan
    if not floor >= 0 or not np.isfinite(floor):
        raise InputError(f"min_ceiling is {min_ceiling!r}; expected a number >= 0")
    ok = np.broadcast_to(np.isfinite(c) & (c > floor), shape)
    return s, c, ok
