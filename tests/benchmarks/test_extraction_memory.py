"""Benchmark: resident memory of an extraction job at 1,000 and at 10,000 stimuli.

The issue's target: peak resident memory (RSS) within 10 % between the two, i.e. memory
flat in the number of stimuli. Each run is a fresh Python process that runs the rule
script's ``main`` (scripts/extract_activations.py: stimulus table, provenance with the
stimulus files' digest, ``extract_activations`` with its HDF5 writes), so the number is
what a job's ``mem_mb`` must cover; its peak RSS is the child's own ``VmHWM``
(``bench_helpers.PEAK_RSS_SOURCE``; its ``ru_maxrss`` would start at the test process's
size). ResNet-18 with seeded random weights on the CPU, 64 x 64 input, the layers
``layer3``, ``layer4`` and ``avgpool`` (6,656 units per stimulus), batches of 32, random
48 x 48 PNG images (the first ``N`` of one set of 10,000).

``ratio`` is peak RSS at 10,000 over peak RSS at 1,000 (target <= 1.10); ``agreement`` is
the largest absolute difference of the activations of the first 1,000 stimuli between the
two files (the same images: 0 expected).

``test_merge_memory_flat`` does the same for the merge of extraction shards
(dnnmap.models.shards.merge_shards): 4 shard files of 2,000 and of 20,000 stimuli, merged in
a fresh process (``results/benchmarks/merge_memory.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
from bench_helpers import PEAK_RSS_SOURCE, ROOT, write_result
from PIL import Image

SIZES = (1_000, 10_000)
LAYERS = ["layer3", "layer4", "avgpool"]
MODEL = {
    "source": "torchvision",
    "architecture": "resnet18",
    "weights": "none",
    "seed": 0,
    "layers": LAYERS,
    "preprocessing": {"resize": 64},
}
COMPUTE = {
    "device": "cpu",
    "dtype": "float32",
    "compression": "lzf",
    "batch_size": 32,
    "loader_workers": 0,
    "autocast": False,
}
CHILD = """
import io, json, sys
sys.path.insert(0, {scripts!r})
from extract_activations import main
main("net", {model!r}, {compute!r}, {table!r}, [], {out!r}, 2, io.StringIO(), [0, 0, 0])
"""


def _images(folder, n):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"im{i:05d}.png"
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _child(code: str) -> tuple[float, float]:
    """Run ``code`` in a fresh Python; return (its own peak RSS in MB, seconds)."""
    code += PEAK_RSS_SOURCE + "\nprint('PEAK', peak_rss_mb())\n"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    return float(proc.stdout.split("PEAK")[-1]), seconds


def _run(table, out):
    """Run the extraction in a child process; return (peak RSS in MB, seconds)."""
    code = CHILD.format(
        scripts=str(ROOT / "scripts"), model=MODEL, compute=COMPUTE, table=str(table), out=out
    )
    return _child(code)


def test_extraction_memory_flat(tmp_path):
    paths = _images(tmp_path, max(SIZES))
    rss, seconds, files = {}, {}, {}
    for n in SIZES:
        table = tmp_path / f"stimuli_{n}.tsv"
        pd.DataFrame(
            {"stim_id": [f"s{i:05d}" for i in range(n)], "path": paths[:n], "modality": "image"}
        ).to_csv(table, sep="\t", index=False)
        files[n] = str(tmp_path / f"act_{n}.h5")
        rss[n], seconds[n] = _run(table, files[n])
    small, large = SIZES
    with h5py.File(files[small], "r") as a, h5py.File(files[large], "r") as b:
        agreement = max(
            float(np.abs(a["layers"][layer][()] - b["layers"][layer][:small]).max())
            for layer in LAYERS
        )
    ratio = rss[large] / rss[small]
    write_result(
        "extraction_memory",
        {
            "peer": f"the same extraction at {small} stimuli",
            "params": {
                "sizes": list(SIZES),
                "model": MODEL,
                "compute": COMPUTE,
                "threads": 2,
                "image_px": 48,
            },
            "dnnmap_s": seconds[large],
            "peer_s": seconds[small],
            "peak_rss_mb": {str(n): round(rss[n], 1) for n in SIZES},
            "ratio": ratio,
            "target": "<= 1.10 (peak RSS at 10,000 / at 1,000 stimuli)",
            "agreement": agreement,
        },
    )
    print(json.dumps({"rss_mb": rss, "ratio": ratio}))
    assert agreement == 0.0
    assert ratio <= 1.10, f"peak RSS grew {ratio:.3f}x from {small} to {large} stimuli"


MERGE_CHILD = """
import sys
sys.path.insert(0, {scripts!r})
from dnnmap.models.shards import merge_shards
merge_shards({shards!r}, {out!r}, [f"s{{i:05d}}" for i in range({n})], batch_size=32)
"""


def test_merge_memory_flat(tmp_path):
    """Peak RSS of merging 4 shards of 2,000 and of 20,000 stimuli (layers of 8,192 and 1,000
    float32 units, lzf, random values): the merge copies one chunk of rows at a time, so its
    memory must not grow with the stimuli (target: within 10 %)."""
    from dnnmap.models.activation_layout import chunk_shape
    from dnnmap.models.shards import shard_attr, shard_bounds
    from dnnmap.store import h5_writer, write_strings

    layers = {"conv": (512, 4, 4), "fc": (1000,)}
    rng = np.random.default_rng(0)
    rss, seconds, sizes = {}, {}, (2_000, 20_000)
    for n in sizes:
        ids = [f"s{i:05d}" for i in range(n)]
        shards = []
        for k, (a, b) in enumerate(shard_bounds(n, 4, 32)):
            path = tmp_path / f"{n}-shard-{k}.h5"
            with h5_writer(path, {"model": "net", "shard": shard_attr(k, 4, (a, b))}) as f:
                write_strings(f, "stim_id", ids[a:b])
                group = f.create_group("layers")
                for layer, shape in layers.items():
                    dset = group.create_dataset(
                        layer,
                        shape=(b - a, *shape),
                        dtype="float32",
                        chunks=chunk_shape(b - a, shape, 32, 4),
                        compression="lzf",
                    )
                    for r in range(0, b - a, 500):
                        rows = min(500, b - a - r)
                        dset[r : r + rows] = rng.standard_normal((rows, *shape), np.float32)
            shards.append(str(path))
        code = MERGE_CHILD.format(
            scripts=str(ROOT / "scripts"), shards=shards, out=str(tmp_path / f"{n}.h5"), n=n
        )
        rss[n], seconds[n] = _child(code)
        for path in shards:
            os.remove(path)
    small, large = sizes
    with h5py.File(tmp_path / f"{large}.h5", "r") as f:
        assert f["layers/conv"].shape == (large, 512, 4, 4)
    ratio = rss[large] / rss[small]
    write_result(
        "merge_memory",
        {
            "peer": f"the same merge at {small} stimuli",
            "params": {"sizes": list(sizes), "layers": layers, "shards": 4, "batch_size": 32},
            "dnnmap_s": seconds[large],
            "peer_s": seconds[small],
            "peak_rss_mb": {str(n): round(rss[n], 1) for n in sizes},
            "ratio": ratio,
            "target": "<= 1.10 (peak RSS at 20,000 / at 2,000 stimuli)",
            "agreement": None,
        },
    )
    assert ratio <= 1.10, f"merge peak RSS grew {ratio:.3f}x from {small} to {large} stimuli"
