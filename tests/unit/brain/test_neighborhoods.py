"""Tests for dnnmap.brain.neighborhoods: geodesic discs on meshes, spheres in volume, CIFTI mapping.

References: a closed form of edge-path distance on a triangulated grid, a plain-Python
Dijkstra (heapq) on an independently built graph, and brute-force Euclidean distances.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict

import nibabel as nib
import numpy as np
import pytest
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.cifti import CORTEX_LEFT, CORTEX_RIGHT, fslr32k_brain_models
from dnnmap.brain.neighborhoods import (
    Neighborhoods,
    cifti_neighborhoods,
    fslr32k_midthickness,
    mesh_graph,
    read_surface,
    surface_neighborhoods,
    volume_neighborhoods,
)
from dnnmap.errors import InputError


def grid_mesh(nx: int, ny: int, h: float = 1.0, jitter: float = 0.0, seed: int = 0):
    """A planar nx x ny grid; each square split by the diagonal (x, y)-(x+1, y+1)."""
    x, y = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    coords = np.stack([x.ravel() * h, y.ravel() * h, np.zeros(nx * ny)], axis=1)
    if jitter:
        coords += np.random.default_rng(seed).uniform(-jitter, jitter, coords.shape)
    vid = np.arange(nx * ny).reshape(nx, ny)
    a, b = vid[:-1, :-1].ravel(), vid[1:, :-1].ravel()
    c, d = vid[1:, 1:].ravel(), vid[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return coords, faces


def grid_distance(p, q, h=1.0):
    """Edge-path distance on grid_mesh: diagonal steps only along (+1, +1)/(-1, -1)."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    if dx * dy >= 0:
        m = min(abs(dx), abs(dy))
        return h * (math.sqrt(2) * m + abs(abs(dx) - abs(dy)))
    return h * (abs(dx) + abs(dy))


def reference_graph(coords, faces, diagonals=False):
    """Adjacency dict built with Python loops (independent of mesh_graph)."""
    adj = defaultdict(dict)

    def link(u, v):
        if u != v:
            w = float(np.linalg.norm(coords[u] - coords[v]))
            adj[u][v] = adj[v][u] = w

    opposite = defaultdict(list)
    for tri in faces.tolist():
        for k in range(3):
            u, v, o = tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]
            link(u, v)
            opposite[frozenset((u, v))].append(o)
    if diagonals:
        for opp in opposite.values():
            if len(opp) == 2:
                link(*opp)
    return adj


def reference_dijkstra(adj, source, limit):
    dist = {source: 0.0}
    heap = [(0.0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist.get(u, math.inf):
            continue
        for v, w in adj[u].items():
            nd = d + w
            if nd <= limit and nd < dist.get(v, math.inf):
                dist[v] = nd
                heapq.heappush(heap, (nd, v))
    return dist


def as_sets(nb: Neighborhoods):
    return [set(nb.members(i).tolist()) for i in range(len(nb))]


# --- surfaces --------------------------------------------------------------------------------


def test_grid_discs_match_the_closed_form():
    nx, ny, radius = 7, 6, 2.5
    coords, faces = grid_mesh(nx, ny, h=1.0)
    nb = surface_neighborhoods(coords, faces, radius)
    grid = [(i, j) for i in range(nx) for j in range(ny)]
    assert len(nb) == nx * ny
    np.testing.assert_array_equal(nb.centers, np.arange(nx * ny))
    for c, got in enumerate(as_sets(nb)):
        expected = {v for v, q in enumerate(grid) if grid_distance(grid[c], q) <= radius}
        assert got == expected
    # CSR invariants: sorted members, center included
    for i in range(len(nb)):
        m = nb.members(i)
        assert np.all(np.diff(m) > 0) and i in m


def test_mesh_graph_weights_match_the_reference():
    coords, faces = grid_mesh(4, 5, h=1.3, jitter=0.2, seed=1)
    for diagonals in (False, True):
        graph = mesh_graph(coords, faces, diagonals=diagonals).toarray()
        ref = reference_graph(coords, faces, diagonals)
        expected = np.zeros_like(graph)
        for u, row in ref.items():
            for v, w in row.items():
                expected[u, v] = w
        np.testing.assert_allclose(graph, expected, rtol=1e-12)


@pytest.mark.parametrize("diagonals", [False, True])
def test_discs_match_brute_force_dijkstra(diagonals):
    coords, faces = grid_mesh(8, 7, h=2.0, jitter=0.4, seed=2)
    coords[:, 2] = np.sin(coords[:, 0] / 3.0) * 2.0  # a curved sheet
    radius = 4.6
    members = np.ones(len(coords), dtype=bool)
    members[np.arange(len(coords)) % 8 == 3] = False  # a "medial wall": not members
    centers = np.array([0, 9, 27, 55, 30, 31])
    nb = surface_neighborhoods(
        coords, faces, radius, centers=centers, members=members, diagonals=diagonals, chunk_size=4
    )
    adj = reference_graph(coords, faces, diagonals)
    np.testing.assert_array_equal(nb.centers, centers)
    for c, got in zip(centers, as_sets(nb), strict=True):
        dist = reference_dijkstra(adj, int(c), radius)
        assert got == {v for v, d in dist.items() if members[v]}


def test_paths_run_through_non_members():
    # A strip of 4 vertices 0-1-2-3 (unit edges): vertex 1 is no member but links 0 to 2.
    coords = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [0.5, 1, 0]], float)
    faces = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4]])
    members = np.array([True, False, True, True, True])
    nb = surface_neighborhoods(coords, faces, 2.0, centers=[0], members=members)
    assert set(nb.members(0)) == {0, 2, 4}


def test_fslr32k_midthickness_and_cifti_neighborhoods():
    bm = fslr32k_brain_models()
    for structure in (CORTEX_LEFT, CORTEX_RIGHT):
        coords, faces = fslr32k_midthickness(structure)
        assert coords.shape == (32492, 3) and faces.shape == (64980, 3)
    centers = np.array([0, 1000, 29695, 29696, 59411, 40000])
    radius = 6.0
    nb = cifti_neighborhoods(bm, radius, centers)
    np.testing.assert_array_equal(nb.centers, centers)
    parts = {str(n): (slc, sub) for n, slc, sub in bm.iter_structures()}
    for i, c in enumerate(centers):
        structure = CORTEX_LEFT if c < 29696 else CORTEX_RIGHT
        slc, sub = parts[structure]
        coords, faces = fslr32k_midthickness(structure)
        vertex = np.asarray(sub.vertex)
        col_of = {int(v): slc.start + k for k, v in enumerate(vertex)}
        source = int(vertex[c - slc.start])
        # A geodesic disc lies inside the Euclidean ball: the faces near the center suffice.
        near = np.linalg.norm(coords - coords[source], axis=1) <= 3 * radius
        adj = reference_graph(coords, faces[near[faces].all(axis=1)])
        dist = reference_dijkstra(adj, source, radius)
        expected = {col_of[v] for v in dist if v in col_of}
        assert set(nb.members(i).tolist()) == expected
        assert 10 < len(expected) < 300


def tiny_cifti():
    """Two small surface structures (some vertices without grayordinates) and a volume part."""
    left_mask = np.ones(30, dtype=bool)
    left_mask[[4, 11, 12]] = False
    right_mask = np.ones(20, dtype=bool)
    right_mask[[0]] = False
    vol = np.zeros((5, 4, 4), dtype=bool)
    vol[1:4, 1:3, 0:3] = True
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    bm = (
        BrainModelAxis.from_mask(left_mask, name="CortexLeft")
        + BrainModelAxis.from_mask(vol, affine=affine, name="ThalamusLeft")
        + BrainModelAxis.from_mask(right_mask, name="CortexRight")
    )
    surfaces = {
        CORTEX_LEFT: grid_mesh(6, 5, h=1.0, jitter=0.1, seed=3),
        CORTEX_RIGHT: grid_mesh(5, 4, h=1.5, jitter=0.1, seed=4),
    }
    return bm, surfaces


def test_cifti_neighborhoods_map_vertices_and_voxels_to_grayordinates():
    bm, surfaces = tiny_cifti()
    radius = 2.1
    nb = cifti_neighborhoods(bm, radius, surfaces=surfaces)
    assert len(nb) == len(bm)
    expected = [None] * len(bm)
    for name, slc, sub in bm.iter_structures():
        start = slc.start or 0
        if sub.surface_mask.all():
            coords, faces = surfaces[str(name)]
            vertex = np.asarray(sub.vertex)
            col_of = {int(v): start + k for k, v in enumerate(vertex)}
            adj = reference_graph(coords, faces)
            for k, v in enumerate(vertex):
                dist = reference_dijkstra(adj, int(v), radius)
                expected[start + k] = {col_of[u] for u in dist if u in col_of}
    vox = np.flatnonzero(bm.volume_mask)
    xyz = bm.voxel[vox] * 2.0
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=2)
    for a, g in enumerate(vox):
        expected[g] = set(vox[d[a] <= radius].tolist())
    assert as_sets(nb) == expected
    # a subset of centers, in any order, gives the same neighborhoods
    centers = np.array([40, 3, 27, 30, 2])
    sub = cifti_neighborhoods(bm, radius, centers, surfaces=surfaces)
    assert as_sets(sub) == [expected[c] for c in centers]


# --- volume ----------------------------------------------------------------------------------


def test_volume_spheres_match_brute_force_on_a_grid_with_ties():
    ijk = np.argwhere(np.ones((7, 6, 5), dtype=bool))
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-10, 4, 7]
    nb = volume_neighborhoods(ijk, affine, 4.0, chunk_size=50)
    # integer arithmetic: (2 di)^2 + (2 dj)^2 + (2 dk)^2 <= 16, ties at exactly 4 mm included
    sq = (((ijk[:, None] - ijk[None]) * 2) ** 2).sum(axis=2)
    expected = [set(np.flatnonzero(row <= 16).tolist()) for row in sq]
    assert as_sets(nb) == expected
    assert nb.sizes.max() == 33  # an interior sphere of radius 2 voxels


def test_volume_spheres_with_an_oblique_anisotropic_affine():
    rng = np.random.default_rng(5)
    ijk = np.argwhere(rng.random((8, 8, 6)) < 0.6)
    theta = 0.3
    rot = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([1.5, 2.0, 3.1])
    affine[:3, 3] = [3.0, -2.0, 1.0]
    centers = rng.choice(len(ijk), 40, replace=False)
    radius = 4.37
    nb = volume_neighborhoods(ijk, affine, radius, centers=centers, chunk_size=7)
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    d = np.linalg.norm(xyz[centers][:, None] - xyz[None], axis=2)
    assert as_sets(nb) == [set(np.flatnonzero(row <= radius).tolist()) for row in d]
    np.testing.assert_array_equal(nb.centers, centers)


# --- CSR helpers -----------------------------------------------------------------------------


def test_take_and_restrict():
    nb = Neighborhoods(
        centers=np.array([5, 6, 7]),
        indptr=np.array([0, 2, 2, 5]),
        indices=np.array([1, 5, 0, 6, 7]),
        radius_mm=1.0,
    )
    np.testing.assert_array_equal(nb.sizes, [2, 0, 3])
    sub = nb.take(np.array([2, 0]))
    np.testing.assert_array_equal(sub.centers, [7, 5])
    assert as_sets(sub) == [{0, 6, 7}, {1, 5}]
    keep = np.ones(8, dtype=bool)
    keep[[5, 6]] = False
    kept = nb.restrict(keep)
    np.testing.assert_array_equal(kept.centers, nb.centers)
    assert as_sets(kept) == [{1}, set(), {0, 7}]


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, -1.0, float("nan"), float("inf"), "8mm", None, True])
def test_bad_radius(radius):
    coords, faces = grid_mesh(3, 3)
    with pytest.raises(InputError, match=r"radius_mm is .*expected a positive number"):
        surface_neighborhoods(coords, faces, radius)
    with pytest.raises(InputError, match="radius_mm is"):
        volume_neighborhoods(np.zeros((2, 3), int), np.eye(4), radius)


def test_bad_centers_and_members():
    coords, faces = grid_mesh(3, 3)
    with pytest.raises(InputError, match=r"centers range over 0\.\.9; expected vertex indices"):
        surface_neighborhoods(coords, faces, 1.0, centers=[0, 9])
    with pytest.raises(InputError, match="centers have shape"):
        surface_neighborhoods(coords, faces, 1.0, centers=[[0]])
    with pytest.raises(InputError, match=r"members have shape \(4,\); expected \(9,\)"):
        surface_neighborhoods(coords, faces, 1.0, members=np.ones(4, bool))


def test_bad_meshes(tmp_path):
    coords, faces = grid_mesh(3, 3)
    with pytest.raises(InputError, match="faces refer to vertex 8; the mesh has 5 vertices"):
        mesh_graph(coords[:5], faces)
    with pytest.raises(InputError, match=r"expected \(n_vertices, 3\)"):
        mesh_graph(coords[:, :2], faces)
    with pytest.raises(InputError, match="no such file; expected a GIFTI surface"):
        read_surface(tmp_path / "missing.surf.gii")
    bad = tmp_path / "bad.surf.gii"
    bad.write_text("not a surface")
    with pytest.raises(InputError, match="not readable as a GIFTI surface"):
        read_surface(bad)
    with pytest.raises(InputError, match="no fsLR-32k mesh"):
        fslr32k_midthickness("CIFTI_STRUCTURE_CEREBELLUM")


def test_read_surface_round_trip(tmp_path):
    coords, faces = grid_mesh(4, 3, jitter=0.2)
    img = nib.GiftiImage(
        darrays=[
            nib.gifti.GiftiDataArray(coords.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
            nib.gifti.GiftiDataArray(faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
        ]
    )
    path = tmp_path / "mesh.surf.gii"
    nib.save(img, path)
    got_coords, got_faces = read_surface(path)
    np.testing.assert_allclose(got_coords, coords.astype(np.float32))
    np.testing.assert_array_equal(got_faces, faces)
    bm = BrainModelAxis.from_mask(np.ones(12, bool), name="CortexLeft")
    by_path = cifti_neighborhoods(bm, 1.5, surfaces={CORTEX_LEFT: path})
    by_array = cifti_neighborhoods(bm, 1.5, surfaces={CORTEX_LEFT: (got_coords, got_faces)})
    assert as_sets(by_path) == as_sets(by_array)


def test_bad_cifti_surfaces():
    bm, surfaces = tiny_cifti()
    with pytest.raises(
        InputError,
        match="mesh of CIFTI_STRUCTURE_CORTEX_LEFT has 20 vertices; the CIFTI file says 30",
    ):
        cifti_neighborhoods(bm, 2.0, surfaces={**surfaces, CORTEX_LEFT: grid_mesh(5, 4)})
    with pytest.raises(InputError, match=r"surfaces name .*CEREBELLUM"):
        cifti_neighborhoods(
            bm, 2.0, surfaces={**surfaces, "CIFTI_STRUCTURE_CEREBELLUM": surfaces[CORTEX_LEFT]}
        )
    other = BrainModelAxis.from_mask(np.ones(9, bool), name="Cerebellum")
    with pytest.raises(
        InputError, match="no mesh for surface structure CIFTI_STRUCTURE_CEREBELLUM"
    ):
        cifti_neighborhoods(other, 2.0)
    with pytest.raises(InputError, match="expected a BrainModelAxis"):
        cifti_neighborhoods(np.arange(3), 2.0)
    with pytest.raises(InputError, match="affine is singular"):
        volume_neighborhoods(np.zeros((2, 3), int), np.zeros((4, 4)), 2.0)
