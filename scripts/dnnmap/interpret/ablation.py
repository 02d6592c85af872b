"""Channel ablation measured by cross-validated accuracy: how much of an ROI's (or voxel's)
held-out encoding accuracy, and of a stimulus attribute's decoding accuracy, each channel of a
layer carries.

**The lesion reading.** Each outer split of the encoding (the folds of the encoding file,
read by stimulus id, and the alpha each voxel chose in that split) has its own fitted model.
That model is refitted here on the split's training stimuli with the stored alphas (ridge on
the encode rule's features, :func:`split_readouts`) and written as a read-out of the layer's
raw units, ``prediction_s(a) = (a - mean) @ w_s + b_s``. Ablating channel ``c`` changes the
*input* at test time and keeps the fitted model: the channel's units of each held-out stimulus
are set to zero (``zero``) or to their mean over the split's training stimuli (``mean``), and
the prediction becomes ``prediction_s(a) + (L_c - a_c) @ w_{s,c}`` (``L_c`` the lesion
value). The change in the ROI's cross-validated score (the mean over outer test sets of the
score within each, as the encoding score) is the channel's importance; channels are ranked by
it. All channels are ablated in one pass per split (no loop over channels). The other reading,
refitting without the channel ("drop"), asks whether the rest of the layer can stand in for
the channel; it is not what is measured here.

**Why mean- and zero-ablation give the same r here.** The read-out is linear in the units, so
replacing a channel by *any* constant shifts every held-out prediction of a split by the same
amount, ``(L_c - m_c) @ w_{s,c}`` more for zero than for mean (``m_c`` the training mean);
Pearson r within a test set ignores a constant. The two modes therefore differ only in scores
that see the offset: the cross-validated R² (reported beside r for every channel, and the
ranking score when ``encoding.score`` is ``r2``), and r pooled over the test sets
(``encoding.pooling: pooled``), where each split's offset is its own. Through a nonlinear
network (ablation of an upstream layer, :mod:`dnnmap.interpret.upstream`) they also differ
in r.

The read-out reproduces each split's model exactly for any input when its directions lie in
the span of the stimuli's activations: ``features.method: none`` and a PCA fitted on the
experiment's stimuli (``fit: all`` or ``train``). For a random projection or an external PCA
it is the model's projection on that span (exact on the stimuli, as
:mod:`dnnmap.interpret.readout`).

:func:`decoding_ablation` does the same for a linear decoder of a stimulus attribute: a
logistic regression fitted on each outer training set (standardized units; in the span of
the training stimuli when the layer has more units than stimuli, :func:`fit_logistic`),
scored on the test set with each channel set to its training mean (``mean``) or to zero
(``zero``), and with every channel at once (a constant input: the accuracy of always
guessing one class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnnmap.errors import InputError
from dnnmap.stats.metrics import pearson_r, r2_score
from dnnmap.stats.splits import stratified_kfold

MODES = ("mean", "zero")
"""What an ablated channel's units are set to."""

METRICS = ("r", "r2")
"""Scores of :class:`CVAblation` (the encoding's ``score_metric`` picks the ranking one)."""


def splits_from_folds(folds) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training and test rows of the first repeat's outer splits from an encoding file's
    ``folds``.

    Parameters
    ----------
    folds : int array of shape (n,)
        Split testing each stimulus (-1: none), in the stimulus table's order.

    Returns
    -------
    train, test : lists of int arrays
        Split ``f`` tests the rows with ``folds == f`` and trains on every other row (the
        complement, as every outer scheme does; ``split``'s training rows are the -1 rows).
    """
    folds = np.asarray(folds, dtype=np.int64)
    ids = np.unique(folds[folds >= 0])
    if ids.size == 0 or not np.array_equal(ids, np.arange(ids.size)):
        raise InputError(
            f"encoding folds {ids.tolist()}; expected splits numbered 0..k-1 with k >= 1"
        )
    test = [np.flatnonzero(folds == f) for f in ids]
    train = [np.flatnonzero(folds != f) for f in ids]
    return train, test


@dataclass(frozen=True)
class SplitReadouts:
    """Each outer split's encoding model as a linear read-out of the layer's units.

    Attributes
    ----------
    train, test : lists of int arrays
        Rows of each split.
    weights : array of shape (S, p, t)
        Unit weights of each split and target.
    intercept : array of shape (S, t)
        ``prediction_s(a) = (a - mean) @ weights[s] + intercept[s]``.
    mean : array of shape (p,)
        Unit means over all stimuli (the read-out's origin).
    reconstruction_error : float
        Largest relative error of the read-outs on the stimuli (0 up to rounding when exact).
    """

    train: list[np.ndarray]
    test: list[np.ndarray]
    weights: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    reconstruction_error: float

    def predict(self, s: int, A) -> np.ndarray:
        """Split ``s``'s predictions (m, t) of activations ``A`` (m, p)."""
        return (np.asarray(A, dtype=np.float64) - self.mean) @ self.weights[s] + self.intercept[s]


def split_readouts(
    A,
    X,
    Y,
    T,
    alpha,
    folds,
    alpha_scale: str = "relative",
) -> SplitReadouts:
    """Refit each outer split's ridge model with its stored alphas and write it on the units.

    Parameters
    ----------
    A : array of shape (n, p)
        The layer's activations (flattened units), table order.
    X : array of shape (n, k), or dnnmap.features.folds.FoldFeatures
        The encode rule's features (for ``fit: train``, the FoldFeatures whose
        ``split_design`` gives each split's PCA).
    Y : array of shape (n, v)
        Responses of the voxels the targets use (none masked).
    T : array of shape (v, t)
        Target weights over those voxels (ROI mean, single voxels).
    alpha : array of shape (S, v)
        The alpha (grid entry) each voxel chose in each split of the first repeat.
    folds : int array of shape (n,)
        The encoding file's ``folds`` in table order (:func:`splits_from_folds`).
    alpha_scale : {"relative", "absolute"}
        As ``encoding.alpha_scale``: relative alphas are multiples of the mean eigenvalue of
        the centered Gram matrix of the split's training features.

    Returns
    -------
    SplitReadouts
    """
    from dnnmap.encoding.ridge import gram_scale, ridge_svd
    from dnnmap.features.folds import compact_features

    train, test = splits_from_folds(folds)
    A = np.asarray(A, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64).reshape(-1, Y.shape[1])
    if alpha.shape[0] < len(train):
        raise InputError(f"{alpha.shape[0]} rows of per-split alphas for {len(train)} outer splits")
    if not np.isfinite(alpha[: len(train)]).all():
        raise InputError("a voxel used by a target has no alpha in some outer split (masked)")
    mean = A.mean(axis=0)
    Ac = A - mean
    evals, evecs = np.linalg.eigh(Ac @ Ac.T)
    keep = evals > max(evals.max(), 0.0) * 1e-10
    V, lam = evecs[:, keep], evals[keep]
    per_fold = bool(getattr(X, "per_fold", False))
    fixed = None if per_fold else compact_features(getattr(X, "matrix", X))
    weights, intercepts, error = [], [], 0.0
    for s, (tr, _) in enumerate(zip(train, test, strict=True)):
        D = fixed if fixed is not None else compact_features(X.split_design(tr))
        scale = gram_scale(D[tr]) if alpha_scale == "relative" else 1.0
        coef, b = ridge_svd(D[tr], Y[tr], alpha[s] * scale)
        P = (D @ coef + b) @ T  # split s's predictions of every stimulus, (n, t)
        Pc = P - P.mean(axis=0)
        w = Ac.T @ (V @ ((V.T @ Pc) / lam[:, None]))
        err = np.abs(Ac @ w - Pc).max() / max(float(np.abs(Pc).max()), 1e-300)
        weights.append(w)
        intercepts.append(P.mean(axis=0))
        error = max(error, float(err))
    return SplitReadouts(train, test, np.stack(weights), np.stack(intercepts), mean, error)


@dataclass(frozen=True)
class CVAblation:
    """Cross-validated scores of every target with each channel ablated (lesion or drop
    reading).

    Each score is the mean over the outer test sets of the score within each (or the score
    of the predictions pooled over them, with the encoding's ``pooling: pooled``).

    Attributes
    ----------
    r_full, r2_full : arrays of shape (t,)
        Intact.
    r, r2 : arrays of shape (C, t)
        Channel c ablated in the held-out stimuli.
    r_all, r2_all : arrays of shape (t,)
        Every channel ablated: the prediction is constant within a test set, so r is
        undefined (NaN; pooled over test sets, the splits' constants differ and it is not)
        and R² is that of a constant.
    metric : {"r", "r2"}
        The score of ``importance`` and the ranking (the encoding's ``score_metric``;
        ``signed_sqrt_r2`` ranks by r2).
    """

    r_full: np.ndarray
    r: np.ndarray
    r2_full: np.ndarray
    r2: np.ndarray
    r_all: np.ndarray
    r2_all: np.ndarray
    metric: str = "r"

    @property
    def importance(self) -> np.ndarray:
        """Drop in the ranking score per channel and target, shape (C, t)."""
        if self.metric == "r":
            return self.r_full[None, :] - self.r
        return self.r2_full[None, :] - self.r2

    def ranking(self) -> np.ndarray:
        """Channels from most to least important per target, shape (t, C) (ties: lower first;
        NaN last)."""
        imp = np.where(np.isfinite(self.importance), self.importance, -np.inf)
        return np.argsort(-imp.T, axis=1, kind="stable")


def fold_scores(tests, predictions, Yt, pooling: str = "folds") -> tuple[np.ndarray, np.ndarray]:
    """Cross-validated Pearson r and R² of each split's predictions of its test rows.

    Parameters
    ----------
    tests : list of int arrays
        The test rows of each split (``SplitReadouts.test``).
    predictions : list of arrays of shape (..., m_s, t)
        Each split's predictions of its test rows (any leading axes, e.g. channels).
    Yt : array of shape (n, t)
        Measured target responses.
    pooling : {"folds", "pooled"}
        As ``encoding.pooling``: the mean over test sets of the score within each, or the
        score of the predictions pooled over the test sets.

    Returns
    -------
    r, r2 : arrays of shape (..., t)
        NaN where a prediction is constant within every test set (r) or never finite.
    """
    tests, predictions = list(tests), list(predictions)
    if pooling == "pooled":
        tests = [np.concatenate(tests)]
        predictions = [np.concatenate([np.asarray(P) for P in predictions], axis=-2)]
    elif pooling != "folds":
        raise InputError(f"pooling {pooling!r}; expected folds or pooled")
    rs, r2s = [], []
    for te, P in zip(tests, predictions, strict=True):
        P = np.asarray(P, dtype=np.float64)
        lead, (m, t) = P.shape[:-2], P.shape[-2:]
        flat = np.moveaxis(P.reshape(-1, m, t), 0, 1).reshape(m, -1)
        y = np.tile(np.asarray(Yt, dtype=np.float64)[te], (1, flat.shape[1] // t))
        with np.errstate(invalid="ignore", divide="ignore"):
            rs.append(_constant_nan(flat, pearson_r(y, flat)).reshape(*lead, t)[None])
            r2s.append(r2_score(y, flat).reshape(*lead, t)[None])
    return _nanmean(np.concatenate(rs)), _nanmean(np.concatenate(r2s))


def _constant_nan(P, r):
    """r with NaN where the prediction column is constant (up to rounding) in the test set."""
    spread = P.max(axis=0) - P.min(axis=0)
    scale = np.maximum(np.abs(P).max(axis=0), 1e-300)
    return np.where(spread <= 1e-12 * scale, np.nan, r)


def _nanmean(a):
    finite = np.isfinite(a)
    count = finite.sum(axis=0)
    total = np.where(finite, a, 0.0).sum(axis=0)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def lesion_values(readouts: SplitReadouts, A, s: int, mode: str) -> np.ndarray:
    """Values (p,) an ablated unit takes in split ``s``: zero, or its training mean."""
    if mode not in MODES:
        raise InputError(f"ablation mode {mode!r}; expected one of {', '.join(MODES)}")
    A = np.asarray(A)
    if mode == "zero":
        return np.zeros(A.shape[1])
    return A[readouts.train[s]].mean(axis=0, dtype=np.float64)


def cv_channel_ablation(
    readouts: SplitReadouts,
    A,
    unit_shape,
    Yt,
    mode: str = "mean",
    metric: str = "r",
    pooling: str = "folds",
) -> CVAblation:
    """Ablate each channel in the held-out stimuli of every outer split (lesion reading).

    Parameters
    ----------
    readouts : SplitReadouts
        :func:`split_readouts` of the layer ``A`` comes from.
    A : array of shape (n, p)
        The layer's activations, ``p = prod(unit_shape)`` (C order: channel first).
    unit_shape : tuple of int
        ``(C, ...)``; a fully connected layer's units are its channels.
    Yt : array of shape (n, t)
        The measured response of each target (ROI mean, voxel).
    mode : {"mean", "zero"}
        Ablated units set to their mean over the split's training stimuli, or to zero.
    metric : {"r", "r2", "signed_sqrt_r2"}
        The encoding's score: the ranking uses r for ``r``, R² otherwise.
    pooling : {"folds", "pooled"}
        The encoding's ``pooling`` (:func:`fold_scores`). Pooled over test sets, each
        split's own offset counts, so mean- and zero-ablation also differ in r.

    Returns
    -------
    CVAblation
    """
    if mode not in MODES:
        raise InputError(f"ablation mode {mode!r}; expected one of {', '.join(MODES)}")
    A = np.asarray(A, dtype=np.float64)
    C = int(unit_shape[0])
    t = readouts.weights.shape[2]
    full, per, every = [], [], []
    for s, te in enumerate(readouts.test):
        W = readouts.weights[s].reshape(C, -1, t)
        P = readouts.predict(s, A[te])
        L = lesion_values(readouts, A, s, mode).reshape(C, -1)
        # change of each channel's contribution when its units become L: (C, m, t)
        delta = np.einsum("cs,cst->ct", L, W)[:, None, :] - np.einsum(
            "ncs,cst->cnt", A[te].reshape(te.size, C, -1), W
        )
        full.append(P)
        per.append(P[None] + delta)
        constant = (L.ravel() - readouts.mean) @ readouts.weights[s] + readouts.intercept[s]
        every.append(np.broadcast_to(constant, P.shape))
    r_full, r2_full = fold_scores(readouts.test, full, Yt, pooling)
    r, r2 = fold_scores(readouts.test, per, Yt, pooling)
    r_all, r2_all = fold_scores(readouts.test, every, Yt, pooling)
    return CVAblation(r_full, r, r2_full, r2, r_all, r2_all, "r" if metric == "r" else "r2")


def cv_channel_drop(
    A,
    unit_shape,
    Y,
    T,
    alpha,
    folds,
    alpha_scale: str = "relative",
    metric: str = "r",
    pooling: str = "folds",
    progress=None,
) -> CVAblation:
    """The "drop" reading: refit each outer split's ridge model without each channel.

    For ridge on the layer's units (``features.method: none``) in kernel form: with the
    split's training-centered units ``Ac``, the Gram matrix is ``G = sum_c G_c``, ``G_c = Ac_c
    Ac_c.T``; dropping channel ``c`` removes ``G_c`` from the training and the test kernels, and
    the model is refitted with the voxel's stored alpha (relative alphas rescaled by the
    reduced training Gram matrix, as the encode rule would on that design). Setting the
    channel to any constant in training and test sets alike gives the same model, so ``zero``
    and ``mean`` coincide here. This asks whether the rest of the layer can stand in for the
    channel; the lesion reading (:func:`cv_channel_ablation`) asks what the fitted model loses.

    Parameters
    ----------
    A : array of shape (n, p)
        The layer's activations, channel first.
    unit_shape : tuple of int
    Y : array of shape (n, v)
        Responses of the voxels the targets use.
    T : array of shape (v, t)
    alpha : array of shape (S, v)
    folds : int array of shape (n,)
    alpha_scale : {"relative", "absolute"}
    metric, pooling : str
        As :func:`cv_channel_ablation`.
    progress : file-like, optional
        Where the tqdm bar over channels goes.

    Returns
    -------
    CVAblation
    """
    from tqdm import tqdm

    train, test = splits_from_folds(folds)
    A = np.asarray(A, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64).reshape(-1, Y.shape[1])[: len(train)]
    if not np.isfinite(alpha).all():
        raise InputError("a voxel used by a target has no alpha in some outer split (masked)")
    n, C = A.shape[0], int(unit_shape[0])
    grams = []  # per split: (G, per-channel G_c)
    for tr in train:
        Ac = (A - A[tr].mean(axis=0)).reshape(n, C, -1)
        Gc = np.einsum("ics,jcs->cij", Ac, Ac)
        grams.append((Gc.sum(axis=0), Gc))

    def predict(s, G):
        tr, te = train[s], test[s]
        K = G[np.ix_(tr, tr)]
        ym = Y[tr].mean(axis=0)
        scale = np.trace(K) / tr.size if alpha_scale == "relative" else 1.0
        scale = scale if scale > 0 else 1.0
        lam, V = np.linalg.eigh(K)
        lam = np.clip(lam, 0.0, None)
        Z = V.T @ (Y[tr] - ym)  # (n_tr, v)
        dual = V @ (Z / (lam[:, None] + alpha[s][None, :] * scale))
        return (G[np.ix_(te, tr)] @ dual + ym) @ T

    full, per, every = [], [], []
    for s in range(len(train)):
        G, Gc = grams[s]
        full.append(predict(s, G))
        # every channel dropped: an empty design, the training mean
        ym = Y[train[s]].mean(axis=0) @ T
        every.append(np.broadcast_to(ym, (test[s].size, T.shape[1])))
        channels = tqdm(range(C), desc=f"split {s}", file=progress)
        per.append(np.stack([predict(s, G - Gc[c]) for c in channels]))
    Yt = Y @ T
    r_full, r2_full = fold_scores(test, full, Yt, pooling)
    r, r2 = fold_scores(test, per, Yt, pooling)
    r_all, r2_all = fold_scores(test, every, Yt, pooling)
    return CVAblation(r_full, r, r2_full, r2, r_all, r2_all, "r" if metric == "r" else "r2")


@dataclass(frozen=True)
class DecodingAblation:
    """Cross-validated decoding accuracy with each channel ablated.

    Attributes
    ----------
    accuracy_full : float
        Mean over outer folds of the test accuracy, nothing ablated.
    accuracy : array of shape (C,)
        The same with channel c ablated in the test sets (set to its training mean, or zero).
    accuracy_all : float
        The same with every channel ablated.
    chance : float
        Frequency of the most frequent class.
    """

    accuracy_full: float
    accuracy: np.ndarray
    accuracy_all: float
    chance: float

    @property
    def importance(self) -> np.ndarray:
        """Drop in accuracy per channel, shape (C,)."""
        return self.accuracy_full - self.accuracy


def decoding_ablation(
    A: np.ndarray,
    unit_shape,
    labels,
    n_folds: int = 5,
    seed: int = 0,
    C: float = 1.0,
    mode: str = "mean",
) -> DecodingAblation:
    """Decode ``labels`` from a layer and ablate each channel in the test sets.

    Parameters
    ----------
    A : array of shape (n, p)
        The layer's activations, channel first.
    unit_shape : tuple of int
        ``(C, ...)``.
    labels : sequence of shape (n,)
        A categorical stimulus attribute.
    n_folds : int
        Stratified outer folds (shuffled, seeded).
    seed : int
    C : float
        Inverse penalty of the logistic regression.
    mode : {"mean", "zero"}
        Ablated units set to their mean over the training set, or to zero (the same lesion
        as :func:`cv_channel_ablation`). The decoder is nonlinear in its input (argmax of the
        logits), so the two modes give different accuracies.

    Returns
    -------
    DecodingAblation
    """
    if mode not in MODES:
        raise InputError(f"ablation mode {mode!r}; expected one of {', '.join(MODES)}")
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise InputError("decoding ablation needs at least two classes of the attribute")
    n, n_ch = A.shape[0], int(unit_shape[0])
    splits = stratified_kfold(y, n_folds=n_folds, seed=seed)
    full, per, every = [], [], []
    for train, test in zip(splits.train, splits.test, strict=True):
        # scikit-learn's StandardScaler: population sd, 1 where a unit is constant
        mean = A[train].mean(axis=0)
        scale = A[train].std(axis=0)
        scale[scale == 0] = 1.0
        model_classes, coef, intercept = fit_logistic((A[train] - mean) / scale, y[train], C)
        Z = ((A[test] - mean) / scale).reshape(len(test), n_ch, -1)
        W = coef.reshape(coef.shape[0], n_ch, -1)
        contrib = np.einsum("ncs,kcs->cnk", Z, W)  # (C, n_test, K)
        logits = contrib.sum(axis=0) + intercept
        full.append(np.mean(_predict(model_classes, logits) == y[test]))
        # the lesion value in standardized units: 0 is the training mean; raw 0 is -mean/sd
        Lz = np.zeros(A.shape[1]) if mode == "mean" else -mean / scale
        lesion = np.einsum("cs,kcs->ck", Lz.reshape(n_ch, -1), W)[:, None, :]
        ablated = _predict(model_classes, logits[None] - contrib + lesion)
        per.append(np.mean(ablated == y[test][None], axis=1))
        constant = np.broadcast_to(lesion.sum(axis=0) + intercept, logits.shape)
        every.append(np.mean(_predict(model_classes, constant) == y[test]))
    return DecodingAblation(
        float(np.mean(full)),
        np.mean(per, axis=0),
        float(np.mean(every)),
        float(counts.max() / n),
    )


def fit_logistic(
    X: np.ndarray, y: np.ndarray, C: float = 1.0, tol: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's L2 logistic regression (lbfgs), fitted in the span of the training rows
    when there are more features than stimuli.

    With ``X = U S Vt`` (thin SVD), a coefficient vector off the row span leaves the training
    logits unchanged and only adds to the penalty, so the solution is ``W = Omega @ Vt`` with
    ``Omega`` the solution on the ``(n, r)`` design ``U S`` (same loss, same penalty
    ``||Omega|| = ||W||``, same intercept). ``U`` and ``S`` come from the eigendecomposition
    of the Gram matrix ``X X^T`` (directions with ``S`` below ``1e-10 S_max`` dropped), and
    ``W = (Omega / S) U^T X``, so no SVD of the wide matrix is taken. Each L-BFGS step costs
    ``r / p`` of a step on ``X``, which lets the fit run to a tighter ``tol`` than
    scikit-learn's default (whose stopping rule, on the largest gradient entry, is not
    rotation-invariant: at its default tol the full fit stops earlier).

    Parameters
    ----------
    X : array of shape (n, p)
    y : array of shape (n,)
    C : float
        Inverse penalty, as scikit-learn's.
    tol : float
        scikit-learn's stopping tolerance.

    Returns
    -------
    classes : array of shape (K',)
    coef : array of shape (K, p)
        ``K`` is 1 for two classes, else ``K'``.
    intercept : array of shape (K,)
    """
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, dtype=np.float64)
    model = LogisticRegression(C=C, max_iter=5000, tol=tol)
    if X.shape[1] <= X.shape[0]:
        model.fit(X, y)
        return model.classes_, model.coef_, model.intercept_
    evals, U = np.linalg.eigh(X @ X.T)
    keep = evals > 1e-20 * max(float(evals.max()), 1e-300)  # S > 1e-10 S_max
    S = np.sqrt(evals[keep])
    U = U[:, keep]
    model.fit(U * S, y)
    coef = ((model.coef_ / S) @ U.T) @ X
    return model.classes_, coef, model.intercept_


def _predict(classes: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Classes of logits (..., K): the sign of the one logit of a binary problem, else argmax."""
    if logits.shape[-1] == 1:
        return classes[(logits[..., 0] > 0).astype(int)]
    return classes[np.argmax(logits, axis=-1)]


@dataclass(frozen=True)
class EncodingSplits:
    """What :func:`read_encoding_splits` reads of an encoding file, in the table's order.

    Attributes
    ----------
    folds : int array of shape (n,)
        First-repeat split testing each stimulus of the table (-1: none).
    alpha : array of shape (S, v)
        Alpha chosen in each first-repeat split by each requested voxel.
    metric : str
        The encoding's ``score_metric``.
    alpha_scale : str
    n_repeats : int
    pooling : str
        The encoding's ``pooling`` (``folds`` or ``pooled``).
    score : array of shape (v,) or None
        The encoding's score of each requested voxel.
    """

    folds: np.ndarray
    alpha: np.ndarray
    metric: str
    alpha_scale: str
    n_repeats: int
    pooling: str = "folds"
    score: np.ndarray | None = None


def read_encoding_splits(path, stim_ids, index) -> EncodingSplits:
    """The outer folds and per-split alphas of an encoding file, aligned by stimulus id and by
    grayordinate (never by row order).

    Parameters
    ----------
    path : path
        ``results/encoding/{subject}/{model}/{layer}/{roi}.h5`` of ``estimator: ridge``.
    stim_ids : list of str
        The stimulus table's order.
    index : int array of shape (v,)
        Grayordinates of the voxels wanted (e.g. the ROI file's ``index`` of the fitted voxels).

    Returns
    -------
    EncodingSplits
    """
    import json

    import h5py

    from dnnmap.store import read_strings

    with h5py.File(path, "r") as f:
        missing = [k for k in ("stim_id", "folds", "alpha", "index") if k not in f]
        if missing:
            raise InputError(f"{path}: no {', '.join(missing)}; expected an encoding file")
        ids = read_strings(f["stim_id"])
        folds, alpha, enc_index = f["folds"][()], f["alpha"][()], f["index"][()]
        score = f["score"][()] if "score" in f else None
        estimator = str(f.attrs.get("estimator", ""))
        metric = str(f.attrs.get("score_metric", "r"))
        pooling = str(f.attrs.get("pooling", "folds"))
        cv = json.loads(f.attrs.get("cv", "{}"))
    if estimator != "ridge":
        raise InputError(
            f"{path}: estimator {estimator!r}; cross-validated ablation refits each split's "
            "ridge model (encoding.estimator: ridge)"
        )
    position = {s: i for i, s in enumerate(ids)}
    absent = [s for s in stim_ids if s not in position]
    if absent or len(ids) != len(stim_ids):
        raise InputError(
            f"{path}: its {len(ids)} stimulus ids are not the table's {len(stim_ids)} "
            f"(e.g. {absent[:3]} missing); rerun the encode job"
        )
    column = {int(g): i for i, g in enumerate(enc_index)}
    lost = [int(g) for g in index if int(g) not in column]
    if lost:
        raise InputError(f"{path}: grayordinates {lost[:5]} are not in the encoding file")
    folds = np.asarray(folds, dtype=np.int64)[[position[s] for s in stim_ids]]
    n_first = int(folds.max()) + 1
    columns = [column[int(g)] for g in index]
    alpha = np.asarray(alpha, dtype=np.float64)[:n_first][:, columns]
    return EncodingSplits(
        folds,
        alpha,
        metric,
        str(cv.get("alpha_scale", "relative")),
        int(cv.get("n_repeats", 1)),
        pooling,
        None if score is None else np.asarray(score, dtype=np.float64)[columns],
    )
