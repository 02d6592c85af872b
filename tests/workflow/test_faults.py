"""A job killed mid-write leaves nothing that counts as complete; the rerun matches a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
from workflow_helpers import demo_config, h5_datasets, run_workflow, snakemake_command

TARGET = "results/activations/alexnet.h5"


def _start(workdir, config):
    """Start snakemake for the activations in its own process group; return the process."""
    cmd = snakemake_command(workdir, config, "--cores", "1", TARGET)
    return subprocess.Popen(
        cmd, cwd=workdir, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _read_all(path):
    with h5py.File(path, "r") as f:
        attrs = {k: v for k, v in f.attrs.items() if k != "created"}
    return h5_datasets(path), attrs


@pytest.mark.slow
def test_killed_extraction_then_rerun_matches_a_clean_run(tmp_path):
    config = demo_config(["alexnet"])
    config["compute"]["batch_size"] = 8  # many batches, so the kill lands mid-write
    killed = tmp_path / "killed"
    proc = _start(killed, config)
    partial = killed / "results/activations/.alexnet.h5.partial"
    deadline = time.monotonic() + 300
    while not (partial.exists() and partial.stat().st_size > 50e6):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "extraction never started writing"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / TARGET).exists(), "a killed job left a complete-looking output"

    assert run_workflow(killed, config, "--unlock").returncode == 0
    rerun = run_workflow(killed, config, "--cores", "1", TARGET)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not partial.exists()

    clean = tmp_path / "clean"
    done = run_workflow(clean, config, "--cores", "1", TARGET)
    assert done.returncode == 0, done.stderr[-3000:]
    got, got_attrs = _read_all(killed / TARGET)
    want, want_attrs = _read_all(clean / TARGET)
    assert got.keys() == want.keys() and len(want) == 1 + 8
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    assert got_attrs == want_attrs
