"""DAG scale: a dry run of 10 models x 8 layers x 2 subjects x 50 ROIs, and SLURM submissions.

Measures the dry-run time and peak memory of Snakemake building the DAG, and counts the
cluster submissions with and without the profile's grouping of per-ROI jobs (local rules
run on the login node and are not submitted).
"""

from __future__ import annotations

import re
import resource
import subprocess
import time

import yaml
from bench_helpers import write_result
from workflow_helpers import ROOT, demo_config, snakemake_command

from dnnmap.brain.atlas import mmp_atlas

N_MODELS, N_ROIS = 10, 50
LOCAL_RULES = {
    "fetch_weights",
    "summarize_encoding",
    "plot_encoding",
    "summarize_benchmarks",
    "summarize_rsa",
    "plot_rsa",
    "plot_rdms",
    "summarize_rsa_remix",
    "collect_rsa_table",
    "plot_rsa_advanced",
    "probing_profile",
    "summarize_brain_decoding",
    "all",
}
"""The workflow's ``localrules`` (run on the login node, never submitted)."""


def scale_config() -> dict:
    config = demo_config(["alexnet"])
    base = config["models"].pop("alexnet")
    for i in range(N_MODELS):
        config["models"][f"alexnet_s{i:02d}"] = {**base, "seed": i}
    config["simulation"]["model"] = "alexnet_s00"
    partition = config["rsa"]["advanced"]["partition"]
    partition["alexnet_s00"] = partition.pop("alexnet")
    areas = [label[2:] for label in mmp_atlas().labels[1:181]][:N_ROIS]
    config["brain"]["rois"] = {area.replace("_", "-"): [area] for area in areas}
    return config


def job_stats(stdout: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table of a dry run."""
    block = stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def submissions(stdout: str) -> int:
    """Cluster submissions in a dry run: top-level non-local jobs plus group jobs.

    Jobs inside a group job are printed indented under its header and are not counted.
    """
    jobs = re.findall(r"^rule (\w+):$", stdout, re.M)
    groups = re.findall(r"^\[.*\] Group job ", stdout, re.M)
    return sum(1 for rule in jobs if rule not in LOCAL_RULES) + len(groups)


def dry_run(workdir, config, *args):
    start = time.perf_counter()
    proc = subprocess.run(
        snakemake_command(workdir, config, "-n", *args), capture_output=True, text=True, cwd=workdir
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, seconds, peak / 1024


def test_dag_scale(tmp_path):
    config = scale_config()
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.v8+.yaml").read_text())
    groups = profile["group-components"]
    plain, seconds, peak_mb = dry_run(tmp_path, config)
    grouped, grouped_seconds, _ = dry_run(tmp_path, config, "--group-components", *groups)
    n_encode = N_MODELS * 8 * 2 * N_ROIS
    stats = job_stats(plain)
    assert stats["encode"] == n_encode
    ungrouped_n, grouped_n = submissions(plain), submissions(grouped)
    assert grouped_n < ungrouped_n
    write_result(
        "dag_scale",
        {
            "peer": "the same DAG without grouping",
            "params": {
                "models": N_MODELS,
                "layers": 8,
                "subjects": 2,
                "rois": N_ROIS,
                "jobs": stats["total"],
                "group_components": groups,
            },
            "dnnmap_s": round(seconds, 2),
            "dry_run_grouped_s": round(grouped_seconds, 2),
            "peer_s": None,
            "peak_rss_mb": round(peak_mb, 1),
            "submissions_ungrouped": ungrouped_n,
            "submissions_grouped": grouped_n,
            "ratio": round(grouped_n / ungrouped_n, 4),
            "target": "DAG builds; grouping cuts SLURM submissions",
            "agreement": None,
        },
    )
