"""RDM comparisons against rsatoolbox ``compare``, scipy.stats and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from rsatoolbox.rdm import compare as rsa_compare
from rsatoolbox.rdm.compare import _get_v
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr

import dnnmap.rsa.compare as compare_module
from dnnmap.errors import InputError
from dnnmap.rsa.compare import ALIASES, METHODS, compare, rank_rdm, standardize_rdm

N_COND = 12
N_PAIRS = N_COND * (N_COND - 1) // 2
RSA_NAME = {"pearson": "corr"}


def _rsa(a, B, method, sigma_k=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rsa_compare(a, B, RSA_NAME.get(method, method), sigma_k=sigma_k)[0]


@pytest.fixture
def rdms():
    """One RDM and five others, two of them with ties."""
    rng = np.random.default_rng(0)
    a = rng.random(N_PAIRS)
    B = rng.random((5, N_PAIRS))
    B[1] = np.round(B[1] * 4)
    B[3] = 0.3 * B[0] + rng.random(N_PAIRS)
    return a, B


def _tau_a_loop(x, y):
    """Kendall's tau-a by its definition, O(n^2)."""
    n = len(x)
    s = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            s += np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
    return s / (n * (n - 1) / 2)


def _exact_whitened(a, b, sigma_k, center):
    """a' V^-1 b / sqrt(a' V^-1 a  b' V^-1 b), V from rsatoolbox's _get_v, dense solve."""
    V = _get_v(N_COND, sigma_k).toarray()
    if center:
        a, b = a - a.mean(), b - b.mean()
    Va, Vb = np.linalg.solve(V, a), np.linalg.solve(V, b)
    return a @ Vb / np.sqrt((a @ Va) * (b @ Vb))


# --- rsatoolbox ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ties_in_a", [False, True])
def test_matches_rsatoolbox(rdms, method, ties_in_a):
    a, B = rdms
    if ties_in_a:
        a = np.round(a * 5)
    ref = _rsa(a, B, method)
    np.testing.assert_allclose(compare(a, B, method), ref, rtol=0, atol=1e-12)
    got = compare(a, B[2], method)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, ref[2], rtol=0, atol=1e-12)


def test_aliases_are_rsatoolbox_names(rdms):
    a, B = rdms
    for alias, method in ALIASES.items():
        np.testing.assert_array_equal(compare(a, B, alias), compare(a, B, method))
        np.testing.assert_allclose(compare(a, B, alias), _rsa(a, B, alias), atol=1e-12)


@pytest.mark.parametrize("method", ["corr_cov", "cosine_cov"])
def test_whitened_sigma_vector_matches_rsatoolbox(rdms, method):
    a, B = rdms
    sigma = np.random.default_rng(1).random(N_COND) + 0.5
    np.testing.assert_allclose(
        compare(a, B, method, sigma_k=sigma), _rsa(a, B, method, sigma), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("method", ["corr_cov", "cosine_cov"])
def test_whitened_sigma_matrix_exact_and_rsatoolbox(rdms, method):
    """(n, n) sigma_k: the exact V^-1 inner product; rsatoolbox solves it by CG (~1e-5)."""
    a, B = rdms
    rng = np.random.default_rng(2)
    M = rng.standard_normal((N_COND, N_COND))
    sigma = M @ M.T / N_COND + np.eye(N_COND)
    got = compare(a, B, method, sigma_k=sigma)
    exact = [_exact_whitened(a, b, sigma, method == "corr_cov") for b in B]
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got, _rsa(a, B, method, sigma), rtol=0, atol=1e-4)


@pytest.mark.parametrize("method", ["corr_cov", "cosine_cov"])
def test_whitened_identity_is_exact_v_inverse(rdms, method):
    a, B = rdms
    exact = [_exact_whitened(a, b, None, method == "corr_cov") for b in B]
    np.testing.assert_allclose(compare(a, B, method), exact, rtol=0, atol=1e-10)
    # the identity matrix gives the same as sigma_k=None
    np.testing.assert_allclose(
        compare(a, B, method, sigma_k=np.eye(N_COND)), exact, rtol=0, atol=1e-10
    )


def test_whitened_row_sums_in_blocks(rdms, monkeypatch):
    a, B = rdms
    ref = compare(a, B, "cosine_cov")
    monkeypatch.setattr(compare_module, "BATCH_BYTES", 8 * 3 * N_COND)  # blocks of 1 row
    np.testing.assert_allclose(compare(a, B, "cosine_cov"), ref, rtol=0, atol=1e-12)


# --- scipy and closed forms ---------------------------------------------------------------


def test_pearson_spearman_kendall_match_scipy(rdms):
    a, B = rdms
    for b, r, rho, tau in zip(
        B,
        compare(a, B, "pearson"),
        compare(a, B, "spearman"),
        compare(a, B, "kendall"),
        strict=True,
    ):
        np.testing.assert_allclose(r, pearsonr(a, b).statistic, atol=1e-12)
        np.testing.assert_allclose(rho, spearmanr(a, b).statistic, atol=1e-12)
        np.testing.assert_allclose(tau, kendalltau(a, b).statistic, atol=1e-12)


def test_tau_a_matches_definition(rdms):
    a, B = rdms
    a = np.round(a * 6)  # ties in both
    ref = [_tau_a_loop(a, b) for b in B]
    np.testing.assert_allclose(compare(a, B, "tau-a"), ref, rtol=0, atol=1e-12)


def test_rho_a_closed_form(rdms):
    a, B = rdms
    n = N_PAIRS
    ra, rb = rankdata(a), rankdata(B[1])
    ref = 12 * np.sum((ra - ra.mean()) * (rb - rb.mean())) / (n**3 - n)
    np.testing.assert_allclose(compare(a, B[1], "rho-a"), ref, atol=1e-12)


@pytest.mark.parametrize("n_pairs", [3, 10, 36, 78, 990])
def test_kendall_many_ties_and_lengths(n_pairs, monkeypatch):
    """Lengths that are not powers of two, heavy ties, rows processed in small batches."""
    monkeypatch.setattr(compare_module, "BATCH_BYTES", 8 * 8 * 2 * n_pairs * 2)
    rng = np.random.default_rng(n_pairs)
    a = rng.integers(0, 7, n_pairs).astype(float)
    B = rng.integers(0, 5, (7, n_pairs)).astype(float)
    B[0] = a  # perfect agreement
    B[1] = -a
    got_b, got_a = compare(a, B, "kendall"), compare(a, B, "tau-a")
    ref_b = [kendalltau(a, b).statistic for b in B]
    np.testing.assert_allclose(got_b, ref_b, rtol=0, atol=1e-12)
    if n_pairs <= 78:
        np.testing.assert_allclose(got_a, [_tau_a_loop(a, b) for b in B], atol=1e-12)


def test_rank_rdm_matches_rankdata(rdms):
    _, B = rdms
    B = np.vstack([B, np.round(B * 3)])
    np.testing.assert_array_equal(rank_rdm(B), rankdata(B, axis=1))
    np.testing.assert_array_equal(rank_rdm(B[5]), rankdata(B[5]))
    np.testing.assert_array_equal(rank_rdm(np.ones(6)), np.full(6, 3.5))


def test_standardize_gives_correlation_by_dot_product(rdms):
    a, B = rdms
    Z = standardize_rdm(B)
    np.testing.assert_allclose(Z @ standardize_rdm(a), compare(a, B, "pearson"), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0)
    np.testing.assert_allclose(
        standardize_rdm(B, center=False) @ standardize_rdm(a, center=False),
        compare(a, B, "cosine"),
        atol=1e-12,
    )
    np.testing.assert_array_equal(standardize_rdm(np.full(6, 2.0)), np.zeros(6))


def test_permuted_stimuli_keep_similarity_one(rdms):
    """An RDM compared with itself gives 1 for every method."""
    a, _ = rdms
    out = [compare(a, a, m) for m in METHODS]
    np.testing.assert_allclose(out, 1.0, atol=1e-12)


def test_constant_rdm_gives_zero(rdms):
    a, _ = rdms
    for method in METHODS:
        assert compare(a, np.zeros(N_PAIRS), method) == 0.0
        assert compare(np.zeros(N_PAIRS), a, method) == 0.0
        if method not in ("cosine", "cosine_cov"):  # a constant RDM has a direction there
            assert compare(a, np.full(N_PAIRS, 0.5), method) == 0.0
            assert compare(np.full(N_PAIRS, 0.5), a, method) == 0.0
            ref = _rsa(a, np.full((1, N_PAIRS), 0.5), method)[0]
            assert np.isnan(ref) if method == "kendall" else ref == 0.0  # scipy's NaN for tau-b


# --- bad input ----------------------------------------------------------------------------


def test_different_sizes_named(rdms):
    a, _ = rdms
    with pytest.raises(InputError, match=r"a has 66 entries \(12 stimuli\) and b has 45 entries"):
        compare(a, np.ones((2, 45)))
    with pytest.raises(InputError, match=r"b has 50 entries; expected n \* \(n - 1\) / 2"):
        compare(a, np.ones(50))


def test_bad_input(rdms):
    a, B = rdms
    with pytest.raises(InputError, match=r"method is 'pearsonr'; expected one of pearson"):
        compare(a, B, "pearsonr")
    b = B.copy()
    b[2, 7] = np.nan
    with pytest.raises(InputError, match=r"b row 2 holds nan at pair 7; expected finite"):
        compare(a, b)
    a2 = a.copy()
    a2[4] = np.inf
    with pytest.raises(InputError, match=r"a holds inf at pair 4"):
        compare(a2, B)
    with pytest.raises(InputError, match=r"a has shape \(2, 66\); expected one condensed RDM"):
        compare(B[:2], B)
    with pytest.raises(InputError, match=r"a has 1 entries; expected a condensed RDM of at least"):
        compare(np.ones(1), np.ones(1))
    with pytest.raises(InputError, match=r"b has shape \(2, 3, 66\)"):
        compare(a, np.ones((2, 3, N_PAIRS)))
    with pytest.raises(InputError, match=r"b has dtype <U1; expected numbers"):
        compare(a, np.array(["x"] * N_PAIRS))


def test_bad_sigma_k(rdms):
    a, B = rdms
    with pytest.raises(InputError, match=r"sigma_k has shape \(5,\); expected \(12,\) or"):
        compare(a, B, "corr_cov", sigma_k=np.ones(5))
    with pytest.raises(InputError, match=r"sigma_k is not positive definite"):
        compare(a, B, "cosine_cov", sigma_k=np.zeros((N_COND, N_COND)))
    with pytest.raises(InputError, match=r"sigma_k has entries <= 0"):
        compare(a, B, "cosine_cov", sigma_k=np.zeros(N_COND))
    with pytest.raises(InputError, match=r"sigma_k holds NaN or inf"):
        compare(a, B, "cosine_cov", sigma_k=np.full(N_COND, np.nan))
    with pytest.raises(InputError, match=r"sigma_k is given for method 'spearman'"):
        compare(a, B, "spearman", sigma_k=np.ones(N_COND))
