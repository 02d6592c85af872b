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
    nested folds cost one ``(n_train, n_train)`` eigendecomposition each, taken on the
    complement of the constant (an exact null vector of a centered kernel, whose computed
    eigenvalue would otherwise be rounding). Eigenvalues below
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
  intercept. Both factors are formed without cancellation, as ``R0 + B ((1 - H_a) * Z)``
  and ``sum_j B_ij**2 (1 - H_aj)`` plus the part outside the basis, with
  ``1 - H_a = a / (s**2 + a)`` computed directly: when ``p > n`` both are of order
  ``a / s**2`` at small alphas, and subtracting from 1 in float32 made the errors wrong by
  1e3 at ``a = 1e-6`` (exact now to float32 rounding, and float64 errors to 1e-15).
  Where only the best alpha of each target is needed (the outer folds of
  :func:`cross_validated_encoding`, hence full-refit permutations), alphas are pruned
  first: bounds of every alpha's error from small products (the
  training residual norm and expansions around the residuals of alpha 0 and infinity) leave
  the exact error to be computed only for the alphas whose lower bound is below the target's
  smallest upper bound, so the chosen alphas are those of the full search
  (:mod:`dnnmap.encoding._loo_pruning`);
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

Layout: this module holds the estimator (:class:`RidgeCV`), alpha selection
(:func:`select_alpha`), the closed-form solvers on an SVD (:func:`ridge_svd` and friends) and
the outer cross-validation of ridge (:func:`cross_validated_encoding`, which runs
:func:`dnnmap.encoding.cross_validation.cross_validated_predictions` with :class:`RidgeCV`);
the decompositions, plans and error computations live in the private
:mod:`dnnmap.encoding._ridge_solver`, shared with :mod:`dnnmap.encoding.kernel_ridge`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

from dnnmap.backend import get_backend
from dnnmap.brain.summary import masked_voxels
from dnnmap.checks import is_int
from dnnmap.encoding._ridge_solver import (
    SOLVERS,
    Design,
    alpha_predictions,
    check_alpha_scale,
    check_alphas,
    check_batch,
    check_solver,
    check_train_size,
    compute_dtype,
    fit_batches,
    gram_scale,
    inner_pairs,
    make_plan,
    svd_factors,
)
from dnnmap.encoding.base import (
    EncodingScoreMixin,
    check_fitted,
    check_xy,
    squeeze_targets,
    warn_masked,
)
from dnnmap.encoding.cross_validation import EncodingResult, cross_validated_predictions
from dnnmap.errors import InputError
from dnnmap.features.folds import FoldFeatures
from dnnmap.stats.splits import Splits, check_splits, kfold_assignment, make_splits

DEFAULT_ALPHAS = np.logspace(-2, 6, 17)
"""The default candidate penalties of every encoding estimator (17 values, 1e-2 to 1e6)."""
DEFAULT_BATCH = 10000
"""Targets per batch of :func:`cross_validated_encoding` (bounds the work arrays)."""

__all__ = [
    "DEFAULT_ALPHAS",
    "DEFAULT_BATCH",
    "SOLVERS",
    "CenteredSVD",
    "EncodingResult",
    "RidgeCV",
    "centered_svd",
    "cross_validated_encoding",
    "outer_folds",
    "ridge_cv_setup",
    "ridge_svd",
    "select_alpha",
    "svd_ridge_predict_path",
    "svd_ridge_weights",
]


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
    return Vt.T @ (svd_factors(s, alpha).T * (U.T @ Y))


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
    alphas = check_alphas(alphas)
    A = np.asarray(X_test, dtype=np.float64) @ Vt.T
    Z = U.T @ np.asarray(Y_train, dtype=np.float64)
    bk = get_backend("numpy")
    return np.stack(list(alpha_predictions(bk, A, svd_factors(s, alphas), Z)))


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
    X, Y, _ = check_xy(X, Y, keep_float32=True)
    svd = centered_svd(X, fit_intercept)
    Y = Y.astype(np.float64)
    y_mean = Y.mean(axis=0) if fit_intercept else np.zeros(Y.shape[1])
    coef = svd_ridge_weights(svd.U, svd.s, svd.Vt, Y - y_mean, alpha)
    return coef, y_mean - svd.x_mean @ coef


# ---------------------------------------------------------------------------------------------
# Alpha selection
# ---------------------------------------------------------------------------------------------


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
# Estimators
# ---------------------------------------------------------------------------------------------


class Ridge(EncodingScoreMixin, BaseEstimator):
    """Ridge with fixed penalties: one alpha for every target, or one given per target.

    For penalties chosen beforehand (on other data, or by an earlier study); with no
    inner cross-validation it is the cheapest encoding model. Solved for all targets at once
    from one SVD of the centered design (:func:`ridge_svd`).

    Parameters
    ----------
    alpha : float or array of shape (v,)
        Positive penalty, shared by all targets or one per target.
    fit_intercept : bool
        Unpenalized intercept (center X and Y).

    Attributes
    ----------
    coef_ : array of shape (p, v), or (p,) when fitted on 1-D Y
    intercept_ : array of shape (v,), or float
    n_features_in_ : int
    """

    def __init__(self, alpha=1.0, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X, Y) -> Ridge:
        """Fit the penalized least-squares weights of every target.

        Parameters
        ----------
        X : array of shape (n, p)
        Y : array of shape (n, v) or (n,)
        """
        X, Y, vector = check_xy(X, Y)
        alpha = np.asarray(self.alpha, dtype=np.float64)
        if alpha.ndim > 1 or (alpha.ndim == 1 and alpha.shape != (Y.shape[1],)):
            raise InputError(
                f"alpha has shape {alpha.shape}; expected a float or one per target ({Y.shape[1]},)"
            )
        if not (np.isfinite(alpha).all() and (alpha > 0).all()):
            raise InputError(f"alpha is {self.alpha!r}; expected positive finite penalties")
        coef, intercept = ridge_svd(X, Y, alpha, self.fit_intercept)
        self.coef_ = squeeze_targets(coef, vector)
        self.intercept_ = squeeze_targets(intercept, vector)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions (m, v), or (m,) for 1-D Y, of ``X`` (m, p)."""
        X = check_fitted(self, X)
        return X @ self.coef_ + self.intercept_


class RidgeCV(EncodingScoreMixin, BaseEstimator):
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
    alpha_scale : {"absolute", "relative"}
        ``"absolute"`` (default, as scikit-learn): the penalties are ``alphas``.
        ``"relative"``: the penalties are ``alphas * s`` with ``s`` the mean eigenvalue of
        the centered Gram matrix of the training rows passed to ``fit`` (``||Xc||_F**2 /
        n_train``, :func:`dnnmap.encoding._ridge_solver.gram_scale`), so one grid means the
        same shrinkage whatever the scale of the features; the inner folds use the same
        penalties. ``alpha_`` reports the chosen entry of ``alphas`` (the multiple).

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
        alpha_scale="absolute",
    ):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.solver = solver
        self.device = device
        self.random_state = random_state
        self.dtype = dtype
        self.alpha_scale = alpha_scale

    def _penalties(self, X_rows: np.ndarray, alphas: np.ndarray) -> np.ndarray:
        """The penalties of the grid ``alphas`` on the training rows ``X_rows``."""
        if check_alpha_scale(self.alpha_scale) == "absolute":
            return alphas
        return alphas * gram_scale(X_rows, self.fit_intercept)

    def fit(self, X, Y) -> RidgeCV:
        """Select alpha per target on (X, Y) by inner CV, then refit on all rows."""
        return self._fit(X, Y, weights=True)

    def _fit(self, X, Y, weights: bool) -> RidgeCV:
        X, Y, vector = check_xy(X, Y, finite_y=False, keep_float32=True)
        alphas = check_alphas(self.alphas)
        solver = check_solver(self.solver)
        (n, p), v = X.shape, Y.shape[1]
        step = check_batch(self.batch_size, v)
        dtype = compute_dtype(self.dtype, Y)
        bk = get_backend(self.device)
        pairs = inner_pairs(self.cv, X, self.random_state)
        check_train_size(n, pairs)
        bad = masked_voxels(Y, constant=False, batch_size=step)
        warn_masked(int(bad.sum()), v, "not finite (NaN or inf)")
        design = Design(bk, X, fit_intercept=self.fit_intercept, solver=solver)
        penalties = self._penalties(X, alphas)
        plan = make_plan(design, np.arange(n), pairs, penalties, dtype, weights=weights)
        coef = np.empty((p, v), dtype=dtype) if weights else None
        if weights:
            coef[:, bad] = np.nan
        intercept = np.full(v, np.nan)
        alpha = np.full(v, np.nan)
        cv_errors = np.full((alphas.size, v), np.nan)

        for c, errors, best, C, mean in fit_batches(
            plan, Y, np.flatnonzero(~bad), step, refit=weights
        ):
            cv_errors[:, c] = errors
            alpha[c] = alphas[best]
            if weights:
                coef[:, c] = bk.to_numpy(plan.full.W @ C)
                offset = plan.full.x_proj @ C
                intercept[c] = bk.to_numpy(-offset if mean is None else mean - offset)
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
        X = check_fitted(self, X)
        return X.astype(self.coef_.dtype) @ self.coef_ + self.intercept_.astype(self.coef_.dtype)

    def fit_predict_batches(self, X, Y, train, test, cols, batch_size, shared=None):
        """Fit on rows ``train`` and predict rows ``test``, ``batch_size`` targets at a time.

        The step of one outer split in
        :func:`dnnmap.encoding.cross_validation.cross_validated_predictions`: the training set
        and its inner folds are decomposed once for every alpha and every target batch, and
        only each target's best alpha is computed (leave-one-out skips alphas that provably
        lose). The estimator's fitted attributes are not set.

        Parameters
        ----------
        X : float64 array of shape (n, p)
            Finite features of all rows.
        Y : array of shape (n, v)
            Targets of all rows (float32 or float64).
        train, test : int arrays of shape (n_train,), (m,)
            Row indices.
        cols : int array of shape (c,)
            Sorted columns of Y to fit (finite in the training rows).
        batch_size : int
            Targets per batch.
        shared : dict or None
            Reused across the outer splits of one cross-validation of the same ``X``: holds
            the design, whose Gram matrix of all rows then serves every split.

        Yields
        ------
        columns : slice or int array
            The batch's columns of Y.
        predictions : array of shape (m, b)
            In the compute dtype.
        alpha : array of shape (b,)
            Alpha chosen per target by the inner CV.
        """
        alphas = check_alphas(self.alphas)
        solver = check_solver(self.solver)
        dtype = compute_dtype(self.dtype, Y)
        bk = get_backend(self.device)
        shared = {} if shared is None else shared
        key = ("ridge_design", bk.name, bk.device, bool(self.fit_intercept), solver)
        if key not in shared:
            shared[key] = Design(bk, X, fit_intercept=self.fit_intercept, solver=solver)
        pairs = inner_pairs(self.cv, X[train], self.random_state)
        check_train_size(train.size, pairs)
        penalties = self._penalties(X[train], alphas)
        plan = make_plan(shared[key], train, pairs, penalties, dtype, test=test, prune=True)
        for c, _, best, C, mean in fit_batches(plan, Y, cols, batch_size):
            pred = plan.full.A @ C
            if mean is not None:
                pred += mean
            yield c, bk.to_numpy(pred), alphas[best]


# ---------------------------------------------------------------------------------------------
# Outer cross-validated encoding
# ---------------------------------------------------------------------------------------------


def outer_folds(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (n,) per row of the default outer CV of :func:`cross_validated_encoding`.

    :func:`dnnmap.stats.splits.kfold_assignment` (``default_rng(seed).permutation(n)`` cut
    into equal-as-possible consecutive parts), restricted to folds of at least 2 rows
    (``2 <= n_folds <= n // 2``).
    """
    _check_outer_folds(n, n_folds)
    return kfold_assignment(n, n_folds, seed)


def _check_outer_folds(n: int, n_folds) -> None:
    if not is_int(n_folds) or not 2 <= n_folds <= n // 2:
        raise InputError(f"n_folds is {n_folds} for {n} samples; expected 2 <= n_folds <= {n // 2}")


def cross_validated_encoding(
    X,
    Y,
    alphas=DEFAULT_ALPHAS,
    n_folds: int = 5,
    seed: int = 0,
    inner_cv=5,
    *,
    splits: Splits | None = None,
    batch_size: int = DEFAULT_BATCH,
    fit_intercept: bool = True,
    solver: str = "auto",
    device: str = "auto",
    dtype=None,
    score: str = "r",
    pooling: str = "folds",
    alpha_scale: str = "absolute",
) -> EncodingResult:
    """Outer cross-validated ridge encoding: per outer split, :class:`RidgeCV` on the training
    rows (alpha per voxel by inner CV on those rows only), predictions for the test rows.

    :func:`dnnmap.encoding.cross_validation.cross_validated_predictions` with a
    :class:`RidgeCV` per split: the decompositions (outer training set and its inner folds)
    are computed once per outer split and reused for every batch of ``batch_size`` targets;
    results do not depend on ``batch_size``. Constant and NaN responses are masked (NaN
    outputs, a logged warning); NaN/inf in X is an InputError.

    Parameters
    ----------
    X : array of shape (n, p), or FoldFeatures
        Features (e.g. PCA scores of a layer); a
        :class:`dnnmap.features.folds.FoldFeatures` gives each outer split its own design
        (fitted on the split's training rows with ``features.fit: train``).
    Y : array of shape (n, v) or (n,)
        Responses (e.g. voxels); 1-D Y gives 1-D (or scalar) outputs.
    alphas : array of shape (n_alphas,)
        Candidate penalties.
    n_folds : int
        Outer folds when ``splits`` is None: shuffled k-fold
        (:func:`dnnmap.stats.splits.make_splits` scheme ``kfold`` with ``seed``), at least 2
        rows per fold.
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
    score, pooling
        The reported score (:func:`~dnnmap.encoding.cross_validation.cross_validated_predictions`):
        ``"r"``, ``"r2"`` or ``"signed_sqrt_r2"``, per fold then averaged (``"folds"``) or on
        pooled predictions (``"pooled"``).
    alpha_scale : {"absolute", "relative"}
        Penalties as given, or as multiples of each outer training set's mean Gram eigenvalue
        (:class:`RidgeCV`).

    Returns
    -------
    EncodingResult
        ``predictions`` (n, v) of the first repeat; ``score``, ``r2``,
        ``explained_variance`` (v,) the mean over repeats of the pooled out-of-fold Pearson
        r / R² / explained variance on the tested rows; ``fold_scores`` and ``alpha``
        (n_splits, v); ``folds`` (n,); ``masked`` (v,).
    """
    factory, X, splits = ridge_cv_setup(
        X,
        Y,
        alphas,
        n_folds,
        seed,
        inner_cv,
        splits=splits,
        batch_size=batch_size,
        fit_intercept=fit_intercept,
        solver=solver,
        device=device,
        dtype=dtype,
        alpha_scale=alpha_scale,
    )
    return cross_validated_predictions(
        factory, X, Y, splits, batch_size=batch_size, score=score, pooling=pooling
    )


def ridge_cv_setup(
    X,
    Y,
    alphas=DEFAULT_ALPHAS,
    n_folds: int = 5,
    seed: int = 0,
    inner_cv=5,
    *,
    splits: Splits | None = None,
    batch_size: int = DEFAULT_BATCH,
    fit_intercept: bool = True,
    solver: str = "auto",
    device: str = "auto",
    dtype=None,
    alpha_scale: str = "absolute",
):
    """The checked pieces of :func:`cross_validated_encoding`: a :class:`RidgeCV` factory per
    outer training set, the features and the outer splits.

    Every argument is checked here, before any fit, with the messages of
    :func:`cross_validated_encoding` (the parameters are its own), so a caller that runs the
    outer loop itself (:func:`dnnmap.encoding.permutation.refit_permutation_test`) fits
    exactly the model that the encoding reports.

    Returns
    -------
    factory : callable
        ``factory(train)`` gives the unfitted :class:`RidgeCV` of the outer training rows
        ``train`` (n_train,).
    X : array of shape (n, p), or FoldFeatures
        The features, checked (float64) unless they are per-split ``FoldFeatures``.
    splits : dnnmap.stats.splits.Splits
        The outer splits, checked against ``n`` rows.
    """
    X_rows = X.matrix if isinstance(X, FoldFeatures) else X
    X_rows, Yc, _ = check_xy(X_rows, Y, finite_y=False, keep_float32=True)
    alphas = check_alphas(alphas)
    solver = check_solver(solver)
    check_batch(batch_size, Yc.shape[1])
    n = X_rows.shape[0]
    if splits is None:
        _check_outer_folds(n, n_folds)
        splits = make_splits(n, "kfold", n_folds=n_folds, seed=seed)
    splits = check_splits(splits, n, min_train=3)
    if isinstance(inner_cv, list | tuple):
        raise InputError(
            "inner_cv is a list of (train, test) pairs; expected an int, 'loo', a splitter, or "
            "a callable mapping each outer training set's rows to its inner pairs"
        )
    if is_int(inner_cv):
        smallest = min(t.size for t in splits.train)
        if not 2 <= inner_cv <= smallest:
            raise InputError(
                f"inner_cv is {inner_cv} folds for {smallest} training samples; "
                f"expected 2 <= inner_cv <= {smallest}"
            )
    compute_dtype(dtype, Yc)
    check_alpha_scale(alpha_scale)
    get_backend(device)
    del Yc

    def factory(train: np.ndarray) -> RidgeCV:
        cv = inner_cv
        if callable(inner_cv) and not hasattr(inner_cv, "split"):
            cv = inner_cv(train)
        return RidgeCV(
            alphas,
            cv,
            fit_intercept,
            solver=solver,
            device=device,
            random_state=seed,
            dtype=dtype,
            alpha_scale=alpha_scale,
        )

    if not isinstance(X, FoldFeatures):
        X = X_rows
    return factory, X, splits
