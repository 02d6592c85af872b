"""A brain simulated in a volume (dnnmap.brain.simulate_volume), its smooth noise
(dnnmap.brain.volume_noise) and its ROIs (dnnmap.brain.volume_rois), against brute-force
references and the fsLR-32k simulation it shares its arithmetic with."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.brain.cifti import fslr32k_brain_models
from dnnmap.brain.simulate import simulate_columns, simulate_responses
from dnnmap.brain.simulate_volume import VolumeSubject, mask_space, write_simulated_volume
from dnnmap.brain.spaces import SubjectData, read_data
from dnnmap.brain.volume_noise import volume_smoother, voxel_graph
from dnnmap.brain.volume_rois import sphere_labels, write_lut
from dnnmap.errors import InputError

N_STIM = 50


@pytest.fixture(scope="module")
def projections():
    rng = np.random.default_rng(4)
    return {"early": rng.standard_normal((N_STIM, 8)), "late": rng.standard_normal((N_STIM, 8))}


def test_voxel_graph_is_face_adjacency():
    """Neighbours are exactly the voxel pairs at city-block distance 1 (scipy cdist)."""
    rng = np.random.default_rng(0)
    grid = np.argwhere(rng.random((7, 6, 5)) < 0.6)
    ijk = grid[rng.permutation(len(grid))] + [3, -2, 10]  # any order, any offset
    graph = voxel_graph(ijk).toarray()
    reference = (cdist(ijk, ijk, "cityblock") == 1).astype(float)
    np.testing.assert_array_equal(graph, reference)
    with pytest.raises(InputError, match="repeat a voxel"):
        voxel_graph(np.vstack([ijk, ijk[:1]]))


def test_volume_noise_has_unit_variance_and_is_smooth():
    ijk = np.argwhere(np.ones((12, 12, 12), bool))
    smoother = volume_smoother(ijk, 2)
    norms = np.sqrt(np.asarray(smoother.multiply(smoother).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0)
    noise = (smoother @ np.random.default_rng(1).standard_normal((len(ijk), 4000))).T
    assert abs(noise.var(axis=0).mean() - 1.0) < 0.02
    graph = voxel_graph(ijk).tocoo()
    pairs = zip(graph.coords[0][:500], graph.coords[1][:500], strict=True)
    r = np.mean([np.corrcoef(noise[:, a], noise[:, b])[0, 1] for a, b in pairs])
    assert r > 0.5  # neighbours share noise; white noise would give 0
    assert volume_smoother(ijk, 0).nnz == len(ijk)  # no passes: the identity


def test_simulate_columns_is_the_surface_simulation_on_other_columns(projections):
    """simulate_responses (atlas labels on fsLR-32k) is simulate_columns with the atlas's
    columns: the same data, truth and repeats."""
    bm = fslr32k_brain_models()
    regions = {"V1": {"labels": ["V1"], "layer": "early"}, "V4": {"labels": ["V4"], "layers": []}}
    kwargs = dict(snr=2.0, seed=3, n_repeats=2, session_offset_sd=0.5, session_gain_sd=0.1)
    a = simulate_responses(projections, regions, bm, **kwargs)
    atlas = mmp_atlas()
    b = simulate_columns(
        projections, regions, len(bm), lambda r, labels: resolve_roi(r, labels, atlas), **kwargs
    )
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], b[2])
    assert a[1].equals(b[1])
    with pytest.raises(InputError, match="columns outside the 10 of the space"):
        simulate_columns(projections, regions, 10, lambda r, labels: np.array([3, 12]))


@pytest.fixture
def volume_subject(tmp_path):
    """A 12x10x8 grid at 3 mm, a mask of a block, two spheres and a null sphere."""
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = [-18, -15, -12]
    mask = np.zeros((12, 10, 8), np.uint8)
    mask[1:11, 1:9, 1:7] = 1
    mask_img = nib.Nifti1Image(mask, affine)
    nib.save(mask_img, tmp_path / "mask.nii.gz")
    labels, names = sphere_labels(
        mask_img, {"A": [(-9, -3, 0)], "B": [(9, 0, 0)], "N": [(0, 9, 0)]}, 4.5
    )
    nib.save(labels, tmp_path / "rois.nii.gz")
    write_lut(tmp_path / "lut.txt", names)
    entry = {
        "responses": "simulate",
        "mask": "mask.nii.gz",
        "roi_files": [{"file": "rois.nii.gz", "lut": "lut.txt"}],
    }
    return entry, labels, mask_img


def test_sphere_labels_against_distances(volume_subject):
    """Every labelled voxel is a mask voxel within the radius of its centre (brute force)."""
    _, labels, mask_img = volume_subject
    data = np.asarray(labels.dataobj)
    ijk = np.argwhere(np.ones(data.shape, bool))
    xyz = nib.affines.apply_affine(mask_img.affine, ijk)
    inside = np.asarray(mask_img.dataobj).ravel() > 0
    for value, centre in enumerate([(-9, -3, 0), (9, 0, 0), (0, 9, 0)], start=1):
        expected = (np.linalg.norm(xyz - centre, axis=1) <= 4.5) & inside
        np.testing.assert_array_equal(data.ravel() == value, expected)
        assert expected.sum() > 5
    with pytest.raises(InputError, match="ROIs 'A' and 'B' overlap"):
        sphere_labels(mask_img, {"A": [(0, 0, 0)], "B": [(3, 0, 0)]}, 4.5)


def test_volume_subject_simulates_in_its_mask_and_reads_back(tmp_path, volume_subject, projections):
    """Regions take the voxels of their labels; the NIfTI and ids sidecar read back through
    the same reader as a lab's NIfTI betas; driven voxels carry the signal, the null region
    and the rest only noise."""
    entry, labels, mask_img = volume_subject
    subject = VolumeSubject(entry, "brain.subjects.sub-v", tmp_path)
    regions = {
        "A": {"labels": ["A"], "layer": "early"},
        "B": {"labels": ["B"], "layer": "late"},
        "N": {"labels": "N", "layers": []},
    }
    data, truth, repeats = subject.simulate(
        projections, regions, snr=50.0, seed=1, noise_smoothing=1
    )
    space = subject.space
    assert repeats is None and data.shape == (N_STIM, int(np.asarray(mask_img.dataobj).sum()))
    label_of = np.asarray(labels.dataobj)[tuple(space.volume.ijk.T)]
    assert truth.set_index("region")["n_vox"].to_dict() == {
        k: int((label_of == v).sum()) for k, v in (("A", 1), ("B", 2), ("N", 3))
    }
    ids = [f"s{i:02d}" for i in range(N_STIM)]
    write_simulated_volume(tmp_path / "sim.nii", tmp_path / "ids.txt", data, ids, space)
    shuffled = ids[::-1]
    back, back_space = read_data(
        SubjectData.from_config("sim.nii", "mask.nii.gz", "ids.txt", base=tmp_path), shuffled
    )
    np.testing.assert_array_equal(back, data[::-1])
    assert back_space.mismatch(space) is None

    def fit(layer, cols):
        x = projections[layer] - projections[layer].mean(0)
        y = data[:, cols] - data[:, cols].mean(0)
        resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        return 1 - (resid**2).sum(0) / (y**2).sum(0)

    a, b, n = (np.flatnonzero(label_of == v) for v in (1, 2, 3))
    assert np.median(fit("early", a)) > 0.6 > np.median(fit("late", a))
    assert np.median(fit("late", b)) > 0.6 > np.median(fit("early", b))
    assert np.median(fit("early", n)) < 0.4  # 8 regressors, 50 stimuli: chance R2 ~ 0.16


def test_volume_subject_refuses_bad_entries(tmp_path, volume_subject):
    entry, _, _ = volume_subject
    with pytest.raises(InputError, match=r"^sub-v: a subject simulated in a volume .* needs roi"):
        VolumeSubject({**entry, "roi_files": []}, "sub-v", tmp_path)
    with pytest.raises(InputError, match=r"^sub-v: \['ids'\] given for a subject simulated"):
        VolumeSubject({**entry, "ids": "x.txt"}, "sub-v", tmp_path)
    with pytest.raises(InputError, match=r"^sub-v.mask: mask .*nope.nii does not exist"):
        VolumeSubject({**entry, "mask": "nope.nii"}, "sub-v", tmp_path)
    subject = VolumeSubject(entry, "sub-v", tmp_path)
    with pytest.raises(InputError, match=r"^simulation.regions.X.labels: .*'C'.* \(in sub-v"):
        subject.check_regions({"X": {"labels": ["C"], "layer": "early"}})
    with pytest.raises(InputError, match=r"^sub-v.roi_files: "):
        subject.roi_sizes({"X": ["C"]})
    assert dict(subject.roi_sizes({"both": ["A", "B"]})) == {
        "both": int(subject.columns("x", ["A", "B"]).size)
    }
    assert mask_space(tmp_path / "mask.nii.gz").n_columns == 10 * 8 * 6
