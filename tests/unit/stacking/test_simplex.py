"""The batched simplex QP of stacking against cvxopt's QP per voxel (brainML/Stacking's form),
its KKT conditions, and its degenerate cases."""

import numpy as np
import pytest

from dnnmap.errors import InputError
from dnnmap.stacking.simplex import simplex_qp

cvxopt = pytest.importorskip("cvxopt")


def cvxopt_weights(S: np.ndarray, tight: bool = True) -> np.ndarray:
    """brainML/Stacking's QP per voxel: P = S_v, q = 0, G = -I, h = 0, A = 1ᵀ, b = 1."""
    from cvxopt import matrix, solvers

    v, k = S.shape[:2]
    options = {"show_progress": False}
    if tight:
        options.update(abstol=1e-12, reltol=1e-12, feastol=1e-12, maxiters=200)
    q, G, h = matrix(np.zeros(k)), matrix(-np.eye(k)), matrix(np.zeros(k))
    A, b = matrix(np.ones((1, k))), matrix(np.ones(1))
    out = np.empty((v, k))
    for i in range(v):
        sol = solvers.qp(matrix(S[i]), q, G, h, A, b, options=options)
        out[i] = np.asarray(sol["x"]).ravel()
    return out


def residual_covariances(v, k, n, seed=0, shared=1.0):
    """Covariances of residuals of k correlated predictions, one per voxel (v, k, k)."""
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((v, n, k)) * rng.uniform(0.5, 2.0, (v, 1, k))
    R += shared * rng.standard_normal((v, n, 1))
    return np.einsum("vni,vnj->vij", R, R) / n


def objective(S, w):
    return np.einsum("vi,vij,vj->v", w, S, w)


def assert_kkt(S, w, tol=1e-9):
    """w >= 0, sum 1, and (S w)_j >= wᵀ S w with equality on the support (scaled by the
    mean diagonal)."""
    scale = np.diagonal(S, axis1=1, axis2=2).mean(axis=1)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    g = np.einsum("vij,vj->vi", S, w) / scale[:, None]
    nu = np.einsum("vi,vi->v", w, g)[:, None]
    assert (g - nu >= -tol).all()
    support = w > 1e-9
    assert np.abs(np.where(support, g - nu, 0.0)).max() < tol


@pytest.mark.parametrize("k", [2, 3, 7, 12])
def test_weights_and_objective_match_cvxopt(k):
    S = residual_covariances(300, k, n=60, seed=k)
    res = simplex_qp(S)
    ref = cvxopt_weights(S)
    assert res.converged.all()
    # objective within 1e-8 (relative to the mean diagonal) everywhere, never worse than cvxopt
    scale = np.diagonal(S, axis1=1, axis2=2).mean(axis=1)
    gap = (res.objective - objective(S, ref)) / scale
    assert gap.max() < 1e-8
    # weights within 1e-5 where the optimum is unique: the reduced Hessian on the support is
    # positive definite (n = 60 > k residual columns in general position: always here)
    np.testing.assert_allclose(res.weights, ref, atol=1e-5)
    np.testing.assert_allclose(res.objective, objective(S, res.weights))
    assert_kkt(S, res.weights)


def test_interior_optimum_is_the_closed_form():
    """With every weight positive, w = S⁻¹1 / 1ᵀS⁻¹1."""
    rng = np.random.default_rng(3)
    k = 4
    B = rng.standard_normal((50, k, k)) * 0.1
    S = np.eye(k) + np.einsum("vij,vkj->vik", B, B)
    inv1 = np.linalg.solve(S, np.ones((50, k, 1)))[..., 0]
    closed = inv1 / inv1.sum(axis=1, keepdims=True)
    assert (closed > 0).all()
    np.testing.assert_allclose(simplex_qp(S).weights, closed, atol=1e-8)


def test_single_space_is_refused():
    with pytest.raises(InputError, match="at least 2 spaces"):
        simplex_qp(np.ones((5, 1, 1)))
    with pytest.raises(InputError, match="expected \\(n_voxels, k, k\\)"):
        simplex_qp(np.ones((5, 2, 3)))
    with pytest.raises(InputError, match="NaN or inf"):
        simplex_qp(np.full((2, 2, 2), np.nan))
    with pytest.raises(InputError, match=r"jitter is 0\.0"):
        simplex_qp(np.eye(2), jitter=0.0)


def test_ties_keep_the_optimal_objective():
    """Two identical spaces: every split of their joint weight is optimal; the solver returns
    one optimum: cvxopt's objective, the same joint weight, and the KKT conditions."""
    rng = np.random.default_rng(1)
    R = rng.standard_normal((40, 30, 2))
    R = np.concatenate([R, R[:, :, :1]], axis=2)  # space 2 duplicates space 0
    S = np.einsum("vni,vnj->vij", R, R) / 30
    res = simplex_qp(S)
    ref = cvxopt_weights(S)
    scale = np.diagonal(S, axis1=1, axis2=2).mean(axis=1)
    assert ((res.objective - objective(S, ref)) / scale).max() < 1e-8
    joint = res.weights[:, [0, 2]].sum(axis=1)
    np.testing.assert_allclose(joint, ref[:, [0, 2]].sum(axis=1), atol=1e-5)
    np.testing.assert_allclose(res.weights[:, 1], ref[:, 1], atol=1e-5)
    assert_kkt(S, res.weights, tol=1e-7)
    # equal diagonal, no correlation: the centre of the simplex
    np.testing.assert_allclose(simplex_qp(np.eye(5)).weights, np.full((1, 5), 0.2), atol=1e-12)


def test_singular_and_zero_covariances():
    """Fewer residual rows than spaces (rank-deficient S) and perfect predictions (S = 0)."""
    rng = np.random.default_rng(2)
    R = rng.standard_normal((60, 3, 6))  # rank <= 3 < k = 6
    S = np.einsum("vni,vnj->vij", R, R) / 3
    res = simplex_qp(S)
    assert res.converged.all()
    scale = np.diagonal(S, axis1=1, axis2=2).mean(axis=1)
    assert ((res.objective - objective(S, cvxopt_weights(S))) / scale).max() < 1e-8
    zero = simplex_qp(np.zeros((2, 3, 3)))
    # every convex weight vector is optimal; the solver returns a valid one
    np.testing.assert_allclose(zero.weights.sum(axis=1), 1.0)
    assert (zero.weights >= 0).all() and (zero.objective == 0).all()


def test_a_vertex_when_one_space_dominates():
    """A space whose residuals are smallest and uncorrelated... gets weight 1 only when the
    others cannot lower the error: the multipliers of the others are non-negative."""
    S = np.array([[[1.0, 1.0], [1.0, 4.0]]])  # (S w)_1 - wᵀSw = 1 - 1 = 0 at w = e_0
    np.testing.assert_allclose(simplex_qp(S).weights, [[1.0, 0.0]], atol=1e-9)
    S = np.array([[[1.0, 0.0], [0.0, 4.0]]])  # interior: w = (0.8, 0.2)
    np.testing.assert_allclose(simplex_qp(S).weights, [[0.8, 0.2]], atol=1e-9)


def test_batches_do_not_change_the_result():
    S = residual_covariances(101, 5, n=20, seed=4)
    a = simplex_qp(S)
    b = simplex_qp(S, batch_size=7)
    np.testing.assert_array_equal(a.weights, b.weights)


def test_scale_invariance_and_2d_input():
    S = residual_covariances(20, 4, n=30, seed=5)
    a = simplex_qp(S).weights
    np.testing.assert_allclose(simplex_qp(S * 1e6).weights, a, atol=1e-10)
    np.testing.assert_allclose(simplex_qp(S[0]).weights, a[:1], atol=1e-12)
