"""Tests of dnnmap.brain.roi: map alignment by stim_id and ROI responses from a CIFTI file."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pytest

from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar
from dnnmap.brain.roi import align_maps, roi_responses
from dnnmap.errors import InputError

IDS = ["s0", "s1", "s2", "s3", "s4", "s5"]


# --- align_maps -------------------------------------------------------------------------------


def test_align_maps_reorders_by_name():
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(IDS))
    names = [IDS[i] for i in perm]
    order = align_maps(names, IDS, "r.dscalar.nii", "stimuli.tsv")
    assert [names[i] for i in order] == IDS
    # data[order] puts rows in table order: a row holds its own id's number.
    data = np.array([int(n[1:]) for n in names])
    np.testing.assert_array_equal(data[order], np.arange(len(IDS)))
    np.testing.assert_array_equal(order, np.argsort(perm))


def test_align_maps_identity_and_dtseries(caplog):
    np.testing.assert_array_equal(align_maps(IDS, IDS, "r", "t"), np.arange(6))
    with caplog.at_level(logging.WARNING, logger="dnnmap"):
        order = align_maps(None, IDS, "r.dtseries.nii", "t", n_maps=6)
    np.testing.assert_array_equal(order, np.arange(6))
    assert "r.dtseries.nii has no map names" in caplog.text


def test_align_maps_names_the_missing_map():
    with pytest.raises(InputError) as err:
        align_maps(IDS[:5], IDS, "resp.dscalar.nii", "stimuli.tsv")
    msg = str(err.value)
    assert "resp.dscalar.nii has 5 maps but no map named 's5'" in msg
    assert "stimuli.tsv, 6 stimuli; 1 ids missing" in msg


def test_align_maps_extra_named_maps_are_a_subset(caplog):
    """Extra maps named by stim_id are allowed (a subset of stimuli runs), counted in the log."""
    names = ["x0", *IDS[::-1], "x1"]
    with caplog.at_level(logging.INFO, logger="dnnmap"):
        order = align_maps(names, IDS[1:4], "resp.dscalar.nii", "stimuli.tsv")
    assert [names[i] for i in order] == IDS[1:4]
    assert "resp.dscalar.nii: 5 of 8 maps are not in stimuli.tsv (e.g. 'x0')" in caplog.text


def test_align_maps_unnamed_count_names_the_map():
    with pytest.raises(InputError) as err:
        align_maps(None, IDS, "r.dtseries.nii", "stimuli.tsv", n_maps=4)
    msg = str(err.value)
    assert "r.dtseries.nii has 4 maps but stimuli.tsv has 6 stimuli" in msg
    assert "no map for stim_id 's4' (stimulus 5) and 1 more" in msg
    with pytest.raises(InputError, match=r"has 8 maps .* map 7 of 8 has no stimulus"):
        align_maps(None, IDS, "r.dtseries.nii", "stimuli.tsv", n_maps=8)


def test_align_maps_missing_id():
    names = [*IDS[:5], "other"]
    with pytest.raises(
        InputError, match=r"resp.dscalar.nii has 6 maps but no map named 's5'.*stimuli.tsv"
    ):
        align_maps(names, IDS, "resp.dscalar.nii", "stimuli.tsv")


def test_align_maps_repeated_names():
    names = [*IDS[:5], "s0"]
    with pytest.raises(
        InputError, match=r"resp.dscalar.nii: map name 's0' repeats \(maps 1 and 6\)"
    ):
        align_maps(names, IDS, "resp.dscalar.nii", "stimuli.tsv")


# --- roi_responses ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def responses_file(tmp_path_factory):
    bm = fslr32k_brain_models()
    rng = np.random.default_rng(1)
    names = [IDS[i] for i in rng.permutation(len(IDS))]
    # Distinct values: map of stim sK holds K * 100000 + grayordinate index.
    data = np.array([int(n[1:]) * 100000 + np.arange(len(bm)) for n in names], dtype=np.float64)
    path = tmp_path_factory.mktemp("brain") / "sub.dscalar.nii"
    write_dscalar(path, data, names, bm)
    return path, names, data


def test_roi_responses_in_table_order(responses_file):
    path, names, _ = responses_file
    responses, index = roi_responses(path, IDS, "V1", ["V1"], table="stimuli.tsv")
    expected_index = resolve_roi("V1", ["V1"], mmp_atlas())
    assert index.dtype == np.int64
    np.testing.assert_array_equal(index, expected_index)
    # Reference read with nibabel: rows by map name, columns at the V1 grayordinates.
    img = nib.load(path)
    ref_names = list(img.header.get_axis(0).name)
    assert ref_names == names
    ref = np.asarray(img.dataobj)[[ref_names.index(s) for s in IDS]][:, expected_index]
    assert responses.dtype == np.float32
    assert responses.shape == (len(IDS), expected_index.size) and responses.flags.c_contiguous
    np.testing.assert_array_equal(responses, ref)
    expected = np.arange(len(IDS))[:, None] * 100000 + expected_index[None, :]
    np.testing.assert_array_equal(responses, expected.astype(np.float32))


def test_roi_responses_one_hemisphere_and_reordered_table(responses_file):
    path, _, _ = responses_file
    ids = IDS[::-1]
    responses, index = roi_responses(path, ids, "lV1", ["L_V1"])
    np.testing.assert_array_equal(index, resolve_roi("lV1", "L_V1", mmp_atlas()))
    assert index.max() < 29696  # left hemisphere only
    expected = np.array([int(s[1:]) for s in ids])[:, None] * 100000 + index[None, :]
    np.testing.assert_array_equal(responses, expected.astype(np.float32))


def test_roi_responses_wrong_count(responses_file):
    path, _, _ = responses_file
    with pytest.raises(InputError, match=r"sub.dscalar.nii has 6 maps but no map named 's6'"):
        roi_responses(path, [*IDS, "s6"], "V1", ["V1"], table="stimuli.tsv")
    with pytest.raises(InputError, match=r"sub.dscalar.nii has 6 maps but no map named 'x'"):
        roi_responses(path, [*IDS[:5], "x"], "V1", ["V1"])


def test_roi_responses_subset_of_named_maps(responses_file):
    path, _, _ = responses_file
    ids = ["s4", "s1"]
    responses, index = roi_responses(path, ids, "V1", ["V1"])
    expected = np.array([4, 1])[:, None] * 100000 + index[None, :]
    np.testing.assert_array_equal(responses, expected.astype(np.float32))
