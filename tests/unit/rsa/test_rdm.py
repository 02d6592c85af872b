"""RDMs against scipy ``pdist``/``squareform``, rsatoolbox ``calc_rdm`` and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.spatial.distance as ssd
from rsatoolbox.data import Dataset
from rsatoolbox.data.noise import cov_from_residuals, prec_from_residuals
from rsatoolbox.rdm import calc_rdm
from scipy.spatial.distance import pdist
from sklearn.preprocessing import StandardScaler

import dnnmap.rsa.rdm as rdm_module
from dnnmap.errors import InputError
from dnnmap.rsa.rdm import (
    NOISE_ESTIMATORS,
    RDM_METRICS,
    SCIPY_METRICS,
    ColumnReader,
    category_rdm,
    compute_rdm,
    condense_rdm,
    n_stimuli,
    noise_covariance,
    rdm_sizes_match,
    square_rdm,
    stream_rdm,
)

TOL = 1e-10
OWN = ("correlation", "cosine", "euclidean", "sqeuclidean")


def _rsa(method, data, **kwargs):
    """rsatoolbox's condensed RDM (its warnings about descriptors are not ours to test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calc_rdm(data, method, **kwargs).dissimilarities[0]


@pytest.fixture(name="X")
def patterns():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((23, 9)) + 2.0).astype(np.float32)


@pytest.fixture
def cov():
    rng = np.random.default_rng(1)
    return np.cov(rng.standard_normal((40, 9)).T)


@pytest.fixture
def repeats():
    rng = np.random.default_rng(2)
    signal = rng.standard_normal((11, 9))
    return signal + 0.7 * rng.standard_normal((4, 11, 9))


# --- scipy pdist --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", OWN)
@pytest.mark.parametrize("device", ["numpy", "cpu"])
@pytest.mark.parametrize("block", [2048, 4, 1])
def test_metrics_match_pdist(X, metric, device, block):
    ref = pdist(X.astype(np.float64), metric)
    got = compute_rdm(X, metric, device=device, block=block)
    assert got.dtype == np.float64 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)


@pytest.mark.parametrize("device", ["numpy", "cpu"])
def test_mahalanobis_matches_pdist(X, cov, device):
    ref = pdist(X.astype(np.float64), "mahalanobis", VI=np.linalg.inv(cov))
    got = compute_rdm(X, "mahalanobis", noise=cov, device=device, block=5)
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)
    # diagonal noise given as variances
    var = np.diag(cov).copy()
    ref = pdist(X.astype(np.float64), "seuclidean", V=var)
    np.testing.assert_allclose(compute_rdm(X, "mahalanobis", noise=var), ref, atol=TOL)
    # identity noise: Euclidean
    np.testing.assert_allclose(compute_rdm(X, "mahalanobis"), pdist(X, "euclidean"), atol=1e-6)


@pytest.mark.parametrize("metric", OWN)
def test_feature_chunks_match_pdist(X, metric, monkeypatch):
    """Features read in several chunks (tiny chunk budget) give the same RDM."""
    monkeypatch.setattr(rdm_module, "CHUNK_BYTES", 8 * len(X) * 2)  # two features a chunk
    for zscore in (False, True):
        Z = StandardScaler().fit_transform(X.astype(np.float64)) if zscore else X
        got = compute_rdm(X, metric, zscore=zscore, block=6)
        np.testing.assert_allclose(got, pdist(np.asarray(Z, np.float64), metric), atol=TOL)


def test_crossnobis_feature_chunks(repeats, cov, monkeypatch):
    ref = compute_rdm(repeats, "crossnobis", noise=np.diag(np.diag(cov)))
    monkeypatch.setattr(rdm_module, "CHUNK_BYTES", 8 * 11 * 9 * 2)
    got = compute_rdm(repeats, "crossnobis", noise=np.diag(cov).copy(), block=4)
    np.testing.assert_allclose(got, ref, atol=TOL)


@pytest.mark.parametrize("metric", OWN)
def test_zscore_matches_standard_scaler(X, metric):
    Z = StandardScaler().fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(
        compute_rdm(X, metric, zscore=True), pdist(Z, metric), rtol=0, atol=TOL
    )


def test_zscore_constant_feature_is_dropped(X):
    X = X.copy()
    X[:, 3] = 5.0
    Z = StandardScaler().fit_transform(X.astype(np.float64))  # the constant column becomes 0
    np.testing.assert_allclose(compute_rdm(X, "euclidean", zscore=True), pdist(Z), atol=TOL)


def test_cancellation_large_offset():
    """Patterns far from the origin: Euclidean from norms and Gram stays accurate."""
    rng = np.random.default_rng(3)
    X = 1e4 + rng.standard_normal((15, 50))
    np.testing.assert_allclose(compute_rdm(X, "euclidean"), pdist(X), rtol=1e-9)
    np.testing.assert_allclose(compute_rdm(X, "correlation"), pdist(X, "correlation"), atol=1e-9)


def test_duplicate_patterns_give_zero(X):
    X = np.vstack([X, X[:2]])
    for metric in OWN:
        d = compute_rdm(X, metric)
        assert np.all(d >= 0)
        np.testing.assert_allclose(square_rdm(d)[0, len(X) - 2], 0.0, atol=1e-12)


def test_scipy_metric_list_is_scipy_s():
    assert tuple(ssd._METRICS_NAMES) == SCIPY_METRICS
    assert set(RDM_METRICS) - set(SCIPY_METRICS) == {"crossnobis"}


@pytest.mark.parametrize("metric", [m for m in SCIPY_METRICS if m not in RDM_METRICS])
def test_scipy_fallback_metrics(metric):
    rng = np.random.default_rng(4)
    X = rng.random((8, 6))
    if metric in ("dice", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule"):
        X = (X > 0.5).astype(np.float64)
        X[:, 0] = 1.0  # every pattern has a nonzero entry
    kwargs = {"p": 3.0} if metric == "minkowski" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pdist(X, metric, **kwargs)
        got = compute_rdm(X, metric, metric_kwargs=kwargs or None)
    np.testing.assert_allclose(got, ref, atol=TOL, equal_nan=True)


def test_scipy_fallback_zscore():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, 6))
    Z = StandardScaler().fit_transform(X)
    np.testing.assert_allclose(compute_rdm(X, "cityblock", zscore=True), pdist(Z, "cityblock"))


def test_allow_nan_matches_pdist(X):
    X = X.astype(np.float64)
    X[4] = 1.0  # constant pattern: pdist gives NaN for its pairs
    X[7] = 0.0
    for metric in ("correlation", "cosine"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = pdist(X, metric)
        got = compute_rdm(X, metric, allow_nan=True, block=3)
        assert np.isnan(got).sum() == np.isnan(ref).sum() > 0
        np.testing.assert_allclose(got, ref, atol=TOL, equal_nan=True)


@pytest.mark.parametrize("device", ["numpy", "cpu"])
def test_input_is_not_modified(X, repeats, device):
    X64 = X.astype(np.float64)
    before, reps_before = X64.copy(), repeats.copy()
    for metric in OWN:
        compute_rdm(X64, metric, device=device)
        compute_rdm(X64, metric, zscore=True, device=device)
    compute_rdm(repeats, "crossnobis", device=device)
    np.testing.assert_array_equal(X64, before)
    np.testing.assert_array_equal(repeats, reps_before)


def test_integer_data(X):
    Xi = np.round(X * 3).astype(np.int16)
    np.testing.assert_allclose(compute_rdm(Xi, "euclidean"), pdist(Xi.astype(np.float64)), atol=TOL)


# --- rsatoolbox ---------------------------------------------------------------------------


def test_rsatoolbox_euclidean_correlation(X):
    ds = Dataset(X.astype(np.float64))
    np.testing.assert_allclose(
        compute_rdm(X, "euclidean", convention="rsatoolbox"), _rsa("euclidean", ds), atol=1e-6
    )
    np.testing.assert_allclose(compute_rdm(X, "correlation"), _rsa("correlation", ds), atol=1e-6)
    # the documented relationship to scipy's Euclidean
    p = X.shape[1]
    np.testing.assert_allclose(
        compute_rdm(X, "euclidean", convention="rsatoolbox"),
        compute_rdm(X, "euclidean") ** 2 / p,
        atol=TOL,
    )
    # the other metrics do not depend on the convention
    for metric in ("correlation", "cosine", "sqeuclidean"):
        np.testing.assert_array_equal(
            compute_rdm(X, metric, convention="rsatoolbox"), compute_rdm(X, metric)
        )


def test_rsatoolbox_mahalanobis(X, cov):
    ds = Dataset(X.astype(np.float64))
    ref = _rsa("mahalanobis", ds, noise=np.linalg.inv(cov))
    got = compute_rdm(X, "mahalanobis", noise=cov, convention="rsatoolbox", block=7)
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("method", NOISE_ESTIMATORS)
def test_mahalanobis_noise_from_residuals(X, method):
    rng = np.random.default_rng(6)
    residuals = rng.standard_normal((30, X.shape[1])) * np.linspace(0.5, 2, X.shape[1])
    ds = Dataset(X.astype(np.float64))
    ref = _rsa("mahalanobis", ds, noise=prec_from_residuals(residuals, method=method))
    got = compute_rdm(X, "mahalanobis", noise=method, residuals=residuals, convention="rsatoolbox")
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("method", NOISE_ESTIMATORS)
def test_noise_covariance_matches_rsatoolbox(method):
    rng = np.random.default_rng(7)
    residuals = rng.standard_normal((25, 6)) @ rng.standard_normal((6, 6))
    np.testing.assert_allclose(
        noise_covariance(residuals, method),
        cov_from_residuals(residuals, method=method),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        noise_covariance(residuals, method, dof=20),
        cov_from_residuals(residuals, dof=20, method=method),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("method", NOISE_ESTIMATORS)
def test_noise_covariance_from_repeats(repeats, method):
    K, n, p = repeats.shape
    deviations = (repeats - repeats.mean(axis=0)).reshape(K * n, p)
    ref = cov_from_residuals(deviations, dof=(K - 1) * n, method=method)
    np.testing.assert_allclose(noise_covariance(repeats, method), ref, rtol=1e-10, atol=1e-12)


def _rsa_dataset(repeats):
    K, n, p = repeats.shape
    return Dataset(
        repeats.reshape(K * n, p),
        obs_descriptors={"conds": np.tile(np.arange(n), K), "runs": np.repeat(np.arange(K), n)},
    )


@pytest.mark.parametrize("noise", ["none", "given", "shrinkage_diag"])
def test_crossnobis_matches_rsatoolbox(repeats, cov, noise):
    ds = _rsa_dataset(repeats)
    if noise == "none":
        sigma, prec = None, None
    elif noise == "given":
        sigma, prec = cov, np.linalg.inv(cov)
    else:
        sigma = "shrinkage_diag"
        prec = np.linalg.inv(noise_covariance(repeats, "shrinkage_diag"))
    ref = _rsa("crossnobis", ds, descriptor="conds", cv_descriptor="runs", noise=prec)
    K, n, p = repeats.shape
    rows = repeats.reshape(K * n, p)
    runs = np.repeat(np.arange(K), n)
    for got in (
        compute_rdm(repeats, "crossnobis", noise=sigma, block=4),
        compute_rdm(repeats.mean(0), "crossnobis", repeats=repeats, noise=sigma),
        compute_rdm(
            rows,
            "crossnobis",
            runs=runs,
            conditions=np.tile(np.arange(n), K),
            noise=sigma,
            device="cpu",
            block=5,
        ),
    ):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_crossnobis_closed_form(repeats):
    """Mean over ordered pairs of distinct partitions of cross-products of differences / p."""
    K, n, p = repeats.shape
    ref = np.zeros(n * (n - 1) // 2)
    iu = np.triu_indices(n, 1)
    for k in range(K):
        for m in range(K):
            if k != m:
                dk = repeats[k][iu[0]] - repeats[k][iu[1]]
                dm = repeats[m][iu[0]] - repeats[m][iu[1]]
                ref += np.einsum("ij,ij->i", dk, dm)
    ref /= K * (K - 1) * p
    np.testing.assert_allclose(compute_rdm(repeats, "crossnobis"), ref, atol=1e-12)


def test_crossnobis_unbiased_under_null():
    """Pure noise: crossnobis distances scatter around 0 (some negative), unlike Euclidean."""
    rng = np.random.default_rng(8)
    noise_only = rng.standard_normal((6, 20, 200))
    d = compute_rdm(noise_only, "crossnobis")
    assert (d < 0).any() and abs(d.mean()) < 0.01
    assert compute_rdm(noise_only.mean(0), "sqeuclidean").min() > 0


def test_three_d_data_mean_rdm(repeats):
    np.testing.assert_allclose(
        compute_rdm(repeats, "correlation"), pdist(repeats.mean(0), "correlation"), atol=TOL
    )


# --- categories ---------------------------------------------------------------------------


def test_category_rdm_averages_patterns(X):
    labels = np.array(["dog", "cat", "car", "tree"] * 6)[: len(X)]
    rdm, cats = category_rdm(X, labels, "euclidean", block=2)
    assert list(cats) == ["car", "cat", "dog", "tree"]
    means = np.array([X[labels == c].astype(np.float64).mean(0) for c in cats])
    np.testing.assert_allclose(rdm, pdist(means), atol=TOL)


def test_category_crossnobis_matches_rsatoolbox():
    rng = np.random.default_rng(9)
    n_cat, n_runs, per_cell, p = 5, 3, 2, 7
    conds = np.tile(np.repeat(np.arange(n_cat), per_cell), n_runs)
    runs = np.repeat(np.arange(n_runs), n_cat * per_cell)
    data = rng.standard_normal((n_cat, p))[conds] + rng.standard_normal((len(conds), p))
    order = rng.permutation(len(conds))  # rows in any order
    data, conds, runs = data[order], conds[order], runs[order]
    ds = Dataset(data, obs_descriptors={"conds": conds, "runs": runs})
    ref = _rsa("crossnobis", ds, descriptor="conds", cv_descriptor="runs")
    rdm, cats = category_rdm(data, conds, "crossnobis", runs=runs)
    np.testing.assert_array_equal(cats, np.arange(n_cat))
    np.testing.assert_allclose(rdm, ref, atol=1e-10)
    # repeats given as 3-D data with labels per stimulus
    reps = rng.standard_normal((3, 10, p))
    labels = np.arange(10) % 4
    means = np.stack([[r[labels == c].mean(0) for c in range(4)] for r in reps])
    rdm, _ = category_rdm(reps, labels, "crossnobis")
    np.testing.assert_allclose(rdm, compute_rdm(means, "crossnobis"), atol=TOL)


# --- square / condensed -------------------------------------------------------------------


def test_square_and_condensed_match_squareform(X):
    d = pdist(X, "euclidean")
    np.testing.assert_array_equal(square_rdm(d), ssd.squareform(d))
    np.testing.assert_array_equal(condense_rdm(ssd.squareform(d)), d)
    batch = np.stack([d, 2 * d])
    np.testing.assert_array_equal(square_rdm(batch)[1], ssd.squareform(2 * d))
    np.testing.assert_array_equal(condense_rdm(square_rdm(batch)), batch)
    assert n_stimuli(len(d)) == len(X)


# --- bad input ----------------------------------------------------------------------------


def test_constant_pattern_errors(X):
    X = X.copy()
    X[5] = 3.0
    with pytest.raises(InputError, match=r"data row 5 is constant; correlation distance"):
        compute_rdm(X, "correlation")
    X[9] = -1.0
    with pytest.raises(InputError, match=r"data rows 5, 9 are constant"):
        compute_rdm(X, "correlation")
    names = [f"s{i}" for i in range(len(X))]
    with pytest.raises(InputError, match=r"data rows 's5', 's9' are constant"):
        compute_rdm(X, "correlation", row_names=names)
    X[9] = 0.0
    with pytest.raises(InputError, match=r"data row 9 is all zeros; cosine distance"):
        compute_rdm(X, "cosine")


def test_constant_category_is_named():
    data = np.array([[1.0, 2, 3], [1, 1, 1], [3, 1, 0], [0, 5, 1]])
    with pytest.raises(InputError, match=r"data row 'b' is constant"):
        category_rdm(data, ["a", "b", "c", "d"], "correlation")


def test_too_few_stimuli():
    with pytest.raises(InputError, match=r"data has 2 stimuli \(rows\); expected at least 3"):
        compute_rdm(np.eye(2, 4), "euclidean")
    with pytest.raises(InputError, match=r"labels has 2 categories; expected at least 3"):
        category_rdm(np.eye(4), [0, 0, 1, 1], "euclidean")
    with pytest.raises(InputError, match=r"data has shape \(4,\)"):
        compute_rdm(np.ones(4), "euclidean")


def test_non_finite_data(X):
    X = X.copy()
    X[3, 2] = np.nan
    with pytest.raises(InputError, match=r"data holds nan at index \(3, 2\); expected finite"):
        compute_rdm(X, "correlation")
    reps = np.zeros((2, 4, 3))
    reps[1, 2, 0] = np.inf
    with pytest.raises(InputError, match=r"data holds inf at index \(1, 2, 0\)"):
        compute_rdm(reps, "crossnobis")
    with pytest.raises(InputError, match=r"repeats holds inf at index \(1, 2, 0\)"):
        compute_rdm(np.ones((4, 3)), "crossnobis", repeats=reps)


def test_bad_arguments(X, cov):
    with pytest.raises(InputError, match=r"metric is 'pearson'; expected one of correlation"):
        compute_rdm(X, "pearson")
    with pytest.raises(InputError, match=r"convention is 'matlab'; expected one of scipy"):
        compute_rdm(X, convention="matlab")
    with pytest.raises(InputError, match=r"device is 'tpu'"):
        compute_rdm(X, device="tpu")
    for block in (0, 2.5, True):
        with pytest.raises(InputError, match=r"block is .*; expected a positive integer"):
            compute_rdm(X, block=block)
    with pytest.raises(InputError, match=r"noise is given for metric 'correlation'"):
        compute_rdm(X, "correlation", noise=cov)
    with pytest.raises(InputError, match=r"zscore=True with a noise covariance"):
        compute_rdm(X, "mahalanobis", noise=cov, zscore=True)
    with pytest.raises(InputError, match=r"noise has shape \(3, 3\); expected a covariance"):
        compute_rdm(X, "mahalanobis", noise=np.eye(3))
    with pytest.raises(InputError, match=r"noise covariance is not positive definite"):
        compute_rdm(X, "mahalanobis", noise=np.zeros((9, 9)))
    with pytest.raises(InputError, match=r"noise variance of feature 2 is 0.0"):
        compute_rdm(X, "mahalanobis", noise=np.array([1.0, 1, 0, 1, 1, 1, 1, 1, 1]))
    with pytest.raises(InputError, match=r"noise is 'ledoit'; expected one of shrinkage_diag"):
        compute_rdm(X, "mahalanobis", noise="ledoit")
    with pytest.raises(InputError, match=r"neither residuals nor repeats are given"):
        compute_rdm(X, "mahalanobis", noise="full")
    with pytest.raises(InputError, match=r"residuals have shape \(5, 4\); expected \(n_res, 9\)"):
        compute_rdm(X, "mahalanobis", noise="full", residuals=np.ones((5, 4)))
    with pytest.raises(InputError, match=r"residuals are given but noise is not an estimator"):
        compute_rdm(X, "mahalanobis", residuals=np.ones((5, 9)))
    with pytest.raises(InputError, match=r"metric_kwargs are given for metric 'euclidean'"):
        compute_rdm(X, "euclidean", metric_kwargs={"p": 2})
    with pytest.raises(InputError, match=r"scipy pdist metric 'minkowski' failed"):
        compute_rdm(X, "minkowski", metric_kwargs={"q": 2})
    with pytest.raises(InputError, match=r"row_names has 2 names; expected 23"):
        compute_rdm(X, row_names=["a", "b"])
    with pytest.raises(InputError, match=r"data has dtype <U1; expected numbers"):
        compute_rdm(np.array([["a", "b"]] * 3))


def test_crossnobis_bad_input(repeats):
    X = repeats[0]
    with pytest.raises(InputError, match=r"metric is 'crossnobis' but no repeats are given"):
        compute_rdm(X, "crossnobis")
    with pytest.raises(InputError, match=r"repeats have shape \(1, 11, 9\); expected at least 2"):
        compute_rdm(repeats[:1], "crossnobis")
    with pytest.raises(InputError, match=r"data has shape \(11, 8\) and repeats have shape"):
        compute_rdm(X[:, :8], "crossnobis", repeats=repeats)
    with pytest.raises(InputError, match=r"repeats have shape \(11, 9\); expected \(n_rep"):
        compute_rdm(X, "crossnobis", repeats=X)
    with pytest.raises(InputError, match=r"runs are given for metric 'euclidean'"):
        compute_rdm(X, "euclidean", runs=np.zeros(11))
    with pytest.raises(InputError, match=r"run 0 has 2 rows of stimulus 0; expected every"):
        compute_rdm(
            X,
            "crossnobis",
            runs=np.r_[np.zeros(7, int), np.ones(4, int)],
            conditions=np.r_[np.arange(7) % 4, np.arange(4)],
        )
    with pytest.raises(InputError, match=r"run 0 has no row of stimulus 'd'"):
        compute_rdm(X[:6], "crossnobis", runs=[0, 0, 0, 1, 1, 1], conditions=list("abcabd"))
    with pytest.raises(InputError, match=r"runs are given without conditions"):
        compute_rdm(X, "crossnobis", runs=np.r_[np.zeros(6, int), np.ones(5, int)])
    with pytest.raises(InputError, match=r"conditions are given without runs"):
        compute_rdm(X, "crossnobis", repeats=np.stack([X, X]), conditions=np.arange(11))
    with pytest.raises(InputError, match=r"runs has 1 distinct label; expected at least 2"):
        compute_rdm(X, "crossnobis", runs=np.zeros(11), conditions=np.arange(11))
    with pytest.raises(InputError, match=r"runs has shape \(3,\); expected \(11,\)"):
        compute_rdm(X, "crossnobis", runs=np.zeros(3))
    with pytest.raises(InputError, match=r"category 2 has no row in run 1"):
        category_rdm(X[:6], [0, 1, 2, 0, 1, 0], "crossnobis", runs=[0, 0, 0, 1, 1, 1])
    with pytest.raises(InputError, match=r"labels has shape \(3,\); expected \(11,\)"):
        category_rdm(X, [0, 1, 2], "euclidean")


def test_noise_covariance_bad_input():
    with pytest.raises(InputError, match=r"residuals have shape \(4,\)"):
        noise_covariance(np.ones(4))
    with pytest.raises(InputError, match=r"residuals have 1 rows; expected at least 2"):
        noise_covariance(np.ones((1, 4)))
    with pytest.raises(InputError, match=r"dof is 0; expected a positive integer"):
        noise_covariance(np.eye(4), "full", dof=0)
    with pytest.raises(InputError, match=r"residuals of feature 1 are constant"):
        noise_covariance(np.array([[1.0, 2], [2, 2], [0, 2]]))
    with pytest.raises(InputError, match=r"residuals holds nan at index \(0, 1\)"):
        noise_covariance(np.array([[1.0, np.nan], [2, 2], [0, 2]]))


def test_rdm_sizes_match_names_both_sizes():
    assert rdm_sizes_match(np.zeros(10), np.zeros((3, 10))) == 5
    with pytest.raises(InputError, match=r"a has 10 entries \(5 stimuli\) and b has 6 entries"):
        rdm_sizes_match(np.zeros(10), np.zeros(6))
    with pytest.raises(InputError, match=r"b has 7 entries; expected n \* \(n - 1\) / 2"):
        rdm_sizes_match(np.zeros(10), np.zeros(7))
    with pytest.raises(InputError, match=r"matrix has shape \(2, 3\)"):
        condense_rdm(np.zeros((2, 3)))


def test_runs_aligned_by_stimulus_id(repeats):
    """Issue 10 item 6: runs in different stimulus orders are aligned by id, not position."""
    K, n, _ = repeats.shape
    rng = np.random.default_rng(3)
    ids = np.array([f"s{i:02d}" for i in range(n)])
    orders = [rng.permutation(n) for _ in range(K)]
    rows = np.concatenate([repeats[k][o] for k, o in enumerate(orders)])
    runs = np.repeat(np.arange(K), n)
    conditions = np.concatenate([ids[o] for o in orders])
    got = compute_rdm(rows, "crossnobis", runs=runs, conditions=conditions)
    np.testing.assert_allclose(got, compute_rdm(repeats, "crossnobis"), atol=1e-12)


@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean"])
def test_center_removes_the_feature_means_as_pdist_of_centered_data(metric):
    rng = np.random.default_rng(7)
    X = rng.random((15, 60)) + 2.0  # nonnegative, with a large shared mean pattern
    ref = pdist(X - X.mean(axis=0), metric)
    np.testing.assert_allclose(compute_rdm(X, metric, center=True), ref, atol=1e-12)
    reader = ColumnReader(15, 60, lambda a, b: X[:, a:b])
    got = stream_rdm(reader, metric, center=True, chunk_bytes=8 * 15 * 7)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    if metric != "euclidean":  # the shared mean pattern changes correlation and cosine
        assert np.abs(compute_rdm(X, metric) - ref).max() > 1e-3
