"""Stacking results as brain maps in the space and format of the subject's responses.

One map file per subject and stack set (a CIFTI-2 dscalar for CIFTI data; NIfTI, GIFTI or
MGH for those inputs, :mod:`dnnmap.brain.spaces`), with the maps ``r``, ``signed_sqrt_r2``
(the stacked scores), ``weight_<space>`` (one per space, in the set's order) and
``best_space``: the 1-based number of the space with the largest weight. Grayordinates
outside the ROIs and masked voxels (:func:`dnnmap.brain.summary.masked_voxels`) carry 0 in
every map (``best_space`` 0: no label), as in the encoding maps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from dnnmap.brain.spaces import space_of, write_maps
from dnnmap.errors import InputError
from dnnmap.stacking.io import read_stacking

LOG = logging.getLogger("dnnmap")


def stacking_maps(
    paths: Sequence[str], spaces: Sequence[str], n_grayordinates: int
) -> tuple[np.ndarray, list[str]]:
    """Stack the per-ROI stacking results of one subject and set into whole-brain maps.

    Parameters
    ----------
    paths : sequence of str
        Stacking files of the set, one per ROI.
    spaces : sequence of str
        The set's space names, in order; every file must hold these.
    n_grayordinates : int
        Length of the brain model axis the files' ``index`` points into.

    Returns
    -------
    data : float32 array of shape (k + 3, n_grayordinates)
        ``r``, ``signed_sqrt_r2``, the weight of each space, ``best_space``.
    names : list of str
    """
    k = len(spaces)
    data = np.zeros((k + 3, n_grayordinates), dtype=np.float32)
    for path in paths:
        res = read_stacking(path)
        if res["spaces"] != list(spaces):
            raise InputError(
                f"{path} holds spaces {res['spaces']}; expected {list(spaces)} of this set"
            )
        idx = res["index"]
        if idx.size and idx.max() >= n_grayordinates:
            raise InputError(
                f"{path}: grayordinate index {idx.max()} is beyond the {n_grayordinates} "
                "grayordinates of the brain model axis"
            )
        ok = ~res["masked"] & np.isfinite(res["weights"]).all(axis=1)
        data[0, idx] = np.nan_to_num(res["r"], nan=0.0)
        data[1, idx] = np.nan_to_num(res["signed_sqrt_r2"], nan=0.0)
        data[2 : 2 + k, idx] = np.nan_to_num(res["weights"].T, nan=0.0)
        best = np.argmax(np.nan_to_num(res["weights"], nan=-1.0), axis=1) + 1
        data[-1, idx] = np.where(ok, best, 0)
    names = ["r", "signed_sqrt_r2", *[f"weight_{s}" for s in spaces], "best_space"]
    return data, names


def write_stacking_maps(
    responses_path: str | os.PathLike,
    paths: Sequence[str],
    spaces: Sequence[str],
    out_path: str | os.PathLike,
) -> None:
    """Write :func:`stacking_maps` in the responses' space and format (``responses_path``: a
    CIFTI file or anything :func:`dnnmap.brain.spaces.space_of` takes)."""
    space = space_of(responses_path)
    data, names = stacking_maps(paths, spaces, space.n_columns)
    write_maps(out_path, data, names, space)
    LOG.info("wrote %d maps (%s) on %d grayordinates", len(names), ", ".join(names), data.shape[1])
