"""Banded ridge: one penalty per feature space per target, by random search over the simplex.

Several feature spaces (the layers of one network, or layers of several networks) are
concatenated column-wise, ``X = [X_1 | ... | X_s]``, and fitted jointly with one ridge penalty
per space (Nunez-Elizalde, Huth & Gallant 2019; himalaya's ``BandedRidgeCV``)::

    min_b  ||y - sum_i X_i b_i||^2 + sum_i lambda_i ||b_i||^2 ,   lambda_i = alpha / gamma_i

parametrised, as in himalaya's ``solver="random_search"``, by a point ``gamma`` of the
simplex (space weights ``gamma_i >= 0``, ``sum_i gamma_i = 1``) and a global ``alpha``. In
the dual this is kernel ridge on the weighted sum of the linear kernels of the spaces,
``K_gamma = sum_i gamma_i X_i X_i.T``: dual coefficients ``c = (K_gamma + alpha I)^-1 y`` and
predictions ``K_gamma(new, train) @ c``.

Search. The candidates are ``n_iter`` space weights (:func:`space_weight_candidates`: the
uniform point first, then Dirichlet draws cycling over ``concentration``; or an explicit
array) times the grid ``alphas``. Every target gets the candidate with the smallest mean
squared error over the inner folds (mean over folds of each test fold's mean squared error,
the loss of himalaya's ``l2_neg_loss``): per space weight, the best alpha (ties: the larger
alpha), and a later space weight replaces an earlier one only when its error is strictly
smaller.

Cost. The kernels ``X_i X_i.T`` (n, n) are computed once. For each candidate space weight
and inner fold, the centered training kernel (n_train, n_train) is diagonalised once,
``K = U diag(lam) U.T``, and that one eigendecomposition serves every alpha and every target:
the test predictions of all alphas come from one matrix product ``M @ Y_train`` with ``M``
(n_alphas * n_test, n_train) stacked from ``K_test U diag(1 / (lam + alpha)) U.T``. Targets
are processed in batches (bounded memory); there is no loop over targets. The refit on all
rows is done once at the end: one eigendecomposition per space weight that some target
chose. Products run on the backend of :mod:`dnnmap.backend` (numpy, or torch on CPU/CUDA), in
float64.

``fit_intercept=True`` centers the spaces' features and the targets with the training means
(an unpenalized intercept; himalaya's ``fit_intercept=True``). ``space_scale="trace"``
divides each space's kernel by its mean eigenvalue ``trace(K_i_centered) / n`` on the
training rows, so spaces with features on different scales start on an equal footing and
``alphas`` are relative to a unit kernel; ``"none"`` uses the kernels as they are (as
himalaya does). The penalty of space ``i`` on its original-scale coefficients is then
``alpha * scale_i / gamma_i`` (``space_alphas_``; inf where ``gamma_i = 0``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from dnnmap.backend import get_backend
from dnnmap.brain.summary import masked_voxels
from dnnmap.checks import check_choice, check_int, is_int
from dnnmap.encoding.base import EncodingScoreMixin, check_fitted, check_xy, warn_masked
from dnnmap.encoding.ridge import DEFAULT_ALPHAS
from dnnmap.errors import InputError
from dnnmap.stats.splits import as_pairs

SPACE_SCALES = ("trace", "none")
"""How :class:`BandedRidgeCV` scales each space's kernel before weighting (module docstring)."""

DEFAULT_CONCENTRATION = (0.1, 1.0)
"""Dirichlet concentrations of the random search, cycled over the draws (himalaya's default)."""

MAX_BLOCK = 1 << 24
"""Largest number of elements of one block of test predictions (alphas x test rows x targets)
when ``batch_size`` is None."""


def space_weight_candidates(
    n_iter: int, n_spaces: int, concentration=DEFAULT_CONCENTRATION, seed=0
) -> np.ndarray:
    """Candidate space weights on the simplex for the random search.

    The first candidate is the uniform point ``1 / n_spaces`` (plain ridge on the
    concatenated spaces); the others are Dirichlet draws (``np.random.default_rng(seed)``),
    cycling over ``concentration`` (small concentrations put most weight on one space,
    1 is uniform over the simplex) as himalaya's ``generate_dirichlet_samples`` does.

    Parameters
    ----------
    n_iter : int
        Number of candidates (>= 1).
    n_spaces : int
        Number of feature spaces (>= 1).
    concentration : float or sequence of float
        Positive Dirichlet concentrations.
    seed : int or None
        Seed of the draws.

    Returns
    -------
    gammas : array of shape (n_iter, n_spaces)
        Non-negative rows summing to 1.
    """
    n_iter = check_int(n_iter, "n_iter", 1)
    n_spaces = check_int(n_spaces, "n_spaces", 1)
    conc = np.atleast_1d(np.asarray(concentration, dtype=np.float64))
    if conc.ndim != 1 or conc.size == 0 or not (np.isfinite(conc) & (conc > 0)).all():
        raise InputError(f"concentration is {concentration!r}; expected positive numbers")
    rng = np.random.default_rng(seed)
    gammas = np.full((n_iter, n_spaces), 1.0 / n_spaces)
    if n_spaces > 1:
        for i in range(1, n_iter):
            gammas[i] = rng.dirichlet(np.full(n_spaces, conc[(i - 1) % conc.size]))
    return gammas


def check_space_sizes(space_sizes, n_features: int) -> np.ndarray:
    """Number of columns of each feature space, in column order.

    Parameters
    ----------
    space_sizes : sequence of int or None
        Positive sizes summing to ``n_features``; None is one space of all columns.
    n_features : int

    Returns
    -------
    sizes : int array of shape (n_spaces,)
    """
    if space_sizes is None:
        return np.array([n_features])
    sizes = list(space_sizes) if isinstance(space_sizes, list | tuple | np.ndarray) else None
    if not sizes or not all(is_int(s) and s >= 1 for s in sizes):
        raise InputError(
            f"space_sizes is {space_sizes!r}; expected a list of positive numbers of columns"
        )
    if sum(int(s) for s in sizes) != n_features:
        raise InputError(
            f"space_sizes {[int(s) for s in sizes]} sum to {sum(int(s) for s in sizes)}; "
            f"expected {n_features}, the columns of X"
        )
    return np.asarray(sizes, dtype=np.intp)


def _check_candidates(n_iter, n_spaces: int, concentration, seed) -> np.ndarray:
    if is_int(n_iter):
        check_int(n_iter, "n_iter", 1)
        if n_spaces == 1:  # every candidate is the same point: search it once
            return np.ones((1, 1))
        return space_weight_candidates(n_iter, n_spaces, concentration, seed)
    gammas = np.asarray(n_iter, dtype=np.float64)
    if gammas.ndim != 2 or gammas.shape[1] != n_spaces or gammas.shape[0] == 0:
        raise InputError(
            f"n_iter has shape {gammas.shape}; expected an int or space weights of shape "
            f"(n_candidates, {n_spaces})"
        )
    if not np.isfinite(gammas).all() or (gammas < 0).any() or (gammas.sum(axis=1) <= 0).any():
        raise InputError("n_iter holds negative, non-finite or all-zero space weights")
    return gammas


def _check_alphas(alphas) -> np.ndarray:
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not (np.isfinite(a) & (a > 0)).all():
        raise InputError(f"alphas are {alphas!r}; expected positive finite numbers")
    return a


def _centered_blocks(bk, K, tr, te, fit_intercept: bool):
    """Training (n_tr, n_tr) and test (n_te, n_tr) blocks of kernel ``K``, centered in
    feature space with the training rows' means when ``fit_intercept``."""
    Ktr = K[tr][:, tr]
    Kte = None if te is None else K[te][:, tr]
    if not fit_intercept:
        return Ktr, Kte
    col = Ktr.mean(0)
    grand = col.mean()
    if Kte is not None:
        Kte = Kte - col[None, :] - Kte.mean(1)[:, None] + grand
    Ktr = Ktr - col[None, :] - col[:, None] + grand
    return Ktr, Kte


def _eigh(bk, K):
    """Eigenvalues (clipped at 0) and eigenvectors of the symmetrised kernel ``K``."""
    lam, U = bk.eigh((K + K.T) * 0.5)
    return lam * (lam > 0), U


class BandedRidgeCV(EncodingScoreMixin, BaseEstimator):
    """Banded ridge: one penalty per feature space and target, by random search with inner CV.

    Parameters
    ----------
    space_sizes : list of int or None
        Columns of each feature space in ``X``, in order (None: one space, i.e. ridge).
    alphas : array of shape (n_alphas,)
        Global penalties searched for every candidate space weight.
    n_iter : int or array of shape (n_candidates, n_spaces)
        Number of random-search candidates (:func:`space_weight_candidates`; one space has
        the single candidate 1), or the space weights themselves (rows are normalised to sum
        to 1).
    concentration : float or sequence of float
        Dirichlet concentrations of the random candidates.
    cv : int, splitter or list of (train, test) pairs
        Inner cross-validation (an int is shuffled k-fold with ``random_state``;
        :func:`dnnmap.stats.splits.as_pairs`); the workflow passes the nested folds of
        :func:`dnnmap.stats.splits.inner_splits`.
    fit_intercept : bool
        Center features and targets (unpenalized intercept).
    space_scale : {"trace", "none"}
        Scale each space's kernel to unit mean eigenvalue first, or not (module docstring).
    batch_size : int or None
        Targets per batch (None: as many as keep one block of test predictions under
        :data:`MAX_BLOCK` elements); results do not depend on it.
    device : str
        Compute backend (:func:`dnnmap.backend.get_backend`).
    random_state : int or None
        Seed of the random candidates and of the int ``cv``.

    Attributes
    ----------
    coef_ : array of shape (p, v), or (p,) for 1-D Y
        Primal coefficients on the original features (NaN for masked targets).
    intercept_ : array of shape (v,), or float
    alpha_ : array of shape (v,), or float
        Chosen global penalty.
    space_weights_ : array of shape (n_spaces, v), or (n_spaces,)
        Chosen space weights ``gamma`` (columns sum to 1).
    space_alphas_ : array of shape (n_spaces, v), or (n_spaces,)
        Effective penalty of each space on its original-scale coefficients,
        ``alpha_ * space_scales_ / space_weights_`` (inf where a weight is 0).
    best_candidate_ : int array of shape (v,), or int
        Row of ``candidates_`` chosen (-1 for masked targets).
    cv_errors_ : array of shape (n_candidates, v), or (n_candidates,)
        Mean squared inner-CV error of each candidate space weight at its best alpha.
    candidates_ : array of shape (n_candidates, n_spaces)
        The space weights searched.
    space_scales_ : array of shape (n_spaces,)
        Divisor of each space's kernel (1 with ``space_scale="none"``).
    n_features_in_ : int
    """

    def __init__(
        self,
        space_sizes=None,
        alphas=DEFAULT_ALPHAS,
        n_iter=20,
        concentration=DEFAULT_CONCENTRATION,
        cv=5,
        fit_intercept=True,
        space_scale="trace",
        batch_size=None,
        *,
        device="auto",
        random_state=0,
    ):
        self.space_sizes = space_sizes
        self.alphas = alphas
        self.n_iter = n_iter
        self.concentration = concentration
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.space_scale = space_scale
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    # -- fit ---------------------------------------------------------------------------------
    def _kernels(self, bk, X, sizes):
        """Linear kernels (s, n, n) of the spaces (backend float64) and their scales (s,)."""
        edges = np.concatenate([[0], np.cumsum(sizes)])
        Xb = bk.asarray(X, np.float64)
        kernels, scales = [], np.ones(sizes.size)
        n = X.shape[0]
        for i in range(sizes.size):
            Xi = Xb[:, int(edges[i]) : int(edges[i + 1])]
            K = Xi @ Xi.T
            if check_choice(self.space_scale, "space_scale", SPACE_SCALES) == "trace":
                Kc, _ = _centered_blocks(bk, K, bk.index(np.arange(n)), None, self.fit_intercept)
                trace = float(bk.to_numpy(Kc).trace()) / n
                scales[i] = trace if trace > 0 else 1.0
            kernels.append(K)
        return kernels, scales, edges

    def fit(self, X, Y) -> BandedRidgeCV:
        """Choose space weights and alpha per target by inner CV, then refit on all rows.

        Parameters
        ----------
        X : array of shape (n, p)
            The spaces' features side by side (``space_sizes`` columns each).
        Y : array of shape (n, v) or (n,)
            Targets; columns with NaN/inf are masked (NaN results, a warning).

        Returns
        -------
        self
        """
        X, Y, vector = check_xy(X, Y, finite_y=False)
        n, p = X.shape
        v = Y.shape[1]
        sizes = check_space_sizes(self.space_sizes, p)
        alphas = _check_alphas(self.alphas)
        gammas = _check_candidates(self.n_iter, sizes.size, self.concentration, self.random_state)
        gammas = gammas / gammas.sum(axis=1, keepdims=True)
        if not isinstance(self.fit_intercept, bool | np.bool_):
            raise InputError(f"fit_intercept is {self.fit_intercept!r}; expected true or false")
        pairs = as_pairs(self.cv, n, seed=self.random_state, name="cv")
        bk = get_backend(self.device)
        bad = masked_voxels(Y, constant=False)
        warn_masked(int(bad.sum()), v, "not finite (NaN or inf)")
        cols = np.flatnonzero(~bad)
        kernels, scales, edges = self._kernels(bk, X, sizes)
        step = self._step(alphas.size, max(te.size for _, te in pairs), cols.size)

        best_err = np.full(v, np.inf)
        best_cand = np.full(v, -1, dtype=np.intp)
        best_alpha = np.full(v, np.nan)
        cv_errors = np.full((gammas.shape[0], v), np.nan)
        Yb = bk.asarray(Y[:, cols], np.float64)
        folds = [(bk.index(tr), bk.index(te), te.size) for tr, te in pairs]
        for g, gamma in enumerate(gammas):
            K = self._mix(kernels, gamma / scales)
            err = np.zeros((alphas.size, cols.size))
            for tr, te, m in folds:
                M = self._test_operator(bk, K, tr, te, alphas)
                for b0 in range(0, cols.size, step):
                    sl = slice(b0, b0 + step)
                    Ytr, Yte = Yb[tr][:, sl], Yb[te][:, sl]
                    mean = Ytr.mean(0)
                    P = M @ (Ytr - mean[None, :])
                    R = P.reshape(alphas.size, m, -1) - (Yte - mean[None, :])[None]
                    err[:, sl] += bk.to_numpy((R * R).sum(1)) / m
            err /= len(folds)
            # the larger alpha on ties: argmin over the reversed grid
            idx = alphas.size - 1 - np.argmin(err[::-1], axis=0)
            e = err[idx, np.arange(cols.size)]
            cv_errors[g, cols] = e
            better = e < best_err[cols]
            upd = cols[better]
            best_err[upd] = e[better]
            best_cand[upd] = g
            best_alpha[upd] = alphas[idx[better]]

        coef = np.full((p, v), np.nan)
        intercept = np.full(v, np.nan)
        xmean = X.mean(axis=0) if self.fit_intercept else np.zeros(p)
        Xc = bk.asarray(X - xmean, np.float64)
        ymean = Y[:, cols].mean(axis=0) if self.fit_intercept else np.zeros(cols.size)
        all_rows = bk.index(np.arange(n))
        for g in np.unique(best_cand[cols]):
            sel = cols[best_cand[cols] == g]
            weights = gammas[g] / scales
            K = self._mix(kernels, weights)
            Kc, _ = _centered_blocks(bk, K, all_rows, None, self.fit_intercept)
            lam, U = _eigh(bk, Kc)
            Yc = bk.asarray(Y[:, sel] - ymean[np.searchsorted(cols, sel)], np.float64)
            Z = U.T @ Yc
            inv = 1.0 / (lam[:, None] + bk.asarray(best_alpha[sel][None, :], np.float64))
            dual = U @ (Z * inv)
            for i in range(sizes.size):
                rows = slice(int(edges[i]), int(edges[i + 1]))
                coef[rows, sel] = weights[i] * bk.to_numpy(Xc[:, rows].T @ dual)
            intercept[sel] = ymean[np.searchsorted(cols, sel)] - xmean @ coef[:, sel]

        space_weights = np.full((sizes.size, v), np.nan)
        space_weights[:, cols] = gammas[best_cand[cols]].T
        with np.errstate(divide="ignore"):
            space_alphas = best_alpha[None, :] * scales[:, None] / space_weights
        if vector:
            coef, intercept, best_alpha = coef[:, 0], intercept[0], best_alpha[0]
            space_weights, space_alphas = space_weights[:, 0], space_alphas[:, 0]
            best_cand, cv_errors = int(best_cand[0]), cv_errors[:, 0]
        self.coef_, self.intercept_, self.alpha_ = coef, intercept, best_alpha
        self.space_weights_, self.space_alphas_ = space_weights, space_alphas
        self.best_candidate_, self.cv_errors_ = best_cand, cv_errors
        self.candidates_, self.space_scales_ = gammas, scales
        self.n_features_in_ = p
        return self

    def _step(self, n_alphas: int, n_test: int, v: int) -> int:
        if self.batch_size is not None:
            return check_int(self.batch_size, "batch_size", 1)
        return max(1, min(max(v, 1), MAX_BLOCK // max(1, n_alphas * n_test)))

    @staticmethod
    def _mix(kernels, weights):
        K = kernels[0] * float(weights[0])
        for Ki, w in zip(kernels[1:], weights[1:], strict=True):
            if w:
                K = K + Ki * float(w)
        return K

    def _test_operator(self, bk, K, tr, te, alphas):
        """``M`` (n_alphas * n_test, n_train): test predictions of all alphas are ``M @ y``."""
        Ktr, Kte = _centered_blocks(bk, K, tr, te, self.fit_intercept)
        lam, U = _eigh(bk, Ktr)
        A = Kte @ U
        inv = 1.0 / (lam[None, :] + bk.asarray(alphas[:, None], np.float64))
        M = (A[None, :, :] * inv[:, None, :]) @ U.T
        return M.reshape(alphas.size * A.shape[0], -1)

    # -- predict -----------------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Predictions of shape (m, v), or (m,) when fitted on 1-D Y.

        Parameters
        ----------
        X : array of shape (m, p)

        Returns
        -------
        array of shape (m, v) or (m,)
        """
        X = check_fitted(self, X, "coef_")
        return X @ self.coef_ + self.intercept_

    def predict_spaces(self, X) -> np.ndarray:
        """Each space's part of the prediction (intercept excluded), as himalaya's ``split``.

        Parameters
        ----------
        X : array of shape (m, p)

        Returns
        -------
        array of shape (n_spaces, m, v) or (n_spaces, m)
        """
        X = check_fitted(self, X, "coef_")
        edges = np.concatenate([[0], np.cumsum(check_space_sizes(self.space_sizes, X.shape[1]))])
        parts = [
            X[:, int(edges[i]) : int(edges[i + 1])] @ self.coef_[int(edges[i]) : int(edges[i + 1])]
            for i in range(edges.size - 1)
        ]
        return np.stack(parts)
