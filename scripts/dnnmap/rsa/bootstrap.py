"""Bootstrap confidence intervals of the similarity of layer RDMs with brain RDMs.

Over stimuli: ``n`` stimuli are drawn with replacement and the RDMs are restricted
to the drawn stimuli; pairs of two copies of the same stimulus (a zero dissimilarity that any
model predicts) are dropped, as rsatoolbox's ``RDMs.subsample_pattern`` does (it sets them to
NaN and ``compare`` drops NaN). The pair ``(a, b)`` of stimuli drawn ``c_a`` and ``c_b``
times then appears ``c_a c_b`` times, so each bootstrap sample is a *weighted* comparison with
pair weights ``w_ab = c_a c_b``: weighted Pearson/cosine, and for ranks the average rank of
each value among the ``sum w`` resampled values (computed from one sort of each RDM). This
equals rsatoolbox's ``compare(rdm.subsample_pattern("index", idx), ...)`` on the same draws
without building any resampled RDM. Over subjects: subjects are drawn with replacement. The
statistic is the mean over subjects of the similarity of a layer RDM with each subject's RDM
(rsatoolbox's evaluation); the interval is the percentile interval of the bootstrap samples.

Draws with fewer than 3 distinct stimuli (likely at ``n <= 6``) define no RDM comparison
(a rank correlation of one pair is 0/0): they are dropped, as rsatoolbox's
``eval_bootstrap_pattern`` does, and the interval comes from the remaining draws
(``BootstrapResult.n_valid``). With ``groups`` (clustered stimuli, e.g. the stimulus table's
group column) whole groups are drawn with replacement and every stimulus of a drawn group
enters the sample (rsatoolbox's ``pattern_descriptor``).

The group interval (:func:`dual_bootstrap`) is the corrected two-factor bootstrap of Schütt et
al. (2023, eLife, "Statistical inference on representational geometries"), as rsatoolbox's
``eval_dual_bootstrap`` with ``extract_variances``: on the same draws, the statistic is
bootstrapped over subjects and stimuli together (variance ``v_b``), over subjects alone
(``v_r``) and over stimuli alone (``v_p``); the bootstrap over both factors counts the
interaction of the two sampling errors twice, and the corrected variance is
``n_r/(n_r-1) v_r + n_p/(n_p-1) v_p - n_r n_p/((n_r-1)(n_p-1)) (v_b - v_r - v_p)``,
kept between ``max(n_r/(n_r-1) v_r, n_p/(n_p-1) v_p)`` and ``v_b`` (``n_r`` subjects,
``n_p`` stimuli or stimulus groups). The interval is ``estimate +- t sqrt(v)`` with
``min(n_r, n_p) - 1`` degrees of freedom (rsatoolbox's ``get_ci`` centers it on the mean of
the bootstrap samples; here it is centered on the estimate from all data).

Methods and RDM conventions are those of :mod:`dnnmap.rsa.inference`. The fast methods are
computed for a batch of bootstrap samples at once (pair weights ``(b, n_pairs)``, one sort of
each RDM for ranks); Kendall's taus loop over samples with ``scipy.stats.kendalltau``; the
whitened ``corr_cov``/``cosine_cov`` are only bootstrapped over subjects.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau
from scipy.stats import t as t_dist

from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.rsa.checks import as_rdms, check_method, check_same_pairs
from dnnmap.rsa.inference import BATCH_ELEMENTS, FAST_METHODS, METHODS, similarity
from dnnmap.rsa.rdm import n_stimuli

BOOTSTRAP_OVER = ("stimuli", "subjects", "both")


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap percentile intervals of the mean similarity of layer RDMs with brain RDMs.

    Attributes
    ----------
    estimate : array of shape (m,)
        Mean over subjects of the similarity of each layer with each subject (all data).
    samples : array of shape (n_boot, m)
        The statistic on each bootstrap sample.
    low, high : arrays of shape (m,)
        Percentile interval of ``samples`` at level ``ci``.
    ci : float
    over : str
        ``"stimuli"``, ``"subjects"`` or ``"both"``.
    n_valid : int
        Draws used: those with at least 3 distinct stimuli (the others are NaN in
        ``samples``).
    """

    estimate: np.ndarray
    samples: np.ndarray
    low: np.ndarray
    high: np.ndarray
    ci: float
    over: str
    n_valid: int


def bootstrap_samples(
    n_stim: int, n_subj: int, n_boot: int, over: str = "stimuli", seed: int = 0
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Seeded bootstrap draws of stimuli and/or subjects.

    Returns
    -------
    stim_idx : int64 array of shape (n_boot, n_stim), or None when ``over == "subjects"``
    subj_idx : int64 array of shape (n_boot, n_subj), or None when ``over == "stimuli"``
        Drawn with replacement by ``numpy.random.default_rng(seed).integers``, stimuli first.
    """
    if over not in BOOTSTRAP_OVER:
        raise InputError(f"over is {over!r}; expected one of {', '.join(BOOTSTRAP_OVER)}")
    n_boot = check_int(n_boot, "n_boot", 1)
    rng = np.random.default_rng(seed)
    stim = rng.integers(0, n_stim, (n_boot, n_stim)) if over != "subjects" else None
    subj = rng.integers(0, n_subj, (n_boot, n_subj)) if over != "stimuli" else None
    return stim, subj


def bootstrap_counts(
    n_stim: int,
    n_subj: int,
    n_boot: int,
    over: str = "stimuli",
    seed: int = 0,
    groups=None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Seeded bootstrap draws as the number of times each stimulus is drawn.

    Without ``groups``, the draws of :func:`bootstrap_samples` (same seed, same samples)
    counted per stimulus. With ``groups``, the ``n_groups`` groups are drawn with replacement
    (``default_rng(seed).integers``, groups in sorted label order) and every stimulus counts
    how often its group was drawn.

    Parameters
    ----------
    n_stim, n_subj, n_boot : int
    over : {"stimuli", "subjects", "both"}
    seed : int
    groups : array of shape (n_stim,), optional
        Group label of every stimulus (clustered stimuli).

    Returns
    -------
    counts : float64 array of shape (n_boot, n_stim), or None when ``over == "subjects"``
    subj_idx : int64 array of shape (n_boot, n_subj), or None when ``over == "stimuli"``
    """
    if groups is None:
        stim, subj = bootstrap_samples(n_stim, n_subj, n_boot, over, seed)
        if stim is None:
            return None, subj
        counts = np.zeros((stim.shape[0], n_stim))
        np.add.at(counts, (np.arange(stim.shape[0])[:, None], stim), 1.0)
        return counts, subj
    if over not in BOOTSTRAP_OVER:
        raise InputError(f"over is {over!r}; expected one of {', '.join(BOOTSTRAP_OVER)}")
    n_boot = check_int(n_boot, "n_boot", 1)
    labels = np.asarray(groups)
    if labels.shape != (n_stim,):
        raise InputError(
            f"groups have shape {labels.shape}; expected ({n_stim},), one per stimulus"
        )
    values, member = np.unique(labels, return_inverse=True)
    if len(values) < 2:
        raise InputError(f"groups hold {len(values)} group; expected at least 2 to bootstrap")
    rng = np.random.default_rng(seed)
    counts = subj = None
    if over != "subjects":
        drawn = rng.integers(0, len(values), (n_boot, len(values)))
        per_group = np.zeros((n_boot, len(values)))
        np.add.at(per_group, (np.arange(n_boot)[:, None], drawn), 1.0)
        counts = per_group[:, member]
    if over != "stimuli":
        subj = rng.integers(0, n_subj, (n_boot, n_subj))
    return counts, subj


def _valid_draws(counts: np.ndarray | None, n_boot: int) -> np.ndarray:
    """(n_boot,) True where a draw holds at least 3 distinct stimuli (all True without one)."""
    if counts is None:
        return np.ones(n_boot, dtype=bool)
    return (counts > 0).sum(axis=1) >= 3


def _weighted_ranks(v: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average ranks (B, P) of ``v`` (P,) repeated ``W[b]`` (B, P) times, from one sort.

    A value tied with others (same value, any weight) gets the mean of the positions its
    group occupies among the ``W[b].sum()`` resampled values.
    """
    order = np.argsort(v, kind="stable")
    vs = v[order]
    first = np.r_[True, vs[1:] != vs[:-1]]  # first entry of each group of tied values
    ties = not first.all()
    total = np.take(W, order, axis=1)  # weights in sorted order, then per group
    if ties:
        total = np.add.reduceat(total, np.flatnonzero(first), axis=1)
    rank = np.cumsum(total, axis=1)
    rank -= (total - 1.0) / 2.0  # mean position of the group: before + (total + 1) / 2
    if ties:
        rank = np.take(rank, np.cumsum(first) - 1, axis=1)
    return np.take(rank, np.argsort(order), axis=1)


def _weighted_similarity(X, Y, W, method) -> np.ndarray:
    """(B, m, s) similarities of RDMs X (m, P) and Y (s, P) under pair weights W (B, P)."""
    if method in ("spearman", "rho-a"):
        X = np.stack([_weighted_ranks(x, W) for x in X], axis=1)  # (B, m, P)
        Y = np.stack([_weighted_ranks(y, W) for y in Y], axis=1)
    else:  # centering by the unweighted mean first limits cancellation
        X = (X - X.mean(axis=1, keepdims=True))[None] if method == "pearson" else X[None]
        Y = (Y - Y.mean(axis=1, keepdims=True))[None] if method == "pearson" else Y[None]
    X = np.broadcast_to(X, (W.shape[0], *X.shape[1:]))
    Y = np.broadcast_to(Y, (W.shape[0], *Y.shape[1:]))
    sw = W.sum(axis=1)[:, None, None]
    if method == "rho-a":  # the weighted mean rank is (N + 1) / 2 exactly
        X, Y = X - (sw + 1) / 2, Y - (sw + 1) / 2
    elif method != "cosine":
        X = X - np.einsum("bp,bmp->bm", W, X)[..., None] / sw
        Y = Y - np.einsum("bp,bsp->bs", W, Y)[..., None] / sw
    WX = W[:, None, :] * X
    sxy = WX @ np.swapaxes(Y, 1, 2)  # (B, m, s)
    if method == "rho-a":
        return sxy * 12.0 / (sw**3 - sw)
    sxx = np.einsum("bmp,bmp->bm", WX, X)[:, :, None]
    syy = np.einsum("bp,bsp,bsp->bs", W, Y, Y)[:, None, :]
    den = np.sqrt(sxx * syy)
    return np.divide(sxy, den, out=np.zeros(sxy.shape), where=den > 0)


def _tie_pairs(v: np.ndarray) -> int:
    counts = np.unique(v, return_counts=True)[1]
    return int((counts * (counts - 1) // 2).sum())


def _kendall_all(X: np.ndarray, Y: np.ndarray, method: str) -> np.ndarray:
    """(m, s) Kendall tau-b (``scipy.stats.kendalltau``) or tau-a of vectors of any length.

    tau-a is derived from tau-b: ``tau_a = tau_b sqrt((N0 - Tx)(N0 - Ty)) / N0`` with
    ``N0 = N (N - 1) / 2`` and ``T`` the tied pairs of each vector. A constant vector gives 0.
    """
    n0 = X.shape[1] * (X.shape[1] - 1) // 2
    tx, ty = [_tie_pairs(x) for x in X], [_tie_pairs(y) for y in Y]
    out = np.zeros((X.shape[0], Y.shape[0]))
    for a, b in itertools.product(range(X.shape[0]), range(Y.shape[0])):
        if tx[a] == n0 or ty[b] == n0:
            continue
        tau = kendalltau(X[a], Y[b]).statistic
        scale = math.sqrt((n0 - tx[a]) * (n0 - ty[b])) / n0 if method == "tau-a" else 1.0
        out[a, b] = tau * scale
    return out


def _stimulus_bootstrap(X, Y, counts, method, batch_size) -> np.ndarray:
    """(n_boot, m, s) similarities on stimulus-bootstrap samples given as draw counts
    ``(n_boot, n)`` (pairs of copies of one stimulus dropped); NaN for draws with fewer than 3
    distinct stimuli."""
    n_boot, n = counts.shape
    i, j = np.triu_indices(n, 1)
    out = np.full((n_boot, X.shape[0], Y.shape[0]), np.nan)
    valid = _valid_draws(counts, n_boot)
    per = (2 + X.shape[0] + Y.shape[0]) * len(i)
    batch = batch_size or max(1, BATCH_ELEMENTS // per)
    rows = np.flatnonzero(valid)
    for start in range(0, len(rows), batch):
        take = rows[start : start + batch]
        c = counts[take]
        W = c[:, i] * c[:, j]  # (b, P) pair weights c_a c_b
        if method in FAST_METHODS:
            out[take] = _weighted_similarity(X, Y, W, method)
        else:  # slow path: Kendall's tau of the resampled vectors themselves
            for k, w in zip(take, W.astype(np.int64), strict=True):
                out[k] = _kendall_all(np.repeat(X, w, 1), np.repeat(Y, w, 1), method)
    return out


def bootstrap_similarity(
    model_rdms,
    brain_rdms,
    method: str = "spearman",
    n_boot: int = 1000,
    over: str = "stimuli",
    ci: float = 0.95,
    seed: int = 0,
    batch_size: int | None = None,
    groups=None,
) -> BootstrapResult:
    """Bootstrap percentile interval of the (subject-mean) similarity of layer and brain RDMs.

    Parameters
    ----------
    model_rdms : array of shape (m, n_pairs) or (n_pairs,)
    brain_rdms : array of shape (n_subj, n_pairs) or (n_pairs,)
        One RDM per subject (or repeat); the statistic is the mean over them.
    method : str
        One of :data:`METHODS`; ``corr_cov``/``cosine_cov`` only with ``over="subjects"``
        (their whitening is defined for an RDM of distinct stimuli). Kendall's taus are
        computed per bootstrap sample with ``scipy.stats.kendalltau`` (slow).
    n_boot : int
    over : {"stimuli", "subjects", "both"}
        What is resampled (see the module docstring); ``"subjects"`` and ``"both"`` need at
        least 2 subjects.
    ci : float
        Interval level in (0, 1).
    seed : int
        Seed of :func:`bootstrap_samples`.
    batch_size : int, optional
        Bootstrap samples per batch (default: ``2**24`` values per batch).
    groups : array of shape (n_stim,), optional
        Group label of every stimulus: whole groups are drawn (:func:`bootstrap_counts`).

    Returns
    -------
    BootstrapResult
        Draws with fewer than 3 distinct stimuli are NaN in ``samples`` and left out of the
        interval (NaN when no draw is left).
    """
    method = check_method(method, METHODS)
    X, _ = as_rdms(model_rdms, "model_rdms")
    Y, _ = as_rdms(brain_rdms, "brain_rdms")
    check_same_pairs(X, Y, ("model_rdms", "brain_rdms"))
    if not 0 < ci < 1:
        raise InputError(f"ci is {ci!r}; expected a level in (0, 1), e.g. 0.95")
    if over != "stimuli" and Y.shape[0] < 2 and over in BOOTSTRAP_OVER:
        raise InputError(f"over is {over!r} but brain_rdms has 1 subject; expected >= 2")
    if over != "subjects" and method in ("corr_cov", "cosine_cov"):
        raise InputError(
            f"method is {method!r}; a stimulus bootstrap supports {', '.join(METHODS[:-2])}"
        )
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", 1)
    counts, subj_idx = bootstrap_counts(
        n_stimuli(X.shape[1]), Y.shape[0], n_boot, over, seed, groups
    )
    full = similarity(X, Y, method)  # (m, s)
    if counts is None:
        sims = np.broadcast_to(full, (n_boot, *full.shape))
    else:
        sims = _stimulus_bootstrap(X, Y, counts, method, batch_size)
    if subj_idx is None:
        samples = sims.mean(axis=2)
    else:
        samples = np.take_along_axis(sims, subj_idx[:, None, :], axis=2).mean(axis=2)
    valid = _valid_draws(counts, n_boot)
    low = high = np.full(X.shape[0], np.nan)
    if valid.any():
        low, high = np.quantile(samples[valid], [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return BootstrapResult(full.mean(axis=1), samples, low, high, float(ci), over, int(valid.sum()))


@dataclass(frozen=True)
class DualBootstrapResult:
    """The corrected two-factor (subjects x stimuli) bootstrap interval of a group RSA.

    Attributes
    ----------
    estimate : array of shape (m,)
        Mean over subjects of each layer's similarity with each subject (all data).
    variance : array of shape (m,)
        Corrected variance of ``estimate`` (module docstring).
    low, high : arrays of shape (m,)
        ``estimate -+ t_{dof} sqrt(variance)`` at level ``ci``.
    var_both, var_subjects, var_stimuli : arrays of shape (m,)
        Bootstrap variances over both factors, over subjects alone and over stimuli alone.
    ci : float
    dof : int
        ``min(n_subjects, n_stimulus_units) - 1``.
    n_valid : int
        Draws with at least 3 distinct stimuli (the others are dropped).
    """

    estimate: np.ndarray
    variance: np.ndarray
    low: np.ndarray
    high: np.ndarray
    var_both: np.ndarray
    var_subjects: np.ndarray
    var_stimuli: np.ndarray
    ci: float
    dof: int
    n_valid: int


def corrected_variance(var_both, var_subjects, var_stimuli, n_subjects: int, n_stimuli: int):
    """rsatoolbox's small-sample dual-bootstrap variance (``inference_util._dual_bootstrap``).

    Parameters
    ----------
    var_both, var_subjects, var_stimuli : arrays of the same shape
        Bootstrap variances over both factors, subjects alone, stimuli alone.
    n_subjects, n_stimuli : int
        Sampling units of each factor (stimulus groups when stimuli are clustered), >= 2.

    Returns
    -------
    array of the same shape
    """
    vb, vr, vp = (np.asarray(v, dtype=np.float64) for v in (var_both, var_subjects, var_stimuli))
    nr, npat = n_subjects, n_stimuli
    var = (
        nr / (nr - 1) * vr
        + npat / (npat - 1) * vp
        - nr * npat / ((npat - 1) * (nr - 1)) * (vb - vr - vp)
    )
    var = np.maximum(np.maximum(var, nr / (nr - 1) * vr), npat / (npat - 1) * vp)
    return np.minimum(var, vb)


def dual_bootstrap(
    model_rdms,
    brain_rdms,
    method: str = "spearman",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    groups=None,
    batch_size: int | None = None,
) -> DualBootstrapResult:
    """Group interval of the subject-mean similarity by the corrected two-factor bootstrap.

    Parameters
    ----------
    model_rdms : array of shape (m, n_pairs) or (n_pairs,)
    brain_rdms : array of shape (n_subj, n_pairs), n_subj >= 2
    method : str
        One of :data:`METHODS` except ``corr_cov``/``cosine_cov`` (stimuli are resampled).
    n_boot : int
        Draws; each serves the three bootstraps (both factors, subjects, stimuli).
    ci : float
        Interval level in (0, 1).
    seed : int
        Seed of :func:`bootstrap_counts` (``over="both"``).
    groups : array of shape (n_stim,), optional
        Stimulus groups drawn whole; then ``n_stimuli`` in the correction is the number of
        groups.
    batch_size : int, optional

    Returns
    -------
    DualBootstrapResult
    """
    method = check_method(method, METHODS)
    X, _ = as_rdms(model_rdms, "model_rdms")
    Y, _ = as_rdms(brain_rdms, "brain_rdms")
    check_same_pairs(X, Y, ("model_rdms", "brain_rdms"))
    if not 0 < ci < 1:
        raise InputError(f"ci is {ci!r}; expected a level in (0, 1), e.g. 0.95")
    if Y.shape[0] < 2:
        raise InputError(f"brain_rdms has {Y.shape[0]} subject; expected >= 2 for a group interval")
    if method in ("corr_cov", "cosine_cov"):
        raise InputError(
            f"method is {method!r}; a stimulus bootstrap supports {', '.join(METHODS[:-2])}"
        )
    n_stim = n_stimuli(X.shape[1])
    counts, subj_idx = bootstrap_counts(n_stim, Y.shape[0], n_boot, "both", seed, groups)
    full = similarity(X, Y, method)  # (m, s)
    sims = _stimulus_bootstrap(X, Y, counts, method, batch_size)  # (B, m, s)
    valid = _valid_draws(counts, counts.shape[0])
    sims, subj_idx = sims[valid], subj_idx[valid]
    both = np.take_along_axis(sims, subj_idx[:, None, :], axis=2).mean(axis=2)
    subjects = full[:, subj_idx].mean(axis=2).T  # (B, m)
    stimuli = sims.mean(axis=2)
    n_units = n_stim if groups is None else len(np.unique(np.asarray(groups)))
    estimate = full.mean(axis=1)
    nan = np.full(X.shape[0], np.nan)
    if len(sims) < 2:
        return DualBootstrapResult(estimate, nan, nan, nan, nan, nan, nan, float(ci), 0, len(sims))
    vb, vr, vp = (np.var(v, axis=0, ddof=1) for v in (both, subjects, stimuli))
    var = corrected_variance(vb, vr, vp, Y.shape[0], n_units)
    dof = min(Y.shape[0], n_units) - 1
    half = t_dist.ppf((1 + ci) / 2, dof) * np.sqrt(var)
    return DualBootstrapResult(
        estimate, var, estimate - half, estimate + half, vb, vr, vp, float(ci), dof, len(sims)
    )
