"""Per-hemisphere surface data: GIFTI (``.func.gii``) and FreeSurfer MGH/MGZ, read and written.

A surface file holds one hemisphere's values on every vertex of a mesh. GIFTI stores one data
array per map (or one 2-D array of shape (n_vertices, n_maps)), optionally named by its
``Name`` metadata (Connectome Workbench's map names); MGH/MGZ stores frames in an array of
shape (n_vertices, 1, 1, n_frames) and carries no names: the names of the MGH maps dnnmap
writes go to a sidecar ``<stem>.names.tsv`` beside each file (:func:`write_mgh_names`).
:func:`mesh_of` names the standard mesh a vertex count belongs to, so data on two hemispheres
of different meshes, or on no known mesh, is refused on the way in and on the way out.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from dnnmap.errors import InputError
from dnnmap.store import atomic_path

MESHES = {
    "fsLR-32k": 32492,
    "fsLR-59k": 59292,
    "fsLR-164k": 163842,
    "fsaverage": 163842,
    "fsaverage6": 40962,
    "fsaverage5": 10242,
    "fsaverage4": 2562,
}
"""Vertices per hemisphere of the standard meshes (fsLR-164k and fsaverage share a count;
:func:`mesh_of` calls it fsaverage)."""

GIFTI_SUFFIXES = (".func.gii", ".shape.gii", ".gii")
MGH_SUFFIXES = (".mgz", ".mgh")
_STRUCTURE = {"left": "CortexLeft", "right": "CortexRight"}


def mesh_of(n_vertices: int, where: str) -> str:
    """Name of the standard mesh with ``n_vertices`` vertices per hemisphere.

    Raises
    ------
    InputError
        If the count fits no known mesh (the known ones are listed).
    """
    for name, count in MESHES.items():
        if count == n_vertices and name != "fsLR-164k":
            return name
    known = ", ".join(f"{name} {count}" for name, count in MESHES.items() if name != "fsLR-164k")
    raise InputError(
        f"{where}: {n_vertices} vertices fit no known surface mesh; expected one hemisphere "
        f"of {known}"
    )


def surface_format(path: str | os.PathLike) -> str | None:
    """'gifti' or 'mgh' by file name (``None`` for other files)."""
    name = Path(path).name.lower()
    if name.endswith(GIFTI_SUFFIXES):
        return "gifti"
    if name.endswith(MGH_SUFFIXES):
        return "mgh"
    return None


def _load(path: str | os.PathLike, what: str):
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected {what}")
    try:
        return nib.load(path)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not readable ({reason}); expected {what}") from err


def read_gifti(path: str | os.PathLike) -> tuple[np.ndarray, list[str] | None, str | None]:
    """Read a GIFTI data file of one hemisphere.

    Returns
    -------
    data : ndarray of float32, shape (n_maps, n_vertices)
    names : list of str or None
        The data arrays' ``Name`` metadata when every array has a distinct one, else None.
    hemi : str or None
        'left' or 'right' from the ``AnatomicalStructurePrimary`` metadata, if present.
    """
    img = _load(path, "a GIFTI file with one data array per map")
    if not isinstance(img, nib.gifti.GiftiImage) or not img.darrays:
        raise InputError(f"{path}: holds no GIFTI data arrays; expected one data array per map")
    arrays = [np.asarray(d.data) for d in img.darrays]
    if len(arrays) == 1 and arrays[0].ndim == 2:
        data = arrays[0].T
    else:
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1 or arrays[0].ndim != 1:
            raise InputError(
                f"{path}: data arrays have shapes {sorted(shapes)}; expected one 1-D array "
                "(one value per vertex) per map"
            )
        data = np.stack(arrays)
    names = [d.meta.get("Name") for d in img.darrays]
    if len(img.darrays) != data.shape[0] or not all(names) or len(set(names)) != len(names):
        names = None
    return np.asarray(data, dtype=np.float32), names, gifti_hemi(img)


def gifti_hemi(img) -> str | None:
    metas = [img.meta] + [d.meta for d in img.darrays]
    for meta in metas:
        structure = str(meta.get("AnatomicalStructurePrimary", "")).lower()
        if "left" in structure:
            return "left"
        if "right" in structure:
            return "right"
    return None


def read_mgh(path: str | os.PathLike) -> np.ndarray:
    """Read FreeSurfer MGH/MGZ surface data of one hemisphere.

    Returns
    -------
    ndarray of float32, shape (n_frames, n_vertices)
    """
    img = _mgh_surface(path)
    data = np.asarray(img.dataobj, dtype=np.float32).reshape(img.shape[0], -1)
    return data.T.copy()


def _mgh_surface(path: str | os.PathLike) -> nib.MGHImage:
    """An MGH/MGZ file, checked to hold surface data ``(n_vertices, 1, 1[, n_frames])``."""
    img = _load(path, "FreeSurfer MGH/MGZ surface data")
    if not isinstance(img, nib.MGHImage):
        raise InputError(f"{path}: is a {type(img).__name__}; expected FreeSurfer MGH/MGZ data")
    shape = img.shape
    if len(shape) < 3 or shape[1] != 1 or shape[2] != 1:
        raise InputError(
            f"{path}: MGH data has shape {shape}; expected surface data (n_vertices, 1, 1[, "
            "n_frames]), not a volume"
        )
    return img


def surface_shape(path: str | os.PathLike) -> tuple[int, int, list[str] | None, str | None]:
    """(n_maps, n_vertices, names, hemi) of a GIFTI or MGH file (MGH: from the header only)."""
    if surface_format(path) == "mgh":
        shape = _mgh_surface(path).shape
        return (int(shape[3]) if len(shape) > 3 else 1), int(shape[0]), None, None
    data, names, hemi = read_gifti(path)
    return data.shape[0], data.shape[1], names, hemi


def write_gifti(path: str | os.PathLike, maps: np.ndarray, names: Sequence[str], hemi: str) -> None:
    """Write one hemisphere's maps as a GIFTI ``.func.gii``, one named data array per map.

    Parameters
    ----------
    path : path
        Target file (written atomically).
    maps : ndarray, shape (n_maps, n_vertices)
    names : sequence of str, length n_maps
        Stored as each array's ``Name`` metadata (Workbench's map names).
    hemi : {'left', 'right'}
        Stored as ``AnatomicalStructurePrimary`` (CortexLeft/CortexRight).
    """
    maps = np.asarray(maps, dtype=np.float32)
    names = [str(n) for n in names]
    if maps.ndim != 2 or maps.shape[0] != len(names):
        raise InputError(
            f"{path}: maps have shape {maps.shape}; expected ({len(names)}, n_vertices)"
        )
    meta = nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": _STRUCTURE[hemi]})
    img = nib.gifti.GiftiImage(meta=meta)
    for row, name in zip(maps, names, strict=True):
        img.add_gifti_data_array(
            nib.gifti.GiftiDataArray(
                np.ascontiguousarray(row),
                intent="NIFTI_INTENT_NONE",
                datatype="NIFTI_TYPE_FLOAT32",
                meta=nib.gifti.GiftiMetaData({"Name": name}),
            )
        )
    payload = img.to_bytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def mgh_names_path(path: str | os.PathLike) -> Path:
    """The map-names sidecar of an MGH/MGZ map file: ``x.lh.mgz`` -> ``x.lh.names.tsv``."""
    path = Path(path)
    name = path.name
    for suffix in MGH_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".names.tsv")


def write_mgh_names(path: str | os.PathLike, names: Sequence[str]) -> Path:
    """Write the map names of an MGH/MGZ file beside it (:func:`mgh_names_path`), atomically.

    The sidecar is a TSV with columns ``frame`` (0-based frame index) and ``name``, one row
    per frame, because MGH has no field for map names.
    """
    names = [str(n) for n in names]
    if any("\t" in n or "\n" in n for n in names):
        raise InputError(f"{path}: a map name holds a tab or newline; expected plain names")
    rows = "".join(f"{k}\t{name}\n" for k, name in enumerate(names))
    target = mgh_names_path(path)
    with atomic_path(target) as tmp:
        tmp.write_text("frame\tname\n" + rows)
    return target


def read_mgh_names(path: str | os.PathLike, n_frames: int | None = None) -> list[str] | None:
    """The map names of an MGH/MGZ file from its sidecar (None when there is none).

    Raises
    ------
    InputError
        If the sidecar is malformed or names another number of maps than ``n_frames``.
    """
    sidecar = mgh_names_path(path)
    if not sidecar.is_file():
        return None
    lines = sidecar.read_text().splitlines()
    if not lines or lines[0].split("\t") != ["frame", "name"]:
        raise InputError(f"{sidecar}: header {lines[:1]}; expected 'frame<TAB>name'")
    names = []
    for row, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 2 or parts[0] != str(row - 2):
            raise InputError(
                f"{sidecar}: row {row} is {line!r}; expected '{row - 2}<TAB><map name>'"
            )
        names.append(parts[1])
    if n_frames is not None and len(names) != n_frames:
        raise InputError(
            f"{sidecar}: names {len(names)} maps but {path} has {n_frames} frames; "
            "expected one name per frame"
        )
    return names


def write_mgh(
    path: str | os.PathLike, maps: np.ndarray, names: Sequence[str] | None = None
) -> None:
    """Write one hemisphere's maps as FreeSurfer MGH (``.mgh``) or gzipped MGZ (``.mgz``).

    Parameters
    ----------
    path : path
    maps : ndarray, shape (n_maps, n_vertices)
        Frame ``i`` is map ``i``.
    names : sequence of str, length n_maps, optional
        Map names; MGH has no field for them, so they go to a sidecar TSV beside the file
        (:func:`write_mgh_names`), written before the MGH file.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 2:
        raise InputError(f"{path}: maps have shape {maps.shape}; expected (n_maps, n_vertices)")
    if names is not None:
        if len(names) != maps.shape[0]:
            raise InputError(
                f"{path}: {len(names)} names for {maps.shape[0]} maps; expected one per map"
            )
        write_mgh_names(path, names)
    img = nib.MGHImage(maps.T.reshape(maps.shape[1], 1, 1, maps.shape[0]), np.eye(4))
    payload = img.to_bytes()
    if str(path).lower().endswith(".mgz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
