"""Channel ablation through an encoding model: how much of an ROI's (or voxel's) predicted
response each channel of the encoding layer carries.

Ablating channel ``c`` of the layer an ROI's encoding model reads (its read-out, refitted on
all stimuli: :mod:`dnnmap.interpret.readout`) replaces the channel's units by a constant: their
mean over the stimuli (``mean``) or zero (``zero``). The read-out is linear in the units, so the
ablated prediction is ``P - K[:, c]`` with ``K[:, c] = (A_c - m_c) @ w_c`` the channel's
contribution (``mean``), minus the constant ``m_c @ w_c`` more for ``zero``. Pearson r with the
measured response ignores a constant, so both modes give the same change in r here; they
differ in the squared error, which is reported too. All channels are ablated in one pass
(no loop over channels). The importance of a channel is the drop in r, and channels are
ranked by it.

:func:`decoding_ablation` does the same for a linear decoder of a stimulus attribute: a
logistic regression fitted on each outer training set (standardized units), scored on the
test set with each channel set to its training mean, and with every channel at once (the
decoder then sees a constant, so its accuracy falls to that of always guessing one class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnnmap.errors import InputError
from dnnmap.stats.splits import stratified_kfold

MODES = ("mean", "zero")
"""What an ablated channel's units are set to."""


@dataclass(frozen=True)
class Ablation:
    """The effect of ablating each channel, for every target.

    Attributes
    ----------
    r_full : array of shape (t,)
        Pearson r of the intact read-out's prediction with the measured response.
    r : array of shape (C, t)
        The same with channel c ablated.
    mse_full : array of shape (t,)
    mse : array of shape (C, t)
    """

    r_full: np.ndarray
    r: np.ndarray
    mse_full: np.ndarray
    mse: np.ndarray

    @property
    def importance(self) -> np.ndarray:
        """Drop in r per channel and target, shape (C, t)."""
        return self.r_full[None, :] - self.r

    def ranking(self) -> np.ndarray:
        """Channels from most to least important per target, shape (t, C) (ties: lower first)."""
        return np.argsort(-self.importance.T, axis=1, kind="stable")


def _pearson(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of every column (along axis -2) of ``P`` (..., n, t) with ``y`` (n, t)."""
    Pc = P - P.mean(axis=-2, keepdims=True)
    yc = y - y.mean(axis=0)
    num = (Pc * yc).sum(axis=-2)
    den = np.sqrt((Pc**2).sum(axis=-2) * (yc**2).sum(axis=0))
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def ablate_channels(
    A: np.ndarray,
    unit_shape,
    weights: np.ndarray,
    mean: np.ndarray,
    intercept: np.ndarray,
    Y: np.ndarray,
    mode: str = "mean",
) -> Ablation:
    """Ablate each channel of the encoding layer and score the read-out against responses.

    Parameters
    ----------
    A : array of shape (n, p)
        The layer's activations, ``p = prod(unit_shape)`` (C order: channel first).
    unit_shape : tuple of int
        ``(C, ...)``; a fully connected layer's units are its channels.
    weights : array of shape (p, t)
    mean : array of shape (p,)
    intercept : array of shape (t,)
    Y : array of shape (n, t)
        The measured response of each target (ROI mean, voxel).
    mode : {"mean", "zero"}

    Returns
    -------
    Ablation
    """
    if mode not in MODES:
        raise InputError(f"ablation mode {mode!r}; expected one of {', '.join(MODES)}")
    A = np.asarray(A, dtype=np.float64)
    n, C = A.shape[0], int(unit_shape[0])
    t = weights.shape[1]
    W = np.asarray(weights, dtype=np.float64).reshape(C, -1, t)
    m = np.asarray(mean, dtype=np.float64).reshape(C, -1)
    Ac = A.reshape(n, C, -1) - m
    K = np.einsum("ncs,cst->cnt", Ac, W)  # each channel's contribution, (C, n, t)
    P = K.sum(axis=0) + np.asarray(intercept, dtype=np.float64)
    ablated = P[None] - K
    if mode == "zero":
        ablated = ablated - np.einsum("cs,cst->ct", m, W)[:, None, :]
    Y = np.asarray(Y, dtype=np.float64)
    return Ablation(
        r_full=_pearson(P, Y),
        r=_pearson(ablated, Y),
        mse_full=((P - Y) ** 2).mean(axis=0),
        mse=((ablated - Y[None]) ** 2).mean(axis=1),
    )


@dataclass(frozen=True)
class DecodingAblation:
    """Cross-validated decoding accuracy with each channel ablated.

    Attributes
    ----------
    accuracy_full : float
        Mean over outer folds of the test accuracy, nothing ablated.
    accuracy : array of shape (C,)
        The same with channel c set to its training mean.
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

    Returns
    -------
    DecodingAblation
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise InputError("decoding ablation needs at least two classes of the attribute")
    n, n_ch = A.shape[0], int(unit_shape[0])
    splits = stratified_kfold(y, n_folds=n_folds, seed=seed)
    full, per, every = [], [], []
    for train, test in zip(splits.train, splits.test, strict=True):
        scaler = StandardScaler().fit(A[train])
        model = LogisticRegression(C=C, max_iter=2000).fit(scaler.transform(A[train]), y[train])
        Z = scaler.transform(A[test]).reshape(len(test), n_ch, -1)
        W = model.coef_.reshape(model.coef_.shape[0], n_ch, -1)
        contrib = np.einsum("ncs,kcs->cnk", Z, W)  # (C, n_test, K)
        logits = contrib.sum(axis=0) + model.intercept_
        full.append(np.mean(_predict(model.classes_, logits) == y[test]))
        ablated = _predict(model.classes_, logits[None] - contrib)
        per.append(np.mean(ablated == y[test][None], axis=1))
        constant = np.broadcast_to(model.intercept_, logits.shape)
        every.append(np.mean(_predict(model.classes_, constant) == y[test]))
    return DecodingAblation(
        float(np.mean(full)),
        np.mean(per, axis=0),
        float(np.mean(every)),
        float(counts.max() / n),
    )


def _predict(classes: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Classes of logits (..., K): the sign of the one logit of a binary problem, else argmax."""
    if logits.shape[-1] == 1:
        return classes[(logits[..., 0] > 0).astype(int)]
    return classes[np.argmax(logits, axis=-1)]
