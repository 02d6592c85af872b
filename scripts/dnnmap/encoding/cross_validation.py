"""Out-of-fold encoding performance of any estimator: the one outer cross-validation loop.

:func:`cross_validated_predictions` runs an estimator over explicit outer splits
(:class:`dnnmap.stats.splits.Splits`): per split, a fresh estimator (``sklearn.base.clone`` of
an instance, or built by a factory from the split's training rows, e.g. with nested inner
folds from :func:`dnnmap.stats.splits.inner_splits`) is fitted on the training rows and
predicts the test rows; predictions, scores and chosen hyperparameters are collected into an
:class:`EncodingResult`. Every estimator (ridge, kernel ridge, OLS, Lasso, PLS, per-unit, any
scikit-learn regressor) and every caller (the encoding rule, permutation tests, stacking) sees
the same folds and the same scores.

Estimators that can do better than one fit per split and target batch take over that step
through the method ``fit_predict_batches(X, Y, train, test, cols, batch_size, shared)``,
which yields ``(columns, predictions (m, b), hyperparameters (b,))`` per batch of targets:
:class:`dnnmap.encoding.ridge.RidgeCV` decomposes each outer training set (and its inner
folds) once for every alpha and every target batch, and shares the Gram matrix of all rows
across splits through the per-call dict ``shared``.

Scores. ``fold_scores`` is the chosen score (:data:`dnnmap.stats.metrics.SCORES`: ``r``,
``r2`` or ``signed_sqrt_r2``) within each test set. ``score`` is, with ``pooling="folds"``
(the default), the mean of ``fold_scores`` over every split of every repeat (with one test
set, ``cv.scheme: split``, that test set's score); with ``pooling="pooled"``, the score of the
out-of-fold predictions pooled over the test sets of each repeat, averaged over repeats.
Pooling is biased downward: each fold's model has its own intercept and shrinkage, and the
prediction offsets between folds are anti-correlated with the fold means of the responses
(training means exclude the test fold), so pooled r on pure noise has a median of about
-0.13 at 5 folds and -0.19 at 10 folds (n=150, 100 features), while the mean of per-fold r is
centered on 0. ``score_pooled`` (pooled Pearson r), ``r2`` and ``explained_variance`` are
always computed on the pooled predictions, for comparison with earlier results.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from tqdm import tqdm

from dnnmap.brain.summary import masked_voxels
from dnnmap.checks import check_choice, check_int, check_matrix
from dnnmap.encoding.base import batches, check_xy, put, take, warn_masked
from dnnmap.errors import InputError
from dnnmap.features.folds import FoldFeatures
from dnnmap.stats.metrics import (
    SCORE_MIN_ROWS,
    explained_variance,
    pearson_r,
    r2_score,
    score_function,
)
from dnnmap.stats.splits import Splits, check_splits, first_repeat_folds


@dataclass(frozen=True)
class EncodingResult:
    """Out-of-fold encoding performance.

    Attributes
    ----------
    predictions : array of shape (n, v)
        Out-of-fold predictions of the first repeat (float32 for float32 Y, else float64);
        NaN in rows that no test set of the first repeat holds and in masked columns.
    score : array of shape (v,)
        The reported score (``score_metric``): with ``pooling == "folds"`` the mean of
        ``fold_scores`` over all splits (NaN where every fold score is NaN); with
        ``"pooled"`` the score of the pooled out-of-fold predictions of each repeat,
        averaged over repeats.
    r2 : array of shape (v,)
        Coefficient of determination of the pooled out-of-fold predictions, averaged over
        repeats.
    fold_scores : array of shape (n_splits, v)
        ``score_metric`` within each test set (NaN for test sets too small for it: 3 rows
        for r, 2 for R²).
    alpha : array of shape (n_splits, v)
        Hyperparameter chosen in each outer split (``alpha_``, else ``n_components_``, else
        ``best_unit_``: the flat index of the per-unit model's unit, else NaN).
    folds : array of shape (n,)
        Index of the first-repeat split that tests each row (-1: never tested).
    explained_variance : array of shape (v,) or None
        Explained variance (``1 - Var(residual) / Var(Y)``) of the pooled out-of-fold
        predictions, averaged over repeats like ``score``.
    masked : array of shape (v,) or None
        True for columns that were constant or not finite (their outputs are NaN).
    score_pooled : array of shape (v,) or None
        Pearson r of the pooled out-of-fold predictions, averaged over repeats (biased
        downward; the module docstring).
    score_metric : str
        ``"r"``, ``"r2"`` or ``"signed_sqrt_r2"``: the metric of ``score`` and
        ``fold_scores``.
    pooling : str
        ``"folds"`` or ``"pooled"``: how ``score`` combines the test sets.
    """

    predictions: np.ndarray
    score: np.ndarray
    r2: np.ndarray
    fold_scores: np.ndarray
    alpha: np.ndarray
    folds: np.ndarray
    explained_variance: np.ndarray | None = None
    masked: np.ndarray | None = None
    score_pooled: np.ndarray | None = None
    score_metric: str = "r"
    pooling: str = "folds"


POOLINGS = ("folds", "pooled")
"""How the reported score combines the outer test sets (module docstring)."""


def fold_mean(fold_scores: np.ndarray) -> np.ndarray:
    """Mean over splits (axis 0) of the finite fold scores; NaN where none is finite.

    Parameters
    ----------
    fold_scores : array of shape (n_splits, v)

    Returns
    -------
    array of shape (v,)
    """
    fs = np.asarray(fold_scores, dtype=np.float64)
    finite = np.isfinite(fs)
    count = finite.sum(axis=0)
    total = np.where(finite, fs, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _fresh(factory, train: np.ndarray):
    """A new unfitted estimator for one outer training set."""
    if hasattr(factory, "fit"):
        try:
            return clone(factory)
        except TypeError:
            return copy.deepcopy(factory)
    est = factory(train)
    if not (callable(getattr(est, "fit", None)) and callable(getattr(est, "predict", None))):
        raise InputError(
            f"estimator_factory returned {type(est).__name__}; expected an estimator with "
            "fit and predict"
        )
    return est


def _hyperparameter(est, b: int) -> np.ndarray:
    """The fitted estimator's chosen hyperparameter per target (b,): ``alpha_``, else
    ``n_components_``, else ``best_unit_`` (the flat index of the per-unit model's unit),
    else NaN."""
    for attr in ("alpha_", "n_components_", "best_unit_"):
        value = getattr(est, attr, None)
        if value is None:
            continue
        try:
            value = np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            continue
        if value.size in (1, b):
            return np.broadcast_to(value, (b,))
    return np.full(b, np.nan)


def _fit_predict(factory, est, X, Y, train, test, cols, step) -> Iterator[tuple]:
    """``(columns, predictions (m, b), hyperparameters (b,))`` per batch of targets: a fresh
    estimator (``est`` for the first batch) fitted on rows ``train`` predicts rows ``test``."""
    for i, c in enumerate(batches(cols, step)):
        if i:
            est = _fresh(factory, train)
        Ytr = take(Y, train, c)
        b = Ytr.shape[1]
        est.fit(X[train], Ytr)
        pred = np.asarray(est.predict(X[test]))
        if pred.ndim == 1 and b == 1:
            pred = pred[:, None]
        if pred.shape != (test.size, b):
            raise InputError(
                f"{type(est).__name__}.predict returned shape {pred.shape}; expected "
                f"({test.size}, {b}) for {test.size} test rows and {b} targets"
            )
        yield c, pred, _hyperparameter(est, b)


def _split_features(X) -> tuple:
    """The features of all rows, and the :class:`FoldFeatures` that designs each split's own
    features (None when one design serves every split)."""
    if not isinstance(X, FoldFeatures):
        return X, None
    return X.matrix, (X if X.per_fold else None)


class _OuterLoop:
    """The fits of the outer splits: a fresh estimator per split fitted on its training rows
    predicts its test rows, target batch by target batch.

    One loop serves one cross-validation of one ``X``: the per-call dict ``shared`` (the Gram
    matrix of all rows, :meth:`dnnmap.encoding.ridge.RidgeCV.fit_predict_batches`) lives as
    long as the loop, except where ``folded`` gives each split its own design.
    """

    def __init__(self, estimator_factory, X, folded):
        self.factory, self.X, self.folded = estimator_factory, X, folded
        self.shared: dict = {}

    def fits(self, Y, splits: Splits, which, cols: np.ndarray, step: int) -> Iterator[tuple]:
        """``(split, columns, predictions (m, b), hyperparameters (b,))`` for the splits
        ``which`` in order and the batches of ``step`` columns of ``cols``; ``Y`` (n, v) is
        read only through ``Y[rows, columns]`` (:func:`dnnmap.encoding.base.take`)."""
        for s in which:
            tr, te = splits.train[s], splits.test[s]
            Xs = self.X
            if self.folded is not None:  # features fitted on this split's training rows
                Xs, self.shared = self.folded.split_design(tr), {}
            est = _fresh(self.factory, tr)
            if callable(getattr(est, "fit_predict_batches", None)):
                fits = est.fit_predict_batches(Xs, Y, tr, te, cols, step, self.shared)
            else:
                fits = _fit_predict(self.factory, est, Xs, Y, tr, te, cols, step)
            for c, pred, chosen in fits:
                yield s, c, pred, chosen


def cross_validated_predictions(
    estimator_factory,
    X,
    Y,
    splits: Splits,
    *,
    batch_size: int | None = None,
    score: str = "r",
    pooling: str = "folds",
) -> EncodingResult:
    """Out-of-fold predictions and scores of any estimator over explicit outer splits.

    Constant and NaN responses: a column of Y that is constant or holds any NaN/inf is
    masked: it is not fitted, all its outputs (predictions, scores, hyperparameters) are NaN,
    the other columns are fitted as usual, and the number masked is logged as a warning on
    the ``dnnmap`` logger. NaN/inf in X is an InputError.

    Parameters
    ----------
    estimator_factory : estimator or callable
        An estimator instance is cloned (``sklearn.base.clone``, else deep-copied) per split;
        a callable ``estimator_factory(train)`` gets the outer training rows (n_train,)
        (e.g. to build grouped inner folds with :func:`dnnmap.stats.splits.inner_splits`)
        and returns an unfitted estimator. Its ``fit(X, Y)`` takes ``Y (n_train, b)`` and
        ``predict`` returns ``(m, b)`` (or ``(m,)`` when ``b == 1``); an estimator with a
        ``fit_predict_batches`` method (the module docstring) runs its own fits.
    X : array of shape (n, p), or FoldFeatures
        Features; a :class:`dnnmap.features.folds.FoldFeatures` gives each split its own
        design (:meth:`~dnnmap.features.folds.FoldFeatures.split_design`: with
        ``features.fit: train``, a PCA fitted on the split's training rows only).
    Y : array of shape (n, v) or (n,)
        Responses (float32 kept as float32); 1-D Y gives 1-D (or scalar) outputs.
    splits : dnnmap.stats.splits.Splits
        Outer splits (:func:`dnnmap.stats.splits.make_splits`); test sets within a repeat
        are disjoint; repeats are averaged.
    batch_size : int or None
        Targets per fit (bounds memory); None fits all unmasked targets at once. Results do
        not depend on it for per-target estimators (ridge, OLS, Lasso, per-unit); leave it
        None for multivariate ones (PLS2 components depend on all targets).
    score : {"r", "r2", "signed_sqrt_r2"}
        Metric of ``fold_scores`` and ``score`` (:data:`dnnmap.stats.metrics.SCORES`).
    pooling : {"folds", "pooled"}
        ``score`` as the mean of the per-fold scores (unbiased; default) or the score of the
        pooled out-of-fold predictions (module docstring).

    Returns
    -------
    EncodingResult
        ``predictions`` (n, v) of the first repeat; ``score`` (v,) as ``pooling`` says;
        ``score_pooled``, ``r2``, ``explained_variance`` (v,) the mean over repeats of the
        pooled out-of-fold Pearson r / R² / explained variance on the tested rows (NaN
        when fewer than 3); ``fold_scores`` and ``alpha`` (n_splits, v); ``folds`` (n,);
        ``masked`` (v,).
    """
    scorer = score_function(score)
    check_choice(pooling, "pooling", POOLINGS)
    min_rows = SCORE_MIN_ROWS[score]
    X, folded = _split_features(X)
    X, Y, vector = check_xy(X, Y, finite_y=False, keep_float32=True)
    n, v = Y.shape
    splits = check_splits(splits, n, min_train=3)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", 1)
    masked = masked_voxels(Y, batch_size=batch_size)
    warn_masked(int(masked.sum()), v, "constant or not finite (NaN or inf)")
    cols = np.flatnonzero(~masked)
    step = max(cols.size, 1) if batch_size is None else batch_size
    predictions = np.full((n, v), np.nan, dtype=Y.dtype)
    scratch = None
    hyper = np.full((len(splits), v), np.nan)
    fold_scores = np.full((len(splits), v), np.nan)
    pooled, pooled_r, r2, ev = np.zeros(v), np.zeros(v), np.zeros(v), np.zeros(v)
    outer = _OuterLoop(estimator_factory, X, folded)
    repeats = np.unique(splits.repeat)
    for r in repeats:
        if r == repeats[0]:
            buf = predictions
        else:
            scratch = np.empty((n, v), dtype=Y.dtype) if scratch is None else scratch
            buf = scratch
            buf.fill(np.nan)
        which = np.flatnonzero(splits.repeat == r)
        for s, c, pred, chosen in outer.fits(Y, splits, which, cols, step):
            te = splits.test[s]
            put(buf, te, c, pred)
            hyper[s, c] = chosen
            if te.size >= min_rows:
                fold_scores[s, c] = scorer(take(Y, te, c), pred)
        rows = np.unique(np.concatenate([splits.test[s] for s in which]))
        rows = None if rows.size == n else rows
        for c in batches(cols, step):
            if rows is not None and rows.size < 3:
                pooled[c] = pooled_r[c] = r2[c] = ev[c] = np.nan
                continue
            y_true, y_pred = take(Y, rows, c), take(buf, rows, c)
            pooled_r[c] += pearson_r(y_true, y_pred)
            pooled[c] += scorer(y_true, y_pred)
            r2[c] += r2_score(y_true, y_pred)
            ev[c] += explained_variance(y_true, y_pred)
    for stat in (pooled, pooled_r, r2, ev):
        stat /= repeats.size
        stat[masked] = np.nan
    reported = fold_mean(fold_scores) if pooling == "folds" else pooled
    reported[masked] = np.nan
    folds = first_repeat_folds(splits)
    if vector:
        return EncodingResult(
            predictions[:, 0],
            reported[0],
            r2[0],
            fold_scores[:, 0],
            hyper[:, 0],
            folds,
            ev[0],
            masked,
            pooled_r[0],
            score,
            pooling,
        )
    return EncodingResult(
        predictions,
        reported,
        r2,
        fold_scores,
        hyper,
        folds,
        ev,
        masked,
        pooled_r,
        score,
        pooling,
    )


class _PooledSums:
    """Sums over the tested rows of one repeat that give the pooled scores of
    :func:`cross_validated_predictions` without holding the predictions.

    Responses and predictions are each shifted by one constant per column (their means in
    the first test set added) before they are summed, which keeps the differences of sums
    accurate; the shifts cancel in every score, and the squared errors are summed unshifted.
    Columns of ``c`` are added once per test set.
    """

    def __init__(self, v: int):
        self.y_shift, self.p_shift = np.full(v, np.nan), np.full(v, np.nan)
        self.m = np.zeros(v)
        self.sy, self.sp, self.syy, self.spp, self.syp, self.sdd = (np.zeros(v) for _ in range(6))
        self.y_lo, self.p_lo = np.full(v, np.inf), np.full(v, np.inf)
        self.y_hi, self.p_hi = np.full(v, -np.inf), np.full(v, -np.inf)

    def add(self, c, y: np.ndarray, p: np.ndarray) -> None:
        """Add the responses ``y`` and predictions ``p`` (m, b) of the columns ``c``."""
        y = np.asarray(y, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        d = y - p
        y = y - self._shift(self.y_shift, c, y)
        p = p - self._shift(self.p_shift, c, p)
        self.m[c] += y.shape[0]
        self.sy[c] += y.sum(axis=0)
        self.sp[c] += p.sum(axis=0)
        self.syy[c] += np.einsum("ij,ij->j", y, y)
        self.spp[c] += np.einsum("ij,ij->j", p, p)
        self.syp[c] += np.einsum("ij,ij->j", y, p)
        self.sdd[c] += np.einsum("ij,ij->j", d, d)
        with np.errstate(invalid="ignore"):
            self.y_lo[c] = np.fmin(self.y_lo[c], y.min(axis=0))
            self.y_hi[c] = np.fmax(self.y_hi[c], y.max(axis=0))
            self.p_lo[c] = np.fmin(self.p_lo[c], p.min(axis=0))
            self.p_hi[c] = np.fmax(self.p_hi[c], p.max(axis=0))

    @staticmethod
    def _shift(shifts: np.ndarray, c, a: np.ndarray) -> np.ndarray:
        """The shifts (b,) of the columns ``c``; those not set yet become the means of ``a``."""
        shift = shifts[c]
        if np.isnan(shift).any():  # columns seen for the first time
            shift = np.where(np.isnan(shift), a.mean(axis=0), shift)
            shifts[c] = shift
        return shift

    def score(self, metric: str) -> np.ndarray:
        """The metric (v,) of the pooled rows, as :data:`dnnmap.stats.metrics.SCORES` gives
        it (NaN where undefined, and where fewer than 3 rows were tested)."""
        m = np.maximum(self.m, 1.0)
        finite = np.isfinite(self.syy + self.spp + self.syp + self.sdd)
        with np.errstate(invalid="ignore", divide="ignore"):
            sst = self.syy - self.sy**2 / m
            ok = finite & (self.m >= 3) & (self.y_hi > self.y_lo) & (sst > 0)
            out = np.full(self.m.size, np.nan)
            if metric == "r":
                ssp = self.spp - self.sp**2 / m
                ok &= (self.p_hi > self.p_lo) & (ssp > 0)
                cov = self.syp - self.sy * self.sp / m
                out[ok] = np.clip(cov[ok] / np.sqrt(sst[ok] * ssp[ok]), -1.0, 1.0)
                return out
            r2 = 1.0 - self.sdd[ok] / sst[ok]
        out[ok] = r2 if metric == "r2" else np.sign(r2) * np.sqrt(np.abs(r2))
        return out


def cross_validated_scores(
    estimator_factory,
    X,
    Y,
    splits: Splits,
    *,
    masked: np.ndarray | None = None,
    batch_size: int | None = None,
    score: str = "r",
    pooling: str = "folds",
    progress: str | None = None,
) -> np.ndarray:
    """The reported score of :func:`cross_validated_predictions`, without its predictions.

    The same outer loop, estimators and score, but nothing of size ``(n, v)`` is kept: each
    batch of predictions is scored within its test set (``pooling="folds"``) or reduced to
    sums over the tested rows (``"pooled"``) and dropped. With the responses made on demand
    (:class:`dnnmap.encoding.permutation.PermutedResponses`: the permuted copies of an ROI as
    extra columns), every permutation of a refit permutation test is scored in one pass over
    the outer splits, so each split's decompositions serve all of them.

    Parameters
    ----------
    estimator_factory : estimator or callable
        As :func:`cross_validated_predictions`.
    X : array of shape (n, p), or FoldFeatures
        As :func:`cross_validated_predictions`.
    Y : array of shape (n, v), or a matrix made on demand
        Responses. Anything with ``shape``, ``dtype`` and ``Y[rows, columns]`` (what
        :func:`dnnmap.encoding.base.take` reads; rows an index array, a slice or an
        ``np.ix_`` pair) serves; then ``masked`` is required.
    splits : dnnmap.stats.splits.Splits
        Outer splits.
    masked : bool array of shape (v,) or None
        Columns not to fit (NaN scores). None: those of
        :func:`dnnmap.brain.summary.masked_voxels` (constant or not finite), with a warning.
    batch_size : int or None
        Targets per fit (None: all unmasked columns at once).
    score : {"r", "r2", "signed_sqrt_r2"}
        The metric.
    pooling : {"folds", "pooled"}
        As :func:`cross_validated_predictions`.
    progress : str or None
        Label of a progress bar (on stderr, the rule's log) over the splits' target batches;
        None: no bar.

    Returns
    -------
    score : float64 array of shape (v,)
        Equal to ``cross_validated_predictions(...).score`` to float64 rounding (shape (1,)
        for 1-D Y).
    """
    scorer = score_function(score)
    check_choice(pooling, "pooling", POOLINGS)
    X, folded = _split_features(X)
    if masked is None:
        X, Y, _ = check_xy(X, Y, finite_y=False, keep_float32=True)
        masked = masked_voxels(Y, batch_size=batch_size)
        warn_masked(int(masked.sum()), Y.shape[1], "constant or not finite (NaN or inf)")
    else:
        X = check_matrix(X, "X")
        masked = np.asarray(masked, dtype=bool)
        if len(Y.shape) != 2 or Y.shape[0] != X.shape[0] or masked.shape != (Y.shape[1],):
            raise InputError(
                f"X has shape {X.shape}, Y {tuple(Y.shape)} and masked {masked.shape}; "
                "expected (n, p), (n, v) and (v,)"
            )
    n, v = Y.shape
    splits = check_splits(splits, n, min_train=3)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", 1)
    cols = np.flatnonzero(~masked)
    step = max(cols.size, 1) if batch_size is None else batch_size
    min_rows = SCORE_MIN_ROWS[score]
    outer = _OuterLoop(estimator_factory, X, folded)
    if pooling == "pooled":
        pooled = np.zeros(v)
    else:
        total, count = np.zeros(v), np.zeros(v)
    repeats = np.unique(splits.repeat)
    n_batches = len(splits) * -(-cols.size // step)
    bar = tqdm(total=n_batches, desc=progress, unit="batch", mininterval=5, disable=not progress)
    with bar:
        for r in repeats:
            sums = _PooledSums(v) if pooling == "pooled" else None
            which = np.flatnonzero(splits.repeat == r)
            for s, c, pred, _ in outer.fits(Y, splits, which, cols, step):
                bar.update()
                te = splits.test[s]
                y = take(Y, te, c)
                if sums is not None:
                    # pooled as cross_validated_predictions pools: in the responses' dtype
                    sums.add(c, y, np.asarray(pred, dtype=Y.dtype))
                elif te.size >= min_rows:
                    fold = scorer(y, pred)
                    finite = np.isfinite(fold)
                    total[c] += np.where(finite, fold, 0.0)
                    count[c] += finite
            if sums is not None:
                pooled += sums.score(score)
    with np.errstate(invalid="ignore", divide="ignore"):
        if pooling == "pooled":
            reported = pooled / repeats.size
        else:
            reported = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    reported[masked] = np.nan
    return reported
