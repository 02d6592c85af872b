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
    names: Sequence[str] | None,
    stim_ids: Sequence[str],
    path: str | os.PathLike,
    table: str,
    n_maps: int | None = None,
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
    n_maps : int, optional
        Number of maps of a file without names (required when ``names`` is None).

    Returns
    -------
    ndarray of int, shape (n_stim,)
        ``data[order]`` is in table order.

    Raises
    ------
    InputError
        If named maps repeat a name or miss a stim_id (the first missing id is named), or
        maps without names (a dtseries, taken in table order) are more or fewer than the
        stimuli (the first stimulus without a map, or the first extra map, is named).
        Named maps that are not stimuli are allowed (the stimuli are a subset of the
        file's maps): they are left out, and their count is logged.
    """
    if names is None:
        if n_maps is None:
            raise InputError(f"{path}: maps without names need n_maps; expected a map count")
        if n_maps < len(stim_ids):
            raise InputError(
                f"{path} has {n_maps} maps but {table} has {len(stim_ids)} stimuli: no map for "
                f"stim_id {stim_ids[n_maps]!r} (stimulus {n_maps + 1}) and "
                f"{len(stim_ids) - n_maps - 1} more; expected one map per stimulus in table "
                "order (maps without names: a dtseries)"
            )
        if n_maps > len(stim_ids):
            raise InputError(
                f"{path} has {n_maps} maps but {table} has {len(stim_ids)} stimuli: map "
                f"{len(stim_ids) + 1} of {n_maps} has no stimulus; expected one map per "
                "stimulus in table order (maps without names: a dtseries; name the maps by "
                "stim_id in a dscalar to run a subset)"
            )
        LOG.warning("%s has no map names; assuming its maps are in %s order", path, table)
        return np.arange(len(stim_ids))
    names = [str(n) for n in names]
    position: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in position:
            raise InputError(
                f"{path}: map name {name!r} repeats (maps {position[name] + 1} and {i + 1}); "
                "expected one map per stim_id"
            )
        position[name] = i
    missing = [s for s in stim_ids if s not in position]
    if missing:
        raise InputError(
            f"{path} has {len(names)} maps but no map named {missing[0]!r} (from {table}, "
            f"{len(stim_ids)} stimuli; {len(missing)} ids missing); expected a map named by "
            "every stim_id"
        )
    extra = len(names) - len(stim_ids)
    if extra:
        wanted = set(stim_ids)
        first = next(n for n in names if n not in wanted)
        LOG.info(
            "%s: %d of %d maps are not in %s (e.g. %r); left out (the stimuli are a subset)",
            path,
            extra,
            len(names),
            table,
            first,
        )
    return np.array([position[s] for s in stim_ids], dtype=np.int64)


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
    order = align_maps(names, stim_ids, cifti_path, table, n_maps=data.shape[0])
    index = resolve_roi(roi, labels, atlas_for(brain_models))
    responses = np.ascontiguousarray(data[:, index][order], dtype=np.float32)
    return responses, index
