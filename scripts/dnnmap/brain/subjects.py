"""A subject's brain data as the config names it: responses, repeats, ROIs, and their checks.

``brain.subjects.<subject>`` gives ``responses`` (a CIFTI/NIfTI path or ``{left, right}``
GIFTI/MGH files), optionally ``mask`` (NIfTI), ``ids`` (map names of files without them),
``repeats`` (files in the same space and format) and ``roi_files`` (per-subject labels,
:mod:`dnnmap.brain.roi_files`). ROIs (``brain.rois``) are resolved in the subject's ROI
files when it has them, else in the HCP-MMP 1.0 atlas, which covers CIFTI data and surface
data on fsLR-32k. :func:`check_subject` runs every check of a job at start-up, from headers
where the format allows.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

import numpy as np

from dnnmap.brain.atlas import Atlas, atlas_for, mmp_atlas, resolve_roi
from dnnmap.brain.cifti import CORTEX_LEFT, CORTEX_RIGHT, FSLR32K_VERTICES
from dnnmap.brain.roi_files import label_columns, resolve_labels
from dnnmap.brain.spaces import (
    MAP_SUFFIXES,
    BrainSpace,
    SubjectData,
    check_stim_ids,
    read_data,
)
from dnnmap.errors import InputError

_STRUCTURES = {"left": CORTEX_LEFT, "right": CORTEX_RIGHT}


class RoiSizes(dict):
    """``{roi: number of columns}``, with ``columns``: ``{subject: columns of its data}``
    (what the jobs that read a subject's whole data are sized by)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns: dict[str, int] = {}


TIMESERIES = "timeseries"
"""The ``responses`` of a subject whose betas are estimated from its ``timeseries`` runs."""


def _responses(entry: Mapping):
    """The files that give a subject's space: its responses, or its first run's data."""
    if entry["responses"] == TIMESERIES:
        if not entry.get("timeseries"):
            raise InputError("responses: timeseries needs a timeseries section (tr, runs)")
        return entry["timeseries"]["runs"][0]["data"]
    return entry["responses"]


def subject_data(
    entry: Mapping,
    where: str,
    base: str | os.PathLike = ".",
    repeat: int | None = None,
    betas: str | None = None,
) -> SubjectData:
    """The :class:`SubjectData` of a subject's responses (or of its repeat ``repeat``); for
    a time-series subject its first run (the space) with ``betas``, the estimated betas."""
    if entry["responses"] == TIMESERIES:
        data = SubjectData.from_config(
            _responses(entry), entry.get("mask"), None, f"{where}.timeseries.runs.0.data", base
        )
        return dataclasses.replace(data, betas=betas)
    if repeat is None:
        return SubjectData.from_config(
            entry["responses"], entry.get("mask"), entry.get("ids"), f"{where}.responses", base
        )
    return SubjectData.from_config(
        entry["repeats"][repeat],
        entry.get("mask"),
        entry.get("ids"),
        f"{where}.repeats.{repeat}",
        base,
    )


def surface_atlas(space: BrainSpace, atlas: Atlas | None = None) -> Atlas:
    """The HCP-MMP 1.0 atlas on the columns of surface data on fsLR-32k (every vertex)."""
    atlas = mmp_atlas() if atlas is None else atlas
    if space.n_vertices != FSLR32K_VERTICES:
        raise InputError(
            f"the HCP-MMP 1.0 atlas is on fsLR-32k; the data is on {space.mesh}: give the "
            "subject's roi_files"
        )
    label_of = np.zeros(space.n_columns, dtype=np.int64)
    source = {str(n): (slc, sub) for n, slc, sub in atlas.brain_models.iter_structures()}
    for hemi in space.hemis:
        slc, sub = source[_STRUCTURES[hemi]]
        cols = space.hemi_columns(hemi)
        label_of[cols.start + sub.vertex] = atlas.label_of[slc]
    label_of.setflags(write=False)
    return Atlas(list(atlas.labels), label_of, None, atlas.name)


def roi_index(
    space: BrainSpace,
    roi: str,
    labels: Sequence[str],
    roi_files: Sequence | None = None,
    where: str = "brain",
    base: str | os.PathLike = ".",
) -> np.ndarray:
    """Columns of ``space`` in ROI ``roi`` (labels from ``roi_files`` or the atlas).

    Returns
    -------
    ndarray of int64, shape (n_vox,)
        Sorted column indices.
    """
    if roi_files:
        named = label_columns(list(roi_files), space, where, base)
        return resolve_labels(roi, labels, named, space)
    if space.format == "cifti":
        return resolve_roi(roi, labels, atlas_for(space.brain_models))
    if space.format in ("gifti", "mgh"):
        return resolve_roi(roi, labels, surface_atlas(space))
    raise InputError(
        f"{where}: ROI {roi!r}: the HCP-MMP 1.0 atlas covers CIFTI and fsLR-32k surface data; "
        f"for the {space.describe()} give the subject's roi_files"
    )


def subject_roi_responses(
    data: SubjectData,
    stim_ids: Sequence[str],
    roi: str,
    labels: Sequence[str],
    roi_files: Sequence | None = None,
    table: str = "the stimulus table",
    where: str = "brain",
    base: str | os.PathLike = ".",
) -> tuple[np.ndarray, np.ndarray, BrainSpace]:
    """Responses of an ROI's columns to every stimulus, in table order.

    Returns
    -------
    responses : ndarray of float32, shape (n_stim, n_vox)
    index : ndarray of int64, shape (n_vox,)
        Columns of the subject's space (grayordinate, masked voxel or vertex).
    space : BrainSpace
    """
    values, space = read_data(data, stim_ids, table)
    index = roi_index(space, roi, labels, roi_files, where, base)
    return np.ascontiguousarray(values[:, index]), index, space


def check_subject(
    entry: Mapping,
    rois: Mapping[str, Sequence[str]],
    stim_ids: Sequence[str],
    where: str,
    base: str | os.PathLike = ".",
    table: str = "the stimulus table",
) -> dict[str, int]:
    """Start-up checks of one subject: every file's maps cover the stimuli, repeats are in
    the responses' space, every ROI resolves. Returns ``{roi: number of columns}`` (a
    :class:`RoiSizes`, whose ``columns[where]`` is the number of columns of the data).

    Raises
    ------
    InputError
        Naming the config key and file: see :func:`dnnmap.brain.spaces.read_data_header`,
        :func:`dnnmap.brain.roi_files.label_columns` and :func:`roi_index`.
    """
    if entry.get("timeseries") and entry["responses"] != TIMESERIES:
        raise InputError(f"{where}.timeseries: given, but responses is not 'timeseries'")
    if entry["responses"] == TIMESERIES:
        from dnnmap.brain.timeseries import check_runs

        if not entry.get("timeseries"):
            raise InputError(f"{where}: responses: timeseries needs a timeseries section")
        if entry.get("repeats"):
            raise InputError(f"{where}.repeats: not supported with responses: timeseries")
        data = subject_data(entry, where, base)
        space = check_runs(entry, stim_ids, where, base)
    else:
        data = subject_data(entry, where, base)
        space = check_stim_ids(data, stim_ids, table)
    for i in range(len(entry.get("repeats") or [])):
        rep = subject_data(entry, where, base, repeat=i)
        other = check_stim_ids(rep, stim_ids, table)
        reason = space.mismatch(other)
        if reason:
            raise InputError(f"{rep.where}: {reason}; expected the responses' space")
    roi_files = entry.get("roi_files")
    named = label_columns(roi_files, space, where, base) if roi_files else None
    sizes = {}
    files = " + ".join(data.files.values())
    for roi, labels in rois.items():
        try:
            if named is not None:
                index = resolve_labels(roi, labels, named, space)
            else:
                index = roi_index(space, roi, labels, None, where, base)
        except InputError as err:
            key = f"{where}.roi_files" if named is not None else f"{data.where}: {files}"
            raise InputError(f"{key}: {err}") from None
        sizes[roi] = int(index.size)
    out = RoiSizes(sizes)
    # a NIfTI file is read whole (every voxel of its grid) before the mask picks columns
    volume = space.volume
    out.columns[where] = int(np.prod(volume.shape)) if volume is not None else space.n_columns
    return out


def uses_atlas(entry: Mapping, simulate: str = "simulate") -> bool:
    """True when a subject's ROIs come from the HCP-MMP 1.0 atlas (no roi_files; a
    simulated subject unless it is simulated in a volume, :func:`simulates_volume`)."""
    if simulates_volume(entry, simulate):
        return False
    return entry["responses"] == simulate or not entry.get("roi_files")


def simulates_volume(entry: Mapping, simulate: str = "simulate") -> bool:
    """True for a subject simulated in a volume: ``responses: simulate`` with a ``mask``
    (the simulated NIfTI's grid and voxels) and ``roi_files`` (label volumes on that grid,
    naming the simulation's regions and ``brain.rois``); see
    :mod:`dnnmap.brain.simulate_volume`."""
    return entry["responses"] == simulate and bool(entry.get("mask"))


def subject_map_suffixes(entry: Mapping, simulate: str = "simulate") -> list[str]:
    """File name endings of a subject's map files, from its config entry (no file read):
    ``.dscalar.nii`` (CIFTI, and simulated data), ``.nii.gz`` (NIfTI), ``.L.func.gii`` /
    ``.R.func.gii`` (GIFTI) or ``.lh.mgz`` / ``.rh.mgz`` (MGH), one per hemisphere given."""
    if simulates_volume(entry, simulate):
        return [MAP_SUFFIXES["nifti"][None]]
    if entry["responses"] == simulate:
        return [MAP_SUFFIXES["cifti"][None]]
    data = SubjectData.from_config(_responses(entry), entry.get("mask"), entry.get("ids"))
    kind = data.format()
    return [MAP_SUFFIXES[kind][hemi] for hemi in data.files]


def subject_space(
    entry: Mapping, simulated: str, simulate: str = "simulate", simulated_ids: str | None = None
) -> dict:
    """The :func:`dnnmap.brain.spaces.space_of` mapping of a subject (``responses``, ``mask``,
    ``ids``); ``simulated`` is the simulated responses file of a simulated subject, and
    ``simulated_ids`` the ids sidecar of a subject simulated in a volume."""
    if simulates_volume(entry, simulate):
        ids = {"ids": simulated_ids} if simulated_ids else {}
        return {"responses": simulated, "mask": entry["mask"], **ids}
    if entry["responses"] == simulate:
        return {"responses": simulated}
    if entry["responses"] == TIMESERIES:
        return {
            "responses": _responses(entry),
            **({"mask": entry["mask"]} if entry.get("mask") else {}),
        }
    return {k: entry[k] for k in ("responses", "mask", "ids") if entry.get(k) is not None}


__all__ = [
    "check_subject",
    "roi_index",
    "simulates_volume",
    "subject_data",
    "subject_map_suffixes",
    "subject_roi_responses",
    "subject_space",
    "surface_atlas",
    "uses_atlas",
]
