"""ROIs of a volume demo: spheres at MNI coordinates inside the MNI152 2 mm brain mask.

:func:`mni152_2mm_mask` is the brain mask that nilearn computes from the MNI152 templates it
ships inside its package (``nilearn.datasets.load_mni152_brain_mask(resolution=2)``, no
download); :func:`sphere_labels` labels the mask's voxels within ``radius_mm`` of given
millimetre coordinates (any affine: voxel centres are mapped to millimetres first), and
:func:`write_lut` writes the FreeSurfer-style lookup table that
:mod:`dnnmap.brain.roi_files` reads (``index name R G B A`` per line).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import nibabel as nib
import numpy as np

from dnnmap.errors import InputError
from dnnmap.store import atomic_path

_COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180)]


def mni152_2mm_mask() -> nib.Nifti1Image:
    """nilearn's MNI152 brain mask on its 2 mm grid (uint8, 1 inside the brain).

    Built by nilearn from the template it ships in its package data; nothing is downloaded.
    """
    from nilearn.datasets import load_mni152_brain_mask

    img = load_mni152_brain_mask(resolution=2)
    data = (np.asarray(img.dataobj) > 0).astype(np.uint8)
    return nib.Nifti1Image(data, img.affine)


def sphere_labels(
    mask: nib.Nifti1Image, spheres: Mapping[str, Sequence[Sequence[float]]], radius_mm: float
) -> tuple[nib.Nifti1Image, list[str]]:
    """A label volume: label ``k + 1`` on the mask voxels within ``radius_mm`` of any centre
    of the ``k``-th ROI of ``spheres``.

    Parameters
    ----------
    mask : nibabel.Nifti1Image, 3-D
        Non-zero voxels may be labelled.
    spheres : mapping of str to sequence of (x, y, z)
        ROI name to its centres in millimetres (the mask's world space, e.g. MNI); an ROI of
        two centres is e.g. a region in both hemispheres.
    radius_mm : float
        Inclusive radius of every sphere.

    Returns
    -------
    labels : nibabel.Nifti1Image of int16, the mask's shape and affine
        0 outside every sphere.
    names : list of str
        ``names[k]`` is label ``k + 1``.

    Raises
    ------
    InputError
        If two ROIs share a voxel or an ROI has no mask voxel.
    """
    if not radius_mm > 0:
        raise InputError(f"radius_mm is {radius_mm!r}; expected a number > 0")
    inside = np.asarray(mask.dataobj) != 0
    ijk = np.argwhere(inside)
    xyz = nib.affines.apply_affine(mask.affine, ijk)
    labels = np.zeros(inside.shape, dtype=np.int16)
    names = list(spheres)
    for k, name in enumerate(names):
        centres = np.asarray(spheres[name], dtype=float).reshape(-1, 3)
        d2 = ((xyz[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        hit = ijk[(d2 <= radius_mm**2).any(axis=1)]
        if len(hit) == 0:
            raise InputError(f"ROI {name!r}: no mask voxel within {radius_mm} mm of {centres}")
        taken = labels[tuple(hit.T)]
        if (taken > 0).any():
            other = names[int(taken[taken > 0][0]) - 1]
            raise InputError(f"ROIs {other!r} and {name!r} overlap; expected separate spheres")
        labels[tuple(hit.T)] = k + 1
    return nib.Nifti1Image(labels, mask.affine), names


def write_lut(path: str | os.PathLike, names: Sequence[str]) -> None:
    """Write a lookup table ``index name R G B A`` (label ``k + 1`` is ``names[k]``)."""
    rows = []
    for k, name in enumerate(names):
        if not name or any(c.isspace() for c in name):
            raise InputError(f"ROI name {name!r}: expected a name without spaces")
        r, g, b = _COLOURS[k % len(_COLOURS)]
        rows.append(f"{k + 1} {name} {r} {g} {b} 0\n")
    with atomic_path(path) as tmp:
        tmp.write_text("".join(rows))
