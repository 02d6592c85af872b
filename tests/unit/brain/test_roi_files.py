"""Per-subject ROI files (dnnmap.brain.roi_files) in every format, written with nibabel, read
onto the columns of the data's space; files in another space are refused."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.cifti2 import LabelAxis

from dnnmap.brain.cifti import fslr32k_brain_models
from dnnmap.brain.responses_io import Volume
from dnnmap.brain.roi_files import label_columns, read_lut, resolve_labels
from dnnmap.brain.spaces import BrainSpace
from dnnmap.brain.subjects import roi_index
from dnnmap.errors import InputError

FS5 = 10242
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


@pytest.fixture
def volume_space():
    mask = np.zeros((10, 10, 10), bool)
    mask[1:9, 1:9, 1:9] = True
    return BrainSpace("nifti", volume=Volume(np.argwhere(mask), AFFINE, (10, 10, 10))), mask


@pytest.fixture
def surface_space():
    return BrainSpace("gifti", mesh="fsaverage5", hemis=("left", "right"), n_vertices=FS5)


def _write_label(path, vertices):
    """A FreeSurfer ASCII .label file (nibabel reads them, it does not write them)."""
    rows = "".join(f"{v}  0.0  0.0  0.0 0.0\n" for v in vertices)
    path.write_text(f"#!ascii label  , from subject  vox2ras=TkReg\n{len(vertices)}\n{rows}")


def _columns_of(space, keep):
    """Columns of a volume space whose voxel is True in the boolean image ``keep``."""
    i, j, k = space.volume.ijk.T
    return np.flatnonzero(keep[i, j, k])


def test_label_volume_with_freesurfer_and_tsv_luts_and_a_mask(tmp_path, volume_space):
    space, _ = volume_space
    labels = np.zeros((10, 10, 10), np.int16)
    labels[2:4, 2:4, 2:4] = 11
    labels[5:7, 5:7, 5:7] = 12
    labels[0, 0, 0] = 11  # outside the data's mask: not a column
    nib.save(nib.Nifti1Image(labels, AFFINE), tmp_path / "aseg.nii.gz")
    nib.save(nib.MGHImage(labels.astype(np.int32), AFFINE), tmp_path / "aseg.mgz")
    lut = "# FreeSurfer\n0 Unknown 0 0 0 0\n11 FFA 1 2 3 0\n12 PPA 4 5 6 0\n"
    (tmp_path / "lut.txt").write_text(lut)
    (tmp_path / "dseg.tsv").write_text("index\tname\n11\tFFA\n12\tPPA\n")
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[6:8, 1:3, 1:3] = 1
    nib.save(nib.Nifti1Image(mask, AFFINE), tmp_path / "sub-01_EBA.nii.gz")
    assert read_lut(tmp_path / "lut.txt") == {0: "Unknown", 11: "FFA", 12: "PPA"}
    assert read_lut(tmp_path / "dseg.tsv") == {11: "FFA", 12: "PPA"}
    entries = [
        {"file": "aseg.nii.gz", "lut": "lut.txt"},
        {"file": "aseg.mgz", "lut": "dseg.tsv"},
        "sub-01_EBA.nii.gz",
    ]
    named = label_columns(entries, space, "sub-01", base=tmp_path)
    assert sorted(named) == ["FFA", "PPA", "sub-01_EBA"]
    np.testing.assert_array_equal(named["FFA"], _columns_of(space, labels == 11))
    np.testing.assert_array_equal(named["PPA"], _columns_of(space, labels == 12))
    np.testing.assert_array_equal(named["sub-01_EBA"], _columns_of(space, mask == 1))
    both = resolve_labels("faces", ["FFA", "PPA"], named, space)
    np.testing.assert_array_equal(both, _columns_of(space, labels > 10))
    with pytest.raises(
        InputError,
        match=r"ROI 'x': label 'FFa' is in none of the ROI files; "
        r"did you mean 'FFA'",
    ):
        resolve_labels("x", ["FFa"], named, space)


def test_label_volume_in_another_space_or_without_lut(tmp_path, volume_space):
    space, _ = volume_space
    other = AFFINE.copy()
    other[:3, 3] = 5
    nib.save(nib.Nifti1Image(np.ones((10, 10, 10), np.uint8), other), tmp_path / "shift.nii")
    nib.save(nib.Nifti1Image(np.ones((9, 10, 10), np.uint8), AFFINE), tmp_path / "small.nii")
    nib.save(nib.Nifti1Image(np.full((10, 10, 10), 3, np.uint8), AFFINE), tmp_path / "lab.nii")
    for name in ("shift.nii", "small.nii"):
        with pytest.raises(
            InputError,
            match=r"^sub-01.roi_files.0: .*ROI file is in another "
            r"space than the data",
        ):
            label_columns([name], space, "sub-01", base=tmp_path)
    with pytest.raises(InputError, match=r"needs a lookup table \('lut'\)"):
        label_columns(["lab.nii"], space, "sub-01", base=tmp_path)
    (tmp_path / "lh.x.annot").write_text("x")
    with pytest.raises(InputError, match=r"surface labels for the volume"):
        label_columns(["lh.x.annot"], space, "sub-01", base=tmp_path)


def test_surface_label_files_of_every_kind(tmp_path, surface_space):
    space = surface_space
    rng = np.random.default_rng(0)
    left = rng.integers(0, 3, FS5)
    right = rng.integers(0, 3, FS5)
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 1], [0, 255, 0, 0, 2]])
    nib.freesurfer.write_annot(tmp_path / "lh.visual.annot", left, ctab, [b"unknown", b"V1", b"V2"])
    gii = nib.gifti.GiftiImage()
    gii.labeltable.labels = [nib.gifti.GiftiLabel(k) for k in range(3)]
    for label, name in zip(gii.labeltable.labels, ["???", "V1", "V2"], strict=True):
        label.label = name
    gii.add_gifti_data_array(
        nib.gifti.GiftiDataArray(right.astype(np.int32), intent="NIFTI_INTENT_LABEL")
    )
    nib.save(gii, tmp_path / "visual.R.label.gii")
    face = np.array([5, 17, 400])
    _write_label(tmp_path / "rh.FFA.label", face)
    labelled = np.zeros((FS5, 1, 1), np.int32)
    labelled[100:110] = 7
    nib.save(nib.MGHImage(labelled, np.eye(4)), tmp_path / "lh.loc.mgz")
    (tmp_path / "loc.txt").write_text("7 LOC 1 1 1 0\n")
    entries = [
        "lh.visual.annot",
        "visual.R.label.gii",
        "rh.FFA.label",
        {"file": "lh.loc.mgz", "lut": "loc.txt"},
    ]
    named = label_columns(entries, space, "sub-02", base=tmp_path)
    assert sorted(named) == ["FFA", "LOC", "V1", "V2"]  # 'unknown' and key 0 are no label
    expected_v1 = np.concatenate([np.flatnonzero(left == 1), FS5 + np.flatnonzero(right == 1)])
    np.testing.assert_array_equal(named["V1"], expected_v1)
    np.testing.assert_array_equal(named["FFA"], FS5 + face)
    np.testing.assert_array_equal(named["LOC"], np.arange(100, 110))
    np.testing.assert_array_equal(
        resolve_labels("lV1", ["L_V1"], named, space), np.flatnonzero(left == 1)
    )
    np.testing.assert_array_equal(
        roi_index(space, "V", ["V1", "V2"], entries, "sub-02", tmp_path),
        np.union1d(
            expected_v1,
            np.concatenate([np.flatnonzero(left == 2), FS5 + np.flatnonzero(right == 2)]),
        ),
    )


def test_surface_label_files_in_another_space(tmp_path, surface_space):
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 1]])
    nib.freesurfer.write_annot(tmp_path / "lh.big.annot", np.ones(40962, int), ctab, [b"u", b"A"])
    _write_label(tmp_path / "rh.far.label", [1, FS5 + 3])
    nib.freesurfer.write_annot(tmp_path / "nohemi.annot", np.ones(FS5, int), ctab, [b"u", b"A"])
    with pytest.raises(InputError) as err:
        label_columns(["lh.big.annot"], surface_space, "sub-02", base=tmp_path)
    assert "40962 vertices (fsaverage6); expected the data's fsaverage5 (10242 vertices)" in str(
        err.value
    )
    with pytest.raises(InputError, match=r"vertex 10245 beyond the data's fsaverage5"):
        label_columns(["rh.far.label"], surface_space, "sub-02", base=tmp_path)
    with pytest.raises(InputError, match=r"which hemisphere\?"):
        label_columns(["nohemi.annot"], surface_space, "sub-02", base=tmp_path)
    named = label_columns([{"file": "nohemi.annot", "hemi": "right"}], surface_space, "s", tmp_path)
    np.testing.assert_array_equal(named["A"], FS5 + np.arange(FS5))


def test_dlabel_on_the_data_grayordinates(tmp_path):
    bm = fslr32k_brain_models()[:100]
    space = BrainSpace("cifti", brain_models=bm)
    values = np.zeros((1, 100), np.float32)
    values[0, 10:20] = 1
    values[0, 50:55] = 2
    table = {0: ("???", (0, 0, 0, 0)), 1: ("FFA", (1, 0, 0, 1)), 2: ("OFA", (0, 1, 0, 1))}
    header = nib.cifti2.Cifti2Header.from_axes((LabelAxis(["rois"], [table]), bm))
    nib.save(nib.Cifti2Image(values, header), tmp_path / "rois.dlabel.nii")
    named = label_columns(["rois.dlabel.nii"], space, "s", tmp_path)
    np.testing.assert_array_equal(named["FFA"], np.arange(10, 20))
    np.testing.assert_array_equal(named["OFA"], np.arange(50, 55))
    other = BrainSpace("cifti", brain_models=fslr32k_brain_models()[:90])
    with pytest.raises(
        InputError,
        match=r"ROI file is in another space than the data: 100 "
        r"grayordinates",
    ):
        label_columns(["rois.dlabel.nii"], other, "s", tmp_path)
