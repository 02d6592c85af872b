"""Ridge regression for voxelwise encoding models: many targets, one decomposition per fold.

Every solver here works from one decomposition of a training set, reused for every alpha,
every target (voxel) and every permutation (permutations are extra target columns). With the
training design centered (``Xc``, ``fit_intercept``) and the training targets centered
(``Yc``), a decomposition gives a basis ``B`` of the training rows, the test rows ``A`` in that
basis and, per alpha, factors ``F_a`` and ``H_a`` such that::

    Z = B.T @ Yc                             (k, v): one product per fold and target batch
    test predictions(a) = (A * F_a) @ Z      (m, v)
    training hat matrix(a) = B @ diag(H_a) @ B.T

Two decompositions, picked by ``solver`` (``"auto"``: ``"eigh"`` when the training set has
fewer rows than columns, else ``"svd"``); both are exact:

``"svd"`` (primal)
    Thin SVD ``Xc = U diag(s) Vt``; singular values below ``max(s) * max(n, p) * eps`` are
    dropped. ``B = U``, ``A = (X_test - x_mean) @ Vt.T``, ``F_a = s / (s**2 + a)``,
    ``H_a = s**2 / (s**2 + a)``; weights ``coef = Vt.T @ C``.
``"eigh"`` (dual, kernel form)
    Eigendecomposition of the centered Gram matrix ``K = Xc @ Xc.T = U diag(lam) U.T``.
    The uncentered Gram matrix of all rows is computed once and every training set's
    centered block is taken from it (``K - row means - column means + grand mean``), so
    nested folds cost one ``(n_train, n_train)`` eigendecomposition each. Eigenvalues below
    ``max(lam) * max(n, p) * eps`` are dropped. ``B = U``, ``A = K_test,train(centered) @ U``,
    ``F_a = 1 / (lam + a)``, ``H_a = lam / (lam + a)``; weights ``coef = (Xc.T @ U) @ C``.

The refit with one alpha per target uses the per-target factor matrix
``C[:, v] = F[alpha_v] * Z[:, v]``: no loop over targets. Intercepts are unpenalized
(``fit_intercept`` as in scikit-learn): ``intercept = y_mean - x_mean @ coef``.

Alpha selection scores every alpha for every target by mean squared error, never holding
an ``(n_alphas, n_test, n_targets)`` array: the predictions of one alpha go into one
``(n_test, batch)`` buffer, the squared errors are summed and the buffer is reused. Inner CV:

* ``int``: shuffled k-fold, ``KFold(cv, shuffle=True, random_state=random_state)`` (stimulus
  tables are often sorted by category; contiguous folds would tune the penalty for
  generalising across categories);
* ``"loo"``: exact leave-one-out from the hat-matrix diagonal (``sklearn.linear_model.RidgeCV``
  with ``cv=None``): residual ``/ (1 - h_ii)``, with ``h_ii`` including ``1/n`` for the
  intercept. Where only the best alpha of each target is needed (the outer folds of
  :func:`cross_validated_encoding`, hence full-refit permutations), alphas are pruned
  first: bounds of every alpha's error from small products (the
  training residual norm and expansions around the residuals of alpha 0 and infinity) leave
  the exact error to be computed only for the alphas whose lower bound is below the target's
  smallest upper bound (on the permutation benchmark's data 1.5 of 17 per target), so the
  chosen alphas are those of the full search (:mod:`dnnmap.encoding.loo_pruning`);
* any object whose ``split(X)`` yields (train, test) index pairs, or an explicit list of
  (train, test) pairs (e.g. grouped folds).

For folds, the error is the mean over folds of each fold's mean squared error
(``GridSearchCV``'s and himalaya's average). Each target takes the alpha of least error;
ties go to the first alpha in the given order.

Relation to himalaya (``himalaya.ridge.RidgeCV``, which gives the same alphas and scores):
himalaya forms, per fold, the ``(n_alphas, n_test, n_train)`` matrices
``X_test @ V diag(F_a) U.T`` and multiplies them with the training targets, so its per-alpha
cost runs over ``n_train`` where ours runs over the rank ``k = min(n_train, p)``; it always
decomposes the design (an SVD of ``n_train x p`` also when ``p >> n``); and its refit
forms ``(n_alphas, p, n)`` matrices times Y, ``n_alphas`` times the work of our one
``W @ C`` product.

Precision: decompositions are float64. The large products (``B.T @ Y``, the per-alpha
predictions, the refit) run in the compute ``dtype``: float32 when Y is float32 (the
encoding workflow's case), else float64; the per-fold sums of squared errors are combined
in float64. Computation runs on a :mod:`dnnmap.backend` (``device``: numpy, torch CPU or
CUDA); targets are processed in batches of ``batch_size`` columns, which bounds memory;
results do not depend on the batch size (up to rounding).

Missing data: a response column with any NaN/inf (and, in :func:`cross_validated_encoding`,
a constant column) is masked: the other columns are fitted, the masked ones get NaN
outputs, and the number masked is logged as a warning on the ``dnnmap`` logger. NaN/inf in
the features is an :class:`~dnnmap.errors.InputError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from dnnmap.backend import Backend, get_backend
from dnnmap.encoding.loo_pruning import loo_sse_pruned
from dnnmap.errors import InputError
from dnnmap.stats.metrics import explained_variance, pearson_r, r2_score
from dnnmap.stats.splits import Splits

DEFAULT_ALPHAS = np.logspace(-2, 6, 17)
SOLVERS = ("auto", "svd", "eigh")
LOG = logging.getLogger("dnnmap")


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _check_x(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(
            f"{name} has shape {X.shape}; expected a 2-D (n_samples, n_features) array"
        )
    if not np.isfinite(X).all():
        raise InputError(f"{name} contains NaN or inf; expected finite features")
    return X


def _check_xy(X, Y, finite_y: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return X as 2-D float64, Y as 2-D floats (float32 kept) and whether Y was 1-D."""
    X = _check_x(X)
    Y = np.asarray(Y)
    if Y.dtype != np.float32:
        Y = Y.astype(np.float64, copy=False)
    if Y.ndim not in (1, 2):
        raise InputError(f"Y has shape {Y.shape}; expected (n_samples,) or (n_samples, n_targets)")
    if X.shape[0] != Y.shape[0]:
        raise InputError(f"X has shape {X.shape} and Y has shape {Y.shape}; expected equal rows")
    if X.shape[0] < 2:
        raise InputError(f"X has shape {X.shape}; expected at least 2 samples")
    if finite_y and not np.isfinite(Y).all():
        raise InputError("Y contains NaN or inf; expected finite responses")
    vector = Y.ndim == 1
    return X, (Y[:, None] if vector else Y), vector


def _check_alphas(alphas) -> np.ndarray:
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise InputError(f"alphas are {a!r}; expected a non-empty 1-D list of positive numbers")
    return a


def _check_solver(solver) -> str:
    if solver not in SOLVERS:
        raise InputError(f"solver is {solver!r}; expected one of {', '.join(SOLVERS)}")
    return solver


def _check_batch(batch_size, v: int) -> int:
    if batch_size is None:
        return max(v, 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise InputError(f"batch_size is {batch_size!r}; expected a positive int or None")
    if batch_size < 1:
        raise InputError(f"batch_size is {batch_size}; expected a positive int or None")
    return int(batch_size)


def _compute_dtype(dtype, Y: np.ndarray):
    if dtype is None:
        return np.float32 if Y.dtype == np.float32 else np.float64
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"dtype is {dtype!r}; expected float32, float64 or None")
    return np.dtype(dtype).type


def _batches(cols: np.ndarray, step: int) -> Iterator[np.ndarray | slice]:
    """Column batches of ``cols`` (sorted indices) as slices when contiguous, else indices."""
    for b0 in range(0, cols.size, step):
        c = cols[b0 : b0 + step]
        yield slice(int(c[0]), int(c[-1]) + 1) if c[-1] - c[0] + 1 == c.size else c


def _masked_columns(Y: np.ndarray, step: int, constant: bool) -> np.ndarray:
    """Boolean (v,): columns with any NaN/inf, or (``constant``) with a single value."""
    bad = np.zeros(Y.shape[1], dtype=bool)
    for b0 in range(0, Y.shape[1], step):
        Yb = Y[:, b0 : b0 + step]
        finite = np.isfinite(Yb).all(axis=0)
        bad[b0 : b0 + step] = ~finite
        if constant:
            bad[b0 : b0 + step] |= finite & (Yb.max(axis=0) == Yb.min(axis=0))
    return bad


def _warn_masked(n_masked: int, v: int, what: str) -> None:
    if n_masked:
        LOG.warning(
            "%d of %d response columns are %s; they are masked (NaN results), the rest are fitted",
            n_masked,
            v,
            what,
        )


# ---------------------------------------------------------------------------------------------
# Pure solvers on an SVD of the centered design (numpy)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CenteredSVD:
    """Thin SVD of a centered design: ``X - x_mean = U @ diag(s) @ Vt``.

    Attributes
    ----------
    x_mean : array of shape (p,)
        Column means (zeros without intercept).
    U : array of shape (n, k)
    s : array of shape (k,)
        Singular values above the rank tolerance, descending.
    Vt : array of shape (k, p)
    """

    x_mean: np.ndarray
    U: np.ndarray
    s: np.ndarray
    Vt: np.ndarray


def centered_svd(X, fit_intercept: bool = True) -> CenteredSVD:
    """Center ``X`` (n, p) when ``fit_intercept`` and return its thin SVD (see CenteredSVD)."""
    X = np.asarray(X, dtype=np.float64)
    x_mean = X.mean(axis=0) if fit_intercept else np.zeros(X.shape[1])
    U, s, Vt = np.linalg.svd(X - x_mean, full_matrices=False)
    keep = s > s.max(initial=0.0) * max(X.shape) * np.finfo(np.float64).eps
    return CenteredSVD(x_mean, U[:, keep], s[keep], Vt[keep])


def _svd_factors(s, alphas):
    """``s / (s**2 + a)``, shape (n_alphas, k), for singular values s (k,) (any backend)."""
    return s[None, :] / (s[None, :] ** 2 + alphas[:, None])


def svd_ridge_weights(U, s, Vt, Y, alpha_per_target) -> np.ndarray:
    """Ridge weights for centered data from the SVD of the centered design.

    Parameters
    ----------
    U, s, Vt : arrays of shape (n, k), (k,), (k, p)
        Thin SVD of the centered training design.
    Y : array of shape (n, v)
        Centered training targets.
    alpha_per_target : float or array of shape (v,)
        Penalty per target.

    Returns
    -------
    coef : array of shape (p, v)
        ``Vt.T @ (D * (U.T @ Y))`` with ``D = s / (s**2 + alpha)`` of shape (k, v).
    """
    Y = np.asarray(Y, dtype=np.float64)
    alpha = np.broadcast_to(np.asarray(alpha_per_target, dtype=np.float64), (Y.shape[1],))
    return Vt.T @ (_svd_factors(s, alpha).T * (U.T @ Y))


def _alpha_predictions(bk: Backend, A, F, Z, out=None) -> Iterator[Any]:
    """Yield the centered test predictions ``(A * F[i]) @ Z`` (m, v) of each alpha ``i``.

    The one per-alpha loop of this module: :func:`svd_ridge_predict_path` stacks what it
    yields, the CV error routines reduce each prediction in place in the reused ``out``.
    """
    for i in range(F.shape[0]):
        yield bk.matmul(A * F[i], Z, out=out)


def svd_ridge_predict_path(U, s, Vt, Y_train, X_test, alphas) -> np.ndarray:
    """Centered predictions for every alpha, from one SVD.

    Parameters
    ----------
    U, s, Vt : arrays of shape (n, k), (k,), (k, p)
        Thin SVD of the centered training design.
    Y_train : array of shape (n, v)
        Centered training targets.
    X_test : array of shape (m, p)
        Test rows, centered with the *training* column means.
    alphas : array of shape (n_alphas,)

    Returns
    -------
    predictions : array of shape (n_alphas, m, v)
        Centered predictions (add the training target means for raw predictions).
    """
    alphas = _check_alphas(alphas)
    A = np.asarray(X_test, dtype=np.float64) @ Vt.T
    Z = U.T @ np.asarray(Y_train, dtype=np.float64)
    bk = get_backend("numpy")
    return np.stack(list(_alpha_predictions(bk, A, _svd_factors(s, alphas), Z)))


def ridge_svd(X, Y, alpha, fit_intercept: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fit ridge for all targets at once.

    Parameters
    ----------
    X : array of shape (n, p)
    Y : array of shape (n, v)
    alpha : float or array of shape (v,)
    fit_intercept : bool
        Center X and Y (unpenalized intercept).

    Returns
    -------
    coef : array of shape (p, v)
    intercept : array of shape (v,)
    """
    X, Y, _ = _check_xy(X, Y)
    svd = centered_svd(X, fit_intercept)
    Y = Y.astype(np.float64)
    y_mean = Y.mean(axis=0) if fit_intercept else np.zeros(Y.shape[1])
    coef = svd_ridge_weights(svd.U, svd.s, svd.Vt, Y - y_mean, alpha)
    return coef, y_mean - svd.x_mean @ coef


# ---------------------------------------------------------------------------------------------
# Decompositions of training sets (any backend)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Basis:
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
    loo_scale: Any  # (n_train, n_alphas) compute dtype: 1 / (1 - h_ii), or None
    W: Any  # (p, k) compute dtype: coef = W @ C, or None
    x_proj: Any  # (k,) compute dtype: training column means of X @ W (for intercepts), or None
    kernel_rows: Any  # (n_train,) float64 backend: column means of the training kernel
    kernel_all: float  # grand mean of the training kernel
    kind: str  # "svd" or "eigh"


class _Design:
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

    def basis(self, train, test, alphas, dtype, *, loo=False, weights=False) -> _Basis:
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
            F = _svd_factors(s, a)
            H = F * s[None, :]
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
            if te is not None:
                A = _center_kernel_rows(bk, self.gram[te][:, tr], kernel_rows, kernel_all) @ U
            if weights and self.X_np is not None:
                mean = bk.col_mean(self.Xb[tr]) if self.fit_intercept else 0.0
                W = (self.Xb[tr] - mean).T @ U
                x_mean = mean
        if W is not None:  # the original (unshifted) training means, projected
            x_proj = bk.astype((x_mean + bk.asarray(self.shift, np.float64)) @ W, dtype)
        loo_scale = None
        if loo:
            h = (U * U) @ H.T + (1.0 / train.size if self.fit_intercept else 0.0)
            loo_scale = bk.astype(1.0 / (1.0 - h), dtype)
        return _Basis(
            train=train,
            test=None if test is None else np.asarray(test, dtype=np.intp),
            train_idx=tr,
            test_idx=te,
            B=bk.astype(U, dtype),
            A=None if A is None else bk.astype(A, dtype),
            F=bk.astype(F, dtype),
            H=bk.astype(H, dtype) if loo else None,
            loo_scale=loo_scale,
            W=None if W is None else bk.astype(W, dtype),
            x_proj=x_proj,
            kernel_rows=kernel_rows,
            kernel_all=kernel_all,
            kind=kind,
        )


def _center_kernel_rows(bk: Backend, Kte, kernel_rows, kernel_all):
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
class _Plan:
    """Everything inner CV and the refit need from the design, computed once per fit."""

    bk: Backend
    dtype: type
    fit_intercept: bool
    folds: list[_Basis] | None  # None: exact leave-one-out on ``full``
    full: _Basis
    prune: bool = False  # LOO: skip alphas that provably lose (errors then inf there)


def _is_int(x) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _inner_pairs(cv, X_rows: np.ndarray, random_state, name: str = "cv"):
    """(train, test) pairs relative to the rows of ``X_rows``, or ``"loo"``."""
    n = X_rows.shape[0]
    if isinstance(cv, str):
        if cv != "loo":
            raise InputError(f"{name} is {cv!r}; expected an int, 'loo', a splitter or pairs")
        return "loo"
    if _is_int(cv):
        if not 2 <= cv <= n:
            raise InputError(f"{name} is {cv} folds for {n} samples; expected 2 <= {name} <= {n}")
        pairs = KFold(int(cv), shuffle=True, random_state=random_state).split(X_rows)
    elif hasattr(cv, "split"):
        try:
            pairs = list(cv.split(X_rows))
        except (TypeError, ValueError) as err:  # e.g. GroupKFold without groups
            raise InputError(
                f"{name}.split(X) failed ({err}); for grouped folds pass explicit (train, test) "
                "pairs"
            ) from None
    elif isinstance(cv, list | tuple):
        pairs = cv
    else:
        raise InputError(f"{name} is {cv!r}; expected an int, 'loo', a splitter or pairs")
    out = []
    for pair in pairs:
        try:
            tr, te = (np.asarray(x) for x in pair)
        except (TypeError, ValueError):
            raise InputError(f"{name} has an element {pair!r}; expected (train, test)") from None
        for rows in (tr, te):
            if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
                raise InputError(f"{name} has a split with rows {rows!r}; expected non-empty ints")
            if rows.min() < 0 or rows.max() >= n:
                raise InputError(
                    f"{name} has a split with rows outside [0, {n}); expected row indices"
                )
        if tr.size < 2:
            raise InputError(f"{name} has a training set of {tr.size} row; expected at least 2")
        out.append((tr.astype(np.intp), te.astype(np.intp)))
    if not out:
        raise InputError(f"{name} gave no splits; expected at least one (train, test) pair")
    return out


def _make_plan(
    design: _Design, rows, pairs, alphas, dtype, *, test=None, weights=False, prune=False
) -> _Plan:
    """Decompose the training set ``rows`` and its inner folds ``pairs`` (relative to rows).

    ``prune``: the caller needs only each target's best alpha, not every alpha's error, so
    leave-one-out may skip alphas whose error provably exceeds another's
    (:func:`dnnmap.encoding.loo_pruning.loo_sse_pruned`).
    """
    rows = np.asarray(rows, dtype=np.intp)
    loo = isinstance(pairs, str)
    full = design.basis(rows, test, alphas, dtype, loo=loo, weights=weights)
    folds = None
    if not loo:
        folds = [design.basis(rows[tr], rows[te], alphas, dtype) for tr, te in pairs]
    return _Plan(design.bk, dtype, design.fit_intercept, folds, full, prune and loo)


def _centered(plan: _Plan, Y, idx):
    """Rows ``idx`` of Y (backend, compute dtype) centered with their own means, and the means."""
    Yr = Y[idx]
    if not plan.fit_intercept:
        return Yr, None
    mean = plan.bk.astype(plan.bk.col_mean(Yr), plan.dtype)
    Yr -= mean
    return Yr, mean


def _sse(bk: Backend, A, F, Z, Yref, dtype, scale=None):
    """Sum of squared errors (n_alphas, v), float64, of ``(A * F[i]) @ Z`` against ``Yref``."""
    out = bk.empty((F.shape[0], Z.shape[1]), np.float64)
    buf = bk.empty((A.shape[0], Z.shape[1]), dtype)
    for i, P in enumerate(_alpha_predictions(bk, A, F, Z, out=buf)):
        P -= Yref
        if scale is not None:
            P *= scale[:, i : i + 1]
        out[i] = bk.col_sumsq(P)
    return out


def _plan_errors(plan: _Plan, Y):
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
            sse = loo_sse_pruned(bk, full, Z, Yc, plan.dtype)
        else:
            sse = bk.to_numpy(_sse(bk, full.B, full.H, Z, Yc, plan.dtype, full.loo_scale))
        return sse / full.train.size, (Z, mean)
    errors = 0.0
    for fold in plan.folds:
        Ytr, mean = _centered(plan, Y, fold.train_idx)
        Z = fold.B.T @ Ytr
        del Ytr
        Yte = Y[fold.test_idx]
        if mean is not None:
            Yte -= mean
        errors = errors + _sse(bk, fold.A, fold.F, Z, Yte, plan.dtype) / fold.test.size
    return bk.to_numpy(errors) / len(plan.folds), None


def _refit(plan: _Plan, Y, best: np.ndarray, projected=None):
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


def _check_train_size(rows: int, pairs) -> None:
    if pairs == "loo" and rows < 3:
        raise InputError(f"cv is 'loo' for {rows} samples; expected at least 3 samples")


def _fit_batches(plan: _Plan, Y: np.ndarray, cols: np.ndarray, step: int, on_batch, refit=True):
    """Run inner CV and the refit for the columns ``cols`` of Y, ``step`` at a time.

    ``on_batch(cols, errors, best, C, mean)`` receives each batch: its columns (slice or
    indices), CV errors (n_alphas, b) numpy, best alpha indices (b,), refit factors C (k, b)
    and target means (b,) (backend; None without intercept, both None without ``refit``).
    """
    bk = plan.bk
    for c in _batches(cols, step):
        Yb = bk.asarray(np.ascontiguousarray(Y[:, c], dtype=plan.dtype), plan.dtype)
        errors, projected = _plan_errors(plan, Yb)
        # NaN (0 * inf when a leverage rounds to 1) never wins
        best = np.argmin(np.nan_to_num(errors, nan=np.inf), axis=0)
        C = mean = None
        if refit:
            C, mean = _refit(plan, Yb, best, projected)
        del Yb, projected
        on_batch(c, errors, best, C, mean)


def select_alpha(
    X,
    Y,
    alphas=DEFAULT_ALPHAS,
    cv=5,
    fit_intercept: bool = True,
    *,
    random_state: int | None = 0,
    solver: str = "auto",
    device: str = "auto",
    batch_size: int | None = None,
    dtype=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the ridge penalty per target by inner cross-validation.

    Parameters
    ----------
    X : array of shape (n, p)
    Y : array of shape (n, v) or (n,)
        Columns with NaN/inf are masked (NaN outputs, a logged warning).
    alphas : array of shape (n_alphas,)
        Positive penalties.
    cv : int, "loo", splitter or list of (train, test) pairs
        ``int``: shuffled k-fold ``KFold(cv, shuffle=True, random_state=random_state)``;
        ``"loo"``: exact efficient leave-one-out; an object whose ``split(X)`` yields
        (train, test) indices; or an explicit list of (train, test) index pairs.
    fit_intercept : bool
        Unpenalized intercept (center X and Y within each training set).
    random_state : int or None
        Seed of the shuffled k-fold when ``cv`` is an int.
    solver : {"auto", "svd", "eigh"}
        Decomposition (see the module docstring); "auto" picks by the training-set shape.
    device : str
        Compute backend (:func:`dnnmap.backend.get_backend`).
    batch_size : int or None
        Targets per batch (None: all at once).
    dtype : None, float32 or float64
        Compute dtype of the large products (None: float32 for float32 Y, else float64).

    Returns
    -------
    alpha : array of shape (v,)
        Alpha of least CV error per target (first in the given order on ties).
    cv_errors : array of shape (n_alphas, v)
        Mean squared CV error per alpha and target (float64).
    """
    est = RidgeCV(
        alphas,
        cv,
        fit_intercept,
        batch_size,
        solver=solver,
        device=device,
        random_state=random_state,
        dtype=dtype,
    )
    est._fit(X, Y, weights=False)
    return np.atleast_1d(est.alpha_), est.cv_errors_.reshape(est.cv_errors_.shape[0], -1)


# ---------------------------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------------------------


class RidgeCV:
    """Ridge with one alpha per target chosen by inner cross-validation.

    One decomposition per inner fold and one of the whole training set serve every alpha
    and every target; targets are processed ``batch_size`` at a time.

    Parameters
    ----------
    alphas : array of shape (n_alphas,)
        Candidate positive penalties.
    cv : int, "loo", splitter or list of (train, test) pairs
        Inner cross-validation (see :func:`select_alpha`).
    fit_intercept : bool
        Unpenalized intercept.
    batch_size : int or None
        Targets per batch (bounds memory; results do not depend on it). None: all at once.
    solver : {"auto", "svd", "eigh"}
        ``"svd"``: SVD of the centered design (primal); ``"eigh"``: eigendecomposition of
        the centered Gram matrix (dual); ``"auto"``: dual when a training set has fewer rows
        than columns.
    device : str
        ``"auto"``, ``"numpy"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (see
        :mod:`dnnmap.backend`).
    random_state : int or None
        Seed of the shuffled k-fold when ``cv`` is an int.
    dtype : None, float32 or float64
        Compute dtype of the large products (None: float32 for float32 Y, else float64).

    Attributes
    ----------
    coef_ : array of shape (p, v), or (p,) when fitted on 1-D Y
        In the compute dtype; NaN for masked targets (NaN/inf in their column).
    intercept_ : array of shape (v,), or float
    alpha_ : array of shape (v,), or float
    cv_errors_ : array of shape (n_alphas, v), or (n_alphas,)
        Mean squared CV error per alpha and target.
    solver_ : str
        Decomposition of the full training set, ``"svd"`` or ``"eigh"``.
    n_features_in_ : int
    """

    def __init__(
        self,
        alphas=DEFAULT_ALPHAS,
        cv=5,
        fit_intercept=True,
        batch_size=None,
        *,
        solver="auto",
        device="auto",
        random_state=0,
        dtype=None,
    ):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.solver = solver
        self.device = device
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, Y) -> RidgeCV:
        """Select alpha per target on (X, Y) by inner CV, then refit on all rows."""
        return self._fit(X, Y, weights=True)

    def _fit(self, X, Y, weights: bool) -> RidgeCV:
        X, Y, vector = _check_xy(X, Y, finite_y=False)
        alphas = _check_alphas(self.alphas)
        solver = _check_solver(self.solver)
        (n, p), v = X.shape, Y.shape[1]
        step = _check_batch(self.batch_size, v)
        dtype = _compute_dtype(self.dtype, Y)
        bk = get_backend(self.device)
        pairs = _inner_pairs(self.cv, X, self.random_state)
        _check_train_size(n, pairs)
        bad = _masked_columns(Y, step, constant=False)
        _warn_masked(int(bad.sum()), v, "not finite (NaN or inf)")
        design = _Design(bk, X, fit_intercept=self.fit_intercept, solver=solver)
        plan = _make_plan(design, np.arange(n), pairs, alphas, dtype, weights=weights)
        coef = np.empty((p, v), dtype=dtype) if weights else None
        if weights:
            coef[:, bad] = np.nan
        intercept = np.full(v, np.nan)
        alpha = np.full(v, np.nan)
        cv_errors = np.full((alphas.size, v), np.nan)

        def store(c, errors, best, C, mean):
            cv_errors[:, c] = errors
            alpha[c] = alphas[best]
            if weights:
                coef[:, c] = bk.to_numpy(plan.full.W @ C)
                offset = plan.full.x_proj @ C
                intercept[c] = bk.to_numpy(-offset if mean is None else mean - offset)

        _fit_batches(plan, Y, np.flatnonzero(~bad), step, store, refit=weights)
        if vector:
            alpha, cv_errors = alpha[0], cv_errors[:, 0]
            if weights:
                coef, intercept = coef[:, 0], intercept[0]
        self.alpha_, self.cv_errors_ = alpha, cv_errors
        if weights:
            self.coef_, self.intercept_ = coef, intercept
        self.solver_ = plan.full.kind
        self.n_features_in_ = p
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions of shape (m, v), or (m,) when fitted on 1-D Y (dtype of ``coef_``)."""
        X = _check_x(X)
        if X.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {X.shape[1]} features; expected {self.n_features_in_} as in fit"
            )
        return X.astype(self.coef_.dtype) @ self.coef_ + self.intercept_.astype(self.coef_.dtype)

    def score(self, X, Y) -> np.ndarray:
        """Pearson r per target between ``Y`` and ``predict(X)``: shape (v,), or float."""
        return pearson_r(Y, self.predict(X))


# ---------------------------------------------------------------------------------------------
# Outer cross-validated encoding
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodingResult:
    """Out-of-fold encoding performance.

    Attributes
    ----------
    predictions : array of shape (n, v)
        Out-of-fold predictions of the first repeat (float32 for float32 Y, else float64);
        NaN in rows that no test set of the first repeat holds and in masked columns.
    score : array of shape (v,)
        Pearson r between the pooled out-of-fold predictions and Y on the tested rows,
        averaged over repeats.
    r2 : array of shape (v,)
        Coefficient of determination of the pooled out-of-fold predictions, likewise.
    fold_scores : array of shape (n_splits, v)
        Pearson r within each test set (NaN for test sets of fewer than 3 rows).
    alpha : array of shape (n_splits, v)
        Alpha chosen by the inner CV in each outer split.
    folds : array of shape (n,)
        Index of the first-repeat split that tests each row (-1: never tested).
    explained_variance : array of shape (v,) or None
        Explained variance (``1 - Var(residual) / Var(Y)``) of the pooled out-of-fold
        predictions, averaged over repeats like ``score``.
    masked : array of shape (v,) or None
        True for columns that were constant or not finite (their outputs are NaN).
    """

    predictions: np.ndarray
    score: np.ndarray
    r2: np.ndarray
    fold_scores: np.ndarray
    alpha: np.ndarray
    folds: np.ndarray
    explained_variance: np.ndarray | None = None
    masked: np.ndarray | None = None


def outer_folds(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (n,) per row: ``default_rng(seed).permutation(n)`` cut into equal-as-possible
    consecutive parts (first ``n % n_folds`` folds one row larger)."""
    if not _is_int(n_folds) or not 2 <= n_folds <= n // 2:
        raise InputError(f"n_folds is {n_folds} for {n} samples; expected 2 <= n_folds <= {n // 2}")
    folds = np.empty(n, dtype=np.int64)
    for f, rows in enumerate(np.array_split(np.random.default_rng(seed).permutation(n), n_folds)):
        folds[rows] = f
    return folds


def _outer_splits(splits, n: int, n_folds, seed):
    """(train list, test list, repeat (n_splits,), folds (n,)) of the outer CV."""
    if splits is None:
        folds = outer_folds(n, n_folds, seed)
        train = [np.flatnonzero(folds != f) for f in range(n_folds)]
        test = [np.flatnonzero(folds == f) for f in range(n_folds)]
        return train, test, np.zeros(n_folds, dtype=np.int64), folds
    if not isinstance(splits, Splits):
        raise InputError(
            f"splits is {type(splits).__name__}; expected a dnnmap.stats.splits.Splits"
        )
    if splits.n != n:
        raise InputError(f"splits are for {splits.n} stimuli but X has {n} rows; expected equal")
    repeat = np.asarray(splits.repeat, dtype=np.int64)
    if len(splits.train) != len(splits.test) or repeat.shape != (len(splits.train),):
        raise InputError(
            f"splits have {len(splits.train)} training sets, {len(splits.test)} test sets and "
            f"{repeat.size} repeat labels; expected one of each per split"
        )
    if len(splits) == 0 or repeat.min() < 0:
        raise InputError("splits are empty or have negative repeats; expected at least one split")
    train, test = [], []
    for i, (tr, te) in enumerate(zip(splits.train, splits.test, strict=True)):
        tr, te = np.asarray(tr), np.asarray(te)
        for what, rows in (("training", tr), ("test", te)):
            if (
                rows.ndim != 1
                or rows.size == 0
                or not np.issubdtype(rows.dtype, np.integer)
                or rows.min() < 0
                or rows.max() >= n
            ):
                raise InputError(
                    f"splits: split {i} has {what} rows {rows!r}; expected non-empty row "
                    f"indices in [0, {n})"
                )
        if tr.size < 3:
            raise InputError(f"splits: split {i} trains on {tr.size} rows; expected at least 3")
        train.append(tr.astype(np.intp))
        test.append(te.astype(np.intp))
    folds = np.full(n, -1, dtype=np.int64)
    for f, i in enumerate(np.flatnonzero(repeat == repeat.min())):
        folds[test[i]] = f
    return train, test, repeat, folds


def _inner_spec(inner_cv, X: np.ndarray, train: np.ndarray, seed):
    """The inner CV pairs (relative to ``train``) or ``"loo"`` for one outer split."""
    spec = inner_cv
    if callable(inner_cv) and not hasattr(inner_cv, "split"):
        spec = inner_cv(train)
    elif isinstance(inner_cv, list | tuple):
        raise InputError(
            "inner_cv is a list of (train, test) pairs; expected an int, 'loo', a splitter, or "
            "a callable mapping each outer training set's rows to its inner pairs"
        )
    return _inner_pairs(spec, X[train], seed, name="inner_cv")


def _take(A: np.ndarray, rows, cols):
    """``A[rows][:, cols]`` without copying more than the result (rows None: all rows)."""
    if rows is None:
        return A[:, cols]
    if isinstance(cols, slice):
        return A[rows, cols]
    return A[np.ix_(rows, cols)]


def _put(A: np.ndarray, rows, cols, values) -> None:
    if isinstance(cols, slice):
        A[rows, cols] = values
    else:
        A[np.ix_(rows, cols)] = values


def cross_validated_encoding(
    X,
    Y,
    alphas=DEFAULT_ALPHAS,
    n_folds: int = 5,
    seed: int = 0,
    inner_cv=5,
    *,
    splits: Splits | None = None,
    batch_size: int = 10000,
    fit_intercept: bool = True,
    solver: str = "auto",
    device: str = "auto",
    dtype=None,
) -> EncodingResult:
    """Outer cross-validated encoding: per outer split, RidgeCV on the training rows
    (alpha per voxel by inner CV on those rows only), predictions for the test rows.

    The decompositions (outer training set and its inner folds) are computed once per outer
    split and reused for every batch of ``batch_size`` targets; results do not depend on
    ``batch_size``.

    Constant and NaN responses: a column of Y that is constant or holds any NaN/inf is
    masked: it is not fitted, all its outputs (predictions, scores, alphas) are NaN, the
    other columns are fitted as usual, and the number masked is logged as a warning on the
    ``dnnmap`` logger. NaN/inf in X is an InputError.

    Parameters
    ----------
    X : array of shape (n, p)
        Features (e.g. PCA scores of a layer).
    Y : array of shape (n, v) or (n,)
        Responses (e.g. voxels); 1-D Y gives 1-D (or scalar) outputs.
    alphas : array of shape (n_alphas,)
        Candidate penalties.
    n_folds : int
        Outer folds when ``splits`` is None: rows assigned by :func:`outer_folds` with
        ``seed``.
    seed : int
        Seed of the outer fold assignment and of the shuffled inner k-fold.
    inner_cv : int, "loo", splitter or callable
        Inner CV on each outer training set. An int means shuffled k-fold,
        ``KFold(inner_cv, shuffle=True, random_state=seed)``; ``"loo"`` exact leave-one-out;
        a splitter's ``split`` gets the training rows of X; a callable gets the outer
        training row indices (n_train,) and returns any of the above or a list of (train,
        test) pairs relative to those rows (e.g. grouped inner folds).
    splits : dnnmap.stats.splits.Splits or None
        Explicit outer splits (replace ``n_folds``). Test sets within a repeat are
        disjoint; repeats are averaged.
    batch_size : int
        Targets per batch.
    fit_intercept : bool
        Unpenalized intercept.
    solver : {"auto", "svd", "eigh"}
        Decomposition (see the module docstring).
    device : str
        Compute backend (:func:`dnnmap.backend.get_backend`).
    dtype : None, float32 or float64
        Compute dtype of the large products (None: float32 for float32 Y, else float64).

    Returns
    -------
    EncodingResult
        ``predictions`` (n, v) of the first repeat; ``score``, ``r2``,
        ``explained_variance`` (v,) the mean over repeats of the pooled out-of-fold Pearson
        r / R² / explained variance on the tested rows; ``fold_scores`` and ``alpha``
        (n_splits, v); ``folds`` (n,); ``masked`` (v,).
    """
    X, Y, vector = _check_xy(X, Y, finite_y=False)
    alphas = _check_alphas(alphas)
    solver = _check_solver(solver)
    n, v = Y.shape
    step = _check_batch(batch_size, v)
    train, test, repeat, folds = _outer_splits(splits, n, n_folds, seed)
    if _is_int(inner_cv):
        smallest = min(t.size for t in train)
        if not 2 <= inner_cv <= smallest:
            raise InputError(
                f"inner_cv is {inner_cv} folds for {smallest} training samples; "
                f"expected 2 <= inner_cv <= {smallest}"
            )
    dtype = _compute_dtype(dtype, Y)
    bk = get_backend(device)
    masked = _masked_columns(Y, step, constant=True)
    _warn_masked(int(masked.sum()), v, "constant or not finite (NaN or inf)")
    cols = np.flatnonzero(~masked)
    out_dtype = np.float32 if Y.dtype == np.float32 else np.float64
    predictions = np.full((n, v), np.nan, dtype=out_dtype)
    scratch = None
    alpha = np.full((len(train), v), np.nan)
    fold_scores = np.full((len(train), v), np.nan)
    score, r2, ev = np.zeros(v), np.zeros(v), np.zeros(v)
    design = _Design(bk, X, fit_intercept=fit_intercept, solver=solver)
    repeats = np.unique(repeat)
    for r in repeats:
        if r == repeats[0]:
            buf = predictions
        else:
            if scratch is None:
                scratch = np.empty((n, v), dtype=out_dtype)
            buf = scratch
            buf.fill(np.nan)
        which = np.flatnonzero(repeat == r)
        for s in which:
            tr, te = train[s], test[s]
            pairs = _inner_spec(inner_cv, X, tr, seed)
            _check_train_size(tr.size, pairs)
            plan = _make_plan(design, tr, pairs, alphas, dtype, test=te, prune=True)

            def store(c, errors, best, C, mean, s=s, te=te, plan=plan, buf=buf):
                pred = plan.full.A @ C
                if mean is not None:
                    pred += mean
                pred = bk.to_numpy(pred)
                _put(buf, te, c, pred)
                alpha[s, c] = alphas[best]
                if te.size >= 3:
                    fold_scores[s, c] = pearson_r(_take(Y, te, c), pred)

            _fit_batches(plan, Y, cols, step, store)
        rows = np.unique(np.concatenate([test[s] for s in which]))
        rows = None if rows.size == n else rows
        for c in _batches(cols, step):
            if rows is not None and rows.size < 3:
                score[c] = r2[c] = ev[c] = np.nan
                continue
            y_true, y_pred = _take(Y, rows, c), _take(buf, rows, c)
            score[c] += pearson_r(y_true, y_pred)
            r2[c] += r2_score(y_true, y_pred)
            ev[c] += explained_variance(y_true, y_pred)
    for stat in (score, r2, ev):
        stat /= repeats.size
        stat[masked] = np.nan
    if vector:
        return EncodingResult(
            predictions[:, 0],
            score[0],
            r2[0],
            fold_scores[:, 0],
            alpha[:, 0],
            folds,
            ev[0],
            masked,
        )
    return EncodingResult(predictions, score, r2, fold_scores, alpha, folds, ev, masked)
