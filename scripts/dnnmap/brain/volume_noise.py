"""Spatially smooth noise in a volume: the voxel-grid twin of :mod:`dnnmap.brain.surface_noise`.

The voxels of a mask are linked to their face neighbours (the 6 voxels one index step away
along i, j or k that are also in the mask); ``n_iter`` passes of averaging each voxel with
its neighbours, rows scaled to unit norm, turn white noise into noise of unit variance per
voxel that is correlated between nearby voxels (:func:`dnnmap.brain.surface_noise.graph_smoother`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dnnmap.brain.surface_noise import graph_smoother
from dnnmap.errors import InputError

_STEPS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.int64)


def voxel_graph(ijk: np.ndarray) -> sp.csr_array:
    """Face-neighbour adjacency of voxels.

    Parameters
    ----------
    ijk : ndarray of int, shape (n_vox, 3)
        Distinct voxel indices (e.g. a mask's, :class:`dnnmap.brain.responses_io.Volume`).

    Returns
    -------
    scipy.sparse.csr_array of float64, shape (n_vox, n_vox)
        1 where two voxels differ by one index step along one axis, symmetric, no
        self-loops.
    """
    ijk = np.asarray(ijk, dtype=np.int64)
    if ijk.ndim != 2 or ijk.shape[1] != 3:
        raise InputError(f"voxel indices have shape {ijk.shape}; expected (n_vox, 3)")
    n = len(ijk)
    if n == 0:
        return sp.csr_array((0, 0))
    lo = ijk.min(axis=0)
    dims = ijk.max(axis=0) - lo + 2  # one spare slab so a step never wraps
    flat = np.ravel_multi_index((ijk - lo).T, dims)
    order = np.argsort(flat)
    if np.any(np.diff(flat[order]) == 0):
        raise InputError("voxel indices repeat a voxel; expected distinct voxels")
    rows, cols = [], []
    for step in _STEPS:
        target = np.ravel_multi_index((ijk - lo + step).T, dims)
        pos = np.searchsorted(flat[order], target)
        pos = np.minimum(pos, n - 1)
        hit = flat[order][pos] == target
        a, b = np.flatnonzero(hit), order[pos[hit]]
        rows += [a, b]
        cols += [b, a]
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_array((np.ones(r.size), (r, c)), shape=(n, n))


def volume_smoother(ijk: np.ndarray, n_iter: int) -> sp.csr_array:
    """The operator that makes white noise smooth over a mask's voxels.

    Parameters
    ----------
    ijk : ndarray of int, shape (n_vox, 3)
        The mask's voxel indices.
    n_iter : int
        Passes of face-neighbour averaging (0: the identity, white noise).

    Returns
    -------
    scipy.sparse.csr_array of float64, shape (n_vox, n_vox)
        ``M`` with unit-norm rows; ``M @ e`` for white ``e`` has unit variance per voxel.
    """
    return graph_smoother(voxel_graph(ijk), n_iter)
