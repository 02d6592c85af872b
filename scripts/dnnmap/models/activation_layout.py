"""Layout of activation datasets in HDF5: chunking, and reading a layer as a 2-D matrix.

Kept free of torch so that analysis jobs can read activations without importing it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import h5py
import numpy as np

CHUNK_BYTES = 1 << 20


def chunk_shape(n_stim: int, unit_shape: Sequence[int], stim_chunk: int, itemsize: int):
    """HDF5 chunk shape for a layer: a block of stimuli by a block of the first unit axis.

    Chunking along the first unit axis (channels) as well as stimuli lets later steps read
    all stimuli for a slice of units (the dual PCA route) without reading the whole layer.

    Parameters
    ----------
    n_stim : int
        Number of stimuli.
    unit_shape : sequence of int
        Shape of one stimulus' activations, e.g. (64, 55, 55).
    stim_chunk : int
        Stimuli per chunk (the extraction batch size).
    itemsize : int
        Bytes per value.

    Returns
    -------
    tuple of int
        Chunk shape of length ``1 + len(unit_shape)``, about :data:`CHUNK_BYTES` in size.
    """
    stim_chunk = max(1, min(stim_chunk, n_stim))
    first, rest = unit_shape[0], math.prod(unit_shape[1:])
    per_row = max(1, CHUNK_BYTES // (stim_chunk * rest * itemsize))
    return (stim_chunk, min(first, per_row), *unit_shape[1:])


def layer_as_matrix(dset: h5py.Dataset):
    """Describe an activation dataset as a 2-D matrix (n_stim, n_units) read in slabs.

    Returns
    -------
    n_units : int
        Product of the unit shape.
    read_cols : callable
        ``read_cols(c0, c1)`` returns all stimuli for flat units ``c0:c1``, shape
        (n_stim, c1 - c0); ``c0`` and ``c1`` must be multiples of the units per channel.
    read_rows : callable
        ``read_rows(r0, r1)`` returns stimuli ``r0:r1`` for all units, shape (r1 - r0, n_units).
    col_bounds : list of (int, int)
        Column ranges aligned with the dataset's channel chunks.
    """
    n_stim, *unit_shape = dset.shape
    per_channel = math.prod(unit_shape[1:])
    n_units = per_channel * unit_shape[0]
    chan_chunk = dset.chunks[1] if dset.chunks else unit_shape[0]

    def read_cols(c0: int, c1: int) -> np.ndarray:
        block = dset[:, c0 // per_channel : c1 // per_channel]
        return block.reshape(n_stim, -1)

    def read_rows(r0: int, r1: int) -> np.ndarray:
        return dset[r0:r1].reshape(r1 - r0, -1)

    bounds = [
        (c * per_channel, min(c + chan_chunk, unit_shape[0]) * per_channel)
        for c in range(0, unit_shape[0], chan_chunk)
    ]
    return n_units, read_cols, read_rows, bounds
