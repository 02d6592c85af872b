"""Brain responses with their geometry, read from CIFTI-2 or NIfTI, and maps written back.

A subject's responses come as a CIFTI-2 dscalar (one map per stimulus, named by stim_id) or
dtseries (maps in table order) on grayordinates, or as a 4-D NIfTI (one volume per stimulus,
in table order) inside a mask. :func:`read_responses` returns them as one
``(n_stim, n_columns)`` array with the geometry of the columns (:class:`Responses`: the brain
model axis, or the voxels as a :class:`Volume`); :func:`neighborhoods_for` gives the
neighborhoods of those columns (:mod:`dnnmap.brain.neighborhoods`); :func:`write_maps` writes
``(n_maps, n_columns)`` maps back in the input's format (CIFTI dscalar, or NIfTI with the map
names in a comment extension).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.cifti import quiet_nibabel, read_brain_models, read_dscalar, write_dscalar
from dnnmap.brain.neighborhoods import Neighborhoods, cifti_neighborhoods, volume_neighborhoods
from dnnmap.brain.roi import align_maps
from dnnmap.errors import InputError
from dnnmap.store import atomic_path

CIFTI_SUFFIXES = (".dscalar.nii", ".dtseries.nii")
"""File name endings of CIFTI-2 responses."""
NIFTI_SUFFIXES = (".nii", ".nii.gz")
"""File name endings of NIfTI responses and volume maps."""


class Volume(NamedTuple):
    """Voxel geometry of volume data: which voxel each column is."""

    ijk: np.ndarray
    """(n_vox, 3) int64 voxel indices of the columns."""
    affine: np.ndarray
    """(4, 4) voxel-to-millimetre affine."""
    shape: tuple[int, int, int]
    """Shape of the 3-D image."""


class Responses(NamedTuple):
    """Brain responses and the geometry of their columns."""

    data: np.ndarray
    """(n_stim, n_columns) float32 in stimulus-table order."""
    brain_models: BrainModelAxis | None
    """Grayordinates of the columns (CIFTI input), else ``None``."""
    volume: Volume | None
    """Voxels of the columns (NIfTI input), else ``None``."""


def is_cifti(path: str | os.PathLike) -> bool:
    """True for ``.dscalar.nii``/``.dtseries.nii``, False for other ``.nii``/``.nii.gz``."""
    name = Path(path).name
    if name.endswith(CIFTI_SUFFIXES):
        return True
    if name.endswith(NIFTI_SUFFIXES):
        return False
    raise InputError(
        f"{path}: unknown brain file type; expected a CIFTI-2 .dscalar.nii/.dtseries.nii or "
        "a NIfTI .nii/.nii.gz"
    )


def load_nifti(path: str | os.PathLike, what: str):
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected a NIfTI {what}")
    try:
        with quiet_nibabel():
            img = nib.load(path)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not readable as NIfTI ({reason}); expected a {what}") from err
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(f"{path}: is a {type(img).__name__}; expected a NIfTI {what}")
    return img


def read_volume(
    path: str | os.PathLike, mask: str | os.PathLike | None = None
) -> tuple[np.ndarray, Volume]:
    """Read a 4-D NIfTI image (one volume per stimulus) inside a mask.

    Parameters
    ----------
    path : path
        NIfTI image of shape (X, Y, Z, n_stim).
    mask : path, optional
        3-D NIfTI on the same grid; non-zero voxels are kept. By default the voxels whose
        values are finite for every stimulus and not all zero.

    Returns
    -------
    data : ndarray of float32, shape (n_stim, n_vox)
        Columns in C order of the voxel indices.
    volume : Volume
    """
    img = load_nifti(path, "4-D image (one volume per stimulus)")
    if len(img.shape) != 4:
        raise InputError(f"{path}: image has shape {img.shape}; expected 4-D (x, y, z, stimulus)")
    values = np.asarray(img.dataobj, dtype=np.float32)
    if mask is None:
        keep = np.isfinite(values).all(axis=3) & (values != 0).any(axis=3)
    else:
        mask_img = load_nifti(mask, "3-D mask")
        if mask_img.shape[:3] != img.shape[:3] or len(mask_img.shape) != 3:
            raise InputError(
                f"{mask}: mask has shape {mask_img.shape}; expected {img.shape[:3]} like {path}"
            )
        if not np.allclose(mask_img.affine, img.affine, atol=1e-4):
            raise InputError(f"{mask}: affine differs from {path}'s; expected the same grid")
        keep = np.asarray(mask_img.dataobj) != 0
    ijk = np.argwhere(keep).astype(np.int64)
    if len(ijk) == 0 and mask is None:
        raise InputError(
            f"{path}: no voxel has finite, non-zero data; expected data (or give a mask)"
        )
    if len(ijk) == 0:
        raise InputError(f"{mask}: mask is empty; expected voxels with data")
    data = values[keep].T.copy()
    return data, Volume(ijk, np.asarray(img.affine, dtype=np.float64), tuple(img.shape[:3]))


def read_responses(
    path: str | os.PathLike,
    stim_ids: Sequence[str],
    table: str = "the stimulus table",
    mask: str | os.PathLike | None = None,
) -> Responses:
    """Read a subject's responses, rows in stimulus-table order, with their geometry.

    Parameters
    ----------
    path : path
        CIFTI-2 dscalar (maps named by stim_id) or dtseries (maps in table order), or a 4-D
        NIfTI (volumes in table order) with an optional ``mask``.
    stim_ids : sequence of str, length n_stim
    table : str
        Stimulus table name, for messages.
    mask : path, optional
        NIfTI mask (volume input only).

    Returns
    -------
    Responses
    """
    n_stim = len(stim_ids)
    if is_cifti(path):
        if mask is not None:
            raise InputError(f"mask {mask} given for CIFTI file {path}; masks apply to NIfTI only")
        data, names, brain_models = read_dscalar(path)
        order = align_maps(names, stim_ids, path, table, n_maps=data.shape[0])
        return Responses(np.ascontiguousarray(data[order]), brain_models, None)
    data, volume = read_volume(path, mask)
    if data.shape[0] != n_stim:
        raise InputError(
            f"{path} has {data.shape[0]} volumes but {table} has {n_stim} stimuli; "
            "expected one volume per stimulus, in table order"
        )
    return Responses(data, None, volume)


def read_geometry(
    path: str | os.PathLike, mask: str | os.PathLike | None = None
) -> BrainModelAxis | Volume:
    """The geometry of a responses file: its brain models (header only) or its voxels."""
    if is_cifti(path):
        return read_brain_models(path)
    return read_volume(path, mask)[1]


def neighborhoods_for(
    responses: Responses,
    radius_mm: float,
    centers: np.ndarray | None = None,
    surfaces: Mapping | None = None,
    diagonals: bool = False,
) -> Neighborhoods:
    """Neighborhoods of the columns of :class:`Responses` (CIFTI grayordinates or voxels).

    Parameters
    ----------
    responses : Responses
    radius_mm : float
    centers : ndarray of int, shape (n_centers,), optional
        Columns to center on; all by default.
    surfaces, diagonals
        As in :func:`dnnmap.brain.neighborhoods.cifti_neighborhoods` (CIFTI input only).

    Returns
    -------
    Neighborhoods
    """
    if responses.brain_models is not None:
        return cifti_neighborhoods(
            responses.brain_models, radius_mm, centers, surfaces=surfaces, diagonals=diagonals
        )
    volume = responses.volume
    return volume_neighborhoods(volume.ijk, volume.affine, radius_mm, centers)


def write_volume_maps(
    path: str | os.PathLike, maps: np.ndarray, names: Sequence[str], volume: Volume
) -> None:
    """Write maps as a 4-D NIfTI image (one volume per map), atomically.

    The map names are stored as JSON (``{"names": [...]}``) in a NIfTI comment extension;
    voxels outside ``volume.ijk`` are 0.

    Parameters
    ----------
    path : path
        ``.nii`` or ``.nii.gz`` (gzip-compressed) file.
    maps : ndarray, shape (n_maps, n_vox)
    names : sequence of str, length n_maps
    volume : Volume
    """
    path = Path(path)
    if not path.name.endswith(NIFTI_SUFFIXES) or path.name.endswith(CIFTI_SUFFIXES):
        raise InputError(f"{path}: a volume map file name must end with .nii or .nii.gz")
    maps = np.asarray(maps, dtype=np.float32)
    names = [str(n) for n in names]
    if maps.ndim != 2 or maps.shape != (len(names), len(volume.ijk)):
        raise InputError(
            f"{path}: maps have shape {maps.shape}; expected ({len(names)}, {len(volume.ijk)})"
        )
    image = np.zeros((*volume.shape, len(names)), dtype=np.float32)
    i, j, k = volume.ijk.T
    image[i, j, k, :] = maps.T
    img = nib.Nifti1Image(image, volume.affine)
    img.header.extensions.append(
        nib.nifti1.Nifti1Extension("comment", json.dumps({"names": names}).encode())
    )
    payload = img.to_bytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def read_volume_map_names(path: str | os.PathLike) -> list[str]:
    """The map names of a file written by :func:`write_volume_maps`."""
    img = load_nifti(path, "map file")
    for ext in img.header.extensions:
        if ext.get_code() == 6:
            try:
                return list(json.loads(ext.get_content())["names"])
            except (ValueError, KeyError, TypeError):
                continue
    raise InputError(f"{path}: no map names; expected a file written by dnnmap")


def write_maps(
    path: str | os.PathLike,
    maps: np.ndarray,
    names: Sequence[str],
    geometry: BrainModelAxis | Volume,
) -> None:
    """Write maps (n_maps, n_columns) as a CIFTI dscalar or a NIfTI image, by geometry."""
    if isinstance(geometry, BrainModelAxis):
        if not Path(path).name.endswith(".dscalar.nii"):
            raise InputError(
                f"{path}: CIFTI responses give CIFTI maps; expected a .dscalar.nii output"
            )
        write_dscalar(path, maps, names, geometry)
    else:
        write_volume_maps(path, maps, names, geometry)
