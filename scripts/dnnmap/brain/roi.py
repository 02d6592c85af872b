"""Brain responses: read a CIFTI file's maps in stimulus order and cut out an ROI."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from dnnmap.brain.atlas import atlas_for, resolve_roi
from dnnmap.brain.cifti import read_dscalar
from dnnmap.errors import InputError

LOG = logging.getLogger("dnnmap")


def align_maps(
    names: Sequence[str] | None, stim_ids: Sequence[str], path: str | os.PathLike, table: str
) -> np.ndarray:
    """Row order that puts a CIFTI file's maps into stimulus-table order, matched by name.

    Parameters
    ----------
    names : sequence of str or None
        Map names of the file (``None`` for a dtseries, whose maps carry no names).
    stim_ids : sequence of str
        Stimulus ids of the table, shape (n_stim,).
    path, table : str
        The CIFTI file and the stimulus table, for messages.

    Returns
    -------
    ndarray of int, shape (n_stim,)
        ``data[order]`` is in table order.

    Raises
    ------
    InputError
        If named maps are more or fewer than the stimuli, repeat a name, or miss a stim_id.
        Maps without names (a dtseries) are taken in table order; their count is the
        caller's to check (:func:`roi_responses` does).
    """
    n_maps = len(names) if names is not None else None
    if names is None:
        LOG.warning("%s has no map names; assuming its maps are in %s order", path, table)
        return np.arange(len(stim_ids))
    if n_maps != len(stim_ids):
        raise InputError(
            f"{path} has {n_maps} maps but {table} has {len(stim_ids)} stimuli; "
            "expected one map per stimulus"
        )
    position = {name: i for i, name in enumerate(names)}
    if len(position) != len(names):
        raise InputError(f"{path}: map names repeat; expected one map per stim_id")
    missing = [s for s in stim_ids if s not in position]
    if missing:
        raise InputError(
            f"{path} has no map named {missing[0]!r} (from {table}; {len(missing)} ids missing); "
            "expected maps named by stim_id"
        )
    return np.array([position[s] for s in stim_ids])


def roi_responses(
    cifti_path: str | os.PathLike,
    stim_ids: Sequence[str],
    roi: str,
    labels: Sequence[str],
    table: str = "the stimulus table",
) -> tuple[np.ndarray, np.ndarray]:
    """Responses of an ROI's grayordinates to every stimulus, in table order.

    Parameters
    ----------
    cifti_path : path
        CIFTI-2 dscalar (maps named by stim_id) or dtseries on the fsLR-32k cortex.
    stim_ids : sequence of str
        Stimulus ids, shape (n_stim,).
    roi : str
        ROI name (for messages).
    labels : sequence of str
        HCP-MMP 1.0 areas making up the ROI.
    table : str
        Stimulus table name, for messages.

    Returns
    -------
    responses : ndarray of shape (n_stim, n_vox), float32
    index : ndarray of shape (n_vox,), int64
        Grayordinate index of each column into the CIFTI file.
    """
    data, names, brain_models = read_dscalar(cifti_path)
    if data.shape[0] != len(stim_ids):
        raise InputError(
            f"{cifti_path} has {data.shape[0]} maps but {table} has {len(stim_ids)} stimuli; "
            "expected one map per stimulus"
        )
    order = align_maps(names, stim_ids, cifti_path, table)
    index = resolve_roi(roi, labels, atlas_for(brain_models))
    responses = np.ascontiguousarray(data[:, index][order], dtype=np.float32)
    return responses, index
