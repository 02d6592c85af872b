"""Issue 10 items 5-6 for RSA: the corrected group interval, grouped inference, the
within-subject ceiling, degenerate bootstrap draws and masked ROIs.

Arithmetic against rsatoolbox on the same draws; validity by simulation (``slow``): coverage
of the corrected two-factor interval, type-I error of grouped permutations with clustered
stimuli, and the within-subject ceiling bracketing the true model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rsatoolbox
from rsatoolbox.util.inference_util import extract_variances
from scipy.spatial.distance import pdist
from scipy.stats import binomtest

from dnnmap.rsa.analysis import COLUMNS, rsa_layer_table, summarize_rsa
from dnnmap.rsa.bootstrap import (
    bootstrap_counts,
    bootstrap_samples,
    bootstrap_similarity,
    corrected_variance,
    dual_bootstrap,
)
from dnnmap.rsa.inference import permutation_test, rdm_noise_ceiling, similarity
from dnnmap.rsa.plots import plot_rsa_profiles
from dnnmap.stats.permutations import permutations

RSA_NAME = {"pearson": "corr", "spearman": "spearman", "cosine": "cosine", "rho-a": "rho-a"}
SETTINGS = {"comparison": "spearman", "n_perm": 99, "n_boot": 50, "ci": 0.95, "seed": 2}


def rdms(n=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 6))
    return np.array([pdist(base + 0.8 * rng.standard_normal((n, 6))) for _ in range(k)])


def rsa_rdms(v):
    return rsatoolbox.rdm.RDMs(np.atleast_2d(v))


# --- degenerate draws (issue item 6) -----------------------------------------------------------


@pytest.mark.parametrize("n", [4, 5, 6])
def test_rho_a_bootstrap_at_small_n_drops_draws_with_fewer_than_3_stimuli(n):
    """Was a NaN interval: a draw of 1-2 distinct stimuli has no comparison."""
    X = rdms(n, 2, seed=n)
    res = bootstrap_similarity(X[0], X[1], "rho-a", n_boot=300, seed=1)
    stim, _ = bootstrap_samples(n, 1, 300, "stimuli", seed=1)
    valid = np.array([len(np.unique(s)) >= 3 for s in stim])
    assert 0 < valid.sum() < 300 and res.n_valid == valid.sum()
    assert np.isnan(res.samples[~valid]).all() and np.isfinite(res.samples[valid]).all()
    assert np.isfinite(res.low).all() and np.isfinite(res.high).all()
    np.testing.assert_allclose(
        [res.low[0], res.high[0]], np.quantile(res.samples[valid, 0], [0.025, 0.975])
    )
    for idx, sample in zip(stim[valid][:20], res.samples[valid][:20, 0], strict=True):
        a, b = (rsa_rdms(x).subsample_pattern("index", idx) for x in X)
        assert sample == pytest.approx(rsatoolbox.rdm.compare(a, b, "rho-a")[0, 0], abs=1e-12)


# --- the corrected two-factor bootstrap (issue item 5) ----------------------------------------


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_dual_bootstrap_equals_rsatoolbox_on_the_same_draws(method):
    """rsatoolbox's eval_dual_bootstrap evaluations (both factors, subjects, stimuli) on our
    draws, turned into a variance by its extract_variances: the same numbers."""
    n, n_subj, B = 10, 5, 40
    X = rdms(n, 2 + n_subj, seed=7)
    models, brains = X[:2], X[2:]
    res = dual_bootstrap(models, brains, method, n_boot=B, ci=0.9, seed=4)
    stim, subj = bootstrap_samples(n, n_subj, B, "both", seed=4)
    evals = np.zeros((B, 2, 3))
    for b in range(B):
        data, model = rsa_rdms(brains), rsa_rdms(models)
        sample = data.subsample("index", subj[b]).subsample_pattern("index", stim[b])
        pattern = data.subsample_pattern("index", stim[b])
        m_sample = model.subsample_pattern("index", stim[b])
        compare = rsatoolbox.rdm.compare
        evals[b, :, 0] = compare(m_sample, sample, RSA_NAME[method]).mean(axis=1)
        evals[b, :, 1] = compare(model, data.subsample("index", subj[b]), RSA_NAME[method]).mean(1)
        evals[b, :, 2] = compare(m_sample, pattern, RSA_NAME[method]).mean(axis=1)
    assert res.n_valid == B  # n = 10: every draw has >= 3 stimuli
    cov = np.stack([np.cov(evals[:, :, k].T) for k in range(3)])  # (3, m, m), ddof 1
    ref, _, _ = extract_variances(cov, nc_included=False, n_rdm=n_subj, n_pattern=n)
    np.testing.assert_allclose(res.variance, ref, rtol=1e-10)
    np.testing.assert_allclose(res.var_both, cov[0].diagonal(), rtol=1e-10)
    np.testing.assert_allclose(res.var_subjects, cov[1].diagonal(), rtol=1e-10)
    np.testing.assert_allclose(res.var_stimuli, cov[2].diagonal(), rtol=1e-10)
    from scipy.stats import t

    half = t.ppf(0.95, min(n, n_subj) - 1) * np.sqrt(ref)
    estimate = similarity(models, brains, method).mean(axis=1)
    np.testing.assert_allclose(res.low, estimate - half, rtol=1e-10)
    np.testing.assert_allclose(res.high, estimate + half, rtol=1e-10)


def test_corrected_variance_is_clipped_like_rsatoolbox():
    from rsatoolbox.util.inference_util import _dual_bootstrap as rsa_dual

    rng = np.random.default_rng(0)
    v = rng.uniform(0.001, 0.02, (3, 50))
    np.testing.assert_allclose(corrected_variance(v[0], v[1], v[2], 6, 30), rsa_dual(v, 6, 30))


def _population(rng, n_stim, n_subj, p=8):
    """A model RDM and subjects' RDMs: patterns X (stimuli) seen by subjects with their own
    read-out and noise; new stimuli and new subjects in every call."""
    X = rng.standard_normal((n_stim, p))
    model = pdist(X @ (np.eye(p) + 0.7 * rng.standard_normal((p, p))) / 2, "correlation")
    brains = []
    for _ in range(n_subj):
        W = np.eye(p) + 0.6 * rng.standard_normal((p, p))
        brains.append(pdist(X @ W + 1.2 * rng.standard_normal((n_stim, p)), "correlation"))
    return model, np.array(brains)


@pytest.mark.slow
def test_dual_bootstrap_interval_covers_the_truth_at_its_nominal_rate():
    """Coverage over new stimuli and subjects; the uncorrected two-factor percentile interval
    is wider than nominal (what the correction is for). With few stimuli (16) the stimulus
    bootstrap overstates the variance and the interval is conservative (coverage ~1)."""
    rng = np.random.default_rng(11)
    n_stim, n_subj, n_sim = 40, 8, 300
    truth_runs = [
        similarity(*_population(rng, n_stim, n_subj), "pearson").mean() for _ in range(2000)
    ]
    truth = float(np.mean(truth_runs))
    covered = naive = 0
    estimates, variances, both = [], [], []
    for k in range(n_sim):
        model, brains = _population(rng, n_stim, n_subj)
        res = dual_bootstrap(model, brains, "pearson", n_boot=200, seed=k)
        covered += res.low[0] <= truth <= res.high[0]
        estimates.append(res.estimate[0])
        variances.append(res.variance[0])
        both.append(res.var_both[0])
        plain = bootstrap_similarity(model, brains, "pearson", 200, "both", seed=k)
        naive += plain.low[0] <= truth <= plain.high[0]
    rate = covered / n_sim
    print(
        f"\ncoverage corrected {rate:.3f}, plain two-factor percentile {naive / n_sim:.3f}; "
        f"variance of the estimate {np.var(estimates, ddof=1):.5f}, mean corrected "
        f"{np.mean(variances):.5f}, mean two-factor {np.mean(both):.5f}; truth {truth:.3f}"
    )
    assert 0.90 <= rate <= 0.99
    # the correction removes the doubly counted interaction of the two sampling errors
    assert np.mean(variances) < np.mean(both)
    assert 0.7 < np.mean(variances) / np.var(estimates, ddof=1) < 1.4


# --- grouped (clustered) stimuli ---------------------------------------------------------------


def test_grouped_bootstrap_draws_whole_groups():
    groups = np.repeat(["a", "b", "c", "d"], [3, 2, 4, 3])
    counts, subj = bootstrap_counts(12, 3, 50, "both", seed=1, groups=groups)
    assert counts.shape == (50, 12) and subj.shape == (50, 3)
    for label in "abcd":
        block = counts[:, groups == label]
        assert (block == block[:, :1]).all()  # a group is in or out as a whole
    assert (counts[:, groups == "a"][:, 0] + counts[:, groups == "b"][:, 0]).max() <= 4
    # the group-count total: 4 groups drawn with replacement
    per_group = np.stack([counts[:, groups == g][:, 0] for g in "abcd"], 1)
    assert (per_group.sum(1) == 4).all()
    plain, _ = bootstrap_counts(12, 3, 50, "both", seed=1)
    stim, _ = bootstrap_samples(12, 3, 50, "both", seed=1)
    np.testing.assert_array_equal(plain, [np.bincount(s, minlength=12) for s in stim])


def test_rsa_table_groups_permute_within_groups_and_bootstrap_groups():
    X = rdms(12, 3, seed=3)
    groups = np.repeat(["a", "b", "c"], 4)
    table = rsa_layer_table(X[:2], ["l1", "l2"], X[2:], 0, SETTINGS, groups=groups)
    perms = permutations(12, 99, 2, groups=groups, draw="shuffle")
    assert (groups[perms] == groups).all()
    ref = permutation_test(X[:2], X[2], "spearman", permutations=perms)
    np.testing.assert_allclose(table["p"], ref.pvalue)
    boot = bootstrap_similarity(X[:2], X[2], "spearman", 50, "stimuli", 0.95, 2, groups=groups)
    np.testing.assert_allclose(table["ci_low"], boot.low)
    plain = rsa_layer_table(X[:2], ["l1", "l2"], X[2:], 0, SETTINGS)
    ungrouped = permutation_test(X[:2], X[2], "spearman", n_perm=99, seed=2)
    np.testing.assert_allclose(plain["p"], ungrouped.pvalue)  # same null as before, no groups


def _clustered(rng, n_groups=6, per=5, p=6):
    """Model and brain share a group structure but nothing within groups (the null)."""
    centers = rng.standard_normal((n_groups, p)) * 1.5
    g = np.repeat(np.arange(n_groups), per)
    model = pdist(centers[g] + rng.standard_normal((len(g), p)))
    brain = pdist(centers[g] + rng.standard_normal((len(g), p)))
    return model, brain, g


@pytest.mark.slow
def test_grouped_permutations_hold_the_type_i_error_with_clustered_stimuli():
    rng = np.random.default_rng(5)
    n_sim, alpha = 400, 0.05
    grouped = plain = 0
    for k in range(n_sim):
        model, brain, g = _clustered(rng)
        perms = permutations(len(g), 199, k, groups=g, draw="shuffle")
        grouped += permutation_test(model, brain, permutations=perms).pvalue[0] <= alpha
        plain += permutation_test(model, brain, n_perm=199, seed=k).pvalue[0] <= alpha
    ci = binomtest(int(alpha * n_sim), n_sim).proportion_ci(0.95)
    print(f"\ntype-I grouped {grouped / n_sim:.3f}, ungrouped {plain / n_sim:.3f}")
    assert grouped / n_sim <= ci.high  # at or below nominal
    assert plain / n_sim > 0.5  # why groups matter: the shared cluster structure


# --- within-subject ceiling from repeats --------------------------------------------------------


def test_within_subject_ceiling_is_the_ceiling_over_repeat_rdms():
    X = rdms(10, 6, seed=9)
    table = rsa_layer_table(X[:2], ["l1", "l2"], X[2:3], 0, SETTINGS, repeat_rdms=X[3:])
    ceiling = rdm_noise_ceiling(X[3:], "spearman")
    assert set(table["nc_within_lower"]) == {ceiling.lower}
    assert set(table["nc_within_upper"]) == {ceiling.upper}
    assert table["nc_lower"].isna().all()  # one subject: no between-subject ceiling
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling

    lower, upper = boot_noise_ceiling(rsa_rdms(X[3:]), method="spearman")
    assert ceiling.lower == pytest.approx(lower, abs=1e-12)
    assert ceiling.upper == pytest.approx(upper, abs=1e-12)


@pytest.mark.slow
def test_within_subject_ceiling_brackets_the_true_model():
    """The true RDM's similarity with single-repeat RDMs lies between the bounds on average."""
    rng = np.random.default_rng(8)
    true, lows, highs = [], [], []
    for _ in range(200):
        signal = rng.standard_normal((20, 30))
        truth = pdist(signal, "correlation")
        reps = np.array(
            [pdist(signal + 1.5 * rng.standard_normal((20, 30)), "correlation") for _ in range(4)]
        )
        c = rdm_noise_ceiling(reps, "pearson")
        lows.append(c.lower)
        highs.append(c.upper)
        true.append(similarity(truth, reps, "pearson").mean())
    print(
        f"\nwithin ceiling lower {np.mean(lows):.3f} true {np.mean(true):.3f} upper "
        f"{np.mean(highs):.3f}"
    )
    assert np.mean(lows) < np.mean(true) < np.mean(highs)


# --- masked ROIs (issue item 6) ----------------------------------------------------------------


def test_masked_roi_gives_a_nan_row_and_the_summary_and_figure_cope(tmp_path):
    X = rdms(10, 4, seed=2)
    brains = X[2:].copy()
    brains[0] = np.nan
    table = rsa_layer_table(
        X[:2], ["l1", "l2"], brains, 0, SETTINGS, n_masked=40, note="1 of 41 voxels left"
    )
    assert list(table.columns) == list(COLUMNS)
    assert table[["r", "p", "ci_low", "ci_high"]].isna().all().all()
    assert set(table["note"]) == {"1 of 41 voxels left"} and set(table["n_masked"]) == {40}
    other = rsa_layer_table(X[:2], ["l1", "l2"], brains, 1, SETTINGS)
    assert other["r"].notna().all() and other["nc_lower"].isna().all()  # 1 finite subject
    paths = []
    for name, t in (("a", table), ("b", other)):
        paths.append(tmp_path / f"{name}.tsv")
        t.to_csv(paths[-1], sep="\t", index=False)
    jobs = [{"subject": s, "model": "m", "roi": "V1"} for s in ("s1", "s2")]
    summary = summarize_rsa(paths, jobs)
    assert summary.loc[summary["subject"] == "s1", "q"].isna().all()
    assert summary.loc[summary["subject"] == "s2", "q"].notna().all()
    fig = plot_rsa_profiles(summary, {"m": ["l1", "l2"]})
    assert len(fig.axes) == 1
    pd.testing.assert_series_equal(
        summary["n_masked"], pd.Series([40, 40, 0, 0]), check_names=False
    )
