"""Kernel ridge regression with one alpha per target chosen by inner cross-validation.

The dual of ridge regression in a kernel's feature space: for a training kernel ``K`` (n, n)
and targets Y (n, v), the dual coefficients of penalty ``a`` are ``c = (K + a I)^-1 Y`` and
the predictions for new points ``K_new @ c`` (``K_new`` (m, n): kernel between new and
training points), as ``sklearn.kernel_ridge.KernelRidge``.

The kernel of all rows is computed once; each training set (inner fold, or all rows) is
diagonalised once, ``K_train = U diag(lam) U.T``, and that one eigendecomposition serves every
alpha and every target: ``c = U @ (Z / (lam + a))`` with ``Z = U.T @ Y``. The inner-CV
machinery (k-fold, exact leave-one-out, splitters, explicit pairs; float64 decompositions,
float32 or float64 products, batches of targets, masking of non-finite targets) is the one
of :mod:`dnnmap.encoding.ridge` (its engine, :mod:`dnnmap.encoding._ridge_solver`); see its
docstring. All eigenvalues are kept (negative rounding
errors clipped to 0), so the dual coefficients equal ``(K + a I)^-1 Y`` exactly.

``fit_intercept=True`` centers the kernel in feature space (``KernelCenterer``: training
means, also for new points) and the targets, as ``himalaya.kernel_ridge.KernelRidgeCV(
fit_intercept=True)``; with the linear kernel this is ridge with an unpenalized intercept.
``fit_intercept=False`` is scikit-learn's ``KernelRidge`` (no intercept).

Kernels (scikit-learn's ``pairwise_kernels`` definitions; ``gamma=None`` means
``1 / n_features``):

* ``linear``: ``x . z``
* ``polynomial``: ``(gamma x . z + coef0) ** degree`` (defaults degree 3, coef0 1)
* ``rbf``: ``exp(-gamma ||x - z||**2)``
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

from dnnmap.backend import Backend, get_backend
from dnnmap.brain.summary import masked_voxels
from dnnmap.checks import check_matrix
from dnnmap.encoding._ridge_solver import (
    Design,
    center_kernel_rows,
    check_alpha_scale,
    check_alphas,
    check_batch,
    check_train_size,
    compute_dtype,
    fit_batches,
    inner_pairs,
    kernel_scale,
    make_plan,
)
from dnnmap.encoding.base import (
    EncodingScoreMixin,
    check_fitted,
    check_xy,
    warn_masked,
)
from dnnmap.encoding.ridge import DEFAULT_ALPHAS
from dnnmap.errors import InputError

KERNELS = {"linear": (), "polynomial": ("gamma", "degree", "coef0"), "rbf": ("gamma",)}


def check_kernel_params(kernel: str, params: dict | None, n_features: int) -> dict:
    """Validated kernel parameters with defaults filled in.

    Parameters
    ----------
    kernel : {"linear", "polynomial", "rbf"}
    params : dict or None
        ``gamma`` (positive or None), ``degree`` (positive int), ``coef0`` (number).
    n_features : int
        Gives the default ``gamma = 1 / n_features``.

    Returns
    -------
    dict
        All parameters of the kernel (empty for ``linear``).
    """
    if kernel not in KERNELS:
        raise InputError(f"kernel is {kernel!r}; expected one of {', '.join(KERNELS)}")
    params = dict(params or {})
    unknown = sorted(set(params) - set(KERNELS[kernel]))
    if unknown:
        allowed = ", ".join(KERNELS[kernel]) or "none"
        raise InputError(f"kernel_params has {unknown} for kernel {kernel!r}; expected {allowed}")
    out = {}
    if "gamma" in KERNELS[kernel]:
        gamma = params.get("gamma")
        gamma = 1.0 / n_features if gamma is None else gamma
        if not isinstance(gamma, numbers.Real) or not np.isfinite(gamma) or gamma <= 0:
            raise InputError(f"kernel_params gamma is {gamma!r}; expected a positive number")
        out["gamma"] = float(gamma)
    if kernel == "polynomial":
        degree = params.get("degree", 3)
        if isinstance(degree, bool) or not isinstance(degree, numbers.Integral) or degree < 1:
            raise InputError(f"kernel_params degree is {degree!r}; expected a positive int")
        coef0 = params.get("coef0", 1.0)
        if not isinstance(coef0, numbers.Real) or not np.isfinite(coef0):
            raise InputError(f"kernel_params coef0 is {coef0!r}; expected a finite number")
        out["degree"], out["coef0"] = int(degree), float(coef0)
    return out


def _kernel(bk: Backend, X, Z, kernel: str, params: dict):
    """Kernel (n, m) between rows of backend float64 arrays X (n, p) and Z (m, p)."""
    if kernel == "rbf":
        d = bk.col_sumsq(X.T)[:, None] + bk.col_sumsq(Z.T)[None, :] - 2.0 * (X @ Z.T)
        return bk.exp(-params["gamma"] * (d * (d > 0)))
    K = X @ Z.T
    if kernel == "polynomial":
        K = (params["gamma"] * K + params["coef0"]) ** params["degree"]
    return K


def kernel_matrix(X, Z=None, kernel: str = "linear", kernel_params=None, *, device="numpy"):
    """Kernel between the rows of X and of Z (scikit-learn's ``pairwise_kernels``).

    Parameters
    ----------
    X : array of shape (n, p)
    Z : array of shape (m, p) or None
        None: Z = X.
    kernel : {"linear", "polynomial", "rbf"}
    kernel_params : dict or None
        See :func:`check_kernel_params`.
    device : str
        Compute backend (:func:`dnnmap.backend.get_backend`).

    Returns
    -------
    K : array of shape (n, m), float64
    """
    X = check_matrix(X, "X")
    Z = X if Z is None else check_matrix(Z, "Z")
    if Z.shape[1] != X.shape[1]:
        raise InputError(f"Z has {Z.shape[1]} features; expected {X.shape[1]} as X")
    params = check_kernel_params(kernel, kernel_params, X.shape[1])
    bk = get_backend(device)
    Xb = bk.asarray(X, np.float64)
    Zb = Xb if Z is X else bk.asarray(Z, np.float64)
    return bk.to_numpy(_kernel(bk, Xb, Zb, kernel, params))


class KernelRidgeCV(EncodingScoreMixin, BaseEstimator):
    """Kernel ridge with one alpha per target chosen by inner cross-validation.

    Parameters
    ----------
    alphas : array of shape (n_alphas,)
        Candidate positive penalties (one alpha: plain kernel ridge, no CV needed but still
        run).
    kernel : {"linear", "polynomial", "rbf"}
    kernel_params : dict or None
        ``gamma``, ``degree``, ``coef0`` (see :func:`check_kernel_params`).
    cv : int, "loo", splitter or list of (train, test) pairs
        Inner cross-validation (see :func:`dnnmap.encoding.ridge.select_alpha`).
    fit_intercept : bool
        Center kernel and targets (an unpenalized intercept); False is scikit-learn's
        ``KernelRidge``.
    batch_size : int or None
        Targets per batch (None: all at once); results do not depend on it.
    device : str
        Compute backend (:func:`dnnmap.backend.get_backend`).
    random_state : int or None
        Seed of the shuffled k-fold when ``cv`` is an int.
    dtype : None, float32 or float64
        Compute dtype of the large products (None: float32 for float32 Y, else float64).
    alpha_scale : {"absolute", "relative"}
        Penalties as given (default), or ``alphas`` times the mean eigenvalue of the
        (centered) training kernel, ``trace(Kc) / n``; ``alpha_`` reports the multiple.

    Attributes
    ----------
    dual_coef_ : array of shape (n, v), or (n,) for 1-D Y
        ``(K_centered + alpha_v I)^-1 (y_v - mean)`` per target; NaN for masked targets.
    intercept_ : array of shape (v,), or float
        Training target means (0 without intercept).
    alpha_ : array of shape (v,), or float
    cv_errors_ : array of shape (n_alphas, v), or (n_alphas,)
        Mean squared CV error per alpha and target.
    X_fit_ : array of shape (n, p)
        Training features (float64), needed to predict.
    kernel_params_ : dict
        The kernel parameters used (defaults filled in).
    centering_ : tuple of (array of shape (n,) or None, float)
        Column means of the centered training kernel and its grand mean, which center the
        kernel rows of new points (None: no intercept).
    n_features_in_ : int
    """

    def __init__(
        self,
        alphas=DEFAULT_ALPHAS,
        kernel="linear",
        kernel_params=None,
        cv=5,
        fit_intercept=True,
        batch_size=None,
        *,
        device="auto",
        random_state=0,
        dtype=None,
        alpha_scale="absolute",
    ):
        self.alpha_scale = alpha_scale
        self.alphas = alphas
        self.kernel = kernel
        self.kernel_params = kernel_params
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, Y) -> KernelRidgeCV:
        """Select alpha per target on (X, Y) by inner CV, then refit on all rows."""
        X, Y, vector = check_xy(X, Y, finite_y=False, keep_float32=True)
        alphas = check_alphas(self.alphas)
        params = check_kernel_params(self.kernel, self.kernel_params, X.shape[1])
        (n, _), v = X.shape, Y.shape[1]
        step = check_batch(self.batch_size, v)
        dtype = compute_dtype(self.dtype, Y)
        bk = get_backend(self.device)
        pairs = inner_pairs(self.cv, X, self.random_state)
        check_train_size(n, pairs)
        bad = masked_voxels(Y, constant=False, batch_size=step)
        warn_masked(int(bad.sum()), v, "not finite (NaN or inf)")
        Xb = bk.asarray(X, np.float64)
        K = _kernel(bk, Xb, Xb, self.kernel, params)
        design = Design(bk, None, K, fit_intercept=self.fit_intercept, drop_null=False)
        penalties = alphas
        if check_alpha_scale(self.alpha_scale) == "relative":
            penalties = alphas * kernel_scale(bk.to_numpy(K), self.fit_intercept)
        plan = make_plan(design, np.arange(n), pairs, penalties, dtype)
        dual = np.empty((n, v), dtype=dtype)
        dual[:, bad] = np.nan
        intercept = np.full(v, np.nan)
        alpha = np.full(v, np.nan)
        cv_errors = np.full((alphas.size, v), np.nan)

        for c, errors, best, C, mean in fit_batches(plan, Y, np.flatnonzero(~bad), step):
            cv_errors[:, c] = errors
            alpha[c] = alphas[best]
            dual[:, c] = bk.to_numpy(plan.full.B @ C)
            intercept[c] = 0.0 if mean is None else bk.to_numpy(mean)
        if vector:
            dual, intercept, alpha, cv_errors = dual[:, 0], intercept[0], alpha[0], cv_errors[:, 0]
        self.dual_coef_, self.intercept_ = dual, intercept
        self.alpha_, self.cv_errors_ = alpha, cv_errors
        self.X_fit_, self.kernel_params_ = X, params
        full = plan.full
        self.centering_ = (
            None if full.kernel_rows is None else bk.to_numpy(full.kernel_rows),
            full.kernel_all,
        )
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions of shape (m, v), or (m,) when fitted on 1-D Y (dtype of ``dual_coef_``)."""
        X = check_fitted(self, X, "dual_coef_")
        bk = get_backend("numpy")
        K = _kernel(bk, X, self.X_fit_, self.kernel, self.kernel_params_)
        K = center_kernel_rows(bk, K, *self.centering_)
        dtype = self.dual_coef_.dtype
        return K.astype(dtype) @ self.dual_coef_ + np.asarray(self.intercept_, dtype=dtype)
