"""The stimuli that drive each target most: per channel, unit or principal component of a
layer (from the activations file) and per voxel or ROI mean (from the encoding model's
cross-validated predictions).

A top-stimuli file holds::

    stim_id      (n_stim,)   str    row ids of ``values``
    target       (t,)        str    target names
    values       (n_stim, t) float  each target's value for every stimulus
    top          (t, k)      int    rows of the k highest values, highest first
    top_values   (t, k)      float
    top_stim_id  (t, k)      str
    targets/                        the TargetSpec (unit targets only; see dnnmap.interpret.targets)

attrs: ``layer``, ``source`` (``activations`` or ``encoding predictions``), ``top_k`` and
dnnmap's provenance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import h5py
import numpy as np

from dnnmap.encoding.io import read_layer_units
from dnnmap.errors import InputError
from dnnmap.interpret.targets import (
    TargetSpec,
    brain_targets,
    check_not_constant,
    check_units,
    principal_components,
    write_targets,
)
from dnnmap.store import check_stim_ids, h5_writer, read_strings, write_strings


@dataclass(frozen=True)
class TopStimuli:
    """Targets' values over stimuli and their top stimuli.

    Attributes
    ----------
    stim_ids : list of str
        Shape (n_stim,).
    names : list of str
        Target names, shape (t,).
    values : array of shape (n_stim, t)
    top : int array of shape (t, k)
        Rows of the highest values, highest first (ties: lower row first).
    spec : TargetSpec or None
        How the values are computed from the layer (unit targets).
    """

    stim_ids: list[str]
    names: list[str]
    values: np.ndarray
    top: np.ndarray
    spec: TargetSpec | None = None

    @property
    def top_values(self) -> np.ndarray:
        """Values of the top stimuli, shape (t, k)."""
        return np.take_along_axis(self.values.T, self.top, axis=1)


def top_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest values of each column of ``values`` (n, t), highest first.

    Returns
    -------
    int array of shape (t, min(k, n))
    """
    values = np.asarray(values, dtype=np.float64)
    k = min(int(k), values.shape[0])
    # stable sort of the negated values: ties keep the lower row first
    return np.argsort(-values.T, axis=1, kind="stable")[:, :k]


def unit_top_stimuli(
    activations_path: str | os.PathLike,
    layer: str,
    channels,
    n_components: int,
    k: int,
    stim_ids: list[str],
    table: str,
) -> TopStimuli:
    """Top stimuli of a layer's channels (or units) and first principal components.

    Parameters
    ----------
    activations_path : path
        ``results/activations/{model}.h5``.
    layer : str
    channels : sequence of int
        Channels of a convolutional layer (value: the channel's mean over positions) or units
        of a fully connected one.
    n_components : int
        Principal components of the layer's activations (over all stimuli) to add.
    k : int
        Top stimuli per target.
    stim_ids : list of str
        The stimulus table's ids (the file must have them, in order).
    table : str
        The table's path, named in messages.

    Returns
    -------
    TopStimuli
    """
    A, unit_shape = read_layer_units(activations_path, layer, stim_ids, table)
    where = f"interpret.units ({layer})"
    channels = check_units(channels, unit_shape, where)
    kind = "ch" if len(unit_shape) > 1 else "unit"
    names = [f"{layer}_{kind}{c}" for c in channels]
    extra = {}
    if n_components:
        mean, comps, _ = principal_components(A, int(n_components))
        names += [f"{layer}_pc{j + 1}" for j in range(int(n_components))]
        extra = {
            "weights": comps.T.astype(np.float32),
            "mean": mean.astype(np.float32),
            "intercept": np.zeros(int(n_components)),
        }
    if not names:
        raise InputError(f"{where}: no channels and no components; expected at least one target")
    spec = TargetSpec(layer, unit_shape, names, channels, **extra)
    values = spec.values(A)
    check_not_constant(values, names, f"{activations_path} layer {layer}")
    return TopStimuli(list(stim_ids), names, values, top_indices(values, k), spec)


def brain_top_stimuli(
    encoding_path: str | os.PathLike,
    roi: str,
    n_best: int,
    voxels,
    k: int,
    stim_ids: list[str],
    table: str,
) -> tuple[TopStimuli, np.ndarray, np.ndarray]:
    """Top stimuli of an ROI's mean and voxels by the encoding model's out-of-fold predictions.

    Parameters
    ----------
    encoding_path : path
        ``results/encoding/{subject}/{model}/{layer}/{roi}.h5``.
    roi : str
    n_best : int
        Best-scored voxels besides the ROI mean.
    voxels : sequence of int
        Grayordinates asked for by index.
    k : int
    stim_ids, table
        As in :func:`unit_top_stimuli`.

    Returns
    -------
    top : TopStimuli
    T : array of shape (n_vox, t)
        The target weights over the ROI's voxels (:func:`dnnmap.interpret.targets.brain_targets`).
    index : array of shape (n_vox,)
        The ROI's grayordinates.
    """
    with h5py.File(encoding_path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, encoding_path)
        predictions = f["predictions"][()].astype(np.float64)
        index, score = f["index"][()], f["score"][()]
        masked = f["masked"][()] if "masked" in f else None
    names, T = brain_targets(index, score, masked, n_best, voxels, roi, str(encoding_path))
    P = np.where(np.isfinite(predictions), predictions, 0.0)
    values = P @ T
    check_not_constant(values, names, f"{encoding_path} predictions")
    return TopStimuli(list(stim_ids), names, values, top_indices(values, k)), T, index


def write_top_stimuli(path, top: TopStimuli, attrs: dict) -> None:
    """Write a top-stimuli file (layout in the module docstring), atomically."""
    with h5_writer(path, attrs) as f:
        write_strings(f, "stim_id", top.stim_ids)
        write_strings(f, "target", top.names)
        f.create_dataset("values", data=top.values)
        f.create_dataset("top", data=top.top)
        f.create_dataset("top_values", data=top.top_values)
        ids = np.asarray(top.stim_ids, dtype=object)[top.top]
        write_strings(f, "top_stim_id", ids.ravel().tolist())
        f["top_stim_id"].attrs["shape"] = list(top.top.shape)
        if top.spec is not None:
            write_targets(f, top.spec)


def read_top_stimuli(path) -> TopStimuli:
    """Read a top-stimuli file (the targets: :func:`dnnmap.interpret.targets.read_targets`)."""
    with h5py.File(path, "r") as f:
        return TopStimuli(
            read_strings(f["stim_id"]),
            read_strings(f["target"]),
            f["values"][()],
            f["top"][()],
        )
