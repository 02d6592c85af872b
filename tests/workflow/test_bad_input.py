"""Bad input stops the workflow with one clear line and leaves no complete-looking output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from workflow_helpers import ROOT, SNAKEFILE, SNAKEMAKE, demo_config, dnnmap_error, run_workflow

from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar


def copy_table(tmp_path: Path, edit=None) -> Path:
    """Copy the demo stimulus table (absolute paths), optionally edited, into tmp_path."""
    table = pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t", dtype=str)
    table["path"] = [str(ROOT / "resources" / p) for p in table["path"]]
    if edit:
        table = edit(table)
    path = tmp_path / "stimuli.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


def broken_image_config(tmp_path: Path) -> dict:
    """The demo config whose stimulus table points row 5 (index 3) at a file that is not an
    image, ``tmp_path / "broken.png"``: check_stimuli fails on it."""
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")

    def undecodable(table):
        table.loc[3, "path"] = str(broken)
        return table

    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(copy_table(tmp_path, undecodable))
    return config


def assert_no_results(workdir: Path) -> None:
    results = workdir / "results"
    files = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    assert not files, f"unexpected outputs: {files}"


def test_schema_violation(tmp_path):
    config = demo_config(["alexnet"])
    config["encoding"]["cv"]["n_folds"] = "five"
    proc = run_workflow(tmp_path, config, "-n")
    line = dnnmap_error(proc)
    assert "config.yaml: encoding.cv.n_folds: 'five' is not of type 'integer'" in line
    assert_no_results(tmp_path)


def test_unknown_config_key(tmp_path):
    config = demo_config(["alexnet"])
    config["encoding"]["cv"]["nfolds"] = 5
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "encoding.cv" in line and "'nfolds'" in line and "n_folds" in line


def test_duplicate_stim_id(tmp_path):
    def duplicate(table):
        table.loc[5, "stim_id"] = table.loc[2, "stim_id"]
        return table

    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(copy_table(tmp_path, duplicate))
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "stimuli.tsv row 7" in line and "row 4" in line and "astronaut_02" in line
    assert_no_results(tmp_path)


def test_missing_image(tmp_path):
    def missing(table):
        table.loc[9, "path"] = str(tmp_path / "gone.png")
        return table

    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(copy_table(tmp_path, missing))
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "stimuli.tsv row 11" in line and "gone.png" in line
    assert_no_results(tmp_path)


def test_undecodable_image(tmp_path):
    """Decoding happens in check_stimuli: the job fails and results/stimuli.tsv never appears."""
    config = broken_image_config(tmp_path)
    proc = run_workflow(tmp_path, config, "--cores", "1", "results/stimuli.tsv")
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "check_stimuli.log").read_text()
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "stimuli.tsv row 5" in errors[0] and "broken.png" in errors[0]
    assert_no_results(tmp_path)


def test_unknown_layer(tmp_path):
    config = demo_config(["alexnet"])
    config["models"]["alexnet"]["layers"] = ["conv1", "conv9"]
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "models.alexnet.layers" in line and "'conv9'" in line
    assert "valid layers: conv1, conv2, conv3, conv4, conv5, fc6, fc7, fc8" in line


def test_roi_label_not_in_atlas(tmp_path):
    config = demo_config(["alexnet"])
    config["brain"]["rois"]["FFA"] = ["FFA"]
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "'FFA'" in line and "FFC" in line


def _user_brain(tmp_path, names):
    axis = fslr32k_brain_models()
    path = tmp_path / "brain.dscalar.nii"
    write_dscalar(path, [[1.0] * len(axis)] * len(names), names, axis)
    config = demo_config(["alexnet"])
    config["brain"]["subjects"] = {"sub-x": {"responses": str(path)}}
    del config["simulation"]
    config.pop("interpret", None)  # it names the demo's subjects and layers
    return config


def test_brain_stimulus_count_mismatch(tmp_path):
    ids = list(pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t")["stim_id"])
    config = _user_brain(tmp_path, ids[:-1])
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "brain.dscalar.nii has 149 maps" in line and "150 stimuli" in line
    assert f"no map named {ids[-1]!r}" in line
    assert_no_results(tmp_path / "run")


def test_brain_stimulus_ids_mismatch(tmp_path):
    ids = list(pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t")["stim_id"])
    config = _user_brain(tmp_path, [*ids[:-1], "somebody_else"])
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "brain.dscalar.nii" in line and ids[-1] in line
    assert_no_results(tmp_path / "run")


# --- images and weights (issue 11) ------------------------------------------------------------


def test_empty_modality_cell(tmp_path):
    def empty_modality(table):
        table["modality"] = "image"
        table.loc[6, "modality"] = ""
        return table

    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(copy_table(tmp_path, empty_modality))
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "stimuli.tsv row 8: modality is empty; expected one of image, video, audio" in line
    assert_no_results(tmp_path)


def test_weights_name_of_another_architecture(tmp_path):
    config = demo_config(["alexnet"])
    config["models"]["alexnet"]["weights"] = "IMAGENET1K_V2"  # ResNet-50 has it, AlexNet not
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "models.alexnet.weights: 'IMAGENET1K_V2' is not 'none', a .pth file" in line
    assert "(IMAGENET1K_V1, DEFAULT)" in line
    assert_no_results(tmp_path)


def test_checkpoint_option_without_weights_file(tmp_path):
    config = demo_config(["alexnet"])
    config["models"]["alexnet"]["strip_prefix"] = "module."
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "models.alexnet.strip_prefix: applies to a local weights file" in line
    assert "but weights is 'none'" in line


def test_yaml_exponent_numbers_are_numbers(tmp_path):
    """PyYAML reads `1e1` as a string; the config check takes it as the number it means."""
    import subprocess

    import yaml
    from workflow_helpers import snakemake_command

    config = demo_config(["alexnet"])
    config["simulation"]["snr"] = 12.5
    cmd = snakemake_command(tmp_path, config, "-n")
    configfile = tmp_path / "config.yaml"
    text = configfile.read_text()
    assert "snr: 12.5" in text
    configfile.write_text(text.replace("snr: 12.5", "snr: 1e1"))
    assert yaml.safe_load(configfile.read_text())["simulation"]["snr"] == "1e1"
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    assert_no_results(tmp_path)


def test_odd_images_are_read_as_they_look_and_warned(tmp_path):
    """A 16-bit PNG and a transparent PNG pass check_stimuli with one warning per kind."""
    import numpy as np
    from PIL import Image

    deep, clear = tmp_path / "deep.png", tmp_path / "clear.png"
    Image.fromarray(np.full((20, 30), 30000, np.uint16)).save(deep)
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(clear)

    def odd(table):
        table.loc[0, "path"] = str(deep)
        table.loc[1, "path"] = str(clear)
        return table

    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(copy_table(tmp_path, odd))
    proc = run_workflow(tmp_path, config, "--cores", "1", "results/stimuli.tsv")
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = (tmp_path / "logs" / "check_stimuli.log").read_text()
    assert "image mode I;16: 1 image(s), 30-30 x 20-20 px" in log
    assert "image mode RGBA: 1 image(s), 16-16 x 16-16 px" in log
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert len(warnings) == 2
    assert "integer pixels above 8 bits scaled" in warnings[0] and "row 2 (deep.png)" in log
    assert "composited on the background" in warnings[1] and "row 3 (clear.png)" in log


def test_pickled_model_as_weights(tmp_path):
    """A whole pickled model is refused without running it, and without unsafe advice."""
    import torch

    weights = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), weights)
    config = demo_config(["alexnet"])
    config["models"]["alexnet"]["weights"] = str(weights)
    proc = run_workflow(tmp_path, config, "--cores", "1", "results/activations/alexnet.h5")
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "extract_activations" / "alexnet.log").read_text()
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert f"models.alexnet.weights: {weights} holds a pickled torch.nn.modules.linear" in errors[0]
    assert "torch.save(model.state_dict(), path)" in errors[0]
    assert "weights_only=False" not in log + proc.stdout + proc.stderr
    assert not (tmp_path / "results" / "activations" / "alexnet.h5").exists()


# --- issue 11: one line per error, every check at start-up, one masking policy -------------


def _ids() -> list[str]:
    return list(pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t")["stim_id"])


def test_decoding_class_smaller_than_folds_at_startup(tmp_path):
    """scikit-learn's ValueError came from the decode job, after extraction."""

    def rare(table):
        table.loc[4, "category"] = "unicorn"
        return table

    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(copy_table(tmp_path, rare))
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "decoding.attributes" in line and "class 'unicorn' has 1 stimuli" in line
    assert "fewer than the 5 outer folds" in line
    assert_no_results(tmp_path)


def test_config_columns_missing_from_the_table_at_startup(tmp_path):
    config = demo_config(["alexnet"])
    config["decoding"]["attributes"] = ["category", "colour"]
    line = dnnmap_error(run_workflow(tmp_path / "a", config, "-n"))
    assert "decoding.attributes" in line and "no column 'colour'" in line
    config = demo_config(["alexnet"])
    config["rsa"]["categories"] = "kind"
    line = dnnmap_error(run_workflow(tmp_path / "b", config, "-n"))
    assert "rsa.categories is 'kind'" in line and "no such column" in line
    config = demo_config(["alexnet"])
    config["encoding"]["cv"] = {"scheme": "group", "column": "session"}
    line = dnnmap_error(run_workflow(tmp_path / "c", config, "-n"))
    assert "encoding.cv" in line and "'session'" in line
    for name in "abc":
        assert_no_results(tmp_path / name)


def test_folds_and_stimulus_counts_at_startup(tmp_path):
    config = demo_config(["alexnet"])
    config["encoding"]["inner_folds"] = 200
    line = dnnmap_error(run_workflow(tmp_path / "a", config, "-n"))
    assert "encoding.inner_folds (200) in outer split 1" in line and "120 rows" in line
    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(copy_table(tmp_path, lambda table: table.iloc[:2]))
    line = dnnmap_error(run_workflow(tmp_path / "b", config, "-n"))
    assert "has 2 stimuli; expected at least 3" in line
    assert_no_results(tmp_path / "a")
    assert_no_results(tmp_path / "b")


def test_csv_read_as_tsv_names_the_separator(tmp_path):
    table = pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t", dtype=str)
    table["path"] = [str(ROOT / "resources" / p) for p in table["path"]]
    path = tmp_path / "stimuli.tsv"
    table.to_csv(path, index=False)  # commas
    config = demo_config(["alexnet"])
    config["stimuli"]["table"] = str(path)
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "columns are separated by commas" in line and "rename it to .csv" in line


def test_extra_named_maps_are_a_subset(tmp_path):
    config = _user_brain(tmp_path, ["extra_1", *_ids()[::-1], "extra_2"])
    proc = run_workflow(tmp_path / "run", config, "-n")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_missing_map_is_named(tmp_path):
    ids = _ids()
    config = _user_brain(tmp_path, [*ids[:10], *ids[11:]])
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "brain.subjects.sub-x.responses" in line and f"no map named {ids[10]!r}" in line
    assert_no_results(tmp_path / "run")


def test_repeats_map_names_at_startup(tmp_path):
    ids = _ids()
    config = _user_brain(tmp_path, ids)
    axis = fslr32k_brain_models()
    good, bad = tmp_path / "rep1.dscalar.nii", tmp_path / "rep2.dscalar.nii"
    write_dscalar(good, [[1.0] * len(axis)] * len(ids), ids, axis)
    write_dscalar(bad, [[1.0] * len(axis)] * (len(ids) - 1), ids[1:], axis)
    config["brain"]["subjects"]["sub-x"]["repeats"] = [str(good), str(bad)]
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "brain.subjects.sub-x.repeats.1" in line and f"no map named {ids[0]!r}" in line
    assert_no_results(tmp_path / "run")


def test_roi_outside_the_file_grayordinates_at_startup(tmp_path):
    from dnnmap.brain.atlas import mmp_atlas, resolve_roi

    ids = _ids()
    axis = fslr32k_brain_models()
    v4 = set(resolve_roi("V4", ["V4"], mmp_atlas()).tolist())
    keep = [i not in v4 for i in range(len(axis))]
    config = _user_brain(tmp_path, ids)
    write_dscalar(tmp_path / "brain.dscalar.nii", [[1.0] * sum(keep)] * len(ids), ids, axis[keep])
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "brain.subjects.sub-x.responses" in line and "ROI 'V4'" in line
    assert "has no grayordinates on these brain models" in line
    assert_no_results(tmp_path / "run")


def test_volume_and_gifti_responses_bad_or_without_rois(tmp_path):
    """NIfTI and GIFTI responses are read (issue 13): empty, single-hemisphere-as-one-path or
    atlas-less data gives one line (they gave "'Nifti1Header' object has no attribute
    'get_axis'")."""
    import nibabel as nib
    import numpy as np

    ids = list(pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t")["stim_id"])
    empty = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 150), np.float32), np.eye(4)), empty)
    volume = tmp_path / "brain.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2, 150), np.float32), np.eye(4)), volume)
    (tmp_path / "ids.txt").write_text("\n".join(ids))
    gifti = tmp_path / "lh.func.gii"
    darrays = [nib.gifti.GiftiDataArray(np.zeros(4, np.float32)) for _ in range(3)]
    nib.save(nib.gifti.GiftiImage(darrays=darrays), gifti)
    for name, path, expected in (
        ("empty", empty, "no voxel has finite, non-zero data"),
        ("vol", volume, "the HCP-MMP 1.0 atlas covers CIFTI and fsLR-32k surface data"),
        ("gii", gifti, "surface files come per hemisphere"),
    ):
        config = _user_brain(tmp_path, ["a"])
        config["brain"]["subjects"]["sub-x"]["responses"] = str(path)
        config["brain"]["subjects"]["sub-x"]["ids"] = str(tmp_path / "ids.txt")
        line = dnnmap_error(run_workflow(tmp_path / name, config, "-n"))
        assert expected in line and "get_axis" not in line
        assert_no_results(tmp_path / name)


def test_default_config_missing_or_not_yaml(tmp_path):
    """Without --configfile the Snakefile reads config/config.yaml of the working directory."""
    cmd = [str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--directory", str(tmp_path), "-n"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    line = dnnmap_error(proc)
    assert "config/config.yaml: config file not found" in line
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(
        "stimuli:\n  table: t.tsv\nmodels:\n  alexnet: {source: torchvision\n"
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    line = dnnmap_error(proc)
    assert "config/config.yaml line 5, column 1: YAML syntax error" in line
    assert "Traceback" not in proc.stdout + proc.stderr


def test_job_error_is_one_line_in_the_terminal(tmp_path):
    """A job-time error: one `dnnmap:` line in the terminal, the traceback in the job log."""
    config = broken_image_config(tmp_path)
    proc = run_workflow(tmp_path / "run", config, "--cores", "1", "results/stimuli.tsv")
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if line.startswith("dnnmap: ")]
    assert len(lines) == 1 and "stimuli.tsv row 5" in lines[0] and "broken.png" in lines[0]
    assert "Traceback" not in text
    assert "Traceback" in (tmp_path / "run" / "logs" / "check_stimuli.log").read_text()
    assert_no_results(tmp_path / "run")


@pytest.mark.slow
def test_fully_masked_roi_gives_nan_rows_not_a_crash(tmp_path):
    """An ROI outside the acquisition's coverage (all zeros) crashed summarize_encoding."""
    import numpy as np

    from dnnmap.brain.atlas import mmp_atlas, resolve_roi
    from dnnmap.brain.cifti import read_dscalar

    ids = _ids()
    axis = fslr32k_brain_models()
    data = np.random.default_rng(0).standard_normal((len(ids), len(axis))).astype(np.float32)
    v4 = resolve_roi("V4", ["V4"], mmp_atlas())
    data[:, v4] = 0.0
    config = _user_brain(tmp_path, ids)
    write_dscalar(tmp_path / "brain.dscalar.nii", data, ids, axis)
    config["models"]["alexnet"]["layers"] = ["conv1", "conv2"]
    config["features"].update(method="pca", n_components=10)
    config["brain"]["rois"] = {"V1": ["V1"], "V4": ["V4"]}
    config["encoding"]["permutation"]["n_perm"] = 0
    config["rsa"]["advanced"]["partition"] = {}
    config["stacking"] = config["joint"] = {}  # their sets name layers left out here
    config["decoding"]["n_perm"] = 0
    targets = [
        "results/summary/encoding.tsv",
        "results/summary/brain.tsv",
        "results/maps/sub-x/alexnet/encoding_r.dscalar.nii",
        "results/decoding/brain/category.tsv",
    ]
    run = tmp_path / "run"
    proc = run_workflow(run, config, "--cores", "2", *targets)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    table = pd.read_csv(run / targets[0], sep="\t", keep_default_na=False, na_values=["NaN", ""])
    masked = table[table["roi"] == "V4"]
    assert len(masked) == 2 and masked["median_r"].isna().all()
    assert (masked["n_masked"] == v4.size).all()
    assert masked["reason"].str.startswith(f"all {v4.size} voxels masked").all()
    kept = table[table["roi"] == "V1"]
    assert (kept["n_masked"] == 0).all() and kept["median_r"].notna().all()
    brain = pd.read_csv(run / targets[1], sep="\t")
    assert brain.set_index("roi").loc["V4", "n_masked"] == v4.size
    maps = read_dscalar(run / targets[2])
    assert np.isfinite(maps.data).all()
    assert (maps.data[:, v4] == 0).all()  # r 0 and best_layer 0 (no label) where masked
    decoding = pd.read_csv(run / targets[3], sep="\t").set_index("roi")
    assert np.isnan(decoding.loc["V4", "score"]) and decoding.loc["V4", "n_masked"] == v4.size
    assert decoding.loc["V4", "reason"].startswith(f"all {v4.size} voxels masked")
    assert decoding.loc["V1", "n_masked"] == 0 and np.isfinite(decoding.loc["V1", "score"])
    log = (run / "logs" / "summarize_encoding.log").read_text()
    assert f"all {v4.size} voxels masked" in log


@pytest.mark.parametrize(
    "stack_set, expected",
    [
        ({"alexnet": ["fc7"]}, "stacking.sets.bad has 1 space (alexnet/fc7); expected at least 2"),
        ({"alexnet": ["fc7", "fc6", "fc7"]}, "stacking.sets.bad.alexnet: 'fc7' is named twice"),
        ({"alexnet": ["fc7"], "vgg16": ["fc7"]}, "stacking.sets.bad: 'vgg16' is not in models"),
    ],
)
def test_bad_stack_sets(tmp_path, stack_set, expected):
    """A stack set of one space, a space named twice or an unknown model stops the workflow
    before any job with one line naming the key."""
    config = demo_config(["alexnet"])
    config["stacking"]["sets"] = {"bad": stack_set}
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert expected in line
    assert_no_results(tmp_path)
