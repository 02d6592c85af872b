"""What is looked at: a layer's channels or units, its principal components, and an ROI's
voxels or mean response through the ROI's encoding model.

Every target is a scalar function of one stimulus's activations of one layer ``a``
(flattened in C order, ``p`` units):

* a **channel** of a convolutional layer ``(c, h, w)``: the mean of that channel over
  positions; a **unit** of a fully connected layer ``(n,)``: its value;
* a **linear read-out** ``(a - mean) @ w + intercept``: a principal component of the
  layer (``w`` its unit-norm direction, intercept 0), or a voxel or ROI mean through its
  encoding model (:mod:`dnnmap.interpret.readout`).

A :class:`TargetSpec` lists channel targets first, then read-out targets, in the order of
``names``; :mod:`dnnmap.interpret.heads` turns it into one differentiable module, and
:func:`write_targets` / :func:`read_targets` store it in an HDF5 group ``targets``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import h5py
import numpy as np

from dnnmap.errors import InputError
from dnnmap.store import read_strings, write_strings


@dataclass(frozen=True)
class TargetSpec:
    """Targets of one layer.

    Attributes
    ----------
    layer : str
        The layer's friendly name.
    unit_shape : tuple of int
        Shape of one stimulus's activations of the layer, e.g. (256, 13, 13) or (4096,).
    names : list of str
        Target names, shape (t,): channel targets first, then read-outs.
    channel : int array of shape (t_ch,)
        Channel (convolutional layer) or unit (fully connected layer) of each channel target.
    weights : float32 array of shape (p, t_lin) or None
        Read-out weights on the flattened units (``p = prod(unit_shape)``).
    mean : float32 array of shape (p,) or None
        Unit means subtracted before the read-out.
    intercept : float array of shape (t_lin,) or None
    """

    layer: str
    unit_shape: tuple[int, ...]
    names: list[str]
    channel: np.ndarray
    weights: np.ndarray | None = None
    mean: np.ndarray | None = None
    intercept: np.ndarray | None = None

    @property
    def n_targets(self) -> int:
        """Number of targets ``t``."""
        return len(self.names)

    def values(self, A: np.ndarray) -> np.ndarray:
        """Every target of activations ``A`` of shape (n, *unit_shape) or (n, p): (n, t)."""
        A = np.asarray(A, dtype=np.float64).reshape(len(A), -1)
        cols = [unit_values(A, self.unit_shape, self.channel)]
        if self.weights is not None:
            cols.append((A - self.mean) @ self.weights + self.intercept)
        return np.concatenate(cols, axis=1)


def check_units(indices, unit_shape, where: str) -> np.ndarray:
    """Channel or unit indices as an int array, or stop naming ``where`` and the valid range.

    Parameters
    ----------
    indices : sequence of int
    unit_shape : tuple of int
        The layer's unit shape; channels are its first axis.
    where : str
        Config key or file named in the message.
    """
    n = int(unit_shape[0])
    idx = np.asarray(list(indices), dtype=np.int64)
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        kind = "channels" if len(unit_shape) > 1 else "units"
        raise InputError(
            f"{where}: index {int(bad[0])} is outside the layer, which has {n} {kind} "
            f"(unit shape {tuple(int(s) for s in unit_shape)}); expected 0 to {n - 1}"
        )
    return idx


def unit_values(A: np.ndarray, unit_shape, channels) -> np.ndarray:
    """Values of channel targets: channel means over positions, or single units.

    Parameters
    ----------
    A : array of shape (n, p) or (n, *unit_shape)
    unit_shape : tuple of int
    channels : int array of shape (t,)

    Returns
    -------
    array of shape (n, t), float64
    """
    A = np.asarray(A).reshape(len(A), int(unit_shape[0]), -1)
    return A[:, np.asarray(channels, dtype=np.int64)].mean(axis=2, dtype=np.float64)


def principal_components(A: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``k`` principal components of a layer's activations, from the Gram matrix.

    Parameters
    ----------
    A : array of shape (n, p)
    k : int
        At most ``n - 1``.

    Returns
    -------
    mean : array of shape (p,)
    components : array of shape (k, p)
        Unit-norm directions; each signed so that its largest score is positive.
    scores : array of shape (n, k)
        ``(A - mean) @ components.T``.
    """
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    if not 1 <= k <= n - 1:
        raise InputError(f"interpret.n_components is {k}; expected 1 to {n - 1} (stimuli - 1)")
    mean = A.mean(axis=0)
    Ac = A - mean
    evals, evecs = np.linalg.eigh(Ac @ Ac.T)
    order = np.argsort(evals)[::-1][:k]
    s = np.sqrt(np.clip(evals[order], 0, None))
    if np.any(s <= 1e-12 * max(s[0], 1e-300)):
        raise InputError(f"the activations have fewer than {k} non-constant components")
    U = evecs[:, order]
    scores = U * s
    flip = np.where(scores[np.argmax(np.abs(scores), axis=0), np.arange(k)] < 0, -1.0, 1.0)
    scores *= flip
    components = (Ac.T @ (U * flip / s)).T
    return mean, components, scores


def check_not_constant(values: np.ndarray, names, where: str) -> None:
    """Stop if any target's values (n, t) are constant over stimuli or not finite."""
    values = np.asarray(values, dtype=np.float64)
    for j, name in enumerate(names):
        col = values[:, j]
        if not np.all(np.isfinite(col)):
            raise InputError(f"{where}: target {name} has non-finite values")
        if np.ptp(col) <= 1e-12 * max(1.0, float(np.abs(col).max())):
            raise InputError(
                f"{where}: target {name} is constant over the stimuli ({col[0]:.6g}); "
                "it has no top stimuli and no gradient to follow (expected a responsive target)"
            )


def brain_targets(
    index: np.ndarray,
    score: np.ndarray,
    masked: np.ndarray | None,
    n_best: int,
    voxels,
    roi: str,
    where: str,
) -> tuple[list[str], np.ndarray]:
    """The brain targets of one ROI as weights over its voxels.

    Parameters
    ----------
    index : int array of shape (v,)
        Grayordinate (or voxel) index of each column of the ROI.
    score : array of shape (v,)
        Cross-validated encoding score per voxel (NaN: masked).
    masked : bool array of shape (v,) or None
        Voxels the encoding model left out (constant responses).
    n_best : int
        The best-scored voxels to add besides the ROI mean.
    voxels : sequence of int
        Grayordinates asked for by index (``interpret.brain.voxels``).
    roi : str
    where : str
        The file named in messages.

    Returns
    -------
    names : list of str
        ``{roi}_mean``, then ``{roi}_v{grayordinate}`` per voxel.
    T : array of shape (v, t)
        Column j averages the voxels of target j (the mean: 1 / kept voxels on every kept
        voxel; a voxel: one-hot).
    """
    index = np.asarray(index)
    keep = np.isfinite(score) if masked is None else ~np.asarray(masked, bool) & np.isfinite(score)
    if not keep.any():
        raise InputError(f"{where}: every voxel of ROI {roi} is masked (constant responses)")
    cols = [keep / keep.sum()]
    names = [f"{roi}_mean"]
    chosen = []
    order = np.argsort(np.where(keep, -np.asarray(score, float), np.inf), kind="stable")
    chosen += [int(i) for i in order[: min(int(n_best), int(keep.sum()))]]
    position = {int(g): i for i, g in enumerate(index)}
    for g in voxels:
        if int(g) not in position:
            raise InputError(
                f"interpret.brain.voxels: voxel {int(g)} is not in ROI {roi} ({where}: "
                f"{index.size} voxels, indices {int(index.min())} to {int(index.max())}); "
                "expected a grayordinate index of the ROI"
            )
        i = position[int(g)]
        if not keep[i]:
            raise InputError(
                f"interpret.brain.voxels: voxel {int(g)} of ROI {roi} has a constant response "
                f"({where}: masked by the encoding model); expected a responsive voxel"
            )
        if i not in chosen:
            chosen.append(i)
    for i in chosen:
        col = np.zeros(index.size)
        col[i] = 1.0
        cols.append(col)
        names.append(f"{roi}_v{int(index[i])}")
    return names, np.stack(cols, axis=1)


def write_targets(f: h5py.File, spec: TargetSpec) -> None:
    """Write ``spec`` into group ``targets`` of an open HDF5 file."""
    g = f.create_group("targets")
    g.attrs["layer"] = spec.layer
    g.attrs["unit_shape"] = json.dumps([int(s) for s in spec.unit_shape])
    write_strings(g, "names", spec.names)
    g.create_dataset("channel", data=np.asarray(spec.channel, dtype=np.int64))
    if spec.weights is not None:
        g.create_dataset("weights", data=np.asarray(spec.weights, dtype=np.float32))
        g.create_dataset("mean", data=np.asarray(spec.mean, dtype=np.float32))
        g.create_dataset("intercept", data=np.asarray(spec.intercept, dtype=np.float64))


def read_targets(path) -> TargetSpec:
    """Read the :class:`TargetSpec` of an HDF5 file's ``targets`` group."""
    with h5py.File(path, "r") as f:
        if "targets" not in f:
            raise InputError(f"{path}: no 'targets' group; expected a dnnmap interpret file")
        g = f["targets"]
        extra = {k: g[k][()] for k in ("weights", "mean", "intercept") if k in g}
        return TargetSpec(
            layer=str(g.attrs["layer"]),
            unit_shape=tuple(json.loads(g.attrs["unit_shape"])),
            names=read_strings(g["names"]),
            channel=g["channel"][()],
            **extra,
        )
