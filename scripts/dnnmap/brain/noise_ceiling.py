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

Undefined values are NaN, never an error: a voxel with any NaN/inf repeat, or constant over
all repeats and stimuli. :func:`normalized_score` divides a model's score by the ceiling of the
same metric (r by the ceiling of r, R² by the ceiling of R²).
"""

from __future__ import annotations

import numpy as np

from dnnmap.checks import check_choice, check_int
from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r

CEILING_METRICS = ("r", "r2")
"""Scores whose noise ceiling :func:`noise_ceiling` gives: Pearson r and R²."""
SPLITS = ("random", "odd-even")


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


def signal_noise_variance(repeats, batch_size: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """Signal and noise variance per voxel (see the module docstring).

    Parameters
    ----------
    repeats : array of shape (n_rep, n_stim, n_vox)
        Single measurements; ``repeats.mean(axis=0)`` is the response a model is fitted to.
    batch_size : int
        Voxels per batch (bounds the float64 temporaries).

    Returns
    -------
    signal_var : array of shape (n_vox,)
        ``var_stim(mean response) - noise_var / n_rep``; unbiased, so it can be negative for
        a voxel without signal. NaN where undefined.
    noise_var : array of shape (n_vox,)
        Mean over stimuli of the variance across repeats. NaN where undefined.
    """
    x = _check_repeats(repeats)
    step = check_int(batch_size, "batch_size", 1)
    n_rep, _, n_vox = x.shape
    signal = np.full(n_vox, np.nan)
    noise = np.full(n_vox, np.nan)
    for b in _vox_batches(n_vox, step):
        xb = x[:, :, b].astype(np.float64)
        within = xb.var(axis=0, ddof=1)
        within[np.ptp(xb, axis=0) == 0] = 0.0  # identical repeats: exactly no noise
        noise_b = within.mean(axis=0)
        total_b = xb.mean(axis=0).var(axis=0, ddof=1)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(xb).all(axis=(0, 1)) | ~(np.ptp(xb.reshape(-1, xb.shape[2]), 0) > 0)
        noise_b[bad] = np.nan
        noise[b] = noise_b
        signal[b] = np.where(bad, np.nan, total_b - noise_b / n_rep)
    return signal, noise


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
        Repeats averaged in the response the model is scored on (None: ``n_rep``, the mean
        response; 1: single trials).
    batch_size : int
        Voxels per batch.

    Returns
    -------
    ev : array of shape (n_vox,)
        ``ncsnr^2 / (ncsnr^2 + 1 / n_average)`` in [0, 1]: the noise ceiling of R². NaN
        where undefined.
    """
    x = _check_repeats(repeats)
    n_avg = x.shape[0] if n_average is None else check_int(n_average, "n_average", 1)
    signal, noise = signal_noise_variance(x, batch_size)
    signal = np.maximum(signal, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ev = signal / (signal + noise / n_avg)
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


def normalized_score(score, ceiling, min_ceiling: float = 0.0) -> np.ndarray:
    """A model's score as a fraction of the noise ceiling of the same metric.

    Parameters
    ----------
    score : array of shape (n_vox,) (or any shape broadcasting with ``ceiling``)
        Encoding score per voxel (r, or R²).
    ceiling : array of shape (n_vox,)
        Noise ceiling of the same metric (:func:`noise_ceiling` with ``metric="r"`` for r,
        ``"r2"`` for R²).
    min_ceiling : float
        Voxels whose ceiling is NaN or ``<= min_ceiling`` get NaN (a ceiling near 0 makes
        the ratio explode; e.g. 0.1 leaves out voxels with almost no signal).

    Returns
    -------
    normalized : float64 array of the broadcast shape
        ``score / ceiling``; can exceed 1 by chance where the ceiling is underestimated.
    """
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
    out = np.full(shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.broadcast_to(s / c, shape)
    out[ok] = ratio[ok]
    return out
