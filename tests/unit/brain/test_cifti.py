"""Tests for dnnmap.brain.cifti: fsLR-32k grayordinates and CIFTI-2 dense scalar files."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.cifti2 import BrainModelAxis, ParcelsAxis, ScalarAxis, SeriesAxis

from dnnmap.brain import cifti
from dnnmap.errors import InputError


@pytest.fixture(scope="module")
def bm() -> BrainModelAxis:
    return cifti.fslr32k_brain_models()


def test_fslr32k_brain_models_is_the_hcp_cortex(bm):
    assert isinstance(bm, BrainModelAxis)
    assert len(bm) == 59412
    parts = {str(name): (slc, len(sub)) for name, slc, sub in bm.iter_structures()}
    assert list(parts) == ["CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT"]
    assert parts["CIFTI_STRUCTURE_CORTEX_LEFT"][1] == 29696
    assert parts["CIFTI_STRUCTURE_CORTEX_RIGHT"][1] == 29716
    assert parts["CIFTI_STRUCTURE_CORTEX_RIGHT"][0].start == 29696
    assert {int(n) for n in bm.nvertices.values()} == {32492}
    assert bm.surface_mask.all()
    assert bm.volume_shape is None


def test_fslr32k_brain_models_returns_a_copy(bm):
    other = cifti.fslr32k_brain_models()
    other.vertex[:] = 0
    assert cifti.fslr32k_brain_models() == bm


def test_round_trip(tmp_path, bm):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, len(bm)))
    names = ["alpha", "beta map", "γ"]
    path = tmp_path / "sub" / "maps.dscalar.nii"
    cifti.write_dscalar(path, data, names, bm)
    assert sorted(p.name for p in path.parent.iterdir()) == ["maps.dscalar.nii"]

    got = cifti.read_dscalar(path)
    got_data, got_names, got_bm = got
    assert got_data.dtype == np.float32
    np.testing.assert_array_equal(got_data, data.astype(np.float32))
    assert got_names == names
    assert got_bm == bm

    img = nib.load(path)
    assert isinstance(img, nib.cifti2.Cifti2Image)
    assert img.shape == (3, len(bm))
    np.testing.assert_array_equal(img.get_fdata(), data.astype(np.float32))
    rows, cols = img.header.get_axis(0), img.header.get_axis(1)
    assert isinstance(rows, ScalarAxis)
    assert list(rows.name) == names
    assert isinstance(cols, BrainModelAxis)
    assert cols == bm
    assert img.nifti_header.get_intent()[0] == "ConnDenseScalar"
    assert int(img.nifti_header["intent_code"]) == 3006
    assert img.get_data_dtype() == np.float32


def test_round_trip_small_axis_and_overwrite(tmp_path, bm):
    small = bm[:50]
    path = tmp_path / "small.dscalar.nii"
    cifti.write_dscalar(path, np.ones((1, 50)), ["one"], small)
    cifti.write_dscalar(path, np.full((2, 50), 2, dtype=np.int16), ["a", "b"], small)
    data, names, got_bm = cifti.read_dscalar(path)
    assert data.shape == (2, 50)
    assert (data == 2).all()
    assert names == ["a", "b"]
    assert got_bm == small


@pytest.mark.parametrize(
    ("data", "names", "match"),
    [
        (np.zeros((2, 10)), ["a", "b"], "expected \\(n_maps, 50\\)"),
        (np.zeros(50), ["a"], "expected \\(n_maps, 50\\)"),
        (np.zeros((2, 50)), ["a"], "got 1 names for 2 maps"),
        (np.zeros((1, 50)), "a", "expected one name per map"),
        (np.zeros((1, 50)), [1], "expected one str per map"),
        (np.zeros((0, 50)), [], "no maps"),
        (np.full((1, 50), "x"), ["a"], "expected real numbers"),
    ],
)
def test_bad_input_raises_and_writes_nothing(tmp_path, bm, data, names, match):
    path = tmp_path / "bad.dscalar.nii"
    with pytest.raises(InputError, match=match):
        cifti.write_dscalar(path, data, names, bm[:50])
    assert list(tmp_path.iterdir()) == []


def test_bad_suffix_and_axis(tmp_path, bm):
    with pytest.raises(InputError, match=r"must end with '\.dscalar\.nii'"):
        cifti.write_dscalar(tmp_path / "maps.nii", np.zeros((1, 50)), ["a"], bm[:50])
    with pytest.raises(InputError, match=r"expected a nibabel\.cifti2\.BrainModelAxis"):
        cifti.write_dscalar(tmp_path / "m.dscalar.nii", np.zeros((1, 5)), ["a"], ScalarAxis(["x"]))
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_no_file(tmp_path, bm, monkeypatch):
    path = tmp_path / "maps.dscalar.nii"

    def broken(self, file_map, *args, **kwargs):
        file_map["image"].fileobj.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib.Nifti2Image, "to_file_map", broken)
    with pytest.raises(OSError, match="disk full"):
        cifti.write_dscalar(path, np.zeros((1, 50)), ["a"], bm[:50])
    assert list(tmp_path.iterdir()) == []


def test_read_dtseries_gives_no_names(tmp_path, bm):
    small = bm[:20]
    data = np.arange(60, dtype=np.float32).reshape(3, 20)
    header = nib.cifti2.Cifti2Header.from_axes((SeriesAxis(0, 0.72, 3), small))
    img = nib.cifti2.Cifti2Image(data, header)
    img.nifti_header.set_intent("ConnDenseSeries")
    path = tmp_path / "run.dtseries.nii"
    nib.save(img, path)
    got, names, got_bm = cifti.read_dscalar(path)
    np.testing.assert_array_equal(got, data)
    assert names is None
    assert got_bm == small


def test_read_rejects_non_cifti(tmp_path, bm):
    missing = tmp_path / "missing.dscalar.nii"
    with pytest.raises(InputError, match=r"missing\.dscalar\.nii: no such file"):
        cifti.read_dscalar(missing)

    garbage = tmp_path / "garbage.dscalar.nii"
    garbage.write_bytes(b"not a nifti file at all")
    with pytest.raises(InputError, match=r"garbage\.dscalar\.nii: not readable as CIFTI-2"):
        cifti.read_dscalar(garbage)

    nifti = tmp_path / "vol.nii"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.float32), np.eye(4)), nifti)
    with pytest.raises(
        InputError, match=r"vol\.nii: is a NIfTI volume \(Nifti1Image\); volume responses are "
    ):
        cifti.read_dscalar(nifti)


def test_read_header_and_unsupported_formats(tmp_path, bm):
    path = tmp_path / "r.dscalar.nii"
    cifti.write_dscalar(path, np.zeros((3, len(bm))), ["a", "b", "c"], bm)
    header = cifti.read_header(path)
    assert header.names == ["a", "b", "c"] and header.n_maps == 3 and header.brain_models == bm
    gifti = tmp_path / "lh.func.gii"
    nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(np.zeros(4, "f4"))]), gifti)
    with pytest.raises(InputError) as err:
        cifti.read_header(gifti)
    msg = str(err.value)
    assert msg.startswith(f"{gifti}: is a GIFTI surface file (GiftiImage); GIFTI responses are ")
    assert "not supported yet" in msg and "wb_command -cifti-create-dense-scalar" in msg


def test_read_rejects_parcellated(tmp_path, bm):
    parcels = ParcelsAxis.from_brain_models([("p1", bm[:10]), ("p2", bm[10:20])])
    header = nib.cifti2.Cifti2Header.from_axes((ScalarAxis(["a"]), parcels))
    img = nib.cifti2.Cifti2Image(np.zeros((1, 2), dtype=np.float32), header)
    img.nifti_header.set_intent("ConnParcelScalr")
    path = tmp_path / "parc.pscalar.nii"
    nib.save(img, path)
    with pytest.raises(InputError, match="second axis is a ParcelsAxis; expected brain models"):
        cifti.read_dscalar(path)


def test_read_brain_models_reads_the_header_only(tmp_path):
    axis = cifti.fslr32k_brain_models()
    path = tmp_path / "m.dscalar.nii"
    cifti.write_dscalar(path, np.ones((3, len(axis)), dtype=np.float32), ["a", "b", "c"], axis)
    # Cut the file where the data begin: the header is intact, the data are gone.
    with open(path, "r+b") as f:
        offset = int(nib.Nifti2Header.from_fileobj(f)["vox_offset"])
        assert offset > 540
        f.truncate(offset)
    assert cifti.read_brain_models(path) == axis
    with pytest.raises(Exception):  # noqa: B017 (any error: the data are missing)
        cifti.read_dscalar(path)
