"""Tests of dnnmap.brain.noise_ceiling against closed forms on simulated data and slow loops."""

import numpy as np
import pytest
import scipy.stats

from dnnmap.brain.noise_ceiling import (
    MIN_CEILING,
    count_above_ceiling,
    explainable_variance,
    ncsnr,
    noise_ceiling,
    normalized_score,
    repeat_counts,
    response_noise_ceiling,
    roi_normalized_score,
    signal_noise_variance,
    split_half_reliability,
    zscore_sessions,
)
from dnnmap.errors import InputError


def _simulate(n_rep, n_stim, signal_sd, noise_sd, seed=0):
    """Repeats (n_rep, n_stim, v) with known signal and noise standard deviations (v,)."""
    rng = np.random.default_rng(seed)
    signal_sd, noise_sd = np.asarray(signal_sd), np.asarray(noise_sd)
    mu = rng.standard_normal((n_stim, signal_sd.size)) * signal_sd + rng.standard_normal(
        signal_sd.size
    )
    return mu + rng.standard_normal((n_rep, n_stim, signal_sd.size)) * noise_sd


def _loop_variances(x):
    n_rep, n_stim, n_vox = x.shape
    signal, noise = np.empty(n_vox), np.empty(n_vox)
    for v in range(n_vox):
        within = [np.var(x[:, s, v], ddof=1) for s in range(n_stim)]
        noise[v] = sum(within) / n_stim
        means = [np.mean(x[:, s, v]) for s in range(n_stim)]
        signal[v] = np.var(means, ddof=1) - noise[v] / n_rep
    return signal, noise


def test_variances_match_loop_and_batches():
    x = _simulate(3, 15, [1.0, 0.5, 0.1, 2.0], [1.0, 1.0, 2.0, 0.3], seed=1)
    signal, noise = signal_noise_variance(x)
    ref_s, ref_n = _loop_variances(x)
    np.testing.assert_allclose(signal, ref_s, rtol=1e-12)
    np.testing.assert_allclose(noise, ref_n, rtol=1e-12)
    s2, n2 = signal_noise_variance(x.astype(np.float32), batch_size=3)
    np.testing.assert_allclose(s2, ref_s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(n2, ref_n, rtol=1e-5)
    snr = np.sqrt(np.maximum(ref_s, 0) / ref_n)
    np.testing.assert_allclose(ncsnr(x), snr, rtol=1e-12)
    for n_avg in (1, 3, 8):
        ref = snr**2 / (snr**2 + 1 / n_avg)  # the NSD formula (Allen et al. 2022), as a fraction
        np.testing.assert_allclose(explainable_variance(x, n_avg), ref, rtol=1e-12)
        np.testing.assert_allclose(noise_ceiling(x, "r2", n_avg), ref, rtol=1e-12)
        np.testing.assert_allclose(noise_ceiling(x, "r", n_avg), np.sqrt(ref), rtol=1e-12)
    # with the mean over all repeats: 1 - (noise / n_rep) / variance of the mean response
    ev = 1 - (ref_n / 3) / np.var(x.mean(axis=0), axis=0, ddof=1)
    np.testing.assert_allclose(explainable_variance(x), np.maximum(ev, 0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(response_noise_ceiling(x), np.sqrt(np.maximum(ev, 0)), rtol=1e-12)


def test_closed_form_on_large_simulation():
    signal_sd = np.array([1.0, 1.0, 0.5, 0.0])
    noise_sd = np.array([1.0, 2.0, 1.0, 1.0])
    n_rep = 4
    x = _simulate(n_rep, 40000, signal_sd, noise_sd, seed=2)
    signal, noise = signal_noise_variance(x)
    np.testing.assert_allclose(signal, signal_sd**2, atol=0.03)
    np.testing.assert_allclose(noise, noise_sd**2, rtol=0.02)
    ev_true = signal_sd**2 / (signal_sd**2 + noise_sd**2 / n_rep)
    np.testing.assert_allclose(explainable_variance(x), ev_true, atol=0.02)
    ceiling_r = noise_ceiling(x, "r")
    np.testing.assert_allclose(ceiling_r[:3], np.sqrt(ev_true[:3]), atol=0.02)
    assert ceiling_r[3] < 0.15  # sqrt of a near-zero estimate
    # the r ceiling is the correlation of the true signal with the mean response
    rng = np.random.default_rng(2)
    mu = rng.standard_normal((40000, 4)) * signal_sd + rng.standard_normal(4)
    r_signal = [scipy.stats.pearsonr(mu[:, j], x.mean(axis=0)[:, j])[0] for j in range(3)]
    np.testing.assert_allclose(noise_ceiling(x, "r")[:3], r_signal, atol=0.02)
    rel = split_half_reliability(x, n_splits=5, seed=0)
    np.testing.assert_allclose(rel, ev_true, atol=0.02)
    rel_oe = split_half_reliability(x, method="odd-even")
    np.testing.assert_allclose(rel_oe, ev_true, atol=0.02)


def _loop_split_half(x, halves, spearman_brown=True):
    out = np.empty(x.shape[2])
    for v in range(x.shape[2]):
        rs = []
        for a, b in halves:
            rs.append(scipy.stats.pearsonr(x[a, :, v].mean(0), x[b, :, v].mean(0))[0])
        r = np.mean(rs)
        out[v] = 2 * r / (1 + r) if spearman_brown else r
    return out


def test_split_half_matches_loop():
    x = _simulate(5, 12, [1.0, 0.3, 0.0], [1.0, 1.0, 1.0], seed=3)
    rng = np.random.default_rng(7)
    halves = []
    for _ in range(6):
        order = rng.permutation(5)
        halves.append((np.sort(order[:2]), np.sort(order[2:])))
    got = split_half_reliability(x, n_splits=6, seed=7, batch_size=2)
    np.testing.assert_allclose(got, _loop_split_half(x, halves), rtol=1e-10)
    raw = split_half_reliability(x, n_splits=6, seed=7, spearman_brown=False)
    np.testing.assert_allclose(raw, _loop_split_half(x, halves, False), rtol=1e-10)
    oe = split_half_reliability(x, method="odd-even")
    np.testing.assert_allclose(oe, _loop_split_half(x, [([0, 2, 4], [1, 3])]), rtol=1e-10)
    np.testing.assert_allclose(got, split_half_reliability(x, n_splits=6, seed=7), rtol=1e-13)


def test_undefined_voxels_are_nan():
    x = _simulate(3, 10, [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0], seed=4)
    x[:, :, 1] = 2.0  # constant
    x[1, 4, 2] = np.inf  # not a measurement
    signal, noise = signal_noise_variance(x)
    assert np.isnan(signal[[1, 2]]).all() and np.isnan(noise[[1, 2]]).all()
    assert noise[3] == 0 and ncsnr(x)[3] == np.inf
    assert noise_ceiling(x)[3] == 1.0
    for f in (ncsnr, explainable_variance, noise_ceiling, response_noise_ceiling):
        out = f(x)
        assert np.isnan(out[[1, 2]]).all() and not np.isnan(out[[0, 3]]).any()
    assert np.isnan(split_half_reliability(x, n_splits=3)[[1, 2]]).all()
    gone = x.copy()
    gone[:, 4, 0] = np.nan  # a stimulus without any measurement
    once = x[:2].copy()
    once[1, :, 0] = np.nan  # no stimulus measured twice
    assert np.isnan(signal_noise_variance(gone)[0][0]) and np.isnan(noise_ceiling(once)[0])
    no_signal = _simulate(2, 50, [0.0], [1.0], seed=5)
    assert explainable_variance(no_signal)[0] >= 0


def test_normalized_score():
    score = np.array([0.2, 0.4, 0.3, np.nan, 0.1])
    ceiling = np.array([0.4, 0.5, 0.0, 0.5, np.nan])
    np.testing.assert_allclose(normalized_score(score, ceiling), [0.5, 0.8, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(
        normalized_score(score, ceiling, min_ceiling=0.45), [np.nan, 0.8, np.nan, np.nan, np.nan]
    )
    assert normalized_score(0.3, 0.6) == 0.5
    # NaN at or below the default floor; capped at 1 above the ceiling, and counted
    assert MIN_CEILING == 0.2 and np.isnan(normalized_score(0.05, 0.2))
    score, ceiling = np.array([0.5, 0.9, 0.3, 0.2]), np.array([0.6, 0.8, 0.25, 0.15])
    np.testing.assert_allclose(normalized_score(score, ceiling), [0.5 / 0.6, 1.0, 1.0, np.nan])
    assert count_above_ceiling(score, ceiling) == 2
    assert count_above_ceiling(score, ceiling, min_ceiling=0.0) == 3


def _signal_and_sessions(rng, n_rep, n_stim, n_vox, signal_sd, noise_sd, offset_sd, gain_sd):
    mu = rng.standard_normal((n_stim, n_vox)) * signal_sd
    noise = rng.standard_normal((n_rep, n_stim, n_vox)) * noise_sd
    gains = np.exp(rng.normal(0.0, gain_sd, (n_rep, 1, n_vox)))
    offsets = rng.normal(0.0, offset_sd, (n_rep, 1, n_vox))
    return mu, gains * (mu + noise) + offsets


def test_zscore_sessions_matches_scipy_and_keeps_padding():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 20, 5)) * 3 + 1
    x[2, 4:9, 1] = np.nan
    expected = scipy.stats.zscore(x, axis=1, nan_policy="omit")
    np.testing.assert_allclose(zscore_sessions(x), expected, rtol=1e-12, atol=1e-12)
    x[0, :, 3] = 5.0  # a constant session: undefined
    assert np.isnan(zscore_sessions(x)[0, :, 3]).all()


def test_session_offsets_and_gains_need_zscoring():
    """The measured defect: offsets per session dropped the ceiling from 0.756 to 0.66."""
    rng = np.random.default_rng(1)
    truth = np.sqrt(1.0 / (1.0 + 1.5**2 / 3))  # signal sd 1, noise sd 1.5, 3 repeats: 0.756
    _, x = _signal_and_sessions(rng, 3, 4000, 40, 1.0, 1.5, offset_sd=0.7, gain_sd=0.2)
    raw = np.median(response_noise_ceiling(x))
    z = np.median(response_noise_ceiling(zscore_sessions(x)))
    assert raw < truth - 0.05
    assert abs(z - truth) < 0.02, (z, truth)
    # without session effects z-scoring costs nothing
    _, clean = _signal_and_sessions(rng, 3, 4000, 40, 1.0, 1.5, offset_sd=0.0, gain_sd=0.0)
    a, b = response_noise_ceiling(clean), response_noise_ceiling(zscore_sessions(clean))
    assert np.abs(a - b).max() < 0.01 and abs(np.median(b) - truth) < 0.02


def _unequal(rng, n_stim, n_vox, signal_sd, noise_sd):
    """NSD-like repeats: 1-3 per stimulus, NaN-padded to 3."""
    mu, x = _signal_and_sessions(rng, 3, n_stim, n_vox, signal_sd, noise_sd, 0.0, 0.0)
    counts = rng.integers(1, 4, n_stim)
    x[np.arange(3)[:, None] >= counts[None, :]] = np.nan
    return mu, x, counts


def test_unequal_repeats_closed_form_and_loop():
    rng = np.random.default_rng(2)
    _, x, counts = _unequal(rng, 9, 3, 1.0, 1.0)
    assert (repeat_counts(x) == counts[:, None]).all()
    signal, noise = signal_noise_variance(x)
    for v in range(3):  # a loop over stimuli, straight from the formulas
        ss = sum(np.nansum((x[:, s, v] - np.nanmean(x[:, s, v])) ** 2) for s in range(9))
        n_noise = ss / (counts - 1).sum()
        means = np.nanmean(x[:, :, v], axis=0)
        n_signal = np.var(means, ddof=1) - n_noise * np.mean(1.0 / counts)
        assert noise[v] == pytest.approx(n_noise, rel=1e-12)
        assert signal[v] == pytest.approx(n_signal, rel=1e-12)
        # NSD's formula with A, B, C stimuli of 3, 2, 1 repeats
        a, b, c = (counts == 3).sum(), (counts == 2).sum(), (counts == 1).sum()
        nc = max(n_signal, 0) / n_noise
        nsd = nc / (nc + (a / 3 + b / 2 + c / 1) / (a + b + c))
        assert explainable_variance(x)[v] == pytest.approx(nsd, rel=1e-12)


def test_unequal_repeats_ceiling_on_large_simulation():
    """The ceiling of r is the correlation of the mean response with its signal."""
    rng = np.random.default_rng(3)
    mu, x, _ = _unequal(rng, 5000, 30, 1.0, 1.2)
    mean = np.nanmean(x, axis=0)
    empirical = np.array([np.corrcoef(mu[:, v], mean[:, v])[0, 1] for v in range(30)])
    ceiling = response_noise_ceiling(x)
    assert np.abs(np.median(ceiling) - np.median(empirical)) < 0.02
    assert np.abs(ceiling - empirical).max() < 0.05
    # equal counts would be the wrong formula: it treats every mean as one of 3 repeats
    full = signal_noise_variance(x)
    wrong = np.sqrt(full[0] / (full[0] + full[1] / 3))
    assert np.median(wrong) > np.median(empirical) + 0.03


def test_roi_normalized_score_estimates_the_model_correlation():
    """A prediction correlating rho with every voxel's signal: aggregate score / ceiling = rho."""
    rng = np.random.default_rng(4)
    n_stim, n_vox, rho = 3000, 60, 0.6
    signal_sd = rng.uniform(0.3, 1.5, n_vox)  # voxels of different reliability
    mu, x = _signal_and_sessions(rng, 2, n_stim, n_vox, signal_sd, 1.0, 0.5, 0.1)
    z = zscore_sessions(x)
    ceiling = response_noise_ceiling(z)
    mu_std = (mu - mu.mean(0)) / mu.std(0)
    prediction = rho * mu_std + np.sqrt(1 - rho**2) * rng.standard_normal(mu.shape)
    mean = z.mean(axis=0)
    score = np.array([np.corrcoef(prediction[:, v], mean[:, v])[0, 1] for v in range(n_vox)])
    assert roi_normalized_score(score, ceiling) == pytest.approx(rho, abs=0.02)
    assert roi_normalized_score(score, ceiling, aggregate="median") == pytest.approx(rho, abs=0.03)
    assert np.nanmedian(normalized_score(score, ceiling)) == pytest.approx(rho, abs=0.03)
    assert np.isnan(roi_normalized_score(score, np.full(n_vox, 0.05)))
    assert np.isnan(roi_normalized_score(np.full(3, np.nan), np.ones(3)))
    with pytest.raises(InputError, match="aggregate"):
        roi_normalized_score(score, ceiling, aggregate="max")


def test_normalized_scores_on_null_data_are_unbiased():
    """No signal anywhere: normalized scores are NaN (ceiling under the floor) or near 0.

    The ceiling itself is biased upwards on pure noise (``sqrt(max(signal_var, 0))`` of an
    unbiased, symmetric estimate): its median is about 0.11 at 200 stimuli and 2 repeats.
    """
    rng = np.random.default_rng(5)
    _, x = _signal_and_sessions(rng, 2, 200, 400, 0.0, 1.0, 0.5, 0.1)
    ceiling = response_noise_ceiling(zscore_sessions(x))
    assert 0.0 < np.median(ceiling) < 0.2
    score = rng.standard_normal(400) / np.sqrt(200)
    finite = normalized_score(score, ceiling)
    finite = finite[np.isfinite(finite)]
    assert abs(np.median(finite)) < 0.1 if finite.size else True
    assert abs(roi_normalized_score(score, np.full(400, 0.5))) < 0.02


def test_bad_input():
    with pytest.raises(InputError, match=r"repeats have shape \(1, 5, 2\); expected \(n_rep >= 2"):
        noise_ceiling(np.zeros((1, 5, 2)))
    with pytest.raises(InputError, match=r"repeats have shape \(5, 2\)"):
        signal_noise_variance(np.zeros((5, 2)))
    x = np.zeros((2, 5, 2))
    with pytest.raises(InputError, match=r"metric is 'rho'; expected one of r, r2"):
        noise_ceiling(x, metric="rho")
    with pytest.raises(InputError, match=r"n_average is 0; expected an integer >= 1"):
        explainable_variance(x, n_average=0)
    with pytest.raises(InputError, match=r"batch_size is 0"):
        ncsnr(x, batch_size=0)
    with pytest.raises(InputError, match=r"method is 'halves'; expected one of random, odd-even"):
        split_half_reliability(x, method="halves")
    with pytest.raises(InputError, match=r"n_splits is 0"):
        split_half_reliability(x, n_splits=0)
    with pytest.raises(InputError, match=r"repeats have 2 stimuli; expected at least 3"):
        split_half_reliability(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match=r"score has shape \(3,\) and ceiling has shape \(2,\)"):
        normalized_score(np.zeros(3), np.ones(2))
    with pytest.raises(InputError, match=r"min_ceiling is -1; expected a number >= 0"):
        normalized_score(np.zeros(3), np.ones(3), min_ceiling=-1)
    with pytest.raises(InputError, match=r"min_ceiling is 'x'"):
        normalized_score(np.zeros(3), np.ones(3), min_ceiling="x")
