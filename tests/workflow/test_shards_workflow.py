"""Stimulus shards in the workflow (extraction.n_shards): a killed shard reruns alone, and the
merged activations file equals an unsharded extraction's.

Twelve demo images, AlexNet with seeded random weights at 64 x 64 px, batches of 4, three
shards, CPU. Shards 0 and 2 are run first (as if shard 1's job had been killed); a dry run
of the activations file then plans shard 1 and the merge only. After the rerun the shard
files are gone (temporary), nothing is left to do, and the merged file is compared with
extract_activations' own rule script run on the same checked table: every layer exactly
equal, the same stim_id, chunks, compression and attributes apart from the provenance that
differs (created, inputs, shards).
"""

from __future__ import annotations

import io
import json
import re
import sys

import h5py
import numpy as np
import pandas as pd
from workflow_helpers import ROOT, demo_config, dnnmap_error, run_workflow

from dnnmap.config import load_schema, validate

ACT = "results/activations/alexnet.h5"
SHARD = "results/activations/alexnet/shard-{}-of-3.h5"


def _config(tmp_path, n_shards):
    config = demo_config(["alexnet"])
    table = pd.read_csv(config["stimuli"]["table"], sep="\t").iloc[::12].head(12)
    folder = ROOT / "resources"
    table["path"] = [str(folder / p) for p in table["path"]]
    table.to_csv(tmp_path / "stimuli.tsv", sep="\t", index=False)
    config["stimuli"]["table"] = str(tmp_path / "stimuli.tsv")
    for section in ("rsa", "joint", "decoding", "stacking", "interpret"):
        config.pop(section, None)
    config["brain"]["subjects"] = {"sub-01": {"responses": "simulate"}}
    config["models"]["alexnet"]["preprocessing"] = {"resize": 64}
    config["compute"].update({"device": "cpu", "batch_size": 4})
    config["extraction"] = {"n_shards": n_shards}
    return config


def _jobs(stdout):
    block = stdout.split("Job stats:")[1].split("Reasons:")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def test_killed_shard_reruns_alone_and_merge_equals_unsharded(tmp_path, monkeypatch):
    work = tmp_path / "work"
    config = _config(tmp_path, 3)
    # two shard jobs side by side, one thread each
    targets = (SHARD.format(0), SHARD.format(2))
    proc = run_workflow(work, config, "--cores", "2", *targets, "--set-threads", "extract_shard=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (work / SHARD.format(1)).exists()

    proc = run_workflow(work, config, "-n", ACT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _jobs(proc.stdout) == {"extract_shard": 1, "merge_shards": 1, "total": 2}
    assert "wildcards: model=alexnet, shard=1, n_shards=3" in proc.stdout

    proc = run_workflow(work, config, "--cores", "1", ACT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (work / "results/activations/alexnet").exists() or not any(
        (work / "results/activations/alexnet").iterdir()
    )
    proc = run_workflow(work, config, "-n", ACT)
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # the unsharded extraction: the rule script of extract_activations on the same table
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from extract_activations import main
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    validate(config, load_schema(ROOT / "workflow/schemas/config.schema.yaml"), "config")
    whole = tmp_path / "whole.h5"
    model = config["models"]["alexnet"]
    monkeypatch.chdir(work)  # the table's path as the workflow's jobs name it
    table = "results/stimuli.tsv"
    args = (model, config["compute"], table, [], str(whole), 1, io.StringIO())
    main("alexnet", *args, config["stimuli"]["background"])
    with h5py.File(whole, "r") as a, h5py.File(work / ACT, "r") as b:
        assert list(a["stim_id"][()]) == list(b["stim_id"][()])
        assert sorted(a["layers"]) == sorted(b["layers"]) and len(a["layers"]) == 8
        for layer in a["layers"]:
            x, y = a["layers"][layer], b["layers"][layer]
            assert (x.shape, x.dtype, x.chunks, x.compression) == (
                y.shape,
                y.dtype,
                y.chunks,
                y.compression,
            )
            assert dict(x.attrs.items()).keys() == dict(y.attrs.items()).keys()
            np.testing.assert_array_equal(x[()], y[()])
        differ = {"created", "inputs", "shards"}
        assert set(b.attrs) - set(a.attrs) == {"shards"} and not set(a.attrs) - set(b.attrs)
        for key in set(a.attrs) - differ:
            assert np.array_equal(np.asarray(a.attrs[key]), np.asarray(b.attrs[key])), key
        assert json.loads(b.attrs["shards"]) == [[0, 4], [4, 8], [8, 12]]
        inputs = json.loads(b.attrs["inputs"])
        assert inputs["results/stimuli.tsv"] == json.loads(a.attrs["inputs"])["results/stimuli.tsv"]
        assert [k for k in inputs if "stimulus files" in k] == [
            f"4 stimulus files (rows {lo}-{hi}) listed in results/stimuli.tsv"
            for lo, hi in ((1, 4), (5, 8), (9, 12))
        ]


def test_too_many_shards_stop_before_any_job(tmp_path):
    proc = run_workflow(tmp_path / "work", _config(tmp_path, 13), "-n", ACT)
    line = dnnmap_error(proc)
    assert line.endswith(
        "extraction.n_shards: 13 shards for 12 stimuli; expected at most one shard per stimulus"
    )
