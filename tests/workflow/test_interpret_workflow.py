"""The interpret section in the workflow: its jobs, and the start-up refusals of bad targets."""

from __future__ import annotations

import re

from workflow_helpers import demo_config, dnnmap_error, run_workflow


def job_counts(stdout: str) -> dict[str, int]:
    """Parse snakemake's 'Job stats' table (as tests/workflow/test_dag.py)."""
    block = stdout.split("Job stats:")[1].split("Reasons:")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def test_interpret_jobs_per_layer_subject_and_roi(tmp_path):
    config = demo_config(["alexnet"])
    config["interpret"]["units"] = {"alexnet": {"conv1": [3], "fc7": [10, 20]}}
    config["interpret"]["brain"].update(
        subjects=["sub-01", "sub-02"], rois=["V1", "VTC"], layers={"alexnet": ["conv1", "fc6"]}
    )
    config["interpret"]["saliency"]["enabled"] = False
    config["interpret"]["finetune"] = {"cat": {"model": "alexnet", "attribute": "category"}}
    config["interpret"]["ablation"] = {
        "attributes": ["category"],
        "upstream": {"alexnet": {"conv3": "fc6"}},
    }
    proc = run_workflow(tmp_path, config, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    assert counts["interpret_top_units"] == counts["interpret_synthesis_units"] == 2
    assert counts["interpret_receptive_fields"] == counts["interpret_decoding_ablation"] == 2
    brain = 2 * 2 * 2
    assert counts["interpret_top_brain"] == counts["interpret_readout"] == brain
    assert counts["interpret_synthesis_brain"] == counts["interpret_ablation"] == brain
    assert "interpret_saliency_units" not in counts and "interpret_saliency_brain" not in counts
    assert "results/interpret/alexnet/conv1/brain/sub-02/V1/readout.h5" in proc.stdout
    assert counts["interpret_finetune"] == 1 and "results/finetune/cat.pth" in proc.stdout
    assert "results/finetune/cat.png" in proc.stdout
    assert counts["interpret_upstream_ablation"] == 2 * 2  # subjects x ROIs, read at fc6
    assert "results/interpret/alexnet/fc6/brain/sub-02/V1/upstream_conv3.tsv" in proc.stdout


def test_bad_interpret_targets_stop_before_any_job(tmp_path):
    config = demo_config(["alexnet"])
    config["interpret"]["units"] = {"alexnet": {"conv5": [0, 256]}}
    line = dnnmap_error(run_workflow(tmp_path / "a", config, "-n"))
    assert "interpret.units.alexnet.conv5: index 256 is outside the layer, which has 256" in line
