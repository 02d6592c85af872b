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
