"""The ridge engine of :mod:`dnnmap.encoding.ridge` and :mod:`dnnmap.encoding.kernel_ridge`.

Private to those two modules (their docstrings describe the method): a :class:`Design` holds
the rows to decompose (a design ``X`` or a kernel of all rows, and its Gram matrix, computed
once); :meth:`Design.basis` decomposes one training set into a :class:`Basis` (``B``, ``A``,
``F``, ``H`` of the ridge docstring); :func:`make_plan` decomposes a training set and its
inner folds into a :class:`Plan`; :func:`plan_errors` scores every alpha for a batch of
targets (exact leave-one-out, with pruning from :mod:`dnnmap.encoding._loo_pruning`, or
folds); :func:`fit_batches` runs inner CV and the refit over batches of targets. The checks
of the solvers' arguments (alphas, solver, batch size, compute dtype) are here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dnnmap.backend import Backend
from dnnmap.checks import check_choice, check_int, is_int
from dnnmap.encoding._loo_pruning import loo_sse_pruned
from dnnmap.encoding.base import batches
from dnnmap.errors import InputError
from dnnmap.stats.splits import as_pairs

SOLVERS = ("auto", "svd", "eigh")
"""Decompositions of a training set (see :mod:`dnnmap.encoding.ridge`)."""


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def check_alphas(alphas) -> np.ndarray:
    """``alphas`` as a non-empty float64 array (n_alphas,) of positive finite penalties."""
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise InputError(f"alphas are {a!r}; expected a non-empty 1-D list of positive numbers")
    return a


ALPHA_SCALES = ("relative", "absolute")
"""How penalties are read: multiples of the training set's mean Gram eigenvalue, or as is."""


def check_alpha_scale(alpha_scale) -> str:
    """``alpha_scale`` when it is one of :data:`ALPHA_SCALES`."""
    return check_choice(alpha_scale, "alpha_scale", ALPHA_SCALES)


def gram_scale(X_rows: np.ndarray, fit_intercept: bool = True) -> float:
    """Mean eigenvalue of the (centered) Gram matrix of the rows ``X_rows`` (n, p):
    ``||X_rows - mean||_F**2 / n``, the trace of ``Xc @ Xc.T`` over its size (without
    centering when ``fit_intercept`` is False). 1.0 when it is 0 (constant features)."""
    X = np.asarray(X_rows, dtype=np.float64)
    Xc = X - X.mean(axis=0) if fit_intercept else X
    scale = float(np.einsum("ij,ij->", Xc, Xc)) / max(X.shape[0], 1)
    return scale if scale > 0 and np.isfinite(scale) else 1.0


def kernel_scale(K: np.ndarray, fit_intercept: bool = True) -> float:
    """Mean eigenvalue of a (centered) kernel matrix ``K`` (n, n): ``trace(Kc) / n`` with
    ``trace(Kc) = trace(K) - sum(K) / n``; 1.0 when it is not positive."""
    K = np.asarray(K, dtype=np.float64)
    n = K.shape[0]
    trace = float(np.trace(K)) - (float(K.sum()) / n if fit_intercept else 0.0)
    scale = trace / max(n, 1)
    return scale if scale > 0 and np.isfinite(scale) else 1.0


def check_solver(solver) -> str:
    """``solver`` when it is one of :data:`SOLVERS`."""
    return check_choice(solver, "solver", SOLVERS)


def check_batch(batch_size, v: int) -> int:
    """Targets per batch: ``batch_size`` (an int >= 1), or all ``v`` targets when None."""
    if batch_size is None:
        return max(v, 1)
    return check_int(batch_size, "batch_size", 1)


def compute_dtype(dtype, Y: np.ndarray):
    """Compute dtype of the large products: ``dtype`` (float32 or float64), or when None
    float32 for float32 ``Y`` and float64 otherwise."""
    if dtype is None:
        return np.float32 if Y.dtype == np.float32 else np.float64
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"dtype is {dtype!r}; expected float32, float64 or None")
    return np.dtype(dtype).type


# ---------------------------------------------------------------------------------------------
# Decompositions of training sets (any backend)
# ---------------------------------------------------------------------------------------------


def svd_factors(s, alphas):
    """``s / (s**2 + a)``, shape (n_alphas, k), for singular values s (k,) (any backend)."""
    return s[None, :] / (s[None, :] ** 2 + alphas[:, None])


def alpha_predictions(bk: Backend, A, F, Z, out=None) -> Iterator[Any]:
    """Yield the centered test predictions ``(A * F[i]) @ Z`` (m, v) of each alpha ``i``.

    The one per-alpha loop of the ridge solvers:
    :func:`dnnmap.encoding.ridge.svd_ridge_predict_path` stacks what it yields, :func:`sse`
    reduces each prediction in place in the reused ``out``.
    """
    for i in range(F.shape[0]):
        yield bk.matmul(A * F[i], Z, out=out)


@dataclass(frozen=True)
class Basis:
    """One decomposed training set (see the module docstring for B, A, F, H).

    Row indices are absolute (rows of the design the basis was cut from).
    """

    train: np.ndarray  # (n_train,) numpy
    test: np.ndarray | None  # (m,) numpy
    train_idx: Any  # backend indices of train
    test_idx: Any  # backend indices of test
    B: Any  # (n_train, k) compute dtype
    A: Any  # (m, k) compute dtype, or None
    F: Any  # (n_alphas, k) compute dtype
    H: Any  # (n_alphas, k) compute dtype (hat-matrix factors), or None
    G: Any  # (n_alphas, k) compute dtype: 1 - H, formed without cancellation, or None
    loo_scale: Any  # (n_train, n_alphas) compute dtype: 1 / (1 - h_ii), or None
    spans_targets: bool  # B spans every (centered) target: no residual outside the basis
    W: Any  # (p, k) compute dtype: coef = W @ C, or None
    x_proj: Any  # (k,) compute dtype: training column means of X @ W (for intercepts), or None
    kernel_rows: Any  # (n_train,) float64 backend: column means of the training kernel
    kernel_all: float  # grand mean of the training kernel
    kind: str  # "svd" or "eigh"


class Design:
    """Training rows to decompose: a design X (linear ridge) or a kernel of all rows.

    Parameters
    ----------
    bk : Backend
    X : array of shape (n, p) or None
        Features (float64 numpy); None for a precomputed kernel.
    K : array of shape (n, n) or None
        Kernel of all rows (backend float64); computed from X (linear) when first needed.
    fit_intercept : bool
    solver : {"auto", "svd", "eigh"}
    drop_null : bool
        Drop null eigenvalues of the kernel (linear ridge) or keep them (kernel ridge, whose
        dual coefficients then equal ``(K + alpha I)^-1 Y`` exactly).
    """

    def __init__(
        self, bk: Backend, X, K=None, *, fit_intercept=True, solver="auto", drop_null=True
    ):
        self.bk = bk
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.drop_null = drop_null
        self.X_np = X
        self._K = K
        self._X = None
        self.shift = None
        if X is not None:
            # A global shift leaves every centered training set unchanged and keeps the
            # uncentered Gram matrix free of cancellation.
            self.shift = X.mean(axis=0) if fit_intercept else np.zeros(X.shape[1])
        self.n = X.shape[0] if X is not None else K.shape[0]
        self.p = X.shape[1] if X is not None else None

    @property
    def Xb(self):  # noqa: N802
        """The shifted design on the backend (float64), made on first use."""
        if self._X is None:
            self._X = self.bk.asarray(self.X_np - self.shift, np.float64)
        return self._X

    @property
    def gram(self):
        """The kernel of all rows (for a design: its shifted Gram matrix), made on first use."""
        if self._K is None:
            self._K = self.Xb @ self.Xb.T
        return self._K

    def kind(self, n_train: int) -> str:
        if self.X_np is None or self.solver == "eigh":
            return "eigh"
        if self.solver == "svd":
            return "svd"
        return "eigh" if n_train < self.p else "svd"

    def basis(self, train, test, alphas, dtype, *, loo=False, weights=False) -> Basis:
        """Decompose rows ``train``; project rows ``test`` (None: no test rows)."""
        bk = self.bk
        train = np.asarray(train, dtype=np.intp)
        tr = bk.index(train)
        te = None if test is None else bk.index(test)
        a = bk.asarray(alphas, np.float64)
        eps = np.finfo(np.float64).eps
        kind = self.kind(train.size)
        x_mean = kernel_rows = W = A = x_proj = None
        kernel_all = 0.0
        if kind == "svd":
            Xtr = self.Xb[tr]
            mean = bk.col_mean(Xtr) if self.fit_intercept else bk.asarray(np.zeros(self.p))
            U, s, Vt = bk.svd(Xtr - mean)
            keep = bk.to_numpy(s > s[0] * max(Xtr.shape) * eps) if s.shape[0] else []
            keep = bk.index(np.flatnonzero(keep))
            U, s, Vt = U[:, keep], s[keep], Vt[keep]
            F = svd_factors(s, a)
            H = F * s[None, :]
            G = a[:, None] / (s[None, :] ** 2 + a[:, None])
            if te is not None:
                A = (self.Xb[te] - mean) @ Vt.T
            if weights:
                W = Vt.T
                x_mean = mean
        else:
            Ktr = self.gram[tr][:, tr]
            if self.fit_intercept:
                kernel_rows = bk.col_mean(Ktr)
                kernel_all = float(bk.to_numpy(kernel_rows).mean())
                Ktr = Ktr - kernel_rows[None, :] - kernel_rows[:, None] + kernel_all
                lam, U = eigh_without_constant(bk, Ktr)
            else:
                lam, U = bk.eigh(Ktr)
            lam_np = bk.to_numpy(lam)
            keep = np.arange(lam_np.size)
            if self.drop_null:
                keep = np.flatnonzero(lam_np > lam_np.max(initial=0.0) * max(self.n, self.p) * eps)
            keep = bk.index(keep[::-1].copy())  # descending eigenvalues
            lam, U = lam[keep], U[:, keep]
            lam = lam * (lam > 0)  # negative rounding errors of a PSD kernel
            F = 1.0 / (lam[None, :] + a[:, None])
            H = F * lam[None, :]
            G = F * a[:, None]
            if te is not None:
                A = center_kernel_rows(bk, self.gram[te][:, tr], kernel_rows, kernel_all) @ U
            if weights and self.X_np is not None:
                mean = bk.col_mean(self.Xb[tr]) if self.fit_intercept else 0.0
                W = (self.Xb[tr] - mean).T @ U
                x_mean = mean
        if W is not None:  # the original (unshifted) training means, projected
            x_proj = bk.astype((x_mean + bk.asarray(self.shift, np.float64)) @ W, dtype)
        spans = U.shape[1] >= train.size - (1 if self.fit_intercept else 0)
        loo_scale = None
        if loo:
            loo_scale = bk.astype(1.0 / loo_complement(bk, U, G, self.fit_intercept, spans), dtype)
        return Basis(
            train=train,
            test=None if test is None else np.asarray(test, dtype=np.intp),
            train_idx=tr,
            test_idx=te,
            B=bk.astype(U, dtype),
            A=None if A is None else bk.astype(A, dtype),
            F=bk.astype(F, dtype),
            H=bk.astype(H, dtype) if loo else None,
            G=bk.astype(G, dtype) if loo else None,
            loo_scale=loo_scale,
            spans_targets=spans,
            W=None if W is None else bk.astype(W, dtype),
            x_proj=x_proj,
            kernel_rows=kernel_rows,
            kernel_all=kernel_all,
            kind=kind,
        )


def eigh_without_constant(bk: Backend, Kc):
    """Eigendecomposition of a centered kernel ``Kc`` (n, n) on the complement of the constant.

    ``Kc`` has the constant vector as an exact null vector, but its computed eigenvalue there
    is rounding (of the size of the uncentered kernel times eps), which ``alpha`` cannot
    swamp at small alphas. A Householder reflection ``Q`` maps the constant to the first axis;
    the eigenvectors of ``(Q Kc Q)[1:, 1:]`` (n - 1, n - 1), mapped back, are orthogonal to the
    constant to rounding.

    Returns
    -------
    lam : backend array of shape (n - 1,)
        Eigenvalues, ascending.
    U : backend array of shape (n, n - 1)
        Orthonormal eigenvectors.
    """
    n = Kc.shape[0]
    u_np = np.full(n, 1.0 / np.sqrt(n))
    u_np[0] += 1.0  # Q = I - c u u.T maps the constant / sqrt(n) to -e_1
    c = 2.0 / float(u_np @ u_np)
    u = bk.asarray(u_np, np.float64)
    Ku = Kc @ u
    QKQ = (
        Kc
        - c * (u[:, None] * Ku[None, :] + Ku[:, None] * u[None, :])
        + (c * c * float(bk.to_numpy(u @ Ku))) * (u[:, None] * u[None, :])
    )
    lam, V = bk.eigh(QKQ[1:, 1:])
    U = bk.asarray(np.zeros((n, V.shape[1])), np.float64)
    U[1:] = V
    U = U - c * (u[:, None] * (u @ U)[None, :])
    return lam, U


def loo_complement(bk: Backend, U, G, fit_intercept: bool, spans: bool):
    """``1 - h_ii`` (n_train, n_alphas), float64 backend, without cancellation.

    ``h_ii = c + sum_j U_ij**2 H_j`` (``c = 1/n_train`` with an intercept, else 0) is the
    diagonal of the hat matrix. Its complement is formed as ``sum_j U_ij**2 G_j`` with
    ``G = 1 - H = alpha / (s**2 + alpha)`` computed directly, plus the diagonal of the
    projector outside the basis and the intercept, ``1 - c - sum_j U_ij**2``: exactly 0 when
    ``n_train - 1`` basis columns span the centered targets (p > n), ``-c`` for a square
    basis, else computed in float64 and set to 0 where it is rounding noise. Subtracting ``h_ii``
    from 1 instead loses every digit at small alphas when ``p > n`` (``1 - h_ii`` is then
    of order ``alpha / s**2``).

    Parameters
    ----------
    U : backend array of shape (n_train, k), float64
        Orthonormal basis of the (centered) training rows.
    G : backend array of shape (n_alphas, k), float64
        ``alpha / (s**2 + alpha)`` per alpha and basis column.
    fit_intercept : bool
    spans : bool
        The basis spans every centered target.
    """
    inside = (U * U) @ G.T
    n, k = U.shape
    c = 1.0 / n if fit_intercept else 0.0
    if k == n:  # a square basis: sum_j U_ij**2 = 1
        return inside - c
    if spans:  # k = n - 1 columns orthogonal to the constant: sum_j U_ij**2 = 1 - c
        return inside
    outside = 1.0 - c - bk.to_numpy(bk.col_sumsq(U.T))
    outside[np.abs(outside) < 8 * n * np.finfo(np.float64).eps] = 0.0
    return inside + bk.asarray(outside, np.float64)[:, None]


def center_kernel_rows(bk: Backend, Kte, kernel_rows, kernel_all):
    """Center kernel rows ``Kte`` (m, n_train) of new points in the training feature space.

    ``kernel_rows`` (n_train,) are the column means of the training kernel and ``kernel_all``
    its grand mean (None: no centering), as ``sklearn.preprocessing.KernelCenterer``.
    """
    if kernel_rows is None:
        return Kte
    return Kte - bk.col_mean(Kte.T)[:, None] - kernel_rows[None, :] + kernel_all


# ---------------------------------------------------------------------------------------------
# Inner cross-validation: errors of every alpha for a batch of targets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything inner CV and the refit need from the design, computed once per fit."""

    bk: Backend
    dtype: type
    fit_intercept: bool
    folds: list[Basis] | None  # None: exact leave-one-out on ``full``
    full: Basis
    prune: bool = False  # LOO: skip alphas that provably lose (errors then inf there)


def inner_pairs(cv, X_rows: np.ndarray, random_state, name: str = "cv"):
    """Inner CV of one training set as (train, test) pairs relative to its rows, or ``"loo"``.

    Parameters
    ----------
    cv : int, "loo", splitter or list of (train, test) pairs
        An int is shuffled k-fold ``KFold(cv, shuffle=True, random_state=random_state)``; a
        splitter's ``split`` gets ``X_rows``; ints, splitters' output and pairs are checked
        by :func:`dnnmap.stats.splits.as_pairs`.
    X_rows : array of shape (n_train, p)
        The training rows.
    random_state : int or None
    name : str
        Argument name used in messages.

    Returns
    -------
    list of (train, test) intp arrays, or "loo"
    """
    if isinstance(cv, str):
        if cv != "loo":
            raise InputError(f"{name} is {cv!r}; expected an int, 'loo', a splitter or pairs")
        return "loo"
    if hasattr(cv, "split") and not is_int(cv):
        try:
            cv = list(cv.split(X_rows))
        except (TypeError, ValueError) as err:  # e.g. GroupKFold without groups
            raise InputError(
                f"{name}.split(X) failed ({err}); for grouped folds pass explicit (train, test) "
                "pairs"
            ) from None
    elif not (is_int(cv) or isinstance(cv, list | tuple)):
        raise InputError(f"{name} is {cv!r}; expected an int, 'loo', a splitter or pairs")
    return as_pairs(cv, X_rows.shape[0], seed=random_state, name=name)


def make_plan(
    design: Design, rows, pairs, alphas, dtype, *, test=None, weights=False, prune=False
) -> Plan:
    """Decompose the training set ``rows`` and its inner folds ``pairs`` (relative to rows).

    ``prune``: the caller needs only each target's best alpha, not every alpha's error, so
    leave-one-out may skip alphas whose error provably exceeds another's
    (:func:`dnnmap.encoding._loo_pruning.loo_sse_pruned`).
    """
    rows = np.asarray(rows, dtype=np.intp)
    loo = isinstance(pairs, str)
    full = design.basis(rows, test, alphas, dtype, loo=loo, weights=weights)
    folds = None
    if not loo:
        folds = [design.basis(rows[tr], rows[te], alphas, dtype) for tr, te in pairs]
    return Plan(design.bk, dtype, design.fit_intercept, folds, full, prune and loo)


def _centered(plan: Plan, Y, idx):
    """Rows ``idx`` of Y (backend, compute dtype) centered with their own means, and the means."""
    Yr = Y[idx]
    if not plan.fit_intercept:
        return Yr, None
    mean = plan.bk.astype(plan.bk.col_mean(Yr), plan.dtype)
    Yr -= mean
    return Yr, mean


def sse(bk: Backend, A, F, Z, Yref, dtype, scale=None):
    """Sum of squared errors (n_alphas, v), float64, of ``(A * F[i]) @ Z`` against ``Yref``
    (None: against 0), each row ``r`` weighted by ``scale[r, i]`` when given."""
    out = bk.empty((F.shape[0], Z.shape[1]), np.float64)
    buf = bk.empty((A.shape[0], Z.shape[1]), dtype)
    for i, P in enumerate(alpha_predictions(bk, A, F, Z, out=buf)):
        if Yref is not None:
            P -= Yref
        if scale is not None:
            P *= scale[:, i : i + 1]
        out[i] = bk.col_sumsq(P)
    return out


def outside_residual(basis: Basis, Z, Yc):
    """``Yc - B @ Z`` (n_train, v): the part of the centered targets outside the basis, or
    None when the basis spans them (then it is 0, and forming it would add only rounding)."""
    if basis.spans_targets:
        return None
    return Yc - basis.B @ Z


def loo_sse(bk: Backend, basis: Basis, Z, Yc, dtype):
    """Exact leave-one-out sums of squared errors (n_alphas, v), float64 backend.

    The training residual of alpha ``i`` is ``Yc - B (H_i * Z) = R0 + B (G_i * Z)`` with
    ``R0`` the part of ``Yc`` outside the basis (:func:`outside_residual`) and ``G = 1 - H``;
    the second form keeps every digit of a residual much smaller than ``Yc`` (small alphas,
    p > n) in float32. Each residual row is divided by ``1 - h_ii``
    (:func:`loo_complement`).
    """
    R0 = outside_residual(basis, Z, Yc)
    return sse(bk, basis.B, basis.G, Z, None if R0 is None else -R0, dtype, basis.loo_scale)


def plan_errors(plan: Plan, Y):
    """Mean squared CV error (n_alphas, v), float64 numpy, for targets Y (n, v) on the backend.

    Also returns, for leave-one-out, ``(Z, mean)`` of the full training set (reused by the
    refit), else None.
    """
    bk = plan.bk
    if plan.folds is None:  # exact LOO: residual / (1 - h_ii)
        full = plan.full
        Yc, mean = _centered(plan, Y, full.train_idx)
        Z = full.B.T @ Yc
        if plan.prune:
            total = loo_sse_pruned(bk, full, Z, Yc, plan.dtype, outside_residual(full, Z, Yc))
        else:
            total = bk.to_numpy(loo_sse(bk, full, Z, Yc, plan.dtype))
        return total / full.train.size, (Z, mean)
    errors = 0.0
    for fold in plan.folds:
        Ytr, mean = _centered(plan, Y, fold.train_idx)
        Z = fold.B.T @ Ytr
        del Ytr
        Yte = Y[fold.test_idx]
        if mean is not None:
            Yte -= mean
        errors = errors + sse(bk, fold.A, fold.F, Z, Yte, plan.dtype) / fold.test.size
    return bk.to_numpy(errors) / len(plan.folds), None


def refit_factors(plan: Plan, Y, best: np.ndarray, projected=None):
    """Per-target factors ``C`` (k, v) and target means (v,) of the refit on ``plan.full``.

    ``projected``: ``(Z, mean)`` of the full training set when already computed.
    """
    full = plan.full
    if projected is None:
        Yc, mean = _centered(plan, Y, full.train_idx)
        Z = full.B.T @ Yc
        del Yc
    else:
        Z, mean = projected
    C = full.F.T[:, plan.bk.index(best)] * Z
    return C, mean


def check_train_size(rows: int, pairs) -> None:
    """Leave-one-out needs at least 3 training rows."""
    if pairs == "loo" and rows < 3:
        raise InputError(f"cv is 'loo' for {rows} samples; expected at least 3 samples")


def fit_batches(
    plan: Plan, Y: np.ndarray, cols: np.ndarray, step: int, refit: bool = True
) -> Iterator[tuple]:
    """Run inner CV and the refit for the columns ``cols`` of Y (n, v), ``step`` at a time.

    Yields
    ------
    c : slice or int array
        The batch's columns of Y.
    errors : float64 array of shape (n_alphas, b)
        Mean squared CV error per alpha and target.
    best : int array of shape (b,)
        Index of each target's alpha of least error (first on ties; NaN never wins).
    C : backend array of shape (k, b) or None
        Refit factors (None without ``refit``).
    mean : backend array of shape (b,) or None
        Training target means (None without intercept or without ``refit``).
    """
    bk = plan.bk
    for c in batches(cols, step):
        Yb = bk.asarray(np.ascontiguousarray(Y[:, c], dtype=plan.dtype), plan.dtype)
        errors, projected = plan_errors(plan, Yb)
        # NaN (0 * inf when a leverage rounds to 1) never wins
        best = np.argmin(np.nan_to_num(errors, nan=np.inf), axis=0)
        C = mean = None
        if refit:
            C, mean = refit_factors(plan, Yb, best, projected)
        del Yb, projected
        yield c, errors, best, C, mean
