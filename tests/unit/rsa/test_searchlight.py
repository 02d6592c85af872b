"""Tests for dnnmap.rsa.searchlight, dnnmap.brain.responses_io and the searchlight rule scripts.

References: ``scipy.spatial.distance.pdist`` + ``scipy.stats.spearmanr``/``pearsonr`` per
center in a plain loop; a planted signal; shard round trips against the unsharded result.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nibabel.cifti2 import BrainModelAxis
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from dnnmap.brain.cifti import CORTEX_LEFT, read_dscalar, write_dscalar
from dnnmap.brain.neighborhoods import (
    Neighborhoods,
    cifti_neighborhoods,
    surface_neighborhoods,
    volume_neighborhoods,
)
from dnnmap.brain.responses_io import (
    read_responses,
    read_volume,
    read_volume_map_names,
    write_maps,
    write_volume_maps,
)
from dnnmap.errors import InputError
from dnnmap.rsa.rdm import RDM_METRICS
from dnnmap.rsa.searchlight import (
    SEARCHLIGHT_METRICS,
    check_shard,
    merge_searchlight,
    merge_shards,
    prepare_models,
    searchlight_rdms,
    searchlight_rsa,
    shard_centers,
    write_shard,
)
from dnnmap.store import write_h5

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


def write_rdm(path, rdm, stim_ids, attrs):
    """An RDM file as dnnmap.rsa.io writes it: condensed ``rdm`` and ``stim_id``."""
    write_h5(path, {"rdm": np.asarray(rdm, dtype=np.float64)}, attrs=attrs, stim_id=stim_ids)


def grid_mesh(nx, ny, h=1.0):
    x, y = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    coords = np.stack([x.ravel() * h, y.ravel() * h, np.zeros(nx * ny)], axis=1)
    vid = np.arange(nx * ny).reshape(nx, ny)
    a, b = vid[:-1, :-1].ravel(), vid[1:, :-1].ravel()
    c, d = vid[1:, 1:].ravel(), vid[:-1, 1:].ravel()
    return coords, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def random_neighborhoods(n_columns, n_centers, max_size, seed, min_size=1):
    """Neighborhoods of varied sizes over random columns; the first has 1 member.

    (With 2 members every correlation is +-1: the RDM is two values up to rounding, and
    Spearman's ranks of rounding noise differ between any two implementations.)
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(min_size, max_size + 1, n_centers)
    sizes[:3] = [1, min_size, max_size]
    members = [np.sort(rng.choice(n_columns, s, replace=False)) for s in sizes]
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    return Neighborhoods(
        rng.choice(n_columns, n_centers), indptr, np.concatenate(members), radius_mm=1.0
    )


def slow_rsa(data, nb, models, metric, comparison):
    """The reference: one center at a time with scipy."""
    out = np.full((len(nb), len(models)), np.nan)
    for i in range(len(nb)):
        rdm = pdist(data[:, nb.members(i)], metric)
        if not np.isfinite(rdm).all() or np.ptp(rdm) == 0:
            continue
        for m, model in enumerate(models):
            fn = spearmanr if comparison == "spearman" else pearsonr
            out[i, m] = fn(rdm, model)[0]
    return out


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((12, 40)) + rng.standard_normal(40) * 3
    models = np.stack([pdist(rng.standard_normal((12, 5))) for _ in range(3)])
    return data, models


@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_rdms_match_pdist(small, metric):
    data, _ = small
    nb = random_neighborhoods(data.shape[1], 25, 9, seed=1)
    got = searchlight_rdms(data, nb, metric, batch_size=4)
    for i in range(len(nb)):
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = pdist(data[:, nb.members(i)], metric)  # NaN for one member, correlation
        np.testing.assert_allclose(got[i], expected, rtol=1e-10, atol=1e-12, equal_nan=True)
    assert np.isnan(got[0]).all() == (metric == "correlation")


@pytest.mark.parametrize("comparison", ["spearman", "pearson"])
@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
def test_rsa_matches_the_slow_loop(small, metric, comparison):
    data, models = small
    nb = random_neighborhoods(data.shape[1], 30, 10, seed=2, min_size=3)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = slow_rsa(data, nb, models, metric, comparison)
    for batch_size in (None, 1, 7):
        got = searchlight_rsa(data, nb, models, metric, comparison, batch_size=batch_size)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    if metric == "correlation":
        assert np.isnan(got[0]).all()  # one member: correlation distance undefined
        assert np.isfinite(got[2]).all()


def test_rsa_with_ties_matches_spearmanr():
    # Coarse data give tied dissimilarities; ranks must be averaged like spearmanr.
    rng = np.random.default_rng(3)
    data = rng.integers(0, 2, (9, 12)).astype(float)
    data[:, 0] = 5.0
    nb = random_neighborhoods(12, 10, 5, seed=4)
    nb = Neighborhoods(nb.centers, nb.indptr, nb.indices, 1.0)
    model = rng.integers(0, 3, 36).astype(float)
    got = searchlight_rsa(data, nb, model, "euclidean", "spearman")
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = slow_rsa(data, nb, model[None], "euclidean", "spearman")
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_planted_signal_is_found_where_it_is():
    rng = np.random.default_rng(5)
    n_stim = 40
    coords, faces = grid_mesh(14, 14)
    n = len(coords)
    features = rng.standard_normal((n_stim, 6))
    other = rng.standard_normal((n_stim, 6))
    models = np.stack([pdist(features, "cosine"), pdist(other, "cosine")])
    center = 7 * 14 + 7
    patch = np.linalg.norm(coords - coords[center], axis=1) <= 3.0
    data = rng.standard_normal((n_stim, n))
    data[:, patch] = features @ rng.standard_normal((6, patch.sum())) + 0.3 * rng.standard_normal(
        (n_stim, patch.sum())
    )
    nb = surface_neighborhoods(coords, faces, 2.0)
    r = searchlight_rsa(data, nb, models)
    assert r[center, 0] > 0.8
    assert abs(r[center, 1]) < 0.2
    far = np.array([not patch[nb.members(i)].any() for i in range(n)])
    assert far.sum() > 100
    assert np.abs(r[far, 0]).mean() < 0.1
    assert np.abs(r[far]).max() < 0.4
    assert r[patch, 0].mean() > 0.5


# --- shards ----------------------------------------------------------------------------------


def test_shard_centers():
    for n_centers, n_shards in [(10, 3), (7, 7), (3, 5), (59412, 4)]:
        shards = shard_centers(n_centers, n_shards)
        assert len(shards) == n_shards
        np.testing.assert_array_equal(np.concatenate(shards), np.arange(n_centers))
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1
    for bad in [0, -1, 2.5, True, "4"]:
        with pytest.raises(InputError, match=r"n_shards is .*; expected an integer >= 1"):
            shard_centers(10, bad)
    with pytest.raises(InputError, match="n_centers is 0"):
        shard_centers(0, 2)
    assert check_shard("2", 4) == 2
    for bad in ["4", "-1", "02", "x", None]:
        with pytest.raises(InputError, match=r"shard is .*; expected an integer in 0\.\.3"):
            check_shard(bad, 4)


def tiny_cifti():
    mask = np.ones(30, dtype=bool)
    mask[[4, 11]] = False
    vol = np.zeros((4, 4, 3), dtype=bool)
    vol[1:3, 0:3, 0:2] = True
    bm = BrainModelAxis.from_mask(mask, name="CortexLeft") + BrainModelAxis.from_mask(
        vol, affine=np.diag([2.0, 2.0, 2.0, 1.0]), name="ThalamusLeft"
    )
    return bm, {CORTEX_LEFT: grid_mesh(6, 5)}


def run_shards(tmp_path, data, bm, surfaces, models, names, n_shards, radius=2.0):
    paths = []
    for k, centers in enumerate(shard_centers(data.shape[1], n_shards)):
        nb = cifti_neighborhoods(bm, radius, centers, surfaces=surfaces)
        r = searchlight_rsa(data, nb, models)
        path = tmp_path / f"shard-{k}.h5"
        write_shard(path, centers, r, names, nb.sizes, k, n_shards, data.shape[1], {"radius": 2})
        paths.append(path)
    return paths


def test_shards_merge_into_the_unsharded_maps(tmp_path):
    bm, surfaces = tiny_cifti()
    rng = np.random.default_rng(6)
    data = rng.standard_normal((10, len(bm)))
    models = np.stack([pdist(rng.standard_normal((10, 3))) for _ in range(2)])
    names = ["conv1", "fc6"]
    full = cifti_neighborhoods(bm, 2.0, surfaces=surfaces)
    expected = searchlight_rsa(data, full, models)
    paths = run_shards(tmp_path, data, bm, surfaces, models, names, n_shards=3)
    merged = merge_shards(paths[::-1])
    assert merged.names == names
    np.testing.assert_allclose(merged.maps, expected.T.astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(merged.n_members, full.sizes)
    assert merged.attrs["radius"] == 2
    out = tmp_path / "maps" / "searchlight.dscalar.nii"
    write_maps(out, merged.maps, merged.names, bm)
    got = read_dscalar(out)
    np.testing.assert_array_equal(got.data, merged.maps)
    assert got.names == names and got.brain_models == bm
    assert sorted(p.name for p in out.parent.iterdir()) == ["searchlight.dscalar.nii"]


def test_merge_errors(tmp_path):
    bm, surfaces = tiny_cifti()
    rng = np.random.default_rng(7)
    data = rng.standard_normal((8, len(bm)))
    models = pdist(rng.standard_normal((8, 3)))[None]
    paths = run_shards(tmp_path, data, bm, surfaces, models, ["a"], n_shards=4)
    n = len(bm)
    with pytest.raises(InputError, match=r"shards \[1, 3\] of 4 are missing \(.*centers"):
        merge_shards([paths[0], paths[2]])
    with pytest.raises(InputError, match="are both shard 2; expected each shard once"):
        merge_shards([*paths, paths[2]])
    with pytest.raises(InputError, match="no searchlight shard files"):
        merge_shards([])
    with pytest.raises(InputError, match="no such file; expected a searchlight shard"):
        merge_shards([*paths[:3], tmp_path / "shard-9.h5"])
    # a shard that holds the wrong centers: some missing, some repeated
    centers = shard_centers(n, 4)
    bad = tmp_path / "bad" / "shard-1.h5"
    write_shard(bad, centers[0], np.zeros((len(centers[0]), 1)), ["a"], centers[0], 1, 4, n)
    with pytest.raises(InputError, match=r"leave .* centers .* missing \(shards \[1\]"):
        merge_shards([paths[0], bad, paths[2], paths[3]])
    other = tmp_path / "other" / "shard-1.h5"
    write_shard(other, centers[1], np.zeros((len(centers[1]), 1)), ["a"], centers[1], 1, 5, n)
    with pytest.raises(InputError, match=r"one of 5 shards .* expected shards of one run"):
        merge_shards([paths[0], other])
    renamed = tmp_path / "renamed" / "shard-1.h5"
    write_shard(renamed, centers[1], np.zeros((len(centers[1]), 1)), ["b"], centers[1], 1, 4, n)
    with pytest.raises(InputError, match=r"has maps \['b'\] .* expected the same layers"):
        merge_shards([paths[0], renamed])
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    with pytest.raises(InputError, match=r"lacks .*expected a searchlight shard file"):
        merge_shards([plain])
    with pytest.raises(InputError, match=r"r has shape \(2, 1\); expected \(3, 1\)"):
        write_shard(tmp_path / "x.h5", [0, 1, 2], np.zeros((2, 1)), ["a"], [1, 1, 1], 0, 1, 3)


# --- bad input -------------------------------------------------------------------------------


def test_bad_input(small):
    data, models = small
    nb = random_neighborhoods(data.shape[1], 5, 4, seed=8)
    with pytest.raises(
        InputError,
        match=r"model RDMs have 45 entries \(10 stimuli\) but the "
        r"brain data has 12 stimuli \(66 pairs\)",
    ):
        searchlight_rsa(data, nb, models[:, :45])
    with pytest.raises(InputError, match=r"\(no whole number of stimuli\)"):
        searchlight_rsa(data, nb, models[:, :50])
    with pytest.raises(
        InputError,
        match=r"metric is 'manhattan'; expected one of "
        r"correlation, cosine, euclidean, sqeuclidean$",
    ):
        searchlight_rsa(data, nb, models, metric="manhattan")
    assert set(SEARCHLIGHT_METRICS) < set(RDM_METRICS)
    with pytest.raises(InputError, match="metric is 'crossnobis'; expected one of correlation"):
        searchlight_rsa(data, nb, models, metric="crossnobis")
    with pytest.raises(InputError, match="comparison is 'kendall'; expected one of spearman"):
        searchlight_rsa(data, nb, models, comparison="kendall")
    bad = data.copy()
    bad[0, [3, 5]] = np.nan
    with pytest.raises(InputError, match="data has NaN or inf in 2 columns"):
        searchlight_rsa(bad, nb, models)
    with pytest.raises(InputError, match="data has 2 stimuli; expected at least 3"):
        searchlight_rsa(data[:2], nb, models[:, :1])
    with pytest.raises(InputError, match=r"neighborhoods refer to column \d+; data has 3 columns"):
        searchlight_rsa(data[:, :3], nb, models)
    with pytest.raises(InputError, match=r"expected dnnmap.brain.neighborhoods.Neighborhoods"):
        searchlight_rsa(data, [[0, 1]], models)
    flat = models.copy()
    flat[1] = 2.0
    with pytest.raises(InputError, match=r"model RDM 1 .* is constant"):
        searchlight_rsa(data, nb, flat)
    with pytest.raises(InputError, match="model RDMs hold NaN"):
        prepare_models(np.full(66, np.nan), 12, "pearson")
    with pytest.raises(InputError, match="batch_size is 0; expected an integer >= 1"):
        searchlight_rsa(data, nb, models, batch_size=0)


# --- volume and file input -------------------------------------------------------------------


def test_volume_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    shape, n_stim = (6, 5, 4), 7
    values = np.zeros((*shape, n_stim), dtype=np.float32)
    inside = np.zeros(shape, dtype=bool)
    inside[1:5, 1:4, :3] = True
    values[inside] = rng.standard_normal((inside.sum(), n_stim))
    affine = np.diag([2.0, 2.0, 2.5, 1.0])
    nib.save(nib.Nifti1Image(values, affine), tmp_path / "bold.nii.gz")
    data, volume = read_volume(tmp_path / "bold.nii.gz")
    np.testing.assert_array_equal(volume.ijk, np.argwhere(inside))
    np.testing.assert_allclose(data, values[inside].T)
    mask = inside.copy()
    mask[1, 1, 0] = False
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), tmp_path / "mask.nii")
    data_m, volume_m = read_volume(tmp_path / "bold.nii.gz", tmp_path / "mask.nii")
    assert data_m.shape == (n_stim, mask.sum())
    ids = [f"s{i}" for i in range(n_stim)]
    responses = read_responses(tmp_path / "bold.nii.gz", ids, mask=tmp_path / "mask.nii")
    np.testing.assert_array_equal(responses.data, data_m)
    nb = volume_neighborhoods(volume_m.ijk, volume_m.affine, 2.6)
    models = pdist(rng.standard_normal((n_stim, 3)))[None]
    r = searchlight_rsa(data_m, nb, models)
    out = tmp_path / "maps" / "searchlight.nii.gz"
    write_maps(out, r.T, ["layer1"], volume_m)
    img = nib.load(out)
    assert img.shape == (*shape, 1)
    np.testing.assert_allclose(img.affine, affine)
    got = np.asarray(img.dataobj)
    np.testing.assert_allclose(got[mask, 0], r[:, 0].astype(np.float32))
    assert (got[~mask] == 0).all()
    assert read_volume_map_names(out) == ["layer1"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["searchlight.nii.gz"]
    with pytest.raises(InputError, match="has 7 volumes but the stimulus table has 8 stimuli"):
        read_responses(tmp_path / "bold.nii.gz", [*ids, "x"])
    with pytest.raises(InputError, match="masks apply to NIfTI only"):
        read_responses(tmp_path / "r.dscalar.nii", ids, mask=tmp_path / "mask.nii")
    with pytest.raises(InputError, match="unknown brain file type"):
        read_responses(tmp_path / "bold.h5", ids)
    with pytest.raises(InputError, match=r"expected a \.dscalar\.nii output"):
        write_maps(tmp_path / "x.nii.gz", r.T, ["a"], BrainModelAxis.from_mask(np.ones(3, bool)))
    with pytest.raises(InputError, match=r"must end with \.nii or \.nii\.gz"):
        write_volume_maps(tmp_path / "x.dscalar.nii", r.T, ["a"], volume_m)
    with pytest.raises(InputError, match=r"mask has shape \(3, 3, 3\); expected \(6, 5, 4\)"):
        nib.save(nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), affine), tmp_path / "m2.nii")
        read_volume(tmp_path / "bold.nii.gz", tmp_path / "m2.nii")


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"rule_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rule_scripts_end_to_end(tmp_path):
    """scripts/searchlight.py per shard, then scripts/merge_searchlight.py, on a tiny CIFTI."""
    bm, surfaces = tiny_cifti()
    mesh = tmp_path / "left.surf.gii"
    coords, faces = surfaces[CORTEX_LEFT]
    nib.save(
        nib.GiftiImage(
            darrays=[
                nib.gifti.GiftiDataArray(coords.astype(np.float32), "NIFTI_INTENT_POINTSET"),
                nib.gifti.GiftiDataArray(faces.astype(np.int32), "NIFTI_INTENT_TRIANGLE"),
            ]
        ),
        mesh,
    )
    rng = np.random.default_rng(10)
    n_stim = 9
    ids = [f"img{i:02d}" for i in range(n_stim)]
    pd.DataFrame({"stim_id": ids, "path": ids, "modality": "image"}).to_csv(
        tmp_path / "stimuli.tsv", sep="\t", index=False
    )
    data = rng.standard_normal((n_stim, len(bm))).astype(np.float32)
    data[:, 5] = np.nan  # a grayordinate without data
    order = rng.permutation(n_stim)  # maps stored out of table order, matched by name
    write_dscalar(tmp_path / "resp.dscalar.nii", data[order], [ids[i] for i in order], bm)
    layers = ["conv1", "conv2"]
    models = [pdist(rng.standard_normal((n_stim, 4))) for _ in layers]
    for layer, rdm in zip(layers, models, strict=True):
        write_rdm(tmp_path / f"{layer}.h5", rdm, ids, {"metric": "euclidean"})
    settings = {
        "enabled": True,
        "radius_mm": 2.0,
        "n_shards": 2,
        "metric": "correlation",
        "comparison": "spearman",
        "surfaces": {CORTEX_LEFT: str(mesh)},
    }
    stimuli = str(tmp_path / "stimuli.tsv")
    responses = str(tmp_path / "resp.dscalar.nii")
    model_paths = [str(tmp_path / f"{layer}.h5") for layer in layers]
    shard_script = load_script("searchlight")
    shards = [tmp_path / "sl" / f"shard-{k}.h5" for k in range(2)]
    for k, path in enumerate(shards):
        shard_script.main(stimuli, responses, model_paths, settings, layers, str(k), path)
    out = tmp_path / "maps" / "searchlight.dscalar.nii"
    load_script("merge_searchlight").main(responses, shards, settings, out)
    got = read_dscalar(out)
    assert got.names == layers and got.brain_models == bm
    finite = np.isfinite(data).all(axis=0)
    nb = cifti_neighborhoods(bm, 2.0, surfaces={CORTEX_LEFT: (coords, faces)}).restrict(finite)
    expected = searchlight_rsa(np.where(finite, data, 0), nb, np.stack(models))
    np.testing.assert_allclose(got.data, expected.T.astype(np.float32), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"shard is '2'; expected an integer in 0\.\.1"):
        shard_script.main(stimuli, responses, model_paths, settings, layers, "2", tmp_path / "x.h5")
    with pytest.raises(InputError, match="2 model RDM files for 1 layers"):
        shard_script.main(
            stimuli, responses, model_paths, settings, layers[:1], "0", tmp_path / "x.h5"
        )
    write_rdm(tmp_path / "short.h5", pdist(rng.standard_normal((8, 2))), ids[:8], {})
    short = [str(tmp_path / "short.h5")]
    with pytest.raises(InputError, match=r"has 8 stimuli but .*stimuli.tsv has 9"):
        shard_script.main(stimuli, responses, short, settings, ["x"], "0", tmp_path / "x.h5")
    with pytest.raises(InputError, match=r"shards \[1\] of 2 are missing"):
        load_script("merge_searchlight").main(responses, shards[:1], settings, out)
    with pytest.raises(
        InputError, match=rf"shards cover {len(bm)} centers but .*resp2.dscalar.nii has 4 columns"
    ):
        small_bm = BrainModelAxis.from_mask(np.ones(4, bool))
        write_dscalar(tmp_path / "resp2.dscalar.nii", data[:, :4], ids, small_bm)
        merge_searchlight(shards, tmp_path / "resp2.dscalar.nii")
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("masked", [False, True])
def test_rule_scripts_on_volume_input(tmp_path, masked):
    """The same two scripts on a 4-D NIfTI (volumes in table order) give NIfTI maps."""
    rng = np.random.default_rng(11)
    shape, n_stim = (5, 4, 4), 8
    inside = np.zeros(shape, dtype=bool)
    inside[1:4, 1:3, :3] = True
    values = np.zeros((*shape, n_stim), dtype=np.float32)
    values[inside] = rng.standard_normal((inside.sum(), n_stim))
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image(values, affine), tmp_path / "bold.nii.gz")
    keep = inside.copy()
    settings = {"radius_mm": 3.5, "n_shards": 3, "metric": "correlation", "comparison": "pearson"}
    if masked:
        keep[1, 1, 0] = False
        nib.save(nib.Nifti1Image(keep.astype(np.uint8), affine), tmp_path / "mask.nii.gz")
        settings["mask"] = str(tmp_path / "mask.nii.gz")
    ids = [f"s{i}" for i in range(n_stim)]
    pd.DataFrame({"stim_id": ids, "path": ids, "modality": "image"}).to_csv(
        tmp_path / "stimuli.tsv", sep="\t", index=False
    )
    model = pdist(rng.standard_normal((n_stim, 3)))
    write_rdm(tmp_path / "fc.h5", model, ids, {})
    stimuli, responses = str(tmp_path / "stimuli.tsv"), str(tmp_path / "bold.nii.gz")
    shards = [tmp_path / f"shard-{k}.h5" for k in range(3)]
    for k, path in enumerate(shards):
        load_script("searchlight").main(
            stimuli, responses, [str(tmp_path / "fc.h5")], settings, ["fc"], str(k), path
        )
    out = tmp_path / "maps" / "searchlight.nii.gz"
    load_script("merge_searchlight").main(responses, shards, settings, out)
    ijk = np.argwhere(keep)
    nb = volume_neighborhoods(ijk, affine, 3.5)
    expected = searchlight_rsa(values[keep].T, nb, model, comparison="pearson")
    got = np.asarray(nib.load(out).dataobj)
    np.testing.assert_allclose(got[keep, 0], expected[:, 0].astype(np.float32), rtol=1e-5)
    assert read_volume_map_names(out) == ["fc"]
