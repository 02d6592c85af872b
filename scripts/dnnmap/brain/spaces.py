"""The space of a subject's brain data, the one seam between file formats and analyses.

Every analysis works on a ``(n_stim, n_columns)`` array; a :class:`BrainSpace` says what the
columns are and in which format the data came, so that every map is written back in the
input's own space and format, with the same geometry checks out as in:

=========  ================================================  ==============================
format     input                                             maps written
=========  ================================================  ==============================
cifti      ``.dscalar.nii`` / ``.dtseries.nii``              ``<name>.dscalar.nii``
nifti      4-D ``.nii``/``.nii.gz`` inside a 3-D mask        ``<name>.nii.gz`` (4-D)
gifti      ``.func.gii`` per hemisphere (left, right)        ``<name>.L.func.gii``, ``.R.``
mgh        FreeSurfer ``.mgh``/``.mgz`` per hemisphere       ``<name>.lh.mgz``, ``.rh.mgz``
=========  ================================================  ==============================

Columns are the CIFTI grayordinates, the mask's voxels (C order of their indices), or the
vertices of the left hemisphere followed by those of the right (every vertex of the mesh).

A subject's data is described as in the config (:class:`SubjectData`): ``responses`` (a
path, or ``{left: path, right: path}`` for a surface format), ``mask`` (NIfTI), ``ids`` (a
sidecar text file, one stim_id per line, or a TSV with a ``stim_id`` column, naming the
maps of a file whose maps carry no names).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.cifti import read_dscalar, read_header, write_dscalar
from dnnmap.brain.responses_io import (
    CIFTI_SUFFIXES,
    NIFTI_SUFFIXES,
    Volume,
    load_nifti,
    read_volume,
    write_volume_maps,
)
from dnnmap.brain.roi import align_maps
from dnnmap.brain.surface_io import (
    mesh_of,
    read_gifti,
    read_mgh,
    read_mgh_names,
    surface_format,
    surface_shape,
    write_gifti,
    write_mgh,
)
from dnnmap.errors import InputError

HEMIS = ("left", "right")
MAP_SUFFIXES = {
    "cifti": {None: ".dscalar.nii"},
    "nifti": {None: ".nii.gz"},
    "gifti": {"left": ".L.func.gii", "right": ".R.func.gii"},
    "mgh": {"left": ".lh.mgz", "right": ".rh.mgz"},
}
"""File name ending of a map file by input format and hemisphere."""


@dataclass(frozen=True, eq=False)
class BrainSpace:
    """What the columns of a subject's data are, and the format they came in.

    Attributes
    ----------
    format : {'cifti', 'nifti', 'gifti', 'mgh'}
    brain_models : BrainModelAxis or None
        Grayordinates of the columns (cifti).
    volume : Volume or None
        Voxels of the columns (nifti).
    mesh : str or None
        Standard mesh name of a surface format (e.g. 'fsaverage5').
    hemis : tuple of str
        Hemispheres of a surface format, in column order ('left' before 'right').
    n_vertices : int
        Vertices per hemisphere of a surface format.
    """

    format: str
    brain_models: BrainModelAxis | None = None
    volume: Volume | None = None
    mesh: str | None = None
    hemis: tuple[str, ...] = field(default_factory=tuple)
    n_vertices: int = 0

    @property
    def n_columns(self) -> int:
        """Number of columns of data in this space."""
        if self.format == "cifti":
            return len(self.brain_models)
        if self.format == "nifti":
            return len(self.volume.ijk)
        return self.n_vertices * len(self.hemis)

    def hemi_columns(self, hemi: str) -> slice:
        """The columns of one hemisphere of a surface space."""
        if hemi not in self.hemis:
            raise InputError(f"hemisphere {hemi!r} is not in this {self.describe()}")
        i = self.hemis.index(hemi)
        return slice(i * self.n_vertices, (i + 1) * self.n_vertices)

    def describe(self) -> str:
        """One phrase naming the space, for messages."""
        if self.format == "cifti":
            return f"CIFTI space of {len(self.brain_models)} grayordinates"
        if self.format == "nifti":
            v = self.volume
            return f"volume of shape {v.shape} with {len(v.ijk)} voxels in the mask"
        return (
            f"{self.mesh} surface ({'+'.join(self.hemis)}, {self.n_vertices} vertices each, "
            f"{self.format.upper()})"
        )

    def mismatch(self, other: BrainSpace) -> str | None:
        """Why ``other`` is not the same space (None when it is)."""
        if self.format != other.format:
            return f"{other.describe()} is not the {self.describe()}"
        if self.format == "cifti":
            same = self.brain_models == other.brain_models
        elif self.format == "nifti":
            a, b = self.volume, other.volume
            same = (
                a.shape == b.shape
                and np.allclose(a.affine, b.affine, atol=1e-4)
                and np.array_equal(a.ijk, b.ijk)
            )
        else:
            same = self.hemis == other.hemis and self.n_vertices == other.n_vertices
        return None if same else f"{other.describe()} differs from the {self.describe()}"

    def map_paths(self, stem: str | os.PathLike) -> list[str]:
        """The map files of ``stem`` in this space's format (one per hemisphere for
        surfaces), e.g. ``maps/encoding_r`` -> ``[maps/encoding_r.L.func.gii, ...R...]``."""
        suffixes = MAP_SUFFIXES[self.format]
        hemis = self.hemis or (None,)
        return [f"{stem}{suffixes[h]}" for h in hemis]


def map_suffixes(space: BrainSpace) -> list[str]:
    """File name endings of this space's map files (one per hemisphere for surfaces)."""
    return [MAP_SUFFIXES[space.format][h] for h in (space.hemis or (None,))]


# --- A subject's data as the config names it ------------------------------------------------


@dataclass(frozen=True)
class SubjectData:
    """A subject's responses files as the config names them.

    Attributes
    ----------
    files : dict
        ``{None: path}`` for a CIFTI or NIfTI file, ``{'left': path, 'right': path}`` (one or
        both) for GIFTI or MGH hemisphere files.
    mask : str or None
        3-D NIfTI mask of a NIfTI file.
    ids : str or None
        Sidecar naming the maps in file order (text, one stim_id per line, or TSV with a
        ``stim_id`` column).
    where : str
        Config key, for messages.
    betas : str or None
        HDF5 file of betas estimated from time series (``betas (n_stim, n_columns)``,
        ``stim_id``); ``files`` are then a run's data, read for the space only.
    """

    files: dict
    mask: str | None = None
    ids: str | None = None
    where: str = ""
    betas: str | None = None

    @property
    def at(self) -> str:
        """Message prefix naming the config key (empty without one)."""
        return f"{self.where}: " if self.where else ""

    @classmethod
    def from_config(
        cls,
        responses: str | Mapping,
        mask: str | None = None,
        ids: str | None = None,
        where: str = "",
        base: str | os.PathLike = ".",
    ) -> SubjectData:
        """Build from the config's ``responses`` (path or {left, right}), ``mask``, ``ids``."""

        def resolve(p):
            return None if p is None else str(Path(base, p))

        if isinstance(responses, Mapping):
            unknown = sorted(set(responses) - set(HEMIS))
            if unknown or not responses:
                raise InputError(
                    f"{where}: keys {sorted(responses)}; expected 'left' and/or 'right' "
                    "(one surface file per hemisphere)"
                )
            files = {h: resolve(responses[h]) for h in HEMIS if h in responses}
        else:
            files = {None: resolve(responses)}
        return cls(files, resolve(mask), resolve(ids), where)

    @property
    def paths(self) -> list[str]:
        """Every file this data reads (responses, mask, ids, betas)."""
        return [p for p in [*self.files.values(), self.mask, self.ids, self.betas] if p]

    def format(self) -> str:
        """'cifti', 'nifti', 'gifti' or 'mgh', from the file names."""
        kinds = set()
        for hemi, path in self.files.items():
            name = Path(path).name.lower()
            if name.endswith(CIFTI_SUFFIXES):
                kind = "cifti"
            elif name.endswith(NIFTI_SUFFIXES):
                kind = "nifti"
            else:
                kind = surface_format(path)
            if kind is None:
                raise InputError(
                    f"{self.at}{path}: unknown brain file type; expected CIFTI-2 "
                    "(.dscalar.nii/.dtseries.nii), NIfTI (.nii/.nii.gz), GIFTI (.func.gii) or "
                    "FreeSurfer (.mgh/.mgz)"
                )
            surface = kind in ("gifti", "mgh")
            if surface != (hemi is not None):
                raise InputError(
                    f"{self.at}{path} is {kind.upper()}; "
                    + (
                        "surface files come per hemisphere: give responses as {left: ..., "
                        "right: ...}"
                        if surface
                        else "a CIFTI or NIfTI file covers the whole brain: give it as one "
                        "path, not per hemisphere"
                    )
                )
            kinds.add(kind)
        if len(kinds) != 1:
            raise InputError(
                f"{self.at}hemispheres in different formats ({sorted(kinds)}); expected one"
            )
        kind = kinds.pop()
        if self.mask is not None and kind != "nifti":
            raise InputError(
                f"{self.at}mask {self.mask} given for {kind.upper()} data; "
                "masks apply to NIfTI volumes only"
            )
        return kind


def read_ids(path: str | os.PathLike, where: str = "") -> list[str]:
    """Map ids from a sidecar: a TSV/CSV with a ``stim_id`` column, or one id per line."""
    path = Path(path)
    where = f"{where}: " if where else ""
    if not path.is_file():
        raise InputError(f"{where}ids file {path} does not exist")
    if path.suffix.lower() in (".tsv", ".csv"):
        table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype=str)
        if "stim_id" not in table.columns:
            raise InputError(
                f"{where}{path} has columns {list(table.columns)}; expected a 'stim_id' column"
            )
        ids = list(table["stim_id"])
    else:
        ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    bad = [i for i in ids if not isinstance(i, str) or not i]
    if bad:
        raise InputError(f"{where}{path} has an empty stim_id; expected one id per map")
    return ids


def _names(data: SubjectData, names, n_maps: int) -> list[str] | None:
    """Map names: the sidecar's if given (checked against the map count), else the file's."""
    if data.ids is None:
        return names
    ids = read_ids(data.ids, data.where)
    if len(ids) != n_maps:
        raise InputError(
            f"{data.at}ids file {data.ids} names {len(ids)} maps but the data has "
            f"{n_maps}; expected one stim_id per map, in file order"
        )
    return ids


def _surface_header(data: SubjectData, kind: str):
    n_maps, names, meshes = None, None, {}
    for hemi, path in data.files.items():
        n, n_vertices, file_names, file_hemi = surface_shape(path)
        if file_hemi is not None and file_hemi != hemi:
            raise InputError(
                f"{data.at}{path} is marked as the {file_hemi} hemisphere "
                "(AnatomicalStructurePrimary); expected the " + hemi
            )
        meshes[hemi] = (mesh_of(n_vertices, f"{data.at}{hemi}: {path}"), n_vertices)
        if n_maps is not None and n != n_maps:
            raise InputError(
                f"{data.at}{path} has {n} maps but the other hemisphere {n_maps}; "
                "expected the same maps on both"
            )
        if names is not None and file_names is not None and file_names != names:
            raise InputError(
                f"{data.at}{path}'s map names differ from the other hemisphere's; "
                "expected the same maps in the same order"
            )
        n_maps, names = n, names or file_names
    if len({m for m, _ in meshes.values()}) > 1:
        listed = ", ".join(f"{h} {m} ({n} vertices)" for h, (m, n) in meshes.items())
        raise InputError(
            f"{data.at}the hemispheres are on different meshes ({listed}); expected one mesh"
        )
    (mesh, n_vertices), *_ = meshes.values()
    hemis = tuple(h for h in HEMIS if h in data.files)
    return BrainSpace(kind, mesh=mesh, hemis=hemis, n_vertices=n_vertices), n_maps, names


class Header(tuple):
    """(space, n_maps, names) of a subject's data, from headers where the format allows."""

    __slots__ = ()

    def __new__(cls, space, n_maps, names):
        return super().__new__(cls, (space, n_maps, names))

    space = property(lambda self: self[0])
    n_maps = property(lambda self: self[1])
    names = property(lambda self: self[2])


def read_data_header(data: SubjectData) -> Header:
    """The space, map count and map names of a subject's data, without its values where the
    format allows (CIFTI, NIfTI with a mask, MGH); the checks of :func:`read_data`.

    Raises
    ------
    InputError
        On a missing or unreadable file, a mask of another shape or affine than the data, a
        surface vertex count that fits no known mesh, hemispheres of different meshes or map
        counts, or an ids sidecar whose count differs from the maps.
    """
    kind = data.format()
    for path in data.paths:
        if not Path(path).is_file():
            missing = f"file {path} does not exist" if data.where else f"{path}: no such file"
            raise InputError(f"{data.at}{missing}")
    if kind == "cifti":
        (path,) = data.files.values()
        try:
            header = read_header(path)
        except InputError as err:
            raise InputError(f"{data.at}{err}") from None
        space = BrainSpace("cifti", brain_models=header.brain_models)
        return Header(space, header.n_maps, _names(data, header.names, header.n_maps))
    if kind == "nifti":
        (path,) = data.files.values()
        try:
            volume, n_maps = _volume_header(path, data.mask)
        except InputError as err:
            raise InputError(f"{data.at}{err}") from None
        return Header(BrainSpace("nifti", volume=volume), n_maps, _names(data, None, n_maps))
    space, n_maps, names = _surface_header(data, kind)
    return Header(space, n_maps, _names(data, names, n_maps))


def _volume_header(path, mask) -> tuple[Volume, int]:
    img = load_nifti(path, "4-D image (one volume per stimulus)")
    if len(img.shape) != 4:
        raise InputError(f"{path}: image has shape {img.shape}; expected 4-D (x, y, z, stimulus)")
    if mask is None:
        return read_volume(path)[1], int(img.shape[3])
    mask_img = load_nifti(mask, "3-D mask")
    if len(mask_img.shape) != 3 or mask_img.shape != img.shape[:3]:
        raise InputError(
            f"{mask}: mask has shape {mask_img.shape}; expected {img.shape[:3]} like {path}"
        )
    if not np.allclose(mask_img.affine, img.affine, atol=1e-4):
        raise InputError(
            f"{mask}: affine differs from {path}'s (max difference "
            f"{np.abs(mask_img.affine - img.affine).max():.3g}); expected the same grid"
        )
    ijk = np.argwhere(np.asarray(mask_img.dataobj) != 0).astype(np.int64)
    if len(ijk) == 0:
        raise InputError(f"{mask}: mask is empty; expected voxels with data")
    volume = Volume(ijk, np.asarray(img.affine, dtype=np.float64), tuple(img.shape[:3]))
    return volume, int(img.shape[3])


def read_series(data: SubjectData) -> tuple[np.ndarray, Header]:
    """Read every map (or time point) of a subject's files, in file order, with the header.

    Returns
    -------
    values : ndarray of float32, shape (n_maps, n_columns)
    header : Header
        Its ``space`` (the NIfTI space from the mask, or the data when there is none).
    """
    header = read_data_header(data)
    space = header.space
    if space.format == "cifti":
        (path,) = data.files.values()
        values = read_dscalar(path).data
    elif space.format == "nifti":
        (path,) = data.files.values()
        values, volume = read_volume(path, data.mask)
        header = Header(BrainSpace("nifti", volume=volume), header.n_maps, header.names)
    else:
        read = read_gifti if space.format == "gifti" else read_mgh
        parts = []
        for hemi in space.hemis:
            part = read(data.files[hemi])
            parts.append(part[0] if isinstance(part, tuple) else part)
        values = np.concatenate(parts, axis=1)
    return np.asarray(values, dtype=np.float32), header


def read_data(
    data: SubjectData, stim_ids: Sequence[str], table: str = "the stimulus table"
) -> tuple[np.ndarray, BrainSpace]:
    """Read a subject's responses, rows in stimulus-table order, and their space.

    Maps are matched to stimuli by name (CIFTI dscalar names, GIFTI ``Name`` metadata, or
    the ``ids`` sidecar); maps without names are taken in table order, one per stimulus.
    With ``data.betas`` (betas estimated from time series, :mod:`dnnmap.brain.timeseries`)
    the values are that HDF5 file's ``betas``, matched by its ``stim_id``, and ``data.files``
    give the space only.

    Returns
    -------
    responses : ndarray of float32, shape (n_stim, n_columns)
    space : BrainSpace
    """
    if data.betas is not None:
        import h5py

        space = read_data_header(data).space
        with h5py.File(data.betas, "r") as f:
            values = f["betas"][()]
            names = [s.decode() if isinstance(s, bytes) else str(s) for s in f["stim_id"][()]]
        if values.shape[1] != space.n_columns:
            raise InputError(
                f"{data.at}{data.betas}: betas have {values.shape[1]} columns; expected the "
                f"{space.n_columns} of the {space.describe()}"
            )
        order = align_maps(names, stim_ids, data.betas, table)
        return np.ascontiguousarray(values[order], dtype=np.float32), space
    values, header = read_series(data)
    path = " + ".join(str(p) for p in data.files.values())
    try:
        order = align_maps(header.names, stim_ids, path, table, n_maps=header.n_maps)
    except InputError as err:
        raise InputError(f"{data.at}{err}") from None
    return np.ascontiguousarray(values[order]), header.space


def check_stim_ids(data: SubjectData, stim_ids: Sequence[str], table: str) -> BrainSpace:
    """Start-up check: every stimulus has a map (headers only where the format allows)."""
    header = read_data_header(data)
    path = " + ".join(str(p) for p in data.files.values())
    try:
        align_maps(header.names, stim_ids, path, table, n_maps=header.n_maps)
    except InputError as err:
        raise InputError(f"{data.at}{err}") from None
    return header.space


# --- Maps out ------------------------------------------------------------------------------


def space_of(source: BrainSpace | SubjectData | str | os.PathLike | Mapping) -> BrainSpace:
    """A :class:`BrainSpace` from a space, a :class:`SubjectData`, a CIFTI/NIfTI path, or a
    mapping of :meth:`SubjectData.from_config` arguments (``responses``, ``mask``, ``ids``)."""
    if isinstance(source, BrainSpace):
        return source
    if isinstance(source, SubjectData):
        return read_data_header(source).space
    if isinstance(source, Mapping):
        return read_data_header(SubjectData.from_config(**source)).space
    return read_data_header(SubjectData.from_config(str(source))).space


def _hemi_of_path(path: str, space: BrainSpace) -> str | None:
    name = Path(path).name
    for hemi, suffix in MAP_SUFFIXES[space.format].items():
        if name.endswith(suffix):
            return hemi
    expected = " or ".join(
        repr(s) for h, s in MAP_SUFFIXES[space.format].items() if h is None or h in space.hemis
    )
    raise InputError(
        f"{path}: maps of {space.format.upper()} data are written as {space.format.upper()}; "
        f"expected a file name ending in {expected}"
    )


def write_maps(
    path: str | os.PathLike, maps: np.ndarray, names: Sequence[str], space: BrainSpace
) -> None:
    """Write maps in the space's own format, atomically, with its geometry checked.

    Parameters
    ----------
    path : path
        Map file; its ending must be the format's (:data:`MAP_SUFFIXES`). For a surface
        space the ending names the hemisphere, and only that hemisphere's columns are
        written (``.L.func.gii``/``.R.func.gii`` or ``.lh.mgz``/``.rh.mgz``).
    maps : ndarray, shape (n_maps, space.n_columns)
    names : sequence of str, length n_maps
        Map names (CIFTI scalar names, GIFTI ``Name`` metadata, a NIfTI comment extension;
        for MGH, which has no field for names, a sidecar ``<stem>.names.tsv`` beside each
        file, :func:`dnnmap.brain.surface_io.write_mgh_names`).
    space : BrainSpace

    Raises
    ------
    InputError
        If the file ending is not the space's format (or names a hemisphere the space does
        not have), or the maps do not have one column per column of the space.
    """
    path = str(path)
    maps = np.asarray(maps)
    names = [str(n) for n in names]
    if maps.ndim != 2 or maps.shape != (len(names), space.n_columns):
        raise InputError(
            f"{path}: maps have shape {maps.shape}; expected ({len(names)}, "
            f"{space.n_columns}): one column per column of the {space.describe()}"
        )
    hemi = _hemi_of_path(path, space)
    if space.format == "cifti":
        write_dscalar(path, maps, names, space.brain_models)
    elif space.format == "nifti":
        write_volume_maps(path, maps, names, space.volume)
    else:
        if hemi not in space.hemis:
            raise InputError(f"{path}: the {space.describe()} has no {hemi} hemisphere")
        part = maps[:, space.hemi_columns(hemi)]
        if space.format == "gifti":
            write_gifti(path, part, names, hemi)
        else:
            write_mgh(path, part, names)


def read_maps(paths: Sequence[str | os.PathLike], space: BrainSpace) -> tuple[np.ndarray, list]:
    """Read back maps that :func:`write_maps` wrote (one file, or one per hemisphere).

    Parameters
    ----------
    paths : sequence of path
        The map files, in the order of :meth:`BrainSpace.map_paths`.
    space : BrainSpace
        The space they were written in.

    Returns
    -------
    maps : ndarray of float32, shape (n_maps, space.n_columns)
    names : list of str or None
        Map names (for MGH from the ``.names.tsv`` sidecars, None where there are none).
    """
    from dnnmap.brain.responses_io import read_volume_map_names

    paths = [str(p) for p in paths]
    if space.format == "cifti":
        data = read_dscalar(paths[0])
        return data.data, data.names
    if space.format == "nifti":
        img = load_nifti(paths[0], "map file")
        values = np.asarray(img.dataobj, dtype=np.float32)
        values = values.reshape(*values.shape[:3], -1)
        maps = values[tuple(space.volume.ijk.T)].T
        return np.ascontiguousarray(maps), read_volume_map_names(paths[0])
    maps = np.zeros((0, space.n_columns), np.float32)
    names = None
    for hemi in space.hemis:
        path = next(p for p in paths if p.endswith(MAP_SUFFIXES[space.format][hemi]))
        if space.format == "gifti":
            part, names, _ = read_gifti(path)
        else:
            part = read_mgh(path)
            hemi_names = read_mgh_names(path, part.shape[0])
            if names is not None and hemi_names != names:
                raise InputError(
                    f"{path}: map names {hemi_names} differ from the other hemisphere's "
                    f"{names}; expected the same maps"
                )
            names = hemi_names
        if maps.shape[0] == 0:
            maps = np.zeros((part.shape[0], space.n_columns), np.float32)
        maps[:, space.hemi_columns(hemi)] = part
    return maps, names
