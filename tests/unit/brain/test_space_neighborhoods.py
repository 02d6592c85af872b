"""Searchlight neighborhoods of NIfTI and GIFTI/MGH spaces (dnnmap.brain.space_neighborhoods)
against brute force (all pairwise distances; all-pairs shortest paths), and the searchlight
rule scripts on a NIfTI subject whose volumes are out of table order (named by its ids
sidecar) and on fsaverage5 GIFTI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path
from scipy.spatial.distance import cdist, pdist

from dnnmap.brain.responses_io import Volume
from dnnmap.brain.space_neighborhoods import shipped_midthickness, space_neighborhoods
from dnnmap.brain.spaces import BrainSpace, SubjectData, read_maps
from dnnmap.brain.surface_io import MESHES
from dnnmap.errors import InputError
from dnnmap.rsa.io import write_rdm
from dnnmap.rsa.searchlight import searchlight_rsa

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
FS5 = MESHES["fsaverage5"]


def _members(nb) -> list[set]:
    return [
        set(nb.indices[nb.indptr[i] : nb.indptr[i + 1]].tolist()) for i in range(len(nb.centers))
    ]


def _edge_distances(coords, faces) -> np.ndarray:
    """All-pairs shortest edge-path lengths (scipy), built from the faces independently."""
    edges = np.vstack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    length = np.linalg.norm(coords[edges[:, 0]] - coords[edges[:, 1]], axis=1)
    n = len(coords)
    graph = sp.coo_array((length, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    return shortest_path(graph, directed=False)


def test_volume_spheres_are_all_voxels_within_the_radius():
    """Anisotropic, oblique voxels: members are the mask voxels whose centres lie within the
    radius in millimetres (cdist on affine-mapped indices)."""
    rng = np.random.default_rng(0)
    ijk = np.argwhere(rng.random((7, 6, 5)) < 0.7)
    affine = np.array([[2.0, 0.3, 0, -10], [0, 2.5, 0, 4], [0.2, 0, 3.0, 1], [0, 0, 0, 1]])
    space = BrainSpace("nifti", volume=Volume(ijk, affine, (7, 6, 5)))
    centers = rng.permutation(len(ijk))[:40]
    nb = space_neighborhoods(space, 4.2, centers)
    xyz = nib.affines.apply_affine(affine, ijk)
    within = cdist(xyz[centers], xyz) <= 4.2
    assert _members(nb) == [set(np.flatnonzero(row).tolist()) for row in within]


def _tiny_sheet(offset):
    """A 5x4 grid of vertices 1.5 mm apart, two triangles per square."""
    x, y = np.meshgrid(np.arange(5) * 1.5, np.arange(4) * 1.5, indexing="ij")
    coords = np.column_stack([x.ravel(), y.ravel(), np.zeros(20)]) + offset
    idx = np.arange(20).reshape(5, 4)
    faces = []
    for i in range(4):
        for j in range(3):
            a, b, c, d = idx[i, j], idx[i + 1, j], idx[i, j + 1], idx[i + 1, j + 1]
            faces += [[a, b, c], [b, d, c]]
    return coords, np.array(faces)


def test_surface_discs_are_shortest_edge_paths_per_hemisphere():
    """GIFTI/MGH columns are the left then the right hemisphere's vertices; a disc is every
    vertex of the center's hemisphere within the radius along mesh edges (all-pairs
    shortest paths), never a vertex of the other hemisphere (even one nearby in space)."""
    meshes = {"left": _tiny_sheet(0.0), "right": _tiny_sheet(0.5)}  # overlapping in space
    space = BrainSpace("mgh", mesh="tiny", hemis=("left", "right"), n_vertices=20)
    centers = np.array([39, 0, 7, 20, 33, 12])
    nb = space_neighborhoods(space, 3.2, centers, surfaces=meshes)
    dist = _edge_distances(*meshes["left"])  # both sheets have the same shape
    expected = []
    for c in centers:
        start = 0 if c < 20 else 20
        expected.append({start + v for v in np.flatnonzero(dist[c - start] <= 3.2)})
    assert _members(nb) == expected
    with pytest.raises(InputError, match=r"no tiny midthickness surface is shipped on disk"):
        space_neighborhoods(space, 3.2, centers)
    with pytest.raises(InputError, match=r"has 20 vertices; the data has 30 per hemisphere"):
        bad = BrainSpace("mgh", mesh="tiny", hemis=("left",), n_vertices=30)
        space_neighborhoods(bad, 3.2, [0], surfaces=meshes)


def test_fsaverage5_midthickness_from_nilearn():
    """Shipped: the mean of nilearn's pial and white fsaverage5 surfaces; discs on it equal
    the all-pairs shortest paths near a few centers."""
    from nilearn.surface import load_surf_mesh

    coords, faces = shipped_midthickness("fsaverage5", "right")
    assert coords.shape == (FS5, 3)
    base = Path(importlib.util.find_spec("nilearn").origin).parent / "datasets" / "data"
    pial = load_surf_mesh(str(base / "fsaverage5" / "pial_right.gii.gz")).coordinates
    white = load_surf_mesh(str(base / "fsaverage5" / "white_right.gii.gz")).coordinates
    np.testing.assert_allclose(coords, (pial + white) / 2)
    assert shipped_midthickness("fsaverage6", "left") is None
    space = BrainSpace("gifti", mesh="fsaverage5", hemis=("left", "right"), n_vertices=FS5)
    centers = np.array([5, FS5 + 5, FS5 + 4000])
    nb = space_neighborhoods(space, 9.0, centers)
    edges = np.vstack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    length = np.linalg.norm(coords[edges[:, 0]] - coords[edges[:, 1]], axis=1)
    graph = sp.coo_array((length, (edges[:, 0], edges[:, 1])), shape=(FS5, FS5)).tocsr()
    dist = shortest_path(graph, directed=False, indices=[5, 4000])
    got = _members(nb)
    assert got[1] == {FS5 + v for v in np.flatnonzero(dist[0] <= 9.0)}
    assert got[2] == {FS5 + v for v in np.flatnonzero(dist[1] <= 9.0)}
    assert min(got[0]) < FS5 and max(got[0]) < FS5 and len(got[0]) > 5


def _script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_searchlight_scripts_on_nifti_with_ids_and_on_gifti(tmp_path):
    """The shard and merge scripts take the subject's data as the workflow passes it: a NIfTI
    in its mask with volumes out of table order (named by the ids sidecar) gives the same
    maps as the brute-force neighborhoods on the table-ordered data; fsaverage5 GIFTI gives
    one named map file per hemisphere."""
    rng = np.random.default_rng(3)
    n_stim = 7
    ids = [f"s{i}" for i in range(n_stim)]
    pd.DataFrame({"stim_id": ids, "path": ids, "modality": "image"}).to_csv(
        tmp_path / "stimuli.tsv", sep="\t", index=False
    )
    write_rdm(tmp_path / "fc.h5", pdist(rng.standard_normal((n_stim, 3))), ids, {})
    model = [str(tmp_path / "fc.h5")]
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    mask = np.zeros((5, 5, 4), np.uint8)
    mask[1:4, 1:5, :3] = 1
    ijk = np.argwhere(mask)
    data = rng.standard_normal((n_stim, len(ijk))).astype(np.float32)
    order = rng.permutation(n_stim)
    image = np.zeros((5, 5, 4, n_stim), np.float32)
    image[tuple(ijk.T)] = data[order].T
    nib.save(nib.Nifti1Image(image, affine), tmp_path / "b.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "m.nii.gz")
    (tmp_path / "ids.txt").write_text("\n".join(ids[i] for i in order))
    subject = SubjectData.from_config("b.nii.gz", "m.nii.gz", "ids.txt", "sub", tmp_path)
    settings = {"radius_mm": 4.0, "n_shards": 2, "metric": "correlation", "comparison": "spearman"}
    shards = [tmp_path / f"v{k}.h5" for k in range(2)]
    for k, path in enumerate(shards):
        _script("searchlight").main(
            str(tmp_path / "stimuli.tsv"), subject, model, settings, ["fc"], str(k), path
        )
    out = tmp_path / "searchlight.nii.gz"
    _script("merge_searchlight").main(subject, shards, settings, str(out))
    got = np.asarray(nib.load(out).dataobj)[tuple(ijk.T)][:, 0]
    xyz = ijk * 3.0
    within = cdist(xyz, xyz) <= 4.0
    from dnnmap.brain.neighborhoods import Neighborhoods

    indptr = np.concatenate([[0], np.cumsum(within.sum(1))])
    reference = Neighborhoods(np.arange(len(ijk)), indptr, np.nonzero(within)[1], 4.0)
    from dnnmap.rsa.io import read_rdm

    expected = searchlight_rsa(data, reference, read_rdm(model[0], ids, "t")[None])[:, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    space = BrainSpace("gifti", mesh="fsaverage5", hemis=("left", "right"), n_vertices=FS5)
    values = np.zeros((n_stim, 2 * FS5), np.float32)
    values[:, :200] = rng.standard_normal((n_stim, 200))
    for hemi, side in (("left", "L"), ("right", "R")):
        cols = space.hemi_columns(hemi)
        img = nib.gifti.GiftiImage()
        for k in range(n_stim):
            meta = nib.gifti.GiftiMetaData({"Name": ids[k]})
            img.add_gifti_data_array(nib.gifti.GiftiDataArray(values[k, cols], meta=meta))
        nib.save(img, tmp_path / f"b.{side}.func.gii")
    gii = SubjectData.from_config(
        {"left": "b.L.func.gii", "right": "b.R.func.gii"}, base=tmp_path, where="sub"
    )
    settings = {**settings, "radius_mm": 3.0, "n_shards": 1}
    _script("searchlight").main(
        str(tmp_path / "stimuli.tsv"), gii, model, settings, ["fc"], "0", tmp_path / "g0.h5"
    )
    paths = space.map_paths(tmp_path / "searchlight")
    for path in paths:
        _script("merge_searchlight").main(gii, [tmp_path / "g0.h5"], settings, path)
    maps, names = read_maps(paths, space)
    assert names == ["fc"] and maps.shape == (1, 2 * FS5)
    nb = space_neighborhoods(space, 3.0, np.arange(2 * FS5))
    finite = np.isfinite(values).all(axis=0)
    np.testing.assert_allclose(
        maps[0],
        searchlight_rsa(values, nb.restrict(finite), read_rdm(model[0], ids, "t")[None])[:, 0],
        rtol=1e-5,
        atol=1e-6,
    )


def test_startup_refuses_a_searchlight_on_a_mesh_no_package_ships(tmp_path):
    """fsaverage6 MGH data with rsa.searchlight enabled: one line naming the key, unless
    rsa.searchlight.surfaces gives the meshes; time series stay refused."""
    from dnnmap.config import check_brain_files

    ids = ["a", "b", "c"]
    n = MESHES["fsaverage6"]
    for hemi in ("lh", "rh"):
        nib.save(
            nib.MGHImage(np.ones((n, 1, 1, 3), np.float32), np.eye(4)), tmp_path / f"{hemi}.b.mgz"
        )
        (tmp_path / f"{hemi}.V1.label").write_text("#!ascii label\n1\n7  0.0  0.0  0.0 0.0\n")
    (tmp_path / "ids.txt").write_text("\n".join(ids))
    entry = {
        "responses": {"left": "lh.b.mgz", "right": "rh.b.mgz"},
        "ids": "ids.txt",
        "roi_files": ["lh.V1.label", "rh.V1.label"],
    }
    config = {
        "stimuli": {"table": "stimuli.tsv"},
        "brain": {"subjects": {"sub-1": entry}, "rois": {"V1": ["V1"]}},
        "rsa": {"searchlight": {"enabled": True}},
    }
    with pytest.raises(InputError) as err:
        check_brain_files(config, ids, tmp_path, "config.yaml")
    assert str(err.value) == (
        "config.yaml: brain.subjects.sub-1.responses: rsa.searchlight needs a fsaverage6 mesh "
        "of the left hemisphere, which no installed package ships; expected "
        "rsa.searchlight.surfaces.left: a .surf.gii"
    )
    config["rsa"]["searchlight"]["surfaces"] = {"left": "l.surf.gii", "right": "r.surf.gii"}
    assert dict(check_brain_files(config, ids, tmp_path, "config.yaml")) == {"V1": 2}
    config["brain"]["subjects"]["sub-1"] = {"responses": "timeseries", "timeseries": {}}
    with pytest.raises(InputError, match=r"sub-1.responses: rsa.searchlight runs on response"):
        check_brain_files(config, ids, tmp_path, "config.yaml")
