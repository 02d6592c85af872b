"""Tests of dnnmap.backend: each op against numpy, and the solvers on numpy vs torch."""

import numpy as np
import pytest
import torch

from dnnmap.backend import get_backend, resolve_device
from dnnmap.encoding.kernel_ridge import KernelRidgeCV
from dnnmap.encoding.ridge import RidgeCV, cross_validated_encoding
from dnnmap.errors import InputError

ALPHAS = np.logspace(-2, 4, 7)
CUDA = torch.cuda.is_available()
DEVICES = ["numpy", "cpu"] + (["cuda"] if CUDA else [])


def _problem(n=40, p=8, v=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 2.0
    Y = X @ rng.standard_normal((p, v)) + 2.0 * rng.standard_normal((n, v))
    return X, Y


def test_resolve_device():
    assert resolve_device("numpy") == "numpy"
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda:0" if CUDA else "numpy")
    assert get_backend("numpy").name == "numpy" and get_backend("cpu").name == "torch"
    assert get_backend("cpu") is get_backend("cpu")  # one backend object per device
    for bad in ("gpu", "cuda:x", "", 0, None):
        with pytest.raises(InputError, match=r"device is .*; expected one of auto, numpy, cpu"):
            resolve_device(bad)


@pytest.mark.skipif(CUDA, reason="a CUDA device is visible")
def test_cuda_asked_for_without_device():
    with pytest.raises(InputError, match="device is 'cuda:1' but no CUDA device is visible"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("device", DEVICES)
def test_ops_match_numpy(device):
    bk = get_backend(device)
    rng = np.random.default_rng(1)
    A = rng.standard_normal((30, 12))
    a = bk.asarray(A, np.float64)
    U, s, Vt = bk.svd(a)
    np.testing.assert_allclose(bk.to_numpy(s), np.linalg.svd(A, compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(U * s[None, :] @ Vt), A, rtol=1e-12, atol=1e-12)
    S = A.T @ A
    w, V = bk.eigh(bk.asarray(S, np.float64))
    np.testing.assert_allclose(bk.to_numpy(w), np.linalg.eigvalsh(S), rtol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(V * w[None, :] @ V.T), S, rtol=1e-10, atol=1e-10)
    f = bk.asarray(A, np.float32)
    assert (
        bk.to_numpy(f).dtype == np.float32
        and bk.to_numpy(bk.astype(f, np.float64)).dtype == np.float64
    )
    np.testing.assert_allclose(bk.to_numpy(bk.col_mean(f)), A.astype(np.float32).mean(0), rtol=1e-6)
    assert bk.to_numpy(bk.col_mean(f)).dtype == np.float64
    np.testing.assert_allclose(bk.to_numpy(bk.col_sumsq(a)), (A**2).sum(0), rtol=1e-12)
    out = bk.empty((30, 30), np.float64)
    res = bk.matmul(a, a.T, out=out)
    np.testing.assert_allclose(bk.to_numpy(out), A @ A.T, rtol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(res), A @ A.T, rtol=1e-12)
    rows = np.array([3, 0, 7])
    np.testing.assert_array_equal(bk.to_numpy(a[bk.index(rows)]), A[rows])
    np.testing.assert_allclose(bk.to_numpy(bk.exp(bk.sqrt(a * a))), np.exp(np.abs(A)), rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES[1:])
@pytest.mark.parametrize("shape", [(40, 8), (20, 30)])
@pytest.mark.parametrize("cv", [4, "loo"])
def test_ridgecv_torch_matches_numpy(device, shape, cv):
    X, Y = _problem(*shape)
    ref = RidgeCV(ALPHAS, cv=cv, device="numpy").fit(X, Y)
    got = RidgeCV(ALPHAS, cv=cv, device=device).fit(X, Y)
    np.testing.assert_array_equal(got.alpha_, ref.alpha_)
    np.testing.assert_allclose(got.cv_errors_, ref.cv_errors_, rtol=1e-10)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-9, atol=1e-12)
    exact = ref.cv_errors_
    Y32 = Y.astype(np.float32)
    ref = RidgeCV(ALPHAS, cv=cv, device="numpy").fit(X, Y32)
    got = RidgeCV(ALPHAS, cv=cv, device=device).fit(X, Y32)
    assert got.coef_.dtype == np.float32
    same = got.alpha_ == ref.alpha_
    assert same.mean() >= 0.8
    # float32 rounding, not the backend, sets the error: with n < p and the smallest alpha the
    # leave-one-out hat diagonal is near 1 and both backends sit about 5e-4 from float64
    rtol = 2e-3 if shape[0] < shape[1] else 1e-4
    np.testing.assert_allclose(ref.cv_errors_, exact, rtol=rtol)
    np.testing.assert_allclose(got.cv_errors_, exact, rtol=rtol)
    np.testing.assert_allclose(got.coef_[:, same], ref.coef_[:, same], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES[1:])
def test_encoding_and_kernel_ridge_torch_match_numpy(device):
    X, Y = _problem(30, 12, 5, seed=2)
    for inner in (4, "loo"):  # "loo": the pruned alpha search
        ref = cross_validated_encoding(X, Y, ALPHAS, n_folds=3, inner_cv=inner, device="numpy")
        got = cross_validated_encoding(X, Y, ALPHAS, n_folds=3, inner_cv=inner, device=device)
        np.testing.assert_array_equal(got.alpha, ref.alpha)
        np.testing.assert_allclose(got.predictions, ref.predictions, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.score, ref.score, rtol=1e-9)
    kr = dict(kernel="rbf", kernel_params={"gamma": 0.05}, cv=4)
    ref = KernelRidgeCV(ALPHAS, **kr, device="numpy").fit(X, Y)
    got = KernelRidgeCV(ALPHAS, **kr, device=device).fit(X, Y)
    np.testing.assert_array_equal(got.alpha_, ref.alpha_)
    np.testing.assert_allclose(got.dual_coef_, ref.dual_coef_, rtol=1e-9, atol=1e-12)
