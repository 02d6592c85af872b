"""Reduce one layer's activations to a few principal components, out of core.

The layer is read from the activations file in slabs that follow its HDF5 chunks: column
slabs (all stimuli, a block of channels) for the dual route when n_stim < n_units, row slabs
(a block of stimuli, all units) for the primal route otherwise. The whole layer is never
held in memory.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from dnnmap.errors import InputError
from dnnmap.features.pca import PCAResult, fit_pca
from dnnmap.models.activation_layout import layer_as_matrix
from dnnmap.store import read_strings


def reduce_layer(
    activations_path: str | os.PathLike,
    layer: str,
    n_components: int,
    components: bool = False,
) -> tuple[list[str], PCAResult]:
    """Exact PCA of one layer of an activations file.

    Parameters
    ----------
    activations_path : path
        ``results/activations/{model}.h5``.
    layer : str
        Friendly layer name (a dataset under ``layers/``).
    n_components : int
        Components wanted; clipped to ``min(n_stim - 1, n_units)``.
    components : bool
        Also return the principal axes, shape (k, n_units).

    Returns
    -------
    stim_id : list of str
        The stimulus ids of the rows, shape (n_stim,).
    result : PCAResult
        ``scores`` (n_stim, k), explained variance and its ratio, the route used.
    """
    with h5py.File(activations_path, "r") as f:
        if layer not in f.get("layers", {}):
            known = ", ".join(f["layers"]) if "layers" in f else "none"
            raise InputError(f"{activations_path}: no layer {layer!r}; layers in file: {known}")
        dset = f["layers"][layer]
        n_stim = dset.shape[0]
        n_units, read_cols, read_rows, bounds = layer_as_matrix(dset)
        row_chunk = dset.chunks[0] if dset.chunks else 256
        result = fit_pca(
            n_stim,
            n_units,
            n_components,
            read_cols=read_cols,
            read_rows=read_rows,
            col_bounds=bounds,
            row_chunk=row_chunk,
            components=components,
        )
        return read_strings(f["stim_id"]), result


def feature_attrs(result: PCAResult, layer: str) -> dict:
    """Attributes of a features file describing how the features were made."""
    return {
        "layer": layer,
        "method": "pca",
        "route": result.method,
        "fit_partition": "all",
        "n_components": result.n_components,
        "explained_variance_ratio_total": float(np.sum(result.explained_variance_ratio)),
        "explained_variance_ratio": json.dumps(result.explained_variance_ratio.tolist()),
    }
