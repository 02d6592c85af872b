"""Lasso for many targets at once: batched coordinate descent from one Gram matrix.

Objective per target ``v`` (scikit-learn's ``Lasso``)::

    1 / (2 n) * |y_v - X w_v - b_v|^2 + alpha_v * |w_v|_1

With ``fit_intercept`` the training design and targets are centered (``Xc``, ``Yc``) and
``b = y_mean - x_mean @ w``. The solver works on ``G = Xc'Xc`` (p, p) and ``Xc'Yc`` (p, v),
computed once, and ``Q = Xc'(Yc - Xc W)`` (p, v). Coordinate ``j`` is updated for
every target in one vector step (cyclic order, as scikit-learn)::

    rho = Q[j] + G[j, j] * W[j]
    W[j] <- sign(rho) * max(|rho| - n * alpha, 0) / G[j, j]

(``Q[j]`` is recomputed as ``Xc'Yc[j] - G[j] @ W``, one matrix-vector product, rather
than updating all of ``Q`` after each step), so a sweep over the ``p`` coordinates costs
``O(p^2 v)`` whatever the number of samples. Coordinates that are zero for a target and
whose ``|Q|`` is within the penalty at the start of a sweep are skipped for that target in
that sweep (per target, so results do not depend on which targets share a batch); the
duality gap still covers them.
Stopping follows scikit-learn's ``enet_coordinate_descent_gram``: after a sweep in which a
target's largest weight change is at most ``tol`` times its largest weight, its duality
gap (computed from ``G``, ``Q`` and ``|y|^2``) is checked against ``tol * |yc|^2``; targets
that pass leave the active set, so the remaining sweeps touch only unconverged targets.

:class:`LassoCV` chooses one alpha per target by inner cross-validation, as
``sklearn.linear_model.LassoCV`` does for one target: the alpha grid is sorted from the
largest alpha down (given, or per target ``geomspace(alpha_max, eps * alpha_max,
n_alphas)`` with ``alpha_max = max|Xc'yc| / n`` on the whole training set), each inner fold
runs the warm-started path over the grid from its own Gram matrix, the error of an alpha is
the mean over folds of the fold's mean squared error, each target takes the alpha of least
error (ties: the larger alpha) and is refitted on all rows.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator

from dnnmap.checks import check_int
from dnnmap.encoding.base import EncodingScoreMixin, check_fitted, check_xy, squeeze_targets
from dnnmap.errors import InputError
from dnnmap.stats.splits import as_pairs

LOG = logging.getLogger("dnnmap")


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"{name} is {value!r}; expected a positive number")
    if not value > 0 or not np.isfinite(value):
        raise InputError(f"{name} is {value!r}; expected a positive number")
    return float(value)


def _check_batch(batch_size, v: int) -> int:
    if batch_size is None:
        return max(v, 1)
    return check_int(batch_size, "batch_size", 1)


# ---------------------------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------------------------


def _dual_gap(W, Q, XtY, yy, l1):
    """Duality gap per target of ``0.5 |yc - Xc w|^2 + l1 |w|_1`` from Gram quantities."""
    wq = np.einsum("ij,ij->j", W, XtY)
    wgw = wq - np.einsum("ij,ij->j", W, Q)  # w'G w = w'(XtY - Q)
    r2 = np.maximum(yy - 2 * wq + wgw, 0.0)
    dual = np.abs(Q).max(axis=0) if Q.shape[0] else np.zeros(Q.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        const = np.where(dual > l1, l1 / dual, 1.0)
    gap = np.where(dual > l1, 0.5 * r2 * (1 + const**2), r2)
    return gap + l1 * np.abs(W).sum(axis=0) - const * (yy - wq)


def lasso_gram_cd(G, XtY, yy, l1, W=None, *, tol: float = 1e-4, max_iter: int = 1000):
    """Coordinate descent for ``0.5 |yc - Xc w|^2 + l1 |w|_1`` on all targets at once.

    Parameters
    ----------
    G : array of shape (p, p)
        ``Xc' Xc``.
    XtY : array of shape (p, v)
        ``Xc' Yc``.
    yy : array of shape (v,)
        ``|yc|^2`` per target (scales the tolerance of the duality gap).
    l1 : float or array of shape (v,)
        Penalty per target, ``n * alpha``.
    W : array of shape (p, v), optional
        Warm start (not modified); zeros by default.
    tol : float
        Stop a target when its duality gap is at most ``tol * yy``.
    max_iter : int
        Most sweeps over the coordinates.

    Returns
    -------
    W : array of shape (p, v)
        Coefficients.
    gap : array of shape (v,)
        Final duality gap per target.
    n_iter : int array of shape (v,)
        Sweeps run per target.
    """
    p, v = XtY.shape
    l1 = np.broadcast_to(np.asarray(l1, dtype=np.float64), (v,)).copy()
    W = np.zeros((p, v)) if W is None else np.array(W, dtype=np.float64)
    diag = np.diag(G).copy()
    gap = np.zeros(v)
    n_iter = np.full(v, max_iter, dtype=np.int64)
    act = np.arange(v)
    Wa, XtYa, yya, l1a = W, XtY, np.asarray(yy, dtype=np.float64), l1
    coords = np.flatnonzero(diag > 0)
    Qa = XtYa - G @ Wa
    for it in range(max_iter):
        w_max = np.zeros(act.size)
        d_max = np.zeros(act.size)
        # screening, per target: a coordinate at zero whose |Q| is within the penalty stays
        # at zero; it is skipped this sweep (the duality gap still checks it). Per target, so
        # a target's path does not depend on the other targets in the batch.
        live = (Wa[coords] != 0) | (np.abs(Qa[coords]) > l1a)  # (n_coords, v_active)
        for i in np.flatnonzero(live.any(axis=1)):
            j = coords[i]
            # Q[j] = Xc_j'(yc - Xc w) from the current weights: one (p,) @ (p, v) product
            old = Wa[j].copy()
            rho = XtYa[j] - G[j] @ Wa + diag[j] * old
            new = rho - np.maximum(np.minimum(rho, l1a), -l1a)
            new /= diag[j]
            new = np.where(live[i], new, old)
            Wa[j] = new
            d = np.abs(new - old)
            np.maximum(d_max, d, out=d_max)
            np.maximum(w_max, np.abs(new), out=w_max)
        Qa = XtYa - G @ Wa
        last = it == max_iter - 1
        check = (w_max == 0) | (d_max <= tol * w_max) | last
        if not check.any():
            continue
        g = _dual_gap(Wa[:, check], Qa[:, check], XtYa[:, check], yya[check], l1a[check])
        done = np.zeros(act.size, dtype=bool)
        done[check] = (g <= tol * yya[check]) | last
        if not done.any():
            continue
        idx = act[done]
        W[:, idx] = Wa[:, done]
        gap[idx] = g[done[check]]
        n_iter[idx] = it + 1
        keep = ~done
        act = act[keep]
        if act.size == 0:
            break
        Wa, Qa, XtYa, yya, l1a = Wa[:, keep], Qa[:, keep], XtYa[:, keep], yya[keep], l1a[keep]
    if np.any(n_iter == max_iter) and max_iter > 0:
        hit = gap > tol * np.asarray(yy)
        if hit.any():
            LOG.warning(
                "lasso: %d of %d targets did not converge in %d sweeps (duality gap above "
                "tol); raise max_iter or tol",
                int(hit.sum()),
                v,
                max_iter,
            )
    return W, gap, n_iter


def _center(X, Y, fit_intercept: bool):
    if fit_intercept:
        xm, ym = X.mean(axis=0), Y.mean(axis=0)
        return X - xm, Y - ym, xm, ym
    return X, Y, np.zeros(X.shape[1]), np.zeros(Y.shape[1])


# ---------------------------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------------------------


class Lasso(EncodingScoreMixin, BaseEstimator):
    """Lasso with one alpha for all targets or one per target (batched coordinate descent).

    Equal to ``sklearn.linear_model.Lasso(alpha)`` fitted per target, up to the solvers'
    tolerance.

    Parameters
    ----------
    alpha : float or array of shape (v,)
        Penalty (scikit-learn's scaling: the squared error is divided by ``2 n``).
    fit_intercept : bool
        Unpenalized intercept.
    tol : float
        Duality-gap tolerance, relative to ``|yc|^2`` (scikit-learn's ``tol``).
    max_iter : int
        Most coordinate sweeps.
    batch_size : int or None
        Targets per batch (bounds memory; results do not depend on it). None: all at once.

    Attributes
    ----------
    coef_ : array of shape (p, v), or (p,) for 1-D Y
    intercept_ : array of shape (v,), or float
    dual_gap_ : array of shape (v,), or float
    n_iter_ : int array of shape (v,), or int
    n_features_in_ : int
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, tol=1e-4, max_iter=1000, batch_size=None):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.batch_size = batch_size

    def fit(self, X, Y) -> Lasso:
        """Fit on ``X`` (n, p) and ``Y`` (n, v) or (n,)."""
        X, Y, vector = check_xy(X, Y)
        (n, p), v = X.shape, Y.shape[1]
        alpha = np.asarray(self.alpha, dtype=np.float64)
        if (
            alpha.ndim > 1
            or alpha.size not in (1, v)
            or not (np.isfinite(alpha) & (alpha > 0)).all()
        ):
            raise InputError(
                f"alpha is {self.alpha!r}; expected a positive number or one per target ({v})"
            )
        alpha = np.broadcast_to(alpha, (v,))
        tol = _check_positive(self.tol, "tol")
        max_iter = check_int(self.max_iter, "max_iter", 1)
        step = _check_batch(self.batch_size, v)
        Xc, _, xm, _ = _center(X, Y[:, :0], self.fit_intercept)
        G = Xc.T @ Xc
        coef, intercept = np.empty((p, v)), np.empty(v)
        gap, n_iter = np.empty(v), np.empty(v, dtype=np.int64)
        for b0 in range(0, v, step):
            c = slice(b0, b0 + step)
            Yb = Y[:, c]
            ym = Yb.mean(axis=0) if self.fit_intercept else np.zeros(Yb.shape[1])
            Yc = Yb - ym
            W, g, it = lasso_gram_cd(
                G,
                Xc.T @ Yc,
                np.einsum("ij,ij->j", Yc, Yc),
                n * alpha[c],
                tol=tol,
                max_iter=max_iter,
            )
            coef[:, c], intercept[c] = W, ym - xm @ W
            gap[c], n_iter[c] = g, it
        self.coef_, self.intercept_ = (
            squeeze_targets(coef, vector),
            squeeze_targets(intercept, vector),
        )
        self.dual_gap_ = squeeze_targets(gap, vector)
        self.n_iter_ = int(n_iter[0]) if vector else n_iter
        self.n_features_in_ = p
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions (m, v), or (m,) for 1-D Y."""
        X = check_fitted(self, X)
        return X @ self.coef_ + self.intercept_


def alpha_grid(X, Y, *, n_alphas: int = 100, eps: float = 1e-3, fit_intercept: bool = True):
    """Per-target alpha grids of ``LassoCV``: ``geomspace(alpha_max, eps * alpha_max)``.

    Parameters
    ----------
    X : array of shape (n, p)
    Y : array of shape (n, v)
    n_alphas : int
    eps : float
        ``alpha_min / alpha_max``.
    fit_intercept : bool
        Center X and Y first.

    Returns
    -------
    grid : array of shape (n_alphas, v)
        Decreasing alphas per target; ``alpha_max = max_j |Xc'yc|_j / n`` is the smallest
        alpha with all coefficients zero (a constant target gets float64 resolution).
    """
    X, Y, _ = check_xy(X, Y)
    Xc, Yc, _, _ = _center(X, Y, fit_intercept)
    amax = np.abs(Xc.T @ Yc).max(axis=0) / X.shape[0]
    res = np.finfo(np.float64).resolution
    grid = np.geomspace(np.maximum(amax, res), np.maximum(amax, res) * eps, num=n_alphas)
    grid[:, amax <= res] = res
    return grid


class LassoCV(EncodingScoreMixin, BaseEstimator):
    """Lasso with one alpha per target chosen by inner cross-validation.

    For each target, the alpha that ``sklearn.linear_model.LassoCV(alphas=..., cv=pairs)``
    would choose (see the module docstring), for all targets at once.

    Parameters
    ----------
    alphas : array of shape (n_alphas,) or None
        Candidate penalties (sorted descending internally); None: a grid per target from
        ``n_alphas`` and ``eps`` (:func:`alpha_grid`).
    n_alphas : int
        Grid size when ``alphas`` is None.
    eps : float
        ``alpha_min / alpha_max`` of that grid.
    cv : int, splitter or list of (train, test) pairs
        Inner CV over the training rows; an int is shuffled ``KFold(cv, shuffle=True,
        random_state=random_state)``; pairs are row positions (e.g.
        :func:`dnnmap.stats.splits.inner_splits`, grouped).
    fit_intercept : bool
    tol, max_iter : float, int
        Coordinate-descent settings (:class:`Lasso`).
    batch_size : int or None
        Targets per batch; results do not depend on it.
    random_state : int or None
        Seed of the int ``cv``.

    Attributes
    ----------
    alpha_ : array of shape (v,), or float
        Chosen alpha per target.
    alphas_ : array of shape (n_alphas, v), or (n_alphas,)
        The grid used, descending.
    mse_path_ : array of shape (n_alphas, v), or (n_alphas,)
        Mean over folds of the test mean squared error.
    coef_, intercept_, n_features_in_
        The refit on all rows with ``alpha_`` (as :class:`Lasso`).
    """

    def __init__(
        self,
        alphas=None,
        *,
        n_alphas=100,
        eps=1e-3,
        cv=5,
        fit_intercept=True,
        tol=1e-4,
        max_iter=1000,
        batch_size=None,
        random_state=0,
    ):
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.random_state = random_state

    def _grid(self, X, Y) -> np.ndarray:
        v = Y.shape[1]
        if self.alphas is None:
            n_alphas = check_int(self.n_alphas, "n_alphas", 1)
            eps = _check_positive(self.eps, "eps")
            return alpha_grid(X, Y, n_alphas=n_alphas, eps=eps, fit_intercept=self.fit_intercept)
        a = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64))
        if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
            raise InputError(
                f"alphas are {self.alphas!r}; expected a non-empty list of positive numbers"
            )
        return np.repeat(np.sort(a)[::-1, None], v, axis=1)

    def fit(self, X, Y) -> LassoCV:
        """Choose alpha per target by inner CV on (X, Y), then refit on all rows."""
        X, Y, vector = check_xy(X, Y)
        (n, p), v = X.shape, Y.shape[1]
        tol = _check_positive(self.tol, "tol")
        max_iter = check_int(self.max_iter, "max_iter", 1)
        step = _check_batch(self.batch_size, v)
        pairs = as_pairs(self.cv, n, seed=self.random_state)
        grid = self._grid(X, Y)
        folds = []
        for tr, te in pairs:
            Xc, _, xm, _ = _center(X[tr], Y[tr, :0], self.fit_intercept)
            folds.append((tr, te, Xc.T @ Xc, Xc, X[te] - xm))
        mse = np.zeros(grid.shape)
        for b0 in range(0, v, step):
            c = slice(b0, b0 + step)
            for tr, te, G, Xc, Xte in folds:
                Yb = Y[tr, c]
                ym = Yb.mean(axis=0) if self.fit_intercept else np.zeros(Yb.shape[1])
                Yc = Yb - ym
                XtY, yy = Xc.T @ Yc, np.einsum("ij,ij->j", Yc, Yc)
                W = None
                for k in range(grid.shape[0]):  # the warm-started path, largest alpha first
                    W, _, _ = lasso_gram_cd(
                        G, XtY, yy, tr.size * grid[k, c], W, tol=tol, max_iter=max_iter
                    )
                    err = Y[te, c] - ym - Xte @ W
                    mse[k, c] += np.einsum("ij,ij->j", err, err) / te.size
        mse /= len(folds)
        best = np.argmin(mse, axis=0)
        alpha = grid[best, np.arange(v)]
        fit = Lasso(
            alpha,
            fit_intercept=self.fit_intercept,
            tol=tol,
            max_iter=max_iter,
            batch_size=self.batch_size,
        ).fit(X, Y)
        self.alpha_ = squeeze_targets(alpha, vector)
        self.alphas_ = squeeze_targets(grid, vector)
        self.mse_path_ = squeeze_targets(mse, vector)
        self.coef_ = squeeze_targets(fit.coef_, vector)
        self.intercept_ = squeeze_targets(fit.intercept_, vector)
        self.dual_gap_ = squeeze_targets(fit.dual_gap_, vector)
        self.n_features_in_ = p
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions (m, v), or (m,) for 1-D Y."""
        X = check_fitted(self, X)
        return X @ self.coef_ + self.intercept_
