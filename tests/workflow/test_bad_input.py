"""Bad input stops the workflow with one clear line and leaves no complete-looking output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from workflow_helpers import ROOT, demo_config, dnnmap_error, run_workflow

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


def assert_no_results(workdir: Path) -> None:
    results = workdir / "results"
    files = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    assert not files, f"unexpected outputs: {files}"


def test_schema_violation(tmp_path):
    config = demo_config()
    config["encoding"]["cv"]["n_folds"] = "five"
    proc = run_workflow(tmp_path, config, "-n")
    line = dnnmap_error(proc)
    assert "config.yaml: encoding.cv.n_folds: 'five' is not of type 'integer'" in line
    assert_no_results(tmp_path)


def test_unknown_config_key(tmp_path):
    config = demo_config()
    config["encoding"]["cv"]["nfolds"] = 5
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "encoding.cv" in line and "'nfolds'" in line and "n_folds" in line


def test_duplicate_stim_id(tmp_path):
    def duplicate(table):
        table.loc[5, "stim_id"] = table.loc[2, "stim_id"]
        return table

    config = demo_config()
    config["stimuli"]["table"] = str(copy_table(tmp_path, duplicate))
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "stimuli.tsv row 7" in line and "row 4" in line and "astronaut_02" in line
    assert_no_results(tmp_path)


def test_missing_image(tmp_path):
    def missing(table):
        table.loc[9, "path"] = str(tmp_path / "gone.png")
        return table

    config = demo_config()
    config["stimuli"]["table"] = str(copy_table(tmp_path, missing))
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "stimuli.tsv row 11" in line and "gone.png" in line
    assert_no_results(tmp_path)


def test_undecodable_image(tmp_path):
    """Decoding happens in check_stimuli: the job fails and results/stimuli.tsv never appears."""
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")

    def undecodable(table):
        table.loc[3, "path"] = str(broken)
        return table

    config = demo_config()
    config["stimuli"]["table"] = str(copy_table(tmp_path, undecodable))
    proc = run_workflow(tmp_path, config, "--cores", "1", "results/stimuli.tsv")
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "check_stimuli.log").read_text()
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "stimuli.tsv row 5" in errors[0] and "broken.png" in errors[0]
    assert_no_results(tmp_path)


def test_unknown_layer(tmp_path):
    config = demo_config()
    config["models"]["alexnet"]["layers"] = ["conv1", "conv9"]
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "models.alexnet.layers" in line and "'conv9'" in line
    assert "valid layers: conv1, conv2, conv3, conv4, conv5, fc6, fc7, fc8" in line


def test_roi_label_not_in_atlas(tmp_path):
    config = demo_config()
    config["brain"]["rois"]["FFA"] = ["FFA"]
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "'FFA'" in line and "FFC" in line


def _user_brain(tmp_path, names):
    axis = fslr32k_brain_models()
    path = tmp_path / "brain.dscalar.nii"
    write_dscalar(path, [[1.0] * len(axis)] * len(names), names, axis)
    config = demo_config()
    config["brain"]["subjects"] = {"sub-x": {"responses": str(path)}}
    del config["simulation"]
    return config


def test_brain_stimulus_count_mismatch(tmp_path):
    ids = list(pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t")["stim_id"])
    config = _user_brain(tmp_path, ids[:-1])
    line = dnnmap_error(run_workflow(tmp_path / "run", config, "-n"))
    assert "brain.dscalar.nii has 149 maps" in line and "150 stimuli" in line
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

    config = demo_config()
    config["stimuli"]["table"] = str(copy_table(tmp_path, empty_modality))
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "stimuli.tsv row 8: modality is empty; expected one of image, video, audio" in line
    assert_no_results(tmp_path)


def test_weights_name_of_another_architecture(tmp_path):
    config = demo_config()
    config["models"]["alexnet"]["weights"] = "IMAGENET1K_V2"  # ResNet-50 has it, AlexNet not
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "models.alexnet.weights: 'IMAGENET1K_V2' is not 'none', a .pth file" in line
    assert "(IMAGENET1K_V1, DEFAULT)" in line
    assert_no_results(tmp_path)


def test_checkpoint_option_without_weights_file(tmp_path):
    config = demo_config()
    config["models"]["alexnet"]["strip_prefix"] = "module."
    line = dnnmap_error(run_workflow(tmp_path, config, "-n"))
    assert "models.alexnet.strip_prefix: applies to a local weights file" in line
    assert "but weights is 'none'" in line


def test_yaml_exponent_numbers_are_numbers(tmp_path):
    """PyYAML reads `1e1` as a string; the config check takes it as the number it means."""
    import subprocess

    import yaml
    from workflow_helpers import snakemake_command

    config = demo_config()
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

    config = demo_config()
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
    config = demo_config()
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
