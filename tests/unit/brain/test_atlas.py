"""Tests for dnnmap.brain.atlas: HCP-MMP 1.0 labels on fsLR-32k grayordinates."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.atlas import atlas_for, mmp_atlas, resolve_roi
from dnnmap.brain.cifti import fslr32k_brain_models, hcp_data_dir
from dnnmap.errors import InputError

N_LEFT = 29696
N_CORTEX = 59412


@pytest.fixture(scope="module")
def atlas():
    return mmp_atlas()


@pytest.fixture(scope="module")
def reference():
    """The atlas file read directly: map_all (91282,) and label name -> id."""
    with np.load(hcp_data_dir() / "mmp_1.0.npz") as npz:
        ids = {str(name): int(i) for name, i in zip(npz["labels"], npz["ids"], strict=True)}
        return npz["map_all"], ids


def test_atlas_shape_and_labels(atlas):
    assert atlas.name == "HCP-MMP 1.0"
    assert len(atlas.labels) == 361
    assert atlas.labels[0] == ""
    assert atlas.labels[1] == "L_V1"
    assert atlas.labels[181] == "R_V1"
    assert atlas.label_of.shape == (N_CORTEX,)
    assert atlas.label_of.dtype == np.int64
    assert not atlas.label_of.flags.writeable
    assert atlas.brain_models == fslr32k_brain_models()
    # Left grayordinates carry left areas only, right ones right areas only.
    assert set(np.unique(atlas.label_of[:N_LEFT])) == set(range(1, 181))
    assert set(np.unique(atlas.label_of[N_LEFT:])) == set(range(181, 361))
    assert mmp_atlas() is atlas


def test_atlas_is_anatomically_aligned(atlas):
    """V1 lies at the occipital pole, FFC ventrally, area 4 (motor) dorsally."""
    bm = atlas.brain_models
    for hemi, slc, sign in (("L", slice(0, N_LEFT), -1), ("R", slice(N_LEFT, None), 1)):
        surf = nib.load(hcp_data_dir() / f"S1200.{hemi}.midthickness_MSMAll.32k_fs_LR.surf.gii")
        xyz = surf.darrays[0].data[bm.vertex[slc]]
        labels = atlas.label_of[slc]

        def centre(area, xyz=xyz, labels=labels, hemi=hemi):
            return xyz[labels == atlas.labels.index(f"{hemi}_{area}")].mean(axis=0)

        v1, ffc, m1 = centre("V1"), centre("FFC"), centre("4")
        assert v1[1] < -70  # posterior
        assert ffc[2] < -5  # ventral
        assert m1[2] > 40  # dorsal
        assert sign * ffc[0] > 25  # lateral, on the right side


@pytest.mark.parametrize(
    "area", ["V1", "V2", "V3", "V4", "V8", "FFC", "PIT", "VVC", "VMV1", "LO1", "MT", "PH"]
)
def test_counts_match_the_atlas_file(atlas, reference, area):
    map_all, ids = reference
    left = resolve_roi(area, [f"L_{area}"], atlas)
    right = resolve_roi(area, [f"R_{area}"], atlas)
    both = resolve_roi(area, [area], atlas)
    assert left.size == np.sum(map_all == ids[f"L_{area}"])
    assert right.size == np.sum(map_all == ids[f"R_{area}"])
    np.testing.assert_array_equal(both, np.union1d(left, right))
    assert left.size > 0
    assert right.size > 0


def test_v1_resolves_to_both_hemispheres(atlas):
    v1 = resolve_roi("early", ["V1"], atlas)
    assert v1.dtype == np.int64
    assert np.all(np.diff(v1) > 0)
    n_left, n_right = np.sum(v1 < N_LEFT), np.sum(v1 >= N_LEFT)
    assert 300 < n_left < 2500
    assert 300 < n_right < 2500
    assert (n_left, n_right) == (831, 787)


def test_one_hemisphere_roi_forms(atlas):
    left = resolve_roi("lv1", ["L_V1"], atlas)
    assert left.size > 0
    assert left.max() < N_LEFT
    right = resolve_roi("rv1", "R_V1", atlas)
    assert right.min() >= N_LEFT
    np.testing.assert_array_equal(resolve_roi("x", ["L_V1_ROI"], atlas), left)
    np.testing.assert_array_equal(resolve_roi("x", [" V1_ROI "], atlas), np.union1d(left, right))
    np.testing.assert_array_equal(
        resolve_roi("x", ["V1", "L_V1", "V1"], atlas), np.union1d(left, right)
    )
    ventral = resolve_roi("ventral", ["FFC", "VVC", "PIT"], atlas)
    assert ventral.size == sum(resolve_roi("x", [a], atlas).size for a in ("FFC", "VVC", "PIT"))


@pytest.mark.parametrize(
    ("label", "suggestion"),
    [("v1", "'V1'"), ("FFA", "'FFC'"), ("L_V01", "'L_V1'"), ("V4v", "'V4'")],
)
def test_unknown_label_suggests(atlas, label, suggestion):
    with pytest.raises(InputError) as err:
        resolve_roi("my_roi", ["V1", label], atlas)
    message = str(err.value)
    assert "'my_roi'" in message
    assert repr(label) in message
    assert suggestion in message
    assert "\n" not in message


def test_bad_roi_specs(atlas):
    with pytest.raises(InputError, match="no labels"):
        resolve_roi("empty", [], atlas)
    with pytest.raises(InputError, match=r"expected an HCP-MMP 1\.0 area"):
        resolve_roi("x", ["zzzzzzzz"], atlas)
    with pytest.raises(InputError, match="unknown"):
        resolve_roi("x", ["thalamus_left"], atlas)  # subcortical labels are not part of it
    with pytest.raises(InputError, match="not a string"):
        resolve_roi("x", [1], atlas)


def _fake_subcortex(n: int = 8) -> BrainModelAxis:
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask.flat[:n] = True
    return BrainModelAxis.from_mask(mask, name="thalamus_left", affine=np.eye(4))


def test_atlas_for_same_axis_is_identity(atlas):
    assert atlas_for(fslr32k_brain_models()) is atlas


@pytest.mark.parametrize("volume_first", [False, True])
def test_atlas_for_cortex_plus_subcortex(atlas, volume_first):
    cortex, vol = fslr32k_brain_models(), _fake_subcortex()
    axis = vol + cortex if volume_first else cortex + vol
    mapped = atlas_for(axis)
    assert mapped.label_of.shape == (len(cortex) + len(vol),)
    offset = len(vol) if volume_first else 0
    volume = slice(0, len(vol)) if volume_first else slice(len(cortex), None)
    np.testing.assert_array_equal(mapped.label_of[offset : offset + len(cortex)], atlas.label_of)
    assert (mapped.label_of[volume] == 0).all()
    np.testing.assert_array_equal(
        resolve_roi("v1", ["V1"], mapped), resolve_roi("v1", ["V1"], atlas) + offset
    )


def test_atlas_for_full_mesh_matches_by_vertex(atlas):
    """A file with every mesh vertex (medial wall included) maps labels by vertex index."""
    full = BrainModelAxis.from_surface(
        np.arange(32492), 32492, "CortexLeft"
    ) + BrainModelAxis.from_surface(np.arange(32492)[::-1], 32492, "CortexRight")
    mapped = atlas_for(full)
    cortex = atlas.brain_models
    left, right = mapped.label_of[:32492], mapped.label_of[32492:][::-1]
    np.testing.assert_array_equal(left[cortex.vertex[:N_LEFT]], atlas.label_of[:N_LEFT])
    np.testing.assert_array_equal(right[cortex.vertex[N_LEFT:]], atlas.label_of[N_LEFT:])
    assert np.sum(left == 0) == 32492 - N_LEFT  # the medial wall
    assert resolve_roi("v1", ["V1"], mapped).size == resolve_roi("v1", ["V1"], atlas).size


def test_atlas_for_partial_axis_reports_missing_area(atlas):
    partial = fslr32k_brain_models()
    left_v1 = atlas.label_of == atlas.labels.index("L_V1")
    keep = ~left_v1
    # Same structures and mesh, but the left V1 vertices are missing from the file.
    axis = BrainModelAxis.from_surface(
        partial.vertex[:N_LEFT][keep[:N_LEFT]], 32492, "CortexLeft"
    ) + BrainModelAxis.from_surface(partial.vertex[N_LEFT:], 32492, "CortexRight")
    mapped = atlas_for(axis)
    assert resolve_roi("r", ["R_V1"], mapped).size == 787
    with pytest.raises(InputError, match="'L_V1' has no grayordinates"):
        resolve_roi("v1", ["V1"], mapped)


def test_atlas_for_rejects_other_spaces():
    left_only = fslr32k_brain_models()[:N_LEFT]
    with pytest.raises(InputError, match="expected CIFTI_STRUCTURE_CORTEX_RIGHT"):
        atlas_for(left_only)
    mesh164k = BrainModelAxis.from_surface(
        np.arange(100), 163842, "CortexLeft"
    ) + BrainModelAxis.from_surface(np.arange(100), 163842, "CortexRight")
    with pytest.raises(InputError, match=r"163842 vertices .* expected 32492"):
        atlas_for(mesh164k)
    with pytest.raises(InputError, match="expected CIFTI_STRUCTURE_CORTEX_LEFT"):
        atlas_for(_fake_subcortex())
    with pytest.raises(InputError, match="expected a BrainModelAxis"):
        atlas_for(nib.cifti2.ScalarAxis(["a"]))
