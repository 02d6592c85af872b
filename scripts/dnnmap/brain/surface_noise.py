"""Spatially smooth noise on the grayordinates of a CIFTI surface.

Noise in fMRI is correlated between neighbouring vertices. :func:`surface_smoother` builds a
linear operator ``M`` (sparse, ``(n_grayordinates, n_grayordinates)``) that turns independent
unit-variance noise into smooth noise of unit variance at every grayordinate:

    A = D^-1 (I + G)          # G: 0/1 adjacency of the mesh restricted to the grayordinates,
                              # D: row sums, so A averages a vertex with its neighbours
    M0 = A^n_iter             # n_iter passes of neighbour averaging
    M = diag(1 / ||M0_i||) M0 # rows scaled to unit norm: var((M e)_i) = 1 for e ~ N(0, I)

so ``e @ M.T`` (``e`` of shape (n, n_grayordinates)) has exactly unit variance per
grayordinate in expectation, and the correlation between two grayordinates is the cosine
between their rows of ``M``, which falls to 0 beyond ``n_iter`` mesh edges. Voxel
grayordinates (subcortex) are left unsmoothed (their rows of ``M`` are the identity).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.neighborhoods import fslr32k_midthickness, mesh_graph
from dnnmap.checks import check_int
from dnnmap.errors import InputError


def grayordinate_graph(brain_models: BrainModelAxis) -> sp.csr_array:
    """The mesh edges between surface grayordinates, as a 0/1 adjacency matrix.

    Each cortex structure uses its fsLR-32k midthickness mesh
    (:func:`dnnmap.brain.neighborhoods.fslr32k_midthickness`); edges to vertices that are not
    grayordinates (the medial wall) are dropped.

    Parameters
    ----------
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates

    Returns
    -------
    scipy.sparse.csr_array of float64, shape (n_grayordinates, n_grayordinates)
        Symmetric, 1 where two grayordinates share a mesh edge, 0 on the diagonal.
    """
    if not isinstance(brain_models, BrainModelAxis):
        raise InputError(
            f"brain_models is a {type(brain_models).__name__}; expected a BrainModelAxis"
        )
    n = len(brain_models)
    rows, cols = [], []
    for name, slc, sub in brain_models.iter_structures():
        if not sub.surface_mask.any():
            continue
        coords, faces = fslr32k_midthickness(str(name))
        start = slc.start or 0
        col_of = np.full(len(coords), -1, dtype=np.int64)
        col_of[np.asarray(sub.vertex, dtype=np.int64)] = np.arange(start, start + len(sub))
        graph = mesh_graph(coords, faces).tocoo()
        a, b = col_of[graph.row], col_of[graph.col]
        keep = (a >= 0) & (b >= 0)
        rows.append(a[keep])
        cols.append(b[keep])
    if not rows:
        return sp.csr_array((n, n))
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_array((np.ones(r.size), (r, c)), shape=(n, n))


def surface_smoother(brain_models: BrainModelAxis, n_iter: int) -> sp.csr_array:
    """The operator that makes white noise smooth on the surface (see the module docstring).

    Parameters
    ----------
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates
    n_iter : int
        Passes of neighbour averaging (0: the identity, white noise).

    Returns
    -------
    scipy.sparse.csr_array of float64, shape (n_grayordinates, n_grayordinates)
        ``M`` with unit-norm rows.
    """
    return graph_smoother(grayordinate_graph(brain_models), n_iter)


def graph_smoother(graph: sp.csr_array, n_iter: int) -> sp.csr_array:
    """``n_iter`` passes of averaging each column with its neighbours in ``graph``, with
    rows scaled to unit norm (so smoothed white noise keeps unit variance per column).

    Parameters
    ----------
    graph : scipy.sparse.csr_array, shape (n, n)
        Symmetric adjacency (1 between neighbours, no self-loops).
    n_iter : int
        Passes (0: the identity).

    Returns
    -------
    scipy.sparse.csr_array of float64, shape (n, n)
    """
    n_iter = check_int(n_iter, "noise_smoothing", 0)
    n = graph.shape[0]
    step = sp.csr_array(graph) + sp.identity(n, format="csr")
    step = sp.csr_array(step.multiply(1.0 / step.sum(axis=1)[:, None]))
    smoother = sp.identity(n, format="csr")
    for _ in range(n_iter):
        smoother = sp.csr_array(step @ smoother)
    norms = np.sqrt(np.asarray(smoother.multiply(smoother).sum(axis=1)).ravel())
    return sp.csr_array(sp.diags(1.0 / norms) @ smoother)


def smooth_noise(
    rng: np.random.Generator, n_rows: int, smoother: sp.csr_array | None, n_columns: int
) -> np.ndarray:
    """Draw noise of unit variance per column, smooth over the surface when ``smoother`` is given.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_rows : int
        Independent draws (e.g. stimuli).
    smoother : scipy.sparse.csr_array of shape (n_columns, n_columns), or None
        From :func:`surface_smoother`; None for white noise.
    n_columns : int
        Grayordinates.

    Returns
    -------
    ndarray of float32, shape (n_rows, n_columns)
    """
    white = rng.standard_normal((n_rows, n_columns), dtype=np.float32)
    if smoother is None:
        return white
    return np.asarray((smoother @ white.T).T, dtype=np.float32)
