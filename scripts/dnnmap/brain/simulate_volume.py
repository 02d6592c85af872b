"""A simulated brain in a volume: the demo's ground truth on a NIfTI grid instead of fsLR-32k.

A subject ``{responses: simulate, mask: <3-D NIfTI>, roi_files: [<label volume + lookup
table>]}`` is simulated on the voxels of ``mask`` (columns in C order of their indices, as
every NIfTI space of :mod:`dnnmap.brain.spaces`). The simulation's regions
(``simulation.regions.<region>.labels``) and the analysed ROIs (``brain.rois``) are labels of
the subject's ``roi_files`` on that grid, resolved by :func:`dnnmap.brain.subjects.roi_index`.
The read-out, nonlinearity, session effects and noise are those of
:func:`dnnmap.brain.simulate.simulate_columns`; the noise is smoothed over the mask's voxels
(``noise_smoothing`` passes of face-neighbour averaging,
:func:`dnnmap.brain.volume_noise.volume_smoother`). The responses are written as a 4-D NIfTI
(one volume per stimulus, names in its comment extension) with an ids sidecar (one stim_id
per line) that the pipeline then reads as it reads a lab's NIfTI betas.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dnnmap.brain.responses_io import Volume, load_nifti, write_volume_maps
from dnnmap.brain.roi_files import label_columns, resolve_labels
from dnnmap.brain.simulate import simulate_columns
from dnnmap.brain.spaces import BrainSpace
from dnnmap.brain.subjects import RoiSizes
from dnnmap.brain.volume_noise import volume_smoother
from dnnmap.errors import InputError
from dnnmap.store import atomic_path


def mask_space(mask: str | os.PathLike, where: str = "") -> BrainSpace:
    """The NIfTI space of a 3-D mask's non-zero voxels (C order of their indices).

    Raises
    ------
    InputError
        If the file is missing, unreadable, not 3-D, or empty.
    """
    at = f"{where}: " if where else ""
    if not Path(mask).is_file():
        raise InputError(f"{at}mask {mask} does not exist; expected a 3-D NIfTI mask")
    try:
        img = load_nifti(mask, "3-D mask")
    except InputError as err:
        raise InputError(f"{at}{err}") from None
    if len(img.shape) != 3:
        raise InputError(f"{at}{mask}: mask has shape {img.shape}; expected 3-D (x, y, z)")
    ijk = np.argwhere(np.asarray(img.dataobj) != 0).astype(np.int64)
    if len(ijk) == 0:
        raise InputError(f"{at}{mask}: mask is empty; expected voxels with data")
    volume = Volume(ijk, np.asarray(img.affine, dtype=np.float64), tuple(img.shape))
    return BrainSpace("nifti", volume=volume)


class VolumeSubject:
    """A subject simulated in a volume: its space and the columns of its labels.

    Parameters
    ----------
    entry : mapping
        ``brain.subjects.<subject>``: ``responses: simulate``, ``mask``, ``roi_files``.
    where : str
        Config key of the subject, for messages.
    base : path
        Folder relative paths are resolved against.
    """

    def __init__(self, entry: Mapping, where: str, base: str | os.PathLike = "."):
        extra = sorted(set(entry) - {"responses", "mask", "roi_files"})
        if extra:
            raise InputError(
                f"{where}: {extra} given for a subject simulated in a volume; expected only "
                "responses: simulate, mask and roi_files"
            )
        if not entry.get("roi_files"):
            raise InputError(
                f"{where}: a subject simulated in a volume (responses: simulate with a mask) "
                "needs roi_files: label volumes on the mask's grid naming the regions"
            )
        self.where = where
        self.space = mask_space(Path(base, entry["mask"]), f"{where}.mask")
        self.named = label_columns(list(entry["roi_files"]), self.space, where, base)

    def columns(self, name: str, labels: Sequence[str] | str) -> np.ndarray:
        """Sorted columns (mask voxels) of the labels of region or ROI ``name``."""
        labels = [labels] if isinstance(labels, str) else list(labels)
        return resolve_labels(name, labels, self.named, self.space)

    def roi_sizes(self, rois: Mapping[str, Sequence[str]]) -> RoiSizes:
        """``{roi: columns}`` of ``brain.rois`` in this subject's labels, checked; its
        ``columns`` give the subject's whole grid (what its NIfTI files hold per stimulus)."""
        sizes = RoiSizes()
        for roi, labels in rois.items():
            try:
                sizes[roi] = int(self.columns(roi, labels).size)
            except InputError as err:
                raise InputError(f"{self.where}.roi_files: {err}") from None
        # the jobs that read or write the whole data hold the full grid (the NIfTI image)
        sizes.columns[self.where] = int(np.prod(self.space.volume.shape))
        return sizes

    def check_regions(self, regions: Mapping[str, Mapping], source: str = "simulation") -> None:
        """Every simulation region's labels resolve in this subject's ROI files."""
        for region, spec in regions.items():
            try:
                self.columns(region, spec["labels"])
            except InputError as err:
                raise InputError(
                    f"{source}.regions.{region}.labels: {err} (in {self.where}.roi_files)"
                ) from None

    def simulate(
        self, projections: Mapping[str, np.ndarray], regions: Mapping[str, Mapping], **settings
    ) -> tuple[np.ndarray, pd.DataFrame, np.ndarray | None]:
        """Simulate the responses on the mask's voxels.

        Parameters
        ----------
        projections : mapping of str to ndarray, each of shape (n_stim, k)
            As in :func:`dnnmap.brain.simulate.simulate_columns`.
        regions : mapping
            ``simulation.regions`` (labels of this subject's ROI files).
        **settings
            ``snr``, ``seed``, ``n_repeats``, ``nonlinearity``, ``session_offset_sd``,
            ``session_gain_sd`` and ``noise_smoothing`` (passes over the voxel grid).

        Returns
        -------
        data : ndarray of float32, shape (n_stim, n_vox)
        truth : pandas.DataFrame
        repeats : ndarray of float32, shape (n_repeats, n_stim, n_vox), or None
        """
        settings = dict(settings)
        passes = settings.pop("noise_smoothing", 0)
        smoother = volume_smoother(self.space.volume.ijk, passes) if passes else None
        return simulate_columns(
            projections,
            regions,
            self.space.n_columns,
            self.columns,
            smoother=smoother,
            **settings,
        )


def write_simulated_volume(
    path: str | os.PathLike,
    ids_path: str | os.PathLike,
    data: np.ndarray,
    stim_ids: Sequence[str],
    space: BrainSpace,
) -> None:
    """Write simulated responses as a 4-D NIfTI and its ids sidecar (both atomically).

    Parameters
    ----------
    path : path
        ``.nii`` or ``.nii.gz``; one volume per stimulus, map names in the comment extension.
    ids_path : path
        Text file, one stim_id per line, in volume order.
    data : ndarray, shape (n_stim, n_vox)
    stim_ids : sequence of str, length n_stim
    space : BrainSpace
        The NIfTI space of the mask (:func:`mask_space`).
    """
    write_volume_maps(path, data, list(stim_ids), space.volume)
    with atomic_path(ids_path) as tmp:
        tmp.write_text("".join(f"{s}\n" for s in stim_ids))
