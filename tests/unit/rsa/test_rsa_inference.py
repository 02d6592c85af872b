"""RSA permutations, bootstrap and noise ceilings vs scipy, rsatoolbox and brute force."""

import math

import numpy as np
import pytest
import rsatoolbox
from scipy.spatial.distance import pdist, squareform
from scipy.stats import false_discovery_control, pearsonr, spearmanr

from dnnmap.errors import InputError
from dnnmap.rsa import inference as rsa_inference
from dnnmap.rsa.bootstrap import bootstrap_samples, bootstrap_similarity
from dnnmap.rsa.inference import (
    fdr_layers_rois,
    permutation_test,
    permute_rdm,
    permuted_pair_index,
    pool_rdms,
    rdm_noise_ceiling,
    similarity,
    unit_vectors,
)
from dnnmap.stats.permutations import exact_permutations, permutations

RSA_NAME = {"pearson": "corr", "spearman": "spearman", "cosine": "cosine", "rho-a": "rho-a"}


def rdms(n=12, k=3, seed=0, ties=False):
    """k correlated condensed RDMs (pdist of noisy shared patterns) of n stimuli."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 6))
    out = np.array([pdist(base + 0.8 * rng.standard_normal((n, 6))) for _ in range(k)])
    return np.round(out, 1) if ties else out


def perms_of(n, seed, n_perm=100):
    return permutations(n, n_perm, seed=seed, draw="shuffle")


def permuted_square(v, perm):
    return squareform(v)[np.ix_(perm, perm)]


def rsa_rdms(v):
    return rsatoolbox.rdm.RDMs(np.atleast_2d(v))


# --- similarity -------------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_similarity_matches_scipy_and_rsatoolbox(ties):
    X = rdms(10, 4, ties=ties)
    S = similarity(X[:2], X[2:], "spearman")
    P = similarity(X[:2], X[2:], "pearson")
    C = similarity(X[:2], X[2:], "cosine")
    for a in range(2):
        for b in range(2):
            assert S[a, b] == pytest.approx(spearmanr(X[a], X[2 + b])[0], abs=1e-12)
            assert P[a, b] == pytest.approx(pearsonr(X[a], X[2 + b])[0], abs=1e-12)
            cos = X[a] @ X[2 + b] / np.linalg.norm(X[a]) / np.linalg.norm(X[2 + b])
            assert C[a, b] == pytest.approx(cos, abs=1e-12)
    for method, name in RSA_NAME.items():
        ref = rsatoolbox.rdm.compare(rsa_rdms(X[:2]), rsa_rdms(X[2:]), method=name)
        np.testing.assert_allclose(similarity(X[:2], X[2:], method), ref, atol=1e-12)


def test_unit_vectors_of_constant_rdm_give_zero():
    u = unit_vectors(np.ones((1, 6)), "pearson")
    np.testing.assert_array_equal(u, 0.0)


# --- permutations -----------------------------------------------------------------------------


def test_permuted_pair_index_matches_squareform_and_rsatoolbox_reorder():
    v = rdms(7, 1)[0]
    perms = permutations(7, 5, seed=3, draw="shuffle")
    index = permuted_pair_index(perms)
    for perm, idx in zip(perms, index, strict=True):
        np.testing.assert_array_equal(v[idx], squareform(permuted_square(v, perm)))
        ref = rsa_rdms(v)
        ref.reorder(perm)
        np.testing.assert_array_equal(permute_rdm(v, perm), ref.dissimilarities[0])


def test_rsa_permutations_are_seeded_permutations():
    a = permutations(9, 50, seed=1, draw="shuffle")
    np.testing.assert_array_equal(a, permutations(9, 50, seed=1, draw="shuffle"))
    assert not np.array_equal(a, permutations(9, 50, seed=2, draw="shuffle"))
    np.testing.assert_array_equal(np.sort(a, axis=1), np.tile(np.arange(9), (50, 1)))


@pytest.mark.parametrize("ties", [False, True])
def test_spearman_permutation_equals_reference_loop(ties):
    X = rdms(11, 3, seed=4, ties=ties)
    models, brain = X[:2], X[2]
    res = permutation_test(models, brain, "spearman", n_perm=300, seed=7, batch_size=64)
    perms = permutations(11, 300, seed=7, draw="shuffle")
    ref = np.array(
        [
            [spearmanr(m, squareform(permuted_square(brain, p), checks=False))[0] for m in models]
            for p in perms
        ]
    )
    np.testing.assert_allclose(res.null, ref, rtol=0, atol=1e-12)
    observed = np.array([spearmanr(m, brain)[0] for m in models])
    np.testing.assert_allclose(res.observed, observed, atol=1e-12)
    expected_p = (1 + (ref >= observed - 1e-12).sum(axis=0)) / 301
    np.testing.assert_array_equal(res.pvalue, expected_p)
    assert res.n_perm == 300 and not res.exact


@pytest.mark.parametrize("method", ["pearson", "cosine", "rho-a"])
def test_other_fast_methods_equal_rsatoolbox_on_permuted_rdms(method):
    X = rdms(9, 2, seed=5)
    res = permutation_test(X[0], X[1], method, n_perm=40, seed=2)
    ref = rsa_rdms(X[0])
    for perm, value in zip(
        permutations(9, 40, seed=2, draw="shuffle"), res.null[:, 0], strict=True
    ):
        brain = rsa_rdms(X[1])
        brain.reorder(perm)
        expected = rsatoolbox.rdm.compare(ref, brain, method=RSA_NAME[method])[0, 0]
        assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n", [4, 5])
def test_exact_distribution_enumerates_all_permutations(n):
    X = rdms(n, 2, seed=n)
    res = permutation_test(X[0], X[1], "spearman", exact=True)
    perms = list(__import__("itertools").permutations(range(n)))
    assert res.n_perm == math.factorial(n) == len(perms) and res.exact
    ref = np.array([spearmanr(X[0], squareform(permuted_square(X[1], p)))[0] for p in perms])
    np.testing.assert_allclose(res.null[:, 0], ref, atol=1e-12)
    observed = spearmanr(X[0], X[1])[0]
    assert res.pvalue[0] == pytest.approx((ref >= observed - 1e-12).mean(), abs=0)
    np.testing.assert_array_equal(exact_permutations(n)[0], np.arange(n))


def test_monte_carlo_pvalue_converges_to_exact():
    X = rdms(5, 2, seed=11)
    exact = permutation_test(X[0], X[1], "pearson", exact=True).pvalue[0]
    mc = permutation_test(X[0], X[1], "pearson", n_perm=20000, seed=0).pvalue[0]
    assert abs(mc - exact) < 4 * math.sqrt(exact * (1 - exact) / 20000) + 1e-4


def test_permutation_is_reproducible_and_block_independent(monkeypatch):
    X = rdms(10, 3, seed=8)
    a = permutation_test(X[:2], X[2], n_perm=100, seed=5, batch_size=7)
    b = permutation_test(X[:2], X[2], n_perm=100, seed=5)
    np.testing.assert_allclose(a.null, b.null, atol=1e-14)
    monkeypatch.setattr(rsa_inference, "CPU_BLOCK", 40)  # one row per block
    c = permutation_test(X[:2], X[2], n_perm=100, seed=5)
    np.testing.assert_allclose(c.null, b.null, atol=1e-14)
    ref = [similarity(X[:2], permute_rdm(X[2], p), "spearman")[:, 0] for p in perms_of(10, 5)]
    np.testing.assert_allclose(c.null, ref, atol=1e-14)
    f32 = permutation_test(X[:2], X[2], n_perm=100, seed=5, dtype="float32")
    np.testing.assert_allclose(f32.null, b.null, atol=1e-6)
    c = permutation_test(X[:2], X[2], n_perm=100, seed=6)
    assert not np.allclose(c.null, b.null)


@pytest.mark.parametrize("tail", ["less", "two-sided"])
def test_permutation_tails(tail):
    X = rdms(8, 2, seed=9)
    res = permutation_test(X[0], X[1], "pearson", n_perm=200, seed=1, tail=tail)
    null, obs = res.null[:, 0], res.observed[0]
    less = (1 + (null <= obs + 1e-12).sum()) / 201
    greater = (1 + (null >= obs - 1e-12).sum()) / 201
    expected = less if tail == "less" else min(1.0, 2 * min(less, greater))
    assert res.pvalue[0] == pytest.approx(expected, abs=1e-15)


def test_torch_cpu_gather_equals_numpy():
    pytest.importorskip("torch")
    X = rdms(9, 2, seed=12)
    a = permutation_test(X[0], X[1], n_perm=30, seed=3, device="cpu")
    b = permutation_test(X[0], X[1], n_perm=30, seed=3)
    np.testing.assert_allclose(a.null, b.null, atol=1e-13)


@pytest.mark.parametrize("method", ["tau-a", "tau-b", "corr_cov", "cosine_cov"])
def test_slow_path_methods_match_rsatoolbox(method):
    X = rdms(7, 2, seed=13)
    res = permutation_test(X[0], X[1], method, n_perm=10, seed=4, batch_size=3)
    assert res.method == ("kendall" if method == "tau-b" else method)
    for perm, value in zip(
        permutations(7, 10, seed=4, draw="shuffle"), res.null[:, 0], strict=True
    ):
        brain = rsa_rdms(X[1])
        brain.reorder(perm)
        ref = rsatoolbox.rdm.compare(rsa_rdms(X[0]), brain, method=method)[0, 0]
        assert value == pytest.approx(ref, abs=1e-9)


# --- bootstrap --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["spearman", "pearson", "cosine", "rho-a"])
def test_stimulus_bootstrap_equals_rsatoolbox_subsample_pattern(method):
    X = rdms(9, 4, seed=14, ties=method == "spearman")
    res = bootstrap_similarity(X[:2], X[2:], method, n_boot=12, seed=3, batch_size=5)
    stim, subj = bootstrap_samples(9, 2, 12, "stimuli", seed=3)
    assert subj is None
    models, brains = rsa_rdms(X[:2]), rsa_rdms(X[2:])
    for idx, sample in zip(stim, res.samples, strict=True):
        a = models.subsample_pattern("index", idx)
        b = brains.subsample_pattern("index", idx)
        ref = rsatoolbox.rdm.compare(a, b, method=RSA_NAME[method]).mean(axis=1)
        np.testing.assert_allclose(sample, ref, atol=1e-12)
    low, high = np.quantile(res.samples, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(res.low, low, rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.high, high, rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.estimate, similarity(X[:2], X[2:], method).mean(1))


@pytest.mark.parametrize("method", ["tau-b", "tau-a"])
def test_stimulus_bootstrap_kendall_slow_path(method):
    X = rdms(7, 2, seed=19, ties=True)
    res = bootstrap_similarity(X[0], X[1], method, n_boot=4, seed=5)
    stim, _ = bootstrap_samples(7, 1, 4, "stimuli", seed=5)
    for idx, sample in zip(stim, res.samples[:, 0], strict=True):
        a = rsa_rdms(X[0]).subsample_pattern("index", idx)
        b = rsa_rdms(X[1]).subsample_pattern("index", idx)
        assert sample == pytest.approx(rsatoolbox.rdm.compare(a, b, method)[0, 0], abs=1e-12)


def test_subject_and_joint_bootstrap():
    X = rdms(8, 5, seed=15)
    full = similarity(X[:2], X[2:], "spearman")  # (2, 3)
    res = bootstrap_similarity(X[:2], X[2:], n_boot=20, over="subjects", seed=1, ci=0.9)
    _, subj = bootstrap_samples(8, 3, 20, "subjects", seed=1)
    np.testing.assert_allclose(res.samples, full[:, subj].mean(axis=2).T, atol=1e-14)
    np.testing.assert_allclose(res.low, np.quantile(res.samples, 0.05, axis=0), atol=1e-15)
    both = bootstrap_similarity(X[:2], X[2:], "pearson", n_boot=6, over="both", seed=2)
    stim, subj = bootstrap_samples(8, 3, 6, "both", seed=2)
    for k in range(6):
        a = rsa_rdms(X[:2]).subsample_pattern("index", stim[k])
        b = rsa_rdms(X[2:][subj[k]]).subsample_pattern("index", stim[k])
        ref = rsatoolbox.rdm.compare(a, b, method="corr").mean(axis=1)
        np.testing.assert_allclose(both.samples[k], ref, atol=1e-12)


def test_bootstrap_is_seeded():
    X = rdms(8, 2, seed=16)
    a = bootstrap_similarity(X[0], X[1], n_boot=30, seed=9)
    b = bootstrap_similarity(X[0], X[1], n_boot=30, seed=9, batch_size=4)
    np.testing.assert_allclose(a.samples, b.samples, atol=1e-14)
    assert a.samples.shape == (30, 1) and a.low[0] <= a.estimate[0] <= a.high[0]


# --- noise ceiling, pooling, FDR --------------------------------------------------------------


@pytest.mark.parametrize("method", ["spearman", "pearson", "cosine", "rho-a"])
def test_noise_ceiling_equals_rsatoolbox_boot_noise_ceiling(method):
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling
    from rsatoolbox.util.inference_util import pool_rdm

    X = rdms(10, 4, seed=17)
    nc = rdm_noise_ceiling(X, method)
    lower, upper = boot_noise_ceiling(rsa_rdms(X), method=RSA_NAME[method])
    assert nc.lower == pytest.approx(lower, abs=1e-12)
    assert nc.upper == pytest.approx(upper, abs=1e-12)
    assert nc.lower_each.shape == (4,) and nc.lower <= nc.upper
    pooled = pool_rdm(rsa_rdms(X), method=RSA_NAME[method]).dissimilarities[0]
    np.testing.assert_allclose(pool_rdms(X, method), pooled, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Noise ceiling for tau")
@pytest.mark.parametrize("method", ["tau-a", "kendall", "cosine_cov", "corr_cov"])
def test_noise_ceiling_slow_methods_equal_rsatoolbox(method):
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling

    X = rdms(8, 3, seed=20)
    nc = rdm_noise_ceiling(X, method)
    lower, upper = boot_noise_ceiling(rsa_rdms(X), method=method)
    assert (nc.lower, nc.upper) == pytest.approx((lower, upper), abs=1e-9)


def test_noise_ceiling_by_hand_for_two_subjects():
    X = rdms(8, 2, seed=18)
    nc = rdm_noise_ceiling(X, "pearson")
    assert nc.lower == pytest.approx(pearsonr(X[0], X[1])[0], abs=1e-12)
    z = (X - X.mean(1, keepdims=True)) / X.std(1, keepdims=True)
    upper = np.mean([pearsonr(z.mean(0), x)[0] for x in X])
    assert nc.upper == pytest.approx(upper, abs=1e-12)


def test_fdr_over_layers_and_rois_matches_scipy():
    p = np.random.default_rng(0).uniform(0, 0.2, (5, 4))
    q = fdr_layers_rois(p)
    np.testing.assert_allclose(q.ravel(), false_discovery_control(p.ravel()), atol=1e-15)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X: permutation_test(X[0], X[1], "kendal"), "method is 'kendal'"),
        (lambda X: permutation_test(X[0], X[1], tail="up"), "tail is 'up'"),
        (lambda X: permutation_test(X[0], X[1], dtype="float16"), "dtype is 'float16'"),
        (lambda X: permutation_test(X[0, :-1], X[1, :-1]), "expected n \\* \\(n - 1\\) / 2"),
        (lambda X: permutation_test(X[0], X[1, :15]), "model_rdms has 28 pairs"),
        (lambda X: permutation_test(X[0], X[1:]), "brain_rdm has shape"),
        (
            lambda X: permutation_test(np.r_[np.nan, X[0, 1:]], X[1]),
            "holds nan at pair 0; expected finite dissimilarities",
        ),
        (lambda X: permutation_test(X[0], X[1], n_perm=0), "n_perm is 0"),
        (lambda X: permutation_test(X[0], X[1], batch_size=0), "batch_size is 0"),
        (lambda X: permutation_test(X[0], X[1], permutations=np.zeros((3, 8))), "permutations"),
        (lambda X: exact_permutations(9), "n <= 8"),
        (lambda X: permuted_pair_index([0, 0, 1]), "expected permutations"),
        (lambda X: permute_rdm(X[0], [0, 1]), "perm has shape"),
        (lambda X: bootstrap_similarity(X[0], X[1], ci=95), "ci is 95"),
        (lambda X: bootstrap_similarity(X[0], X[1], over="rois"), "over is 'rois'"),
        (lambda X: bootstrap_similarity(X[0], X[1], over="subjects"), "1 subject"),
        (lambda X: bootstrap_similarity(X[0], X[1], "corr_cov"), "stimulus bootstrap"),
        (lambda X: bootstrap_similarity(X[0], X[1], n_boot=-1), "n_boot is -1"),
        (lambda X: rdm_noise_ceiling(X[0]), "s >= 2"),
        (lambda X: fdr_layers_rois([0.1, 0.2]), "n_layers, n_rois"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call(rdms(8, 3))
