"""PLS2 regression (NIPALS) with the number of components chosen by inner CV.

One model for all targets: the components are directions of the (scaled) design that
covary most with all targets together (PLS2), so a fit cannot be split into target batches.

Algorithm: our own NIPALS, step for step that of ``sklearn.cross_decomposition.PLSRegression``
(``algorithm="nipals"``, ``deflation_mode="regression"``, mode A): center (and with ``scale``
divide by the ``ddof=1`` standard deviation, 1 for constant columns) ``X`` and ``Y``; for
component ``k`` the x-weights ``w`` come from the same power iteration on ``Xk'Yk`` (start at
the first column of ``Yk`` with a value above machine epsilon, stop when the squared change
of ``w`` is below ``tol`` or after ``max_iter``; one step when there is one target), then the
sign flip that makes the largest ``|w|`` positive; scores ``t = Xk w``, loadings
``p = Xk't / t't`` and ``q = Yk't / t't``; deflation ``Xk -= t p'``, ``Yk -= t q'``.
Components stop early when ``Yk`` is all below ``10 eps`` (scikit-learn warns and stops).

Nested components: component ``k`` does not depend on how many are fitted, and with
``R = W (P'W)^-1`` (``P'W`` is upper triangular, so the first ``k`` columns of ``R`` are
the rotations of the ``k``-component model), the ``k``-component prediction is::

    y_mean + sum_{j < k} ((x - x_mean) / x_std @ R[:, j]) * q_j * y_std

So one fit of ``K`` components gives the predictions of every ``k <= K``, equal to
``PLSRegression(n_components=k)``; the inner CV of :class:`PLS` fits each inner training
set once, scores every ``k`` on its test rows (mean squared error), and picks ``k`` per target
(``select="target"``) or one ``k`` for all (``select="all"``: least mean over targets of the
MSE divided by the target's training variance). Ties go to the smaller ``k``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from dnnmap.checks import check_count
from dnnmap.encoding.base import EncodingScoreMixin, check_fitted, check_xy, squeeze_targets
from dnnmap.errors import InputError
from dnnmap.stats.splits import as_pairs

SELECT = ("target", "all")


def _first_singular_vectors(X, Y, max_iter: int, tol: float):
    """Power iteration of scikit-learn's ``_get_first_singular_vectors_power_method``
    (mode A, y-weights not normalized): x-weights (p,) and y-weights (v,)."""
    eps = np.finfo(X.dtype).eps
    nonzero = np.flatnonzero(np.any(np.abs(Y) > eps, axis=0))
    if nonzero.size == 0:
        return None
    y_score = Y[:, nonzero[0]]
    w_old = 100.0
    for _ in range(max_iter):
        w = X.T @ y_score / (y_score @ y_score)
        w /= np.sqrt(w @ w) + eps
        x_score = X @ w
        c = Y.T @ x_score / (x_score @ x_score)
        y_score = Y @ c / (c @ c + eps)
        diff = w - w_old
        if diff @ diff < tol or Y.shape[1] == 1:
            break
        w_old = w
    return w, c


def nipals_pls2(X, Y, n_components: int, *, scale: bool = True, max_iter=500, tol=1e-6):
    """Fit PLS2 components with NIPALS (see the module docstring).

    Parameters
    ----------
    X : array of shape (n, p)
    Y : array of shape (n, v)
    n_components : int
        Components to fit (fewer when ``Y`` is explained before).
    scale : bool
        Divide X and Y columns by their standard deviation.
    max_iter, tol
        Power-iteration settings.

    Returns
    -------
    dict
        ``x_mean``, ``x_std`` (p,), ``y_mean``, ``y_std`` (v,), ``x_weights``,
        ``x_loadings``, ``x_rotations`` (p, k), ``y_loadings`` (v, k), ``n_components``
        (k fitted).
    """
    X = np.array(X, dtype=np.float64)
    Y = np.array(Y, dtype=np.float64)
    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    X -= x_mean
    Y -= y_mean
    if scale:
        x_std, y_std = X.std(axis=0, ddof=1), Y.std(axis=0, ddof=1)
        x_std[x_std == 0] = 1.0
        y_std[y_std == 0] = 1.0
        X /= x_std
        Y /= y_std
    else:
        x_std, y_std = np.ones(X.shape[1]), np.ones(Y.shape[1])
    W, P, Q = [], [], []
    y_eps = np.finfo(np.float64).eps
    for _ in range(n_components):  # a loop over components (sequential by definition)
        Y[:, np.all(np.abs(Y) < 10 * y_eps, axis=0)] = 0.0
        found = _first_singular_vectors(X, Y, max_iter, tol)
        if found is None:
            break
        w, _ = found
        w *= np.sign(w[np.argmax(np.abs(w))])
        t = X @ w
        tt = t @ t
        p_, q_ = X.T @ t / tt, Y.T @ t / tt
        X -= np.outer(t, p_)
        Y -= np.outer(t, q_)
        W.append(w)
        P.append(p_)
        Q.append(q_)
    k = len(W)
    W = np.array(W).T.reshape(X.shape[1], k)
    P = np.array(P).T.reshape(X.shape[1], k)
    Q = np.array(Q).T.reshape(Y.shape[1], k)
    R = W @ np.linalg.pinv(P.T @ W) if k else W
    return {
        "x_mean": x_mean,
        "x_std": x_std,
        "y_mean": y_mean,
        "y_std": y_std,
        "x_weights": W,
        "x_loadings": P,
        "x_rotations": R,
        "y_loadings": Q,
        "n_components": k,
    }


def _scores(model: dict, X: np.ndarray) -> np.ndarray:
    """Component scores (m, k) of rows ``X``."""
    return (X - model["x_mean"]) / model["x_std"] @ model["x_rotations"]


def _check_k(k, name: str = "n_components") -> int:
    return check_count(k, name, 1)


class PLS(EncodingScoreMixin, BaseEstimator):
    """PLS2 regression with the number of components per target chosen by inner CV.

    Parameters
    ----------
    n_components : int
        Largest number of components (capped at the features and at the smallest inner
        training set minus one).
    cv : int, splitter, list of (train, test) pairs, or None
        Inner CV over the training rows (an int is shuffled ``KFold(cv, shuffle=True,
        random_state=random_state)``); None: no selection, ``n_components`` for all.
    select : {"target", "all"}
        One number of components per target, or one for all targets.
    scale : bool
        Scale X and Y columns to unit variance (``PLSRegression``'s default).
    max_iter, tol
        NIPALS power-iteration settings (scikit-learn's defaults).
    random_state : int or None
        Seed of the int ``cv``.

    Attributes
    ----------
    n_components_ : int array of shape (v,), or int
        Components used per target.
    n_components_max_ : int
        Components fitted (``K``: ``n_components`` after the caps).
    cv_errors_ : array of shape (K, v), or (K,)
        Mean over inner folds of the test MSE with ``1 .. K`` components (None without cv).
    x_rotations_ : array of shape (p, K)
    y_loadings_ : array of shape (v, K)
    coef_ : array of shape (p, v), or (p,)
        Coefficients on the raw features with ``n_components_`` components per target.
    intercept_ : array of shape (v,), or float
    n_features_in_ : int
    """

    def __init__(
        self,
        n_components=10,
        *,
        cv=5,
        select="target",
        scale=True,
        max_iter=500,
        tol=1e-6,
        random_state=0,
    ):
        self.n_components = n_components
        self.cv = cv
        self.select = select
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit_model(self, X, Y, k):
        return nipals_pls2(X, Y, k, scale=self.scale, max_iter=self.max_iter, tol=self.tol)

    def fit(self, X, Y) -> PLS:
        """Fit ``n_components`` components on (X, Y); choose the number per target by
        inner CV."""
        X, Y, vector = check_xy(X, Y, min_samples=3)
        (n, p), v = X.shape, Y.shape[1]
        K = _check_k(self.n_components)
        if self.select not in SELECT:
            raise InputError(f"select is {self.select!r}; expected one of {', '.join(SELECT)}")
        pairs = None if self.cv is None else as_pairs(self.cv, n, seed=self.random_state)
        smallest = n if pairs is None else min(tr.size for tr, _ in pairs)
        K = min(K, p, smallest - 1)
        errors = None
        if pairs is not None:
            errors = np.zeros((K, v))
            for tr, te in pairs:
                errors += self._path_errors(self._fit_model(X[tr], Y[tr], K), X[te], Y[te], K)
            errors /= len(pairs)
            if self.select == "target":
                best = np.argmin(errors, axis=0) + 1
            else:
                var = Y.var(axis=0)
                var[var == 0] = 1.0
                best = np.full(v, int(np.argmin((errors / var).mean(axis=1))) + 1)
        else:
            best = np.full(v, K)
        model = self._fit_model(X, Y, K)
        self._model = model
        k_fit = model["n_components"]
        best = np.minimum(best, k_fit)
        used = np.arange(k_fit)[:, None] < best[None, :]  # (k, v)
        weights = model["y_loadings"].T * used * model["y_std"]  # (k, v)
        coef = (model["x_rotations"] / model["x_std"][:, None]) @ weights
        self.coef_ = squeeze_targets(coef, vector)
        self.intercept_ = squeeze_targets(model["y_mean"] - model["x_mean"] @ coef, vector)
        self.n_components_ = int(best[0]) if vector else best
        self.n_components_max_ = int(k_fit)
        self.cv_errors_ = None if errors is None else squeeze_targets(errors, vector)
        self.x_rotations_ = model["x_rotations"]
        self.y_loadings_ = model["y_loadings"]
        self.n_features_in_ = p
        self._vector = vector
        return self

    @staticmethod
    def _path_errors(model: dict, X_test, Y_test, K: int) -> np.ndarray:
        """Test MSE (K, v) with ``1 .. K`` components (components past the fitted ones
        repeat the last error)."""
        T = _scores(model, X_test)
        pred = np.broadcast_to(model["y_mean"], Y_test.shape).copy()
        out = np.empty((K, Y_test.shape[1]))
        scaled = model["y_loadings"] * model["y_std"][:, None]  # (v, k)
        for j in range(K):  # a loop over components
            if j < model["n_components"]:
                pred += np.outer(T[:, j], scaled[:, j])
            err = Y_test - pred
            out[j] = np.einsum("ij,ij->j", err, err) / Y_test.shape[0]
        return out

    def predict_components(self, X, k: int) -> np.ndarray:
        """Predictions (m, v) with the first ``k`` components for every target (as
        ``PLSRegression(n_components=k)`` fitted on the same data)."""
        X = check_fitted(self, X)
        k = _check_k(k, "k")
        model = self._model
        if k > model["n_components"]:
            raise InputError(
                f"k is {k}; expected at most {model['n_components']} fitted components"
            )
        T = _scores(model, X)[:, :k]
        pred = model["y_mean"] + T @ (model["y_loadings"][:, :k] * model["y_std"][:, None]).T
        return squeeze_targets(pred, self._vector)

    def predict(self, X) -> np.ndarray:
        """Predictions (m, v) with ``n_components_`` components per target, or (m,)."""
        X = check_fitted(self, X)
        return X @ self.coef_ + self.intercept_
