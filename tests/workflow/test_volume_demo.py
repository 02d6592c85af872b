"""The volume demo (config/volume/config.yaml) end to end on a few small images: a brain
simulated on the MNI152 2 mm grid inside nilearn's packaged brain mask, ROIs from a label
volume of spheres with a lookup table; encoding recovers the layer that drives each region,
and the maps come back as NIfTI on the mask's grid.

The shipped mask and ROI files are checked against what their script makes from nilearn's
package data (resources/make_volume_demo.py), so the config cannot drift from its source.
"""

from __future__ import annotations

import importlib.util

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT, run_workflow

from dnnmap.brain.responses_io import read_volume_map_names

N_STIM = 40
LAYERS = ["conv1", "fc6"]


def _volume_config(tmp_path) -> dict:
    config = yaml.safe_load((ROOT / "config" / "volume" / "config.yaml").read_text())
    table = pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t", dtype=str)
    table = table.iloc[np.linspace(0, len(table) - 1, N_STIM).astype(int)].copy()
    table["path"] = [str(ROOT / "resources" / p) for p in table["path"]]
    table.to_csv(tmp_path / "stimuli.tsv", sep="\t", index=False)
    config["stimuli"]["table"] = str(tmp_path / "stimuli.tsv")
    model = config["models"]["alexnet"]
    model["layers"] = LAYERS
    model["preprocessing"]["resize"] = 64
    subject = config["brain"]["subjects"]["sub-01"]
    subject["mask"] = str(ROOT / subject["mask"])
    for item in subject["roi_files"]:
        item.update({k: str(ROOT / v) for k, v in item.items()})
    config["brain"]["rois"] = {"EVC": ["EVC"], "VOT": ["VOT"]}  # M1 stays simulated (null)
    config["encoding"]["permutation"]["n_perm"] = 0
    config["rsa"]["enabled"] = False
    config["compute"]["device"] = "cpu"
    return config


def test_shipped_mask_and_rois_are_what_the_script_makes(tmp_path):
    """resources/volume holds nilearn's MNI152 2 mm brain mask (compared with nilearn's own
    function) and spheres of 8 mm at the script's coordinates (compared with a brute-force
    distance from every voxel centre to every centre)."""
    from nilearn.datasets import load_mni152_brain_mask

    folder = ROOT / "resources" / "volume"
    mask = nib.load(folder / "MNI152_2mm_brain_mask.nii.gz")
    reference = load_mni152_brain_mask(resolution=2)
    assert mask.shape == reference.shape == (99, 117, 95)
    np.testing.assert_allclose(mask.affine, reference.affine)
    np.testing.assert_array_equal(np.asarray(mask.dataobj) > 0, np.asarray(reference.dataobj) > 0)

    spec = importlib.util.spec_from_file_location(
        "make_volume_demo", ROOT / "resources" / "make_volume_demo.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    labels = np.asarray(nib.load(folder / "rois.nii.gz").dataobj)
    lut = (folder / "rois_lut.txt").read_text().split("\n")
    assert [row.split()[1] for row in lut if row] == list(script.SPHERES)
    inside = np.asarray(mask.dataobj) > 0
    assert (labels[~inside] == 0).all()
    ijk = np.argwhere(inside)
    xyz = ijk @ mask.affine[:3, :3].T + mask.affine[:3, 3]
    for value, centres in enumerate(script.SPHERES.values(), start=1):
        near = np.zeros(len(ijk), bool)
        for c in centres:
            near |= ((xyz - np.asarray(c)) ** 2).sum(-1) <= script.RADIUS_MM**2
        np.testing.assert_array_equal(labels[tuple(ijk.T)] == value, near)
    assert set(np.unique(labels)) == {0, 1, 2, 3}


@pytest.mark.slow
def test_volume_demo_recovers_its_driving_layers(tmp_path):
    config = _volume_config(tmp_path)
    run = tmp_path / "run"
    targets = [
        "results/summary/encoding.tsv",
        "results/maps/sub-01/alexnet/encoding_r.nii.gz",
        "results/maps/sub-01/alexnet/encoding_brain.png",
    ]
    proc = run_workflow(run, config, "--cores", "2", *targets)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]

    summary = pd.read_csv(run / targets[0], sep="\t")
    median_r = summary.set_index(["roi", "layer"])["median_r"]
    assert median_r["EVC"].idxmax() == "conv1", median_r.to_dict()
    assert median_r["VOT"].idxmax() == "fc6", median_r.to_dict()
    assert median_r["EVC"]["conv1"] > 0.4 and median_r["VOT"]["fc6"] > 0.4

    # the simulated responses and the maps are NIfTI on the mask's grid
    mask_img = nib.load(config["brain"]["subjects"]["sub-01"]["mask"])
    inside = np.asarray(mask_img.dataobj) > 0
    simulated = nib.load(run / "results" / "simulation" / "sub-01" / "responses.nii")
    assert simulated.shape == (*mask_img.shape, N_STIM)
    ids = (run / "results" / "simulation" / "sub-01" / "responses_ids.txt").read_text().split()
    table = pd.read_csv(config["stimuli"]["table"], sep="\t")
    assert ids == list(table["stim_id"])
    maps_img = nib.load(run / targets[1])
    assert maps_img.shape == (*mask_img.shape, len(LAYERS) + 1)
    np.testing.assert_allclose(maps_img.affine, mask_img.affine)
    assert read_volume_map_names(run / targets[1]) == [*LAYERS, "best_layer"]
    roi_file = config["brain"]["subjects"]["sub-01"]["roi_files"][0]["file"]
    labels = np.asarray(nib.load(roi_file).dataobj)
    best = np.asarray(maps_img.dataobj)[..., -1]
    evc, vot = labels == 1, labels == 2
    # chance is 0.5; 0.6 of 514 voxels by chance has p < 1e-5 (binomial). Measured: 0.73
    # (EVC) and 0.71 (VOT); random-weight AlexNet's conv1 and fc6 correlate over 40 images.
    assert np.mean(best[evc] == 1) > 0.6 and np.mean(best[vot] == 2) > 0.6
    assert (best[~inside] == 0).all() and (best[inside & ~(evc | vot)] == 0).all()
    truth = pd.read_csv(run / "results" / "simulation" / "sub-01" / "ground_truth.tsv", sep="\t")
    assert truth.set_index("region")["n_vox"].to_dict() == {"EVC": 514, "VOT": 514, "M1": 514}
    assert (run / targets[2]).read_bytes()[:4] == b"\x89PNG"


def test_volume_simulation_settings_are_checked_at_startup(tmp_path):
    """Start-up checks (dnnmap.config.check_semantics, as the Snakefile runs them): a
    simulation region naming no label of the ROI files, a volume and an fsLR-32k simulated
    subject in one config, a brain.rois label the ROI files lack."""
    from dnnmap.config import check_semantics
    from dnnmap.errors import InputError

    config = _volume_config(tmp_path)
    ids = list(pd.read_csv(config["stimuli"]["table"], sep="\t")["stim_id"])
    sizes = check_semantics(config, ids, ".", "config.yaml")
    assert dict(sizes) == {"EVC": 514, "VOT": 514} and sizes.columns == {"sub-01": 99 * 117 * 95}

    def error(change):
        bad = yaml.safe_load(yaml.safe_dump(config))
        change(bad)
        with pytest.raises(InputError) as err:
            check_semantics(bad, ids, ".", "config.yaml")
        return str(err.value)

    line = error(lambda c: c["simulation"]["regions"]["VOT"].update(labels=["FFA"]))
    assert line.startswith("config.yaml: simulation.regions.VOT.labels: ")
    assert "FFA" in line and "(in config.yaml: brain.subjects.sub-01.roi_files)" in line
    line = error(lambda c: c["brain"]["subjects"].update({"sub-02": {"responses": "simulate"}}))
    assert "['sub-01'] are simulated in a volume (a mask) and ['sub-02'] on fsLR-32k" in line
    line = error(lambda c: c["brain"]["rois"].update(V1=["V1"]))
    assert line.startswith("config.yaml: brain.subjects.sub-01.roi_files: ") and "V1" in line
