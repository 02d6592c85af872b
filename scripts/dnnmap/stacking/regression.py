"""Stacked regression of feature spaces (Wolpert 1992; Breiman 1996), as in Wang, Lin, Tarr &
Wehbe's joint interpretation of network layers and the brain (brainML/Stacking).

:class:`StackedRegression` is an encoding estimator over ``k`` feature spaces, given as the
column blocks of one design matrix (``spaces``: the number of columns of each). ``fit(X, Y)``

1. fits each space's encoding model (a clone of ``estimator``, by default dnnmap's
   :class:`~dnnmap.encoding.ridge.RidgeCV`) on the training part of every inner fold
   (``cv``) and predicts its test part: out-of-fold predictions ``P (k, n, v)``;
2. forms, per voxel, the covariance of the spaces' out-of-fold residuals
   ``S_v = R_vᵀ R_v / n`` (``R_v = y_v - P[:, :, v]ᵀ``) and solves the convex weights
   ``min wᵀ S_v w`` over the simplex for every voxel at once
   (:func:`dnnmap.stacking.simplex.simplex_qp`);
3. refits each space's model on all training rows.

``predict(X)`` is the weighted sum of the refitted spaces' predictions. Unlike
brainML/Stacking, which weighs in-sample training predictions, the weights come from
out-of-fold predictions, so a space that overfits its training rows gets no credit for it.

:func:`cross_validated_stacking` runs the estimator over explicit outer splits
(:class:`dnnmap.stats.splits.Splits`) and scores the combined prediction and each single
space on every outer test set: the stacked score (Pearson r, R² and the seed study's
``R = sign(R²) sqrt(|R²|)``), the weights of every split and their mean, and each space's
own scores, all per voxel.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone

from dnnmap.brain.summary import masked_voxels
from dnnmap.checks import check_int
from dnnmap.encoding.base import EncodingScoreMixin, check_fitted, check_xy, warn_masked
from dnnmap.errors import InputError
from dnnmap.features.folds import FoldFeatures
from dnnmap.stacking.simplex import DEFAULT_JITTER, simplex_qp
from dnnmap.stats.metrics import pearson_r, r2_score
from dnnmap.stats.splits import Splits, as_pairs, check_splits, first_repeat_folds


def check_spaces(spaces, n_columns: int | None = None) -> list[int]:
    """Column counts of the feature spaces: at least 2 positive ints (summing to ``n_columns``).

    Parameters
    ----------
    spaces : sequence of int
    n_columns : int or None
        Columns of the design matrix the spaces split.

    Returns
    -------
    list of int
    """
    try:
        sizes = [check_int(s, "spaces", 1) for s in spaces]
    except TypeError:
        raise InputError(f"spaces is {spaces!r}; expected a sequence of column counts") from None
    if len(sizes) < 2:
        raise InputError(
            f"spaces is {sizes}: a stack of {len(sizes)} space; expected at least 2 spaces to weigh"
        )
    if n_columns is not None and sum(sizes) != n_columns:
        raise InputError(f"spaces {sizes} sum to {sum(sizes)} columns; X has {n_columns}")
    return sizes


def split_spaces(X: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """The column blocks ``X[:, a:b]`` of each space, in order (views)."""
    edges = np.concatenate([[0], np.cumsum(sizes)])
    return [X[:, a:b] for a, b in itertools.pairwise(edges)]


def signed_sqrt(r2) -> np.ndarray:
    """The seed study's ``R = sign(R²) sqrt(|R²|)``, elementwise (NaN stays NaN)."""
    r2 = np.asarray(r2, dtype=np.float64)
    return np.sign(r2) * np.sqrt(np.abs(r2))


def residual_covariance(Y: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Per-voxel covariance of the spaces' residuals, the matrices the simplex QP weighs.

    Parameters
    ----------
    Y : array of shape (n, v)
    predictions : array of shape (k, n, v)

    Returns
    -------
    S : array of shape (v, k, k)
        ``S[v, i, j] = mean_n (Y - P_i)[n, v] (Y - P_j)[n, v]`` (float64).
    """
    R = np.asarray(Y, dtype=np.float64)[None] - np.asarray(predictions, dtype=np.float64)
    return np.einsum("inv,jnv->vij", R, R, optimize=True) / R.shape[1]


class StackedRegression(EncodingScoreMixin, BaseEstimator):
    """Convex per-voxel stacking of the encoding models of several feature spaces.

    Parameters
    ----------
    spaces : sequence of int
        Columns of each space in ``X``, in order (``sum(spaces) == X.shape[1]``); at least 2.
    estimator : estimator or None
        Encoding model of every space (cloned per space and fit); None: dnnmap's
        ``RidgeCV(alpha_scale="relative")``.
    cv : int, splitter or list of (train, test) pairs
        Inner folds over the rows passed to ``fit`` that give the out-of-fold predictions
        the weights are learned from (:func:`dnnmap.stats.splits.as_pairs`; an int is
        shuffled k-fold with ``random_state``).
    estimator_cv : callable or None
        ``estimator_cv(rows)`` gives the ``cv`` of a space's model fitted on ``rows``
        (positions into the ``X`` passed to ``fit``), e.g. nested folds from
        :func:`dnnmap.stats.splits.inner_splits`; None keeps the model's own ``cv``.
    random_state : int or None
        Seed of the shuffled k-fold when ``cv`` is an int.
    jitter : float
        Conditioning of the weight problem (:func:`dnnmap.stacking.simplex.simplex_qp`).

    Attributes
    ----------
    weights_ : array of shape (v, k)
        Convex weights per voxel (NaN rows for masked voxels).
    estimators_ : list of estimators
        Each space's model refitted on all rows (on the unmasked voxels).
    objective_ : array of shape (v,)
        Mean squared out-of-fold error of the weighted prediction (``wᵀ S_v w``).
    masked_ : bool array of shape (v,)
        Voxels that are constant or not finite (not fitted).
    n_features_in_ : int
    """

    def __init__(
        self,
        spaces,
        estimator=None,
        cv=5,
        estimator_cv: Callable | None = None,
        random_state=0,
        jitter: float = DEFAULT_JITTER,
    ):
        self.spaces = spaces
        self.estimator = estimator
        self.cv = cv
        self.estimator_cv = estimator_cv
        self.random_state = random_state
        self.jitter = jitter

    def _model(self, rows: np.ndarray):
        """An unfitted model of one space, to be fitted on ``rows``."""
        if self.estimator is None:
            from dnnmap.encoding.ridge import RidgeCV

            est = RidgeCV(alpha_scale="relative")
        else:
            try:
                est = clone(self.estimator)
            except TypeError:
                est = copy.deepcopy(self.estimator)
        if self.estimator_cv is not None:
            est.set_params(cv=self.estimator_cv(rows))
        return est

    def _fit_predict(self, Xs, Y, train, test) -> np.ndarray:
        """Predictions ``(k, m, c)`` of every space's model fit on ``train``, on ``test``."""
        out = np.empty((len(Xs), test.size, Y.shape[1]))
        for s, Xk in enumerate(Xs):
            est = self._model(train).fit(Xk[train], Y[train])
            out[s] = np.asarray(est.predict(Xk[test])).reshape(test.size, -1)
        return out

    def fit(self, X, Y) -> StackedRegression:
        """Learn the convex weights from out-of-fold predictions, then refit every space."""
        X, Y, _ = check_xy(X, Y, finite_y=False)
        n, v = Y.shape
        sizes = check_spaces(self.spaces, X.shape[1])
        Xs = split_spaces(X, sizes)
        masked = masked_voxels(Y)
        warn_masked(int(masked.sum()), v, "constant or not finite (NaN or inf)")
        cols = np.flatnonzero(~masked)
        Yc = Y[:, cols]
        pairs = as_pairs(self.cv, n, seed=self.random_state, name="cv")
        oof = np.full((len(sizes), n, cols.size), np.nan)
        tested = np.zeros(n, dtype=bool)
        for tr, te in pairs:
            oof[:, te] = self._fit_predict(Xs, Yc, tr, te)
            tested[te] = True
        if tested.sum() < 2:
            raise InputError(
                f"cv tests {int(tested.sum())} of {n} rows; expected at least 2 to weigh spaces"
            )
        weights = np.full((v, len(sizes)), np.nan)
        objective = np.full(v, np.nan)
        if cols.size:
            S = residual_covariance(Yc[tested], oof[:, tested])
            sol = simplex_qp(S, jitter=self.jitter)
            weights[cols], objective[cols] = sol.weights, sol.objective
        rows = np.arange(n)
        self.estimators_ = [self._model(rows).fit(Xk, Yc) for Xk in Xs]
        self.weights_, self.objective_, self.masked_ = weights, objective, masked
        self.n_features_in_ = X.shape[1]
        return self

    def predict_spaces(self, X) -> np.ndarray:
        """Each refitted space's predictions, shape (k, m, v) (NaN in masked voxels)."""
        X = check_fitted(self, X, "weights_")
        Xs = split_spaces(X, check_spaces(self.spaces, X.shape[1]))
        cols = np.flatnonzero(~self.masked_)
        out = np.full((len(Xs), X.shape[0], self.masked_.size), np.nan)
        for s, (Xk, est) in enumerate(zip(Xs, self.estimators_, strict=True)):
            out[s][:, cols] = np.asarray(est.predict(Xk)).reshape(X.shape[0], -1)
        return out

    def predict(self, X) -> np.ndarray:
        """The convex combination of the spaces' predictions, shape (m, v)."""
        return combine(self.predict_spaces(X), self.weights_)


def combine(predictions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum over spaces: ``predictions (k, m, v)`` and ``weights (v, k)`` -> (m, v)."""
    return np.einsum("kmv,vk->mv", predictions, weights)


@dataclass(frozen=True)
class StackingResult:
    """Out-of-fold performance and weights of stacked regression.

    Attributes
    ----------
    r, r2, signed_sqrt_r2 : arrays of shape (v,)
        Stacked score: mean over outer test sets of Pearson r and of R², and
        ``R = sign(r2) sqrt(|r2|)`` of that mean R².
    fold_r, fold_r2 : arrays of shape (n_splits, v)
        Stacked r and R² within each outer test set.
    weights : array of shape (v, k)
        Mean of the weights over the outer splits (still convex).
    fold_weights : array of shape (n_splits, v, k)
        Weights learned in each outer training set.
    space_r, space_r2, space_signed_sqrt_r2 : arrays of shape (v, k)
        Each space's own model, scored like the stack (mean over outer test sets).
    predictions : array of shape (n, v)
        Out-of-fold stacked predictions of the first repeat (NaN where untested).
    folds : int array of shape (n,)
        First-repeat split testing each row (-1: none).
    masked : bool array of shape (v,)
        Constant or non-finite voxels (NaN results).
    """

    r: np.ndarray
    r2: np.ndarray
    signed_sqrt_r2: np.ndarray
    fold_r: np.ndarray
    fold_r2: np.ndarray
    weights: np.ndarray
    fold_weights: np.ndarray
    space_r: np.ndarray
    space_r2: np.ndarray
    space_signed_sqrt_r2: np.ndarray
    predictions: np.ndarray
    folds: np.ndarray
    masked: np.ndarray


def _fold_mean(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries (NaN where none is)."""
    finite = np.isfinite(a)
    count = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(finite, a, 0.0).sum(axis=0) / count, np.nan)


def cross_validated_stacking(
    estimator_factory, X, Y, splits: Splits, *, log: Callable | None = None
) -> StackingResult:
    """Stacked regression over explicit outer splits, scored on every outer test set.

    Parameters
    ----------
    estimator_factory : StackedRegression or callable
        An instance is cloned per split; a callable ``estimator_factory(train)`` gets the
        outer training rows (n_train,) and returns an unfitted :class:`StackedRegression`
        (e.g. with nested folds of those rows).
    X : array of shape (n, p), or FoldFeatures
        The spaces' features side by side (the estimator's ``spaces``); a
        :class:`dnnmap.features.folds.FeatureSpaces` gives each outer split its own design
        (a space with ``features.fit: train`` is fitted on the split's training rows).
    Y : array of shape (n, v)
        Responses; constant or non-finite voxels are masked (NaN results).
    splits : dnnmap.stats.splits.Splits
        Outer splits; scores are averaged over all of them.
    log : callable or None
        ``log(split, n_splits)`` after each split (progress).

    Returns
    -------
    StackingResult
    """
    folded = X if isinstance(X, FoldFeatures) and X.per_fold else None
    if isinstance(X, FoldFeatures):
        X = X.matrix
    X, Y, _ = check_xy(X, Y, finite_y=False)
    n, v = Y.shape
    splits = check_splits(splits, n, min_train=3)
    masked = masked_voxels(Y)
    warn_masked(int(masked.sum()), v, "constant or not finite (NaN or inf)")
    cols = np.flatnonzero(~masked)
    if cols.size == 0:
        raise InputError(f"all {v} voxels are constant or not finite; nothing to stack")
    Yc = Y[:, cols]
    n_splits = len(splits)
    fold_r = np.full((n_splits, v), np.nan)
    fold_r2 = np.full((n_splits, v), np.nan)
    space_fold_r = space_fold_r2 = fold_weights = None
    predictions = np.full((n, v), np.nan)
    first = splits.repeat == splits.repeat.min()
    for s in range(n_splits):
        tr, te = splits.train[s], splits.test[s]
        if hasattr(estimator_factory, "fit"):
            est = clone(estimator_factory)
        else:
            est = estimator_factory(tr)
        Xs = X if folded is None else folded.split_design(tr)
        est.fit(Xs[tr], Yc[tr])
        P = est.predict_spaces(Xs[te])
        k = P.shape[0]
        if fold_weights is None:
            fold_weights = np.full((n_splits, v, k), np.nan)
            space_fold_r = np.full((n_splits, v, k), np.nan)
            space_fold_r2 = np.full((n_splits, v, k), np.nan)
        fold_weights[s, cols] = est.weights_
        stacked = combine(P, est.weights_)
        if first[s]:
            predictions[np.ix_(te, cols)] = stacked
        if te.size >= 3:
            yt = Yc[te]
            fold_r[s, cols] = pearson_r(yt, stacked)
            fold_r2[s, cols] = r2_score(yt, stacked)
            for j in range(k):
                space_fold_r[s, cols, j] = pearson_r(yt, P[j])
                space_fold_r2[s, cols, j] = r2_score(yt, P[j])
        if log is not None:
            log(s, n_splits)
    r2 = _fold_mean(fold_r2)
    space_r2 = _fold_mean(space_fold_r2)
    return StackingResult(
        r=_fold_mean(fold_r),
        r2=r2,
        signed_sqrt_r2=signed_sqrt(r2),
        fold_r=fold_r,
        fold_r2=fold_r2,
        weights=_fold_mean(fold_weights),
        fold_weights=fold_weights,
        space_r=_fold_mean(space_fold_r),
        space_r2=space_r2,
        space_signed_sqrt_r2=signed_sqrt(space_r2),
        predictions=predictions,
        folds=first_repeat_folds(splits),
        masked=masked,
    )
