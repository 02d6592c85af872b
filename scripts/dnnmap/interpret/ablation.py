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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnnmap.errors import InputError

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
