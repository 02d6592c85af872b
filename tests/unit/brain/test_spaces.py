"""Brain data in every format through one seam (dnnmap.brain.spaces): NIfTI volumes in a mask,
GIFTI and MGH per hemisphere, CIFTI; maps written back in the input's format and read back
with nibabel (and Connectome Workbench where ``wb_command`` is installed)."""

from __future__ import annotations

import shutil
import subprocess

import nibabel as nib
import numpy as np
import pytest

from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.brain.cifti import fslr32k_brain_models, read_dscalar, write_dscalar
from dnnmap.brain.responses_io import read_volume_map_names
from dnnmap.brain.spaces import (
    BrainSpace,
    SubjectData,
    map_suffixes,
    read_data,
    read_data_header,
    read_ids,
    read_maps,
    space_of,
    write_maps,
)
from dnnmap.brain.subjects import check_subject, roi_index, subject_map_suffixes
from dnnmap.brain.surface_io import MESHES, read_gifti, read_mgh
from dnnmap.errors import InputError

IDS = ["s0", "s1", "s2", "s3", "s4"]
FS5 = MESHES["fsaverage5"]
WB = shutil.which("wb_command")


def _wb_reads(path):
    """Connectome Workbench reads the file (skipped where wb_command is not installed)."""
    if WB is None:
        return
    proc = subprocess.run(
        [WB, "-file-information", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def volume_files(tmp_path):
    """A 10x10x10 4-D NIfTI, one volume per stimulus in a shuffled order named by a sidecar,
    and a mask of a 4x5x3 block."""
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-10, -12, -8]
    order = [3, 0, 4, 1, 2]
    values = rng.standard_normal((10, 10, 10, len(IDS))).astype(np.float32)
    nib.save(nib.Nifti1Image(values, affine), tmp_path / "betas.nii.gz")
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[2:6, 3:8, 4:7] = 1
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii.gz")
    (tmp_path / "ids.txt").write_text("\n".join(IDS[i] for i in order) + "\n")
    return tmp_path, values, mask, affine, order


def test_nifti_volume_in_a_mask_round_trip(volume_files):
    folder, values, mask, affine, order = volume_files
    data = SubjectData.from_config("betas.nii.gz", "mask.nii.gz", "ids.txt", base=folder)
    responses, space = read_data(data, IDS)
    assert space.format == "nifti" and space.n_columns == mask.sum() == 60
    # row k of the file is stimulus IDS[order[k]]: table order puts it back
    keep = mask != 0
    for k, i in enumerate(order):
        np.testing.assert_array_equal(responses[i], values[..., k][keep])
    maps = responses[:2] * 3
    out = folder / "maps.nii.gz"
    write_maps(out, maps, ["a", "b"], space)
    img = nib.load(out)
    assert img.shape == (10, 10, 10, 2) and np.allclose(img.affine, affine)
    got = np.asarray(img.dataobj)
    np.testing.assert_allclose(got[keep].T, maps, rtol=1e-6)
    assert (got[~keep] == 0).all()
    assert read_volume_map_names(out) == ["a", "b"]
    assert (
        space_of(
            {"responses": "betas.nii.gz", "mask": "mask.nii.gz", "ids": "ids.txt", "base": folder}
        ).mismatch(space)
        is None
    )
    assert map_suffixes(space) == [".nii.gz"]


def test_mask_of_another_grid_is_refused(volume_files):
    folder, _, mask, affine, _ = volume_files
    shifted = affine.copy()
    shifted[0, 3] += 1
    nib.save(nib.Nifti1Image(mask, shifted), folder / "shifted.nii.gz")
    nib.save(nib.Nifti1Image(mask[:9], affine), folder / "small.nii.gz")
    with pytest.raises(InputError, match=r"shifted.nii.gz: affine differs from .*betas.nii.gz"):
        read_data_header(SubjectData.from_config("betas.nii.gz", "shifted.nii.gz", base=folder))
    with pytest.raises(InputError, match=r"mask has shape \(9, 10, 10\); expected \(10, 10, 10\)"):
        read_data_header(SubjectData.from_config("betas.nii.gz", "small.nii.gz", base=folder))


def test_ids_sidecar_checks(volume_files):
    folder = volume_files[0]
    (folder / "short.txt").write_text("s0\ns1\n")
    data = SubjectData.from_config("betas.nii.gz", "mask.nii.gz", "short.txt", "sub.x", folder)
    with pytest.raises(
        InputError,
        match=r"^sub.x: ids file .*short.txt names 2 maps but the "
        r"data has 5",
    ):
        read_data(data, IDS)
    (folder / "other.tsv").write_text("stim_id\ts0\ns1\ns2\ns3\nzz\n".replace("\ts0", "\ns0"))
    assert read_ids(folder / "other.tsv") == ["s0", "s1", "s2", "s3", "zz"]
    data = SubjectData.from_config("betas.nii.gz", "mask.nii.gz", "other.tsv", "sub.x", folder)
    with pytest.raises(InputError, match=r"no map named 's4'"):
        read_data(data, IDS)


def _gifti(path, data, names=None, hemi=None):
    meta = {"AnatomicalStructurePrimary": hemi} if hemi else {}
    img = nib.gifti.GiftiImage(meta=nib.gifti.GiftiMetaData(meta))
    for k, row in enumerate(data):
        d_meta = nib.gifti.GiftiMetaData({"Name": names[k]} if names else {})
        img.add_gifti_data_array(nib.gifti.GiftiDataArray(row.astype(np.float32), meta=d_meta))
    nib.save(img, path)


def test_gifti_fsaverage5_round_trip_with_workbench(tmp_path):
    rng = np.random.default_rng(1)
    left = rng.standard_normal((len(IDS), FS5)).astype(np.float32)
    right = rng.standard_normal((len(IDS), FS5)).astype(np.float32)
    names = IDS[::-1]  # maps named by stim_id, in another order than the table
    _gifti(tmp_path / "L.func.gii", left[::-1], names, "CortexLeft")
    _gifti(tmp_path / "R.func.gii", right[::-1], names)
    data = SubjectData.from_config({"left": "L.func.gii", "right": "R.func.gii"}, base=tmp_path)
    responses, space = read_data(data, IDS)
    assert (space.format, space.mesh, space.hemis) == ("gifti", "fsaverage5", ("left", "right"))
    np.testing.assert_array_equal(responses, np.concatenate([left, right], axis=1))
    assert space.map_paths("m") == ["m.L.func.gii", "m.R.func.gii"]
    maps = responses[:3]
    for hemi, path in zip(space.hemis, space.map_paths(tmp_path / "m"), strict=True):
        write_maps(path, maps, ["x", "y", "z"], space)
        got, got_names, got_hemi = read_gifti(path)
        np.testing.assert_array_equal(got, maps[:, space.hemi_columns(hemi)])
        assert got_names == ["x", "y", "z"] and got_hemi == hemi
        info = _wb_reads(path)
        assert info is None or "10242" in info
    with pytest.raises(InputError, match=r"expected a file name ending in '.L.func.gii' or"):
        write_maps(tmp_path / "m.dscalar.nii", maps, ["x", "y", "z"], space)
    with pytest.raises(InputError, match=r"maps have shape \(3, 5\); expected \(3, 20484\)"):
        write_maps(tmp_path / "m.L.func.gii", maps[:, :5], ["x", "y", "z"], space)


def test_surface_meshes_are_checked(tmp_path):
    _gifti(tmp_path / "odd.func.gii", np.zeros((5, 5000)))
    _gifti(tmp_path / "fs5.func.gii", np.zeros((5, FS5)))
    _gifti(tmp_path / "fs6.func.gii", np.zeros((5, MESHES["fsaverage6"])))
    _gifti(tmp_path / "right.func.gii", np.zeros((5, FS5)), hemi="CortexRight")
    with pytest.raises(
        InputError,
        match=r"5000 vertices fit no known surface mesh; expected one "
        r"hemisphere of fsLR-32k 32492",
    ):
        read_data_header(SubjectData.from_config({"left": str(tmp_path / "odd.func.gii")}))
    with pytest.raises(InputError) as err:
        read_data_header(
            SubjectData.from_config(
                {"left": "fs5.func.gii", "right": "fs6.func.gii"}, where="sub.y", base=tmp_path
            )
        )
    assert str(err.value) == (
        "sub.y: the hemispheres are on different meshes (left fsaverage5 (10242 vertices), "
        "right fsaverage6 (40962 vertices)); expected one mesh"
    )
    with pytest.raises(InputError, match=r"right.func.gii is marked as the right hemisphere"):
        read_data_header(SubjectData.from_config({"left": str(tmp_path / "right.func.gii")}))
    with pytest.raises(InputError, match=r"come per hemisphere"):
        SubjectData.from_config(str(tmp_path / "fs5.func.gii")).format()


def test_mgh_fsaverage5_with_ids_tsv(tmp_path):
    rng = np.random.default_rng(2)
    values = rng.standard_normal((2, len(IDS), FS5)).astype(np.float32)
    for h, hemi in enumerate(("lh", "rh")):
        frames = values[h].T.reshape(FS5, 1, 1, len(IDS))
        nib.save(nib.MGHImage(frames, np.eye(4)), tmp_path / f"{hemi}.betas.mgz")
    (tmp_path / "ids.tsv").write_text("stim_id\tonset\n" + "".join(f"{s}\t0\n" for s in IDS))
    entry = {"responses": {"left": "lh.betas.mgz", "right": "rh.betas.mgz"}, "ids": "ids.tsv"}
    data = SubjectData.from_config(**entry, base=tmp_path)
    responses, space = read_data(data, IDS[::-1])
    np.testing.assert_array_equal(responses, np.concatenate(list(values), axis=1)[::-1])
    assert subject_map_suffixes(entry) == [".lh.mgz", ".rh.mgz"]
    write_maps(tmp_path / "m.rh.mgz", responses[:2], ["a", "b"], space)
    np.testing.assert_array_equal(read_mgh(tmp_path / "m.rh.mgz"), responses[:2, FS5:])


def test_cifti_through_the_seam_and_fslr32k_gifti_with_the_atlas(tmp_path):
    bm = fslr32k_brain_models()
    rng = np.random.default_rng(3)
    data = rng.standard_normal((len(IDS), len(bm))).astype(np.float32)
    write_dscalar(tmp_path / "r.dscalar.nii", data, IDS, bm)
    space = space_of(tmp_path / "r.dscalar.nii")
    assert space.format == "cifti" and map_suffixes(space) == [".dscalar.nii"]
    write_maps(tmp_path / "m.dscalar.nii", data[:2], ["a", "b"], space)
    got = read_dscalar(tmp_path / "m.dscalar.nii")
    assert got.names == ["a", "b"] and got.brain_models == bm
    np.testing.assert_array_equal(got.data, data[:2])
    _wb_reads(tmp_path / "m.dscalar.nii")
    # GIFTI on fsLR-32k: the HCP-MMP atlas carried to every vertex of each hemisphere
    n = MESHES["fsLR-32k"]
    surf = BrainSpace("gifti", mesh="fsLR-32k", hemis=("left", "right"), n_vertices=n)
    index = roi_index(surf, "V1", ["V1"])
    expected = resolve_roi("V1", ["V1"], mmp_atlas())
    vertex = np.concatenate([bm.vertex[:29696], bm.vertex[29696:] + n])
    np.testing.assert_array_equal(index, np.sort(vertex[expected]))
    with pytest.raises(InputError, match=r"give the subject's roi_files"):
        roi_index(
            BrainSpace("gifti", mesh="fsaverage5", hemis=("left",), n_vertices=FS5), "V1", ["V1"]
        )


def test_check_subject_repeats_in_another_space(volume_files):
    folder, values, mask, affine, _ = volume_files
    nib.save(nib.Nifti1Image(values[:8], affine), folder / "rep.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), folder / "roi.nii.gz")
    entry = {
        "responses": "betas.nii.gz",
        "mask": "mask.nii.gz",
        "ids": "ids.txt",
        "repeats": ["betas.nii.gz", "rep.nii.gz"],
        "roi_files": [{"file": "roi.nii.gz", "name": "block"}],
    }
    with pytest.raises(
        InputError,
        match=r"^sub-1.repeats.1: .*mask has shape \(10, 10, 10\); "
        r"expected \(8, 10, 10\)",
    ):
        check_subject(entry, {"B": ["block"]}, IDS, "sub-1", folder)
    entry["repeats"] = ["betas.nii.gz", "betas.nii.gz"]
    sizes = check_subject(entry, {"B": ["block"]}, IDS, "sub-1", folder)
    # jobs are sized by the whole grid: a NIfTI file is read whole before the mask
    assert sizes == {"B": 60} and sizes.columns == {"sub-1": 1000}


def test_pictures_use_meshes_on_disk_and_put_grayordinates_on_vertices(tmp_path):
    from dnnmap.brain.pictures import plot_encoding_brain, shipped_mesh, surface_values

    for mesh in ("fsLR-32k", "fsaverage5"):
        for hemi in ("left", "right"):
            path = shipped_mesh(mesh, hemi)
            assert path is not None and path.is_file()
            assert nib.load(path).darrays[0].data.shape[0] == MESHES[mesh]
    assert shipped_mesh("fsaverage6", "left") is None
    bm = fslr32k_brain_models()
    values = np.arange(len(bm), dtype=float)
    per_hemi = surface_values(values, BrainSpace("cifti", brain_models=bm))
    mesh, left = per_hemi["left"]
    assert mesh == "fsLR-32k" and left.shape == (32492,)
    np.testing.assert_array_equal(left[bm.vertex[:29696]], values[:29696])
    assert np.isnan(left).sum() == 32492 - 29696  # the medial wall
    # a mesh no package ships: the figure says so instead of downloading one
    space = BrainSpace("gifti", mesh="fsaverage6", hemis=("left",), n_vertices=40962)
    maps = np.zeros((3, 40962))
    plot_encoding_brain(maps, ["a", "b", "best_layer"], space, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0


def test_surface_repeats_and_roi_files_through_check_subject(tmp_path):
    """GIFTI responses and repeats per hemisphere, ROIs from .annot files: sizes come back;
    a repeat on another mesh is refused."""
    rng = np.random.default_rng(4)
    for name, n in (("a", FS5), ("b", FS5), ("c", MESHES["fsaverage6"])):
        for side in ("L", "R"):
            _gifti(tmp_path / f"{name}.{side}.func.gii", rng.standard_normal((5, n)), IDS)
    ctab = np.array([[0, 0, 0, 0, 0], [255, 0, 0, 0, 1]])
    for hemi in ("lh", "rh"):
        labels = np.zeros(FS5, int)
        labels[:25] = 1
        nib.freesurfer.write_annot(tmp_path / f"{hemi}.x.annot", labels, ctab, [b"u", b"FFA"])
    entry = {
        "responses": {"left": "a.L.func.gii", "right": "a.R.func.gii"},
        "repeats": [
            {"left": "a.L.func.gii", "right": "a.R.func.gii"},
            {"left": "b.L.func.gii", "right": "b.R.func.gii"},
        ],
        "roi_files": ["lh.x.annot", "rh.x.annot"],
    }
    rois = {"FFA": ["FFA"], "lFFA": ["L_FFA"]}
    sizes = check_subject(entry, rois, IDS, "sub-s", tmp_path)
    assert sizes == {"FFA": 50, "lFFA": 25} and sizes.columns == {"sub-s": 2 * FS5}
    entry["repeats"][1] = {"left": "c.L.func.gii", "right": "c.R.func.gii"}
    with pytest.raises(InputError, match=r"^sub-s.repeats.1: fsaverage6 surface .* differs from"):
        check_subject(entry, rois, IDS, "sub-s", tmp_path)


def test_read_maps_reads_back_every_format(tmp_path, volume_files):
    """write_maps then read_maps gives the same maps (and names where the format keeps
    them); the plot_brain_maps rule script draws them."""
    import importlib.util
    from pathlib import Path

    from dnnmap.brain.spaces import read_maps

    folder = volume_files[0]
    rng = np.random.default_rng(5)
    bm = fslr32k_brain_models()[:60]
    spaces = {
        "cifti": BrainSpace("cifti", brain_models=bm),
        "nifti": space_of({"responses": "betas.nii.gz", "mask": "mask.nii.gz", "base": folder}),
        "gifti": BrainSpace("gifti", mesh="fsaverage5", hemis=("left", "right"), n_vertices=FS5),
        "mgh": BrainSpace("mgh", mesh="fsaverage5", hemis=("right",), n_vertices=FS5),
    }
    for kind, space in spaces.items():
        maps = rng.standard_normal((3, space.n_columns)).astype(np.float32)
        maps[2] = rng.integers(0, 3, space.n_columns)
        paths = space.map_paths(tmp_path / kind)
        for path in paths:
            write_maps(path, maps, ["conv1", "fc6", "best_layer"], space)
        got, names = read_maps(paths, space)
        np.testing.assert_array_equal(got, maps)
        assert names == ["conv1", "fc6", "best_layer"]
    script = Path(__file__).resolve().parents[3] / "scripts" / "plot_brain_maps.py"
    spec = importlib.util.spec_from_file_location("plot_brain_maps", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    space = spaces["nifti"]
    module.main(space, space.map_paths(tmp_path / "nifti"), str(tmp_path / "b.png"), "sub")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_mgh_map_names_sidecar(tmp_path):
    """MGH keeps no names: write_maps puts them in <stem>.names.tsv beside each hemisphere's
    file, read_maps reads them back (None without a sidecar) and refuses a sidecar that
    names another number of maps or is malformed."""
    from dnnmap.brain.spaces import read_maps
    from dnnmap.brain.surface_io import mgh_names_path

    space = BrainSpace("mgh", mesh="fsaverage5", hemis=("left", "right"), n_vertices=FS5)
    maps = np.random.default_rng(2).standard_normal((2, 2 * FS5)).astype(np.float32)
    paths = space.map_paths(tmp_path / "encoding_r")
    for path in paths:
        write_maps(path, maps, ["conv1", "best layer"], space)
    sidecars = [mgh_names_path(p) for p in paths]
    assert [s.name for s in sidecars] == ["encoding_r.lh.names.tsv", "encoding_r.rh.names.tsv"]
    assert sidecars[0].read_text() == "frame\tname\n0\tconv1\n1\tbest layer\n"
    got, names = read_maps(paths, space)
    np.testing.assert_array_equal(got, maps)
    assert names == ["conv1", "best layer"]
    # the MGH files themselves are plain FreeSurfer data (nibabel reads the frames)
    frames = np.asarray(nib.load(paths[1]).dataobj).reshape(FS5, -1).T
    np.testing.assert_array_equal(frames, maps[:, FS5:])

    sidecars[1].write_text("frame\tname\n0\tconv1\n")
    with pytest.raises(InputError, match=r"names 1 maps but .*rh.mgz has 2 frames"):
        read_maps(paths, space)
    sidecars[1].write_text("frame\tname\n0\tconv1\n1\tfc6\n")
    with pytest.raises(InputError, match=r"differ from the other hemisphere's"):
        read_maps(paths, space)
    sidecars[1].write_text("index,name\n")
    with pytest.raises(InputError, match=r"expected 'frame<TAB>name'"):
        read_maps(paths, space)
    for s in sidecars:
        s.unlink()
    assert read_maps(paths, space)[1] is None


@pytest.mark.parametrize("mesh", ["fsaverage", "fsaverage6", "fsaverage5", "fsLR-32k"])
def test_every_surface_mesh_is_known_and_written_back(tmp_path, mesh):
    """GIFTI on each mesh the issue names (fsaverage 163842 vertices per hemisphere,
    fsaverage6, fsaverage5, fsLR-32k) is recognised from its vertex count, and maps are
    written back on that mesh, one file per hemisphere, that Connectome Workbench reads."""
    n = MESHES[mesh]
    values = np.random.default_rng(4).standard_normal((2, 2 * n)).astype(np.float32)
    _gifti(tmp_path / "L.func.gii", values[:, :n], ["s0", "s1"], "CortexLeft")
    _gifti(tmp_path / "R.func.gii", values[:, n:], ["s0", "s1"], "CortexRight")
    data = SubjectData.from_config({"left": "L.func.gii", "right": "R.func.gii"}, base=tmp_path)
    responses, space = read_data(data, ["s1", "s0"])
    assert (space.format, space.mesh, space.n_columns) == ("gifti", mesh, 2 * n)
    np.testing.assert_array_equal(responses, values[::-1])
    paths = space.map_paths(tmp_path / "m")
    for path in paths:
        write_maps(path, responses, ["a", "b"], space)
        info = _wb_reads(path)  # Connectome Workbench reads it, where installed
        assert info is None or str(n) in info
    got, names = read_maps(paths, space)
    np.testing.assert_array_equal(got, responses)
    assert names == ["a", "b"]
