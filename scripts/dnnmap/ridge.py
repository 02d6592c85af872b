"""Ridge regression for voxelwise encoding models: many targets, one SVD per training set.

All solvers work from one thin SVD ``Xc = U diag(s) Vt`` of the centered training design,
reused for every alpha and every target. With ``alpha_v`` per target, the weights are
``coef = Vt.T @ (D * (U.T @ Yc))`` with the ``(k, v)`` factor matrix
``D[j, v] = s_j / (s_j**2 + alpha_v)``: no loop over targets. Intercepts are unpenalized
(``fit_intercept`` as in scikit-learn): X and Y are centered with their training means and
``intercept = y_mean - x_mean @ coef``. Singular values below ``max(s) * max(n, p) * eps``
are dropped. Arithmetic is float64.

Alpha selection (:func:`select_alpha`) scores every alpha for every target by mean squared
error: k-fold (contiguous folds, as ``sklearn.model_selection.KFold(cv)``), any
scikit-learn-style splitter, or exact leave-one-out from the hat-matrix diagonal
(``"loo"``, as ``sklearn.linear_model.RidgeCV`` with ``cv=None``). For folds, the error is the
mean over folds of each fold's mean squared error (``GridSearchCV``'s average). Each target
takes the alpha of least error; ties go to the first alpha in the given order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold

from dnnmap.errors import InputError
from dnnmap.metrics import pearson_r, r2_score

DEFAULT_ALPHAS = np.logspace(-2, 6, 17)


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _check_xy(X, Y) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return X as 2-D float64, Y as 2-D (dtype kept) and whether Y was 1-D."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y)
    if X.ndim != 2:
        raise InputError(f"X has shape {X.shape}; expected a 2-D (n_samples, n_features) array")
    if Y.ndim not in (1, 2):
        raise InputError(f"Y has shape {Y.shape}; expected (n_samples,) or (n_samples, n_targets)")
    if X.shape[0] != Y.shape[0]:
        raise InputError(f"X has shape {X.shape} and Y has shape {Y.shape}; expected equal rows")
    if X.shape[0] < 2:
        raise InputError(f"X has shape {X.shape}; expected at least 2 samples")
    if not np.isfinite(X).all():
        raise InputError("X contains NaN or inf; expected finite features")
    if not np.isfinite(Y).all():
        raise InputError("Y contains NaN or inf; expected finite responses")
    vector = Y.ndim == 1
    return X, (Y[:, None] if vector else Y), vector


def _check_alphas(alphas) -> np.ndarray:
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise InputError(f"alphas are {a!r}; expected a non-empty 1-D list of positive numbers")
    return a


# ---------------------------------------------------------------------------------------------
# Pure solvers on an SVD of the centered design
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


def _factor(s: np.ndarray, alpha) -> np.ndarray:
    """``s / (s**2 + alpha)``: shape (k,) for a scalar alpha, (k, v) for alpha of shape (v,)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if alpha.ndim == 0:
        return s / (s**2 + alpha)
    return s[:, None] / (s[:, None] ** 2 + alpha[None, :])


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
    return Vt.T @ (_factor(s, alpha) * (U.T @ Y))


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
    XtV = np.asarray(X_test, dtype=np.float64) @ Vt.T
    UtY = U.T @ np.asarray(Y_train, dtype=np.float64)
    alphas = _check_alphas(alphas)
    out = np.empty((alphas.size, XtV.shape[0], UtY.shape[1]))
    for i, a in enumerate(alphas):
        out[i] = (XtV * _factor(s, a)) @ UtY
    return out


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
    return _fit_on_svd(svd, Y.astype(np.float64), alpha, fit_intercept)


def _fit_on_svd(svd: CenteredSVD, Y: np.ndarray, alpha, fit_intercept: bool):
    y_mean = Y.mean(axis=0) if fit_intercept else np.zeros(Y.shape[1])
    coef = svd_ridge_weights(svd.U, svd.s, svd.Vt, Y - y_mean, alpha)
    return coef, y_mean - svd.x_mean @ coef


# ---------------------------------------------------------------------------------------------
# Alpha selection by cross-validation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    train: np.ndarray
    test: np.ndarray
    svd: CenteredSVD
    XtV: np.ndarray  # (n_test, k): test rows centered with training means, projected on V


@dataclass(frozen=True)
class _CVPlan:
    """Everything about X that inner CV and the refit need, computed once, reused per batch."""

    full: CenteredSVD
    splits: list[_Split] | None  # None means exact leave-one-out on ``full``
    fit_intercept: bool


def _make_plan(X: np.ndarray, cv, fit_intercept: bool) -> _CVPlan:
    n = X.shape[0]
    full = centered_svd(X, fit_intercept)
    if isinstance(cv, str):
        if cv != "loo":
            raise InputError(f"cv is {cv!r}; expected an int, 'loo' or a splitter with .split")
        return _CVPlan(full, None, fit_intercept)
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        if not 2 <= cv <= n:
            raise InputError(f"cv is {cv} folds for {n} samples; expected 2 <= cv <= {n}")
        tests = np.array_split(np.arange(n), int(cv))
        pairs = [(np.setdiff1d(np.arange(n), t), t) for t in tests]
    elif hasattr(cv, "split"):
        pairs = [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X)]
    else:
        raise InputError(f"cv is {cv!r}; expected an int, 'loo' or a splitter with .split")
    splits = []
    for train, test in pairs:
        svd = centered_svd(X[train], fit_intercept)
        splits.append(_Split(train, test, svd, (X[test] - svd.x_mean) @ svd.Vt.T))
    return _CVPlan(full, splits, fit_intercept)


def _plan_errors(plan: _CVPlan, Y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Mean squared CV error, shape (n_alphas, v), for float64 targets Y of shape (n, v)."""
    errors = np.zeros((alphas.size, Y.shape[1]))
    if plan.splits is None:  # exact LOO: residual / (1 - h_ii)
        U, s = plan.full.U, plan.full.s
        Yc = Y - Y.mean(axis=0) if plan.fit_intercept else Y
        UtY = U.T @ Yc
        shrink = s[:, None] ** 2 / (s[:, None] ** 2 + alphas[None, :])  # (k, n_alphas)
        h = (U**2) @ shrink + (1.0 / Y.shape[0] if plan.fit_intercept else 0.0)
        for i in range(alphas.size):
            resid = Yc - U @ (shrink[:, i, None] * UtY)
            errors[i] = np.mean((resid / (1.0 - h[:, i, None])) ** 2, axis=0)
        return errors
    for sp in plan.splits:
        y_mean = Y[sp.train].mean(axis=0) if plan.fit_intercept else 0.0
        UtY = sp.svd.U.T @ (Y[sp.train] - y_mean)
        Yte = Y[sp.test] - y_mean
        for i, a in enumerate(alphas):
            errors[i] += np.mean((Yte - (sp.XtV * _factor(sp.svd.s, a)) @ UtY) ** 2, axis=0)
    return errors / len(plan.splits)


def _fit_targets(plan: _CVPlan, Y: np.ndarray, alphas: np.ndarray, batch_size: int | None):
    """Select alpha and refit per target, in batches of targets; returns coef, b, alpha, err."""
    p, v = plan.full.Vt.shape[1], Y.shape[1]
    coef, intercept = np.empty((p, v)), np.empty(v)
    alpha, errors = np.empty(v), np.empty((alphas.size, v))
    step = v if not batch_size else int(batch_size)
    for b0 in range(0, v, max(step, 1)):
        cols = slice(b0, min(b0 + step, v))
        Yb = np.asarray(Y[:, cols], dtype=np.float64)
        errors[:, cols] = _plan_errors(plan, Yb, alphas)
        alpha[cols] = alphas[np.argmin(errors[:, cols], axis=0)]
        coef[:, cols], intercept[cols] = _fit_on_svd(plan.full, Yb, alpha[cols], plan.fit_intercept)
    return coef, intercept, alpha, errors


def select_alpha(
    X, Y, alphas=DEFAULT_ALPHAS, cv=5, fit_intercept: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the ridge penalty per target by inner cross-validation.

    Parameters
    ----------
    X : array of shape (n, p)
    Y : array of shape (n, v) or (n,)
    alphas : array of shape (n_alphas,)
        Positive penalties.
    cv : int, "loo" or splitter
        ``int``: contiguous k-fold without shuffling (``KFold(cv)``); ``"loo"``: exact
        efficient leave-one-out; or an object whose ``split(X)`` yields (train, test) indices.
    fit_intercept : bool
        Unpenalized intercept (center X and Y within each training set).

    Returns
    -------
    alpha : array of shape (v,)
        Alpha of least CV error per target (first in the given order on ties).
    cv_errors : array of shape (n_alphas, v)
        Mean squared CV error per alpha and target.
    """
    X, Y, _ = _check_xy(X, Y)
    alphas = _check_alphas(alphas)
    errors = _plan_errors(_make_plan(X, cv, fit_intercept), Y.astype(np.float64), alphas)
    return alphas[np.argmin(errors, axis=0)], errors


# ---------------------------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------------------------


class RidgeCV:
    """Ridge with one alpha per target chosen by inner cross-validation.

    Parameters
    ----------
    alphas : array of shape (n_alphas,)
        Candidate positive penalties.
    cv : int, "loo" or splitter
        Inner cross-validation (see :func:`select_alpha`).
    fit_intercept : bool
        Unpenalized intercept.
    batch_size : int or None
        Targets per batch (bounds memory; results do not depend on it).

    Attributes
    ----------
    coef_ : array of shape (p, v), or (p,) when fitted on 1-D Y
    intercept_ : array of shape (v,), or float
    alpha_ : array of shape (v,), or float
    cv_errors_ : array of shape (n_alphas, v), or (n_alphas,)
        Mean squared CV error per alpha and target.
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, cv=5, fit_intercept=True, batch_size=None):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size

    def fit(self, X, Y) -> RidgeCV:
        """Select alpha per target on (X, Y), then refit on all rows."""
        X, Y, vector = _check_xy(X, Y)
        alphas = _check_alphas(self.alphas)
        plan = _make_plan(X, self.cv, self.fit_intercept)
        coef, intercept, alpha, errors = _fit_targets(plan, Y, alphas, self.batch_size)
        if vector:
            coef, intercept, alpha, errors = coef[:, 0], intercept[0], alpha[0], errors[:, 0]
        self.coef_, self.intercept_, self.alpha_, self.cv_errors_ = coef, intercept, alpha, errors
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions of shape (m, v), or (m,) when fitted on 1-D Y."""
        X = np.asarray(X, dtype=np.float64)
        return X @ self.coef_ + self.intercept_

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
        Out-of-fold predictions (float32 for float32 Y, else float64).
    score : array of shape (v,)
        Pearson r between all out-of-fold predictions and Y.
    r2 : array of shape (v,)
        Coefficient of determination of the out-of-fold predictions.
    fold_scores : array of shape (n_folds, v)
        Pearson r within each held-out fold.
    alpha : array of shape (n_folds, v)
        Alpha chosen by the inner CV in each outer fold.
    folds : array of shape (n,)
        Outer fold index of each row.
    """

    predictions: np.ndarray
    score: np.ndarray
    r2: np.ndarray
    fold_scores: np.ndarray
    alpha: np.ndarray
    folds: np.ndarray


def outer_folds(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (n,) per row: ``default_rng(seed).permutation(n)`` cut into equal-as-possible
    consecutive parts (first ``n % n_folds`` folds one row larger)."""
    if not 2 <= n_folds <= n // 2:
        raise InputError(f"n_folds is {n_folds} for {n} samples; expected 2 <= n_folds <= {n // 2}")
    folds = np.empty(n, dtype=np.int64)
    for f, rows in enumerate(np.array_split(np.random.default_rng(seed).permutation(n), n_folds)):
        folds[rows] = f
    return folds


def cross_validated_encoding(
    X,
    Y,
    alphas=DEFAULT_ALPHAS,
    n_folds: int = 5,
    seed: int = 0,
    inner_cv=5,
    *,
    batch_size: int = 10000,
    fit_intercept: bool = True,
) -> EncodingResult:
    """Outer K-fold encoding: per fold, RidgeCV on the training rows, predict held-out rows.

    The SVDs (outer training set and inner splits) are computed once per outer fold and reused
    for every batch of ``batch_size`` targets; results do not depend on ``batch_size``.

    Parameters
    ----------
    X : array of shape (n, p)
        Features (e.g. PCA scores of a layer).
    Y : array of shape (n, v) or (n,)
        Responses (e.g. voxels); 1-D Y gives 1-D (or scalar) outputs.
    alphas : array of shape (n_alphas,)
        Candidate penalties.
    n_folds : int
        Outer folds, rows assigned by :func:`outer_folds` with ``seed``.
    seed : int
        Seed of the outer fold assignment.
    inner_cv : int, "loo" or splitter
        Inner CV on each outer training set (see :func:`select_alpha`). An int means shuffled
        k-fold, ``KFold(inner_cv, shuffle=True, random_state=seed)``, because stimulus tables
        are often sorted by category and contiguous folds would tune the penalty for
        generalising across categories while the (shuffled) outer folds test within them.
    batch_size : int
        Targets per batch.
    fit_intercept : bool
        Unpenalized intercept.

    Returns
    -------
    EncodingResult
    """
    X, Y, vector = _check_xy(X, Y)
    alphas = _check_alphas(alphas)
    n, v = Y.shape
    folds = outer_folds(n, n_folds, seed)
    dtype = np.float32 if Y.dtype == np.float32 else np.float64
    predictions = np.empty((n, v), dtype=dtype)
    alpha = np.empty((n_folds, v))
    fold_scores = np.empty((n_folds, v))
    step = max(int(batch_size), 1)
    if isinstance(inner_cv, int | np.integer) and not isinstance(inner_cv, bool):
        smallest = n - np.bincount(folds).max()
        if not 2 <= inner_cv <= smallest:
            raise InputError(
                f"inner_cv is {inner_cv} folds for {smallest} training samples; "
                f"expected 2 <= inner_cv <= {smallest}"
            )
        inner_cv = KFold(int(inner_cv), shuffle=True, random_state=seed)
    for f in range(n_folds):
        train, test = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        plan = _make_plan(X[train], inner_cv, fit_intercept)
        for b0 in range(0, v, step):
            cols = slice(b0, min(b0 + step, v))
            Yb = np.asarray(Y[train, cols], dtype=np.float64)
            coef, intercept, alpha[f, cols], _ = _fit_targets(plan, Yb, alphas, None)
            pred = X[test] @ coef + intercept
            predictions[test, cols] = pred
            fold_scores[f, cols] = pearson_r(Y[test, cols], pred)
    score, r2 = np.empty(v), np.empty(v)
    for b0 in range(0, v, step):
        cols = slice(b0, min(b0 + step, v))
        score[cols] = pearson_r(Y[:, cols], predictions[:, cols])
        r2[cols] = r2_score(Y[:, cols], predictions[:, cols])
    if vector:
        return EncodingResult(
            predictions[:, 0], score[0], r2[0], fold_scores[:, 0], alpha[:, 0], folds
        )
    return EncodingResult(predictions, score, r2, fold_scores, alpha, folds)
