"""Ordinary least squares / GLM for many targets at once, with inference per regressor.

With the design ``X1 = [1, X]`` (``n x q``, ``q = p + 1`` with the intercept)
and its thin QR ``X1 = Q R``: ``beta = R^-1 Q' Y`` (q, v); residual variance
``s2 = |Y - X1 beta|^2 / (n - q)`` per target; ``Cov(beta) = s2 (X1'X1)^-1`` with
``(X1'X1)^-1 = R^-1 R^-T``; ``t = beta / se``, two-sided ``p = 2 sf_t(|t|, n - q)``
(scipy ``t`` distribution). A contrast ``c`` gives ``t = c beta / sqrt(s2 c (X1'X1)^-1 c')``.
A rank-deficient design is an error (its coefficients and standard errors are not
identified).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, stats
from sklearn.base import BaseEstimator

from dnnmap.encoding.base import EncodingScoreMixin, check_fitted, check_xy, squeeze_targets
from dnnmap.errors import InputError


class OLS(EncodingScoreMixin, BaseEstimator):
    """Ordinary least squares for all targets at once, with inference per regressor.

    Parameters
    ----------
    fit_intercept : bool
        Add a column of ones (the intercept, first in ``cov_unscaled_``).

    Attributes
    ----------
    coef_ : array of shape (p, v), or (p,) for 1-D Y
    intercept_ : array of shape (v,), or float (0 without intercept)
    se_, tvalues_, pvalues_ : arrays of shape (p, v), or (p,)
        Standard error, t-value and two-sided p-value of each coefficient.
    intercept_se_, intercept_tvalue_, intercept_pvalue_ : array of shape (v,), or float
        The same for the intercept (NaN without intercept).
    sigma2_ : array of shape (v,), or float
        Residual variance ``RSS / dof_resid_``.
    dof_resid_ : int
        ``n - p - fit_intercept``.
    cov_unscaled_ : array of shape (q, q)
        ``(X1'X1)^-1``, ``q = p + fit_intercept`` (intercept first).
    n_features_in_ : int
    """

    def __init__(self, fit_intercept: bool = True):
        self.fit_intercept = fit_intercept

    def fit(self, X, Y) -> OLS:
        """Least squares fit and inference; ``X`` (n, p), ``Y`` (n, v) or (n,)."""
        X, Y, vector = check_xy(X, Y)
        n, p = X.shape
        X1 = np.column_stack([np.ones(n), X]) if self.fit_intercept else X
        q = X1.shape[1]
        dof = n - q
        if dof < 1:
            raise InputError(
                f"X has {n} samples for {q} coefficients; expected more samples than "
                "coefficients (at least one residual degree of freedom)"
            )
        Q, R = np.linalg.qr(X1)
        d = np.abs(np.diag(R))
        if d.min() <= d.max() * max(n, q) * np.finfo(np.float64).eps:
            rank = int(np.linalg.matrix_rank(X1))
            raise InputError(
                f"X has rank {rank} with {q} coefficients (intercept included); expected "
                "linearly independent regressors"
            )
        beta = linalg.solve_triangular(R, Q.T @ Y)
        resid = Y - X1 @ beta
        sigma2 = np.einsum("ij,ij->j", resid, resid) / dof
        Rinv = linalg.solve_triangular(R, np.eye(q))
        cov = Rinv @ Rinv.T
        se = np.sqrt(np.outer(np.diag(cov), sigma2))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = beta / se
        pval = 2 * stats.t.sf(np.abs(t), dof)
        k = 1 if self.fit_intercept else 0
        nan = np.full(Y.shape[1], np.nan)
        self._beta, self._vector = beta, vector
        self.coef_ = squeeze_targets(beta[k:], vector)
        self.se_ = squeeze_targets(se[k:], vector)
        self.tvalues_ = squeeze_targets(t[k:], vector)
        self.pvalues_ = squeeze_targets(pval[k:], vector)
        self.intercept_ = squeeze_targets(beta[0] if k else np.zeros(Y.shape[1]), vector)
        self.intercept_se_ = squeeze_targets(se[0] if k else nan, vector)
        self.intercept_tvalue_ = squeeze_targets(t[0] if k else nan, vector)
        self.intercept_pvalue_ = squeeze_targets(pval[0] if k else nan, vector)
        self.sigma2_ = squeeze_targets(sigma2, vector)
        self.dof_resid_ = int(dof)
        self.cov_unscaled_ = cov
        self.n_features_in_ = p
        return self

    def contrast(self, c) -> tuple[np.ndarray, np.ndarray]:
        """t-contrast(s) of the coefficients.

        Parameters
        ----------
        c : array of shape (p,) or (k, p), or (q,) or (k, q) with the intercept first
            Weights of the regressors (``q = p + 1`` includes the intercept).

        Returns
        -------
        t, p : arrays of shape (v,), or (k, v) for 2-D ``c`` (floats for 1-D Y and 1-D c)
            t-value of ``c @ beta`` and its two-sided p-value (``dof_resid_`` dof).
        """
        if not hasattr(self, "_beta"):
            raise InputError("OLS is not fitted; call fit(X, Y) before contrast")
        c = np.asarray(c, dtype=np.float64)
        q = self.cov_unscaled_.shape[0]
        p = self.n_features_in_
        one = c.ndim == 1
        c2 = np.atleast_2d(c)
        if c2.ndim != 2 or c2.shape[1] not in {p, q} or not np.isfinite(c2).all():
            raise InputError(
                f"contrast has shape {c.shape}; expected finite weights of shape ({p},) or "
                f"(k, {p}) for the regressors, or ({q},)/(k, {q}) with the intercept first"
            )
        if c2.shape[1] == p and q != p:
            c2 = np.column_stack([np.zeros(c2.shape[0]), c2])
        effect = c2 @ self._beta
        var = np.einsum("ki,ij,kj->k", c2, self.cov_unscaled_, c2)
        sigma2 = np.atleast_1d(self.sigma2_)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = effect / np.sqrt(np.outer(var, sigma2))
        pval = 2 * stats.t.sf(np.abs(t), self.dof_resid_)
        if one:
            t, pval = t[0], pval[0]
        return squeeze_targets(t, self._vector), squeeze_targets(pval, self._vector)

    def predict(self, X) -> np.ndarray:
        """Predictions (m, v), or (m,) for 1-D Y."""
        X = check_fitted(self, X)
        return X @ self.coef_ + self.intercept_
