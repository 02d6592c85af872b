"""The features options in the workflow: the external stimulus set and start-up refusals."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from PIL import Image
from workflow_helpers import demo_config, dnnmap_error, run_workflow


def job_counts(stdout: str) -> dict[str, int]:
    """Parse snakemake's 'Job stats' table (as tests/workflow/test_dag.py)."""
    block = stdout.split("Job stats:")[1].split("Reasons:")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def _external_table(folder, n=6):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        image = np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"ext{i}.png")
        rows.append({"stim_id": f"ext{i}", "path": f"ext{i}.png"})
    pd.DataFrame(rows).to_csv(folder / "external.tsv", sep="\t", index=False)
    return folder / "external.tsv"


def test_external_stimuli_are_checked_and_extracted_by_the_same_rules(tmp_path):
    config = demo_config(["alexnet"])
    table = _external_table(tmp_path / "external")
    config["features"] = {"method": "pca", "fit": "external", "external_stimuli": str(table)}
    proc = run_workflow(tmp_path / "run", config, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    assert counts["check_stimuli"] == counts["check_external_stimuli"] == 1
    assert counts["extract_activations"] == counts["extract_external_activations"] == 1
    assert counts["reduce_features"] == 8
    assert "results/external/activations/alexnet.h5" in proc.stdout
    assert "logs/benchmarks/extract_external_activations/alexnet.tsv" in proc.stdout


def test_features_contradictions_stop_before_any_job(tmp_path):
    config = demo_config(["alexnet"])
    config["features"] = {"method": "none", "fit": "external", "external_stimuli": "x.tsv"}
    line = dnnmap_error(run_workflow(tmp_path / "a", config, "-n"))
    assert "features.fit is 'external' but features.method is 'none'" in line
    config["features"] = {"method": "pca", "fit": "external", "external_stimuli": "missing.tsv"}
    line = dnnmap_error(run_workflow(tmp_path / "b", config, "-n"))
    assert "features.external_stimuli: missing.tsv does not exist" in line
