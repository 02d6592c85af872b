"""The demo through a real SLURM scheduler (`--profile profiles/slurm`), equal to a local run.

`.ci/run` starts a single-node SLURM (`.ci/slurm/start.sh`) and exports SLURM_CONF. The
test is skipped, with the reason printed, only where `sbatch` is absent.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT, demo_config, h5_datasets, run_workflow

pytestmark = pytest.mark.slow


LAYERS = ["conv1", "fc6"]
ROIS = ["V1", "VTC"]
ENCODE_BUNDLE = 4


def cluster_config() -> dict:
    """The demo config cut to what a scheduler test needs: two layers, two regions, 75 jobs.

    Every kind of job of the demo but decoding still runs (extraction on the GPU partition,
    features, per-ROI jobs, encoding bundles, RSA, stacking, joint models, summaries and
    figures); the regions kept are those the two layers drive. The numbers are the demo's own
    checks' business (tests/workflow/test_demo.py); this test checks that a SLURM run and a
    local run of one config give the same files. CI runs it twice (locally, then on SLURM),
    so it is kept small.
    """
    config = demo_config(["alexnet"])
    config["models"]["alexnet"]["layers"] = list(LAYERS)
    for roi in set(config["brain"]["rois"]) - set(ROIS):
        config["brain"]["rois"].pop(roi)
        config["simulation"]["regions"].pop(roi)
    config["encoding"]["permutation"]["n_perm"] = 20
    config["decoding"]["attributes"] = []
    config["rsa"].pop("advanced")
    config["stacking"]["sets"] = {"drivers": {"alexnet": list(LAYERS)}}
    config["joint"]["sets"] = {"driving": {"alexnet": list(LAYERS)}}
    config["joint"]["compare"]["pairs"] = {"conv1_vs_fc6": ["alexnet/conv1", "alexnet/fc6"]}
    config["joint"]["compare"]["n_perm"] = 100
    config["rsa"]["n_perm"] = 200
    config["rsa"]["n_boot"] = 50
    config.pop("interpret", None)  # tested end to end by tests/workflow/test_interpret_workflow.py
    return config


def ci_profile(folder: Path) -> Path:
    """profiles/slurm with the CI node's sizes (2 CPUs: 2 per GPU and per bundle); quicker polling.

    Partition names (cpu, gpu) are those of the profile; encode jobs are bundled by
    ``ENCODE_BUNDLE`` (not 64), so the few jobs of :func:`cluster_config` still make several
    bundles; nothing else changes.
    """
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.v8+.yaml").read_text())
    profile["set-resources"]["extract_activations"]["cpus_per_gpu"] = 2
    profile["set-threads"]["extract_activations"] = 2
    profile["cores"] = 2
    profile["jobs"] = 4
    profile["latency-wait"] = 10
    profile["slurm-init-seconds-before-status-checks"] = 5
    profile["group-components"] = [
        f"encode={ENCODE_BUNDLE}" if g.startswith("encode=") else g
        for g in profile["group-components"]
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.v8+.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def _require_slurm():
    if shutil.which("sbatch") is None:
        print("SKIP: sbatch is not installed; run .ci/slurm/start.sh to test on SLURM")
        pytest.skip("sbatch is not installed (no SLURM on this machine)")
    info = subprocess.run(["sinfo", "-h", "-o", "%P %a %T"], capture_output=True, text=True)
    assert info.returncode == 0, f"sbatch exists but SLURM does not answer: {info.stderr}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    _require_slurm()
    config = cluster_config()
    local = tmp_path_factory.mktemp("local")
    proc = run_workflow(local, config, "--profile", str(ROOT / "profiles/local"), "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    cluster = tmp_path_factory.mktemp("slurm")
    profile = ci_profile(tmp_path_factory.mktemp("profile"))
    proc = run_workflow(cluster, config, "--profile", str(profile), timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return local, cluster, proc.stdout + proc.stderr


def test_jobs_went_through_slurm(runs):
    _local, cluster, output = runs
    assert "SLURM run ID" in output
    slurm = cluster / "logs" / "slurm"
    submitted = {p.parent.relative_to(slurm).parts[0] for p in slurm.rglob("*.log")}
    assert {
        "rule_check_stimuli",
        "rule_extract_activations",
        "rule_reduce_features",
        "group_extract_roi_extract_roi",
        "group_encode_encode",
    } <= submitted, sorted(submitted)
    # The encode jobs went in bundles (profiles/slurm group-components), not one each
    n_encode = len(list((cluster / "results" / "encoding").rglob("*.h5")))
    bundles = len(list((slurm / "group_encode_encode").rglob("*.log")))
    assert n_encode == 2 * len(LAYERS) * len(ROIS)
    assert bundles == math.ceil(n_encode / ENCODE_BUNDLE)
    (gpu_log,) = (slurm / "rule_extract_activations").rglob("*.log")
    text = gpu_log.read_text()
    assert "slurm_partition=gpu" in text and "gpu=1" in text
    assert not any(p.name.startswith("rule_summarize") for p in slurm.iterdir())  # local rule


def test_outputs_equal_a_local_run(runs):
    local, cluster, _ = runs
    files = sorted(p.relative_to(local) for p in (local / "results").rglob("*.h5"))
    assert len(files) >= 1 + len(LAYERS) + 2 * len(ROIS) + 2 * len(LAYERS) * len(ROIS)
    for rel in files:
        want, got = h5_datasets(local / rel), h5_datasets(cluster / rel)
        assert want.keys() == got.keys(), rel
        for name, value in want.items():
            if value.dtype.kind in "iuSOb":
                assert np.array_equal(value, got[name]), (rel, name)
            else:
                np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=str(rel))
    want = pd.read_csv(local / "results/summary/encoding.tsv", sep="\t")
    got = pd.read_csv(cluster / "results/summary/encoding.tsv", sep="\t")
    pd.testing.assert_frame_equal(got, want, atol=1e-3)
    for subject in ("sub-01", "sub-02"):
        for name in ("encoding_r.dscalar.nii",):
            rel = Path("results/maps", subject, "alexnet", name)
            assert (cluster / rel).stat().st_size == (local / rel).stat().st_size
