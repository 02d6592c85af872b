"""Benchmark: dnnmap's extraction against a bare forward pass of the same network and batch.

AlexNet (its eight friendly layers), ResNet-50 (the seed study's six) and ViT-B/16 (four of
its twelve blocks), seeded random weights, CPU, ``N`` synthetic 224 x 224 PNG images, batches
of ``BATCH``. The peer is ``model(batch)`` over the same images already decoded and
preprocessed, under ``torch.inference_mode``, no layer recorded. dnnmap's time is the whole
``extract_activations`` call: decoding and preprocessing every image in the main process,
hooks, copies, HDF5 writes (lzf, the config default), and again with one DataLoader worker
decoding beside the forward pass (``compute.loader_workers: 1``, ``ratio_1_worker``);
``dnnmap_loop_s`` leaves out building the network and hashing its weights (timed separately in
the same process), which happen once per job; both runs are warmed up first (the peer by one
forward pass, dnnmap by one extraction of two images), as a job warms up on its first batch.
``ratio`` is the throughput ratio peer_s / dnnmap_loop_s (the issue's target: >= 0.9);
``cpu_ratio`` is the same ratio of the process's CPU seconds, which a busy machine disturbs
less than wall-clock time. ``ratio_1_thread`` repeats both runs with one torch thread, which
leaves the second core to dnnmap's writer thread as a GPU node's forward pass leaves its cores.
``write_bound_images_per_s`` is how many images per second the HDF5 writes alone (the same
layers, chunks and lzf, rewritten batch by batch) sustain: no forward pass, however fast, gets
more through one extraction job; ``mb_per_image`` is the float32 size of one image's layers.
Agreement: the largest difference of any recorded layer from torchvision's
``create_feature_extractor`` on the same images (on the CPU), relative to that layer's largest
magnitude.

On a GPU node (``DNNMAP_BENCH_DEVICE=cuda``; ``tests/benchmarks/gpu_checks.sh``) the network
and both runs are on the GPU: the peer's batches are decoded and pinned beforehand and its time
ends with ``torch.cuda.synchronize()``; dnnmap decodes in DataLoader workers (one per core but
one, at most 8, as ``compute.loader_workers: auto``) and is timed again with
``compression: none`` (``ratio_uncompressed``) and with float16 storage uncompressed
(``ratio_float16``), since what bounds it there is the writing of the activations, not the
forward pass. ``N`` and ``BATCH`` default to 256 and 64 there (``DNNMAP_BENCH_N``,
``DNNMAP_BENCH_BATCH``); the one-thread runs are CPU only.
"""

from __future__ import annotations

import os
import resource
import time

import h5py
import numpy as np
import pytest
import torch
from bench_helpers import write_result
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from dnnmap.models.build import ModelSpec, build_model, weights_digest
from dnnmap.models.extraction import extract_activations
from dnnmap.models.precision import cuda_precision

DEVICE = os.environ.get("DNNMAP_BENCH_DEVICE", "cpu")
CUDA = DEVICE.startswith("cuda")
N = int(os.environ.get("DNNMAP_BENCH_N", 256 if CUDA else 32))
BATCH = int(os.environ.get("DNNMAP_BENCH_BATCH", 64 if CUDA else 16))
THREADS = 2
WORKERS = min(8, max(1, (os.cpu_count() or 2) - 1)) if CUDA else 0  # compute.loader_workers: auto
MODELS = {
    "alexnet": ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"],
    "resnet50": ["conv1", "layer1", "layer2", "layer3", "layer4", "avgpool"],
    "vit_b_16": ["block3", "block6", "block9", "block12"],
}


def timed(fn):
    """``fn()``, its wall-clock seconds and this process's CPU seconds (all its threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def write_alone(source, target) -> tuple[float, float]:
    """Seconds to write ``source``'s layers again (same chunks, lzf, one batch at a time, as
    extraction writes them), and the float32 megabytes per image they hold: the rate at which
    the writes alone could keep up with a forward pass of any speed."""
    with h5py.File(source) as f:
        layers = {name: f["layers"][name][:] for name in f["layers"]}
        chunks = {name: f["layers"][name].chunks for name in f["layers"]}
    wall = time.perf_counter()
    with h5py.File(target, "w") as g:
        dsets = {
            name: g.create_dataset(
                name, shape=a.shape, dtype=a.dtype, chunks=chunks[name], compression="lzf"
            )
            for name, a in layers.items()
        }
        for start in range(0, N, BATCH):
            for name, a in layers.items():
                dsets[name][start : start + BATCH] = a[start : start + BATCH]
    seconds = time.perf_counter() - wall
    return seconds, sum(a[0].size * 4 for a in layers.values()) / 1e6


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N):
        path = folder / f"im{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return [f"s{i:03d}" for i in range(N)], paths


@pytest.mark.parametrize("architecture", list(MODELS))
def test_extraction_throughput(architecture, images, tmp_path):
    torch.set_num_threads(THREADS)
    ids, paths = images
    layers = MODELS[architecture]
    spec = ModelSpec.from_config(
        "net",
        {"architecture": architecture, "layers": layers, "preprocessing": {"resize": 224}},
    )
    transform = spec.preprocessing.transform()
    batches = [
        torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[i : i + BATCH]])
        for i in range(0, N, BATCH)
    ]

    if CUDA:
        batches = [batch.pin_memory() for batch in batches]

    def setup():
        built, _ = build_model(spec)
        weights_digest(built)
        return built.to(DEVICE)

    def peer():
        """Seconds and CPU seconds of the bare forward pass, after a warm-up."""

        def run():
            for batch in batches:
                model(batch.to(DEVICE, non_blocking=True))
            if CUDA:
                torch.cuda.synchronize()

        with torch.inference_mode(), cuda_precision(False):
            model(batches[0][:2].to(DEVICE))
            _, wall, cpu = timed(run)
        return wall, cpu

    def dnnmap_loop(name, setup_s, setup_cpu=0.0, **options):
        """Seconds and CPU seconds of one extraction, less building the network."""
        options = {"device": DEVICE, "workers": WORKERS, **options}
        _, wall, cpu = timed(
            lambda: extract_activations(
                spec, ids, paths, str(tmp_path / name), batch_size=BATCH, **options
            )
        )
        return max(wall - setup_s, 1e-9), max(cpu - setup_cpu, 1e-9)

    model, setup_s, setup_cpu = timed(setup)
    peer_s, peer_cpu = peer()  # its warm-up serves both runs
    out = tmp_path / "act.h5"
    # warm-up of dnnmap's path as of the peer's: torch's first calls, page faults of the
    # first buffers (paid once per job, like building the network)
    extract_activations(
        spec, ids[:2], paths[:2], str(tmp_path / "warm.h5"), batch_size=2, device=DEVICE
    )
    loop_s, loop_cpu = dnnmap_loop(out.name, setup_s, setup_cpu)
    extra = {}
    if CUDA:  # what the writes cost: uncompressed, and float16 uncompressed
        plain_s, _ = dnnmap_loop("none.h5", setup_s, compression="none")
        half_s, _ = dnnmap_loop("f16.h5", setup_s, compression="none", dtype="float16")
        extra = {
            "loader_workers": WORKERS,
            "dnnmap_loop_s_uncompressed": round(plain_s, 3),
            "ratio_uncompressed": round(peer_s / plain_s, 3),
            "dnnmap_loop_s_float16": round(half_s, 3),
            "ratio_float16": round(peer_s / half_s, 3),
            "gpu": torch.cuda.get_device_name(),
        }
    else:
        # the same with one DataLoader worker decoding beside it
        workers_loop_s, _ = dnnmap_loop("w1.h5", setup_s, workers=1)
        # one torch thread: the forward pass leaves the second core to the writer thread, as
        # a GPU node's forward pass leaves its cores (decoding stays in the main process)
        torch.set_num_threads(1)
        try:
            peer1_s, _ = peer()
            _, setup1_s, _ = timed(setup)
            one_loop_s, _ = dnnmap_loop("t1.h5", setup1_s)
        finally:
            torch.set_num_threads(THREADS)
        extra = {
            "dnnmap_loop_s_1_worker": round(workers_loop_s, 3),
            "ratio_1_worker": round(peer_s / workers_loop_s, 3),
            "peer_s_1_thread": round(peer1_s, 3),
            "dnnmap_loop_s_1_thread": round(one_loop_s, 3),
            "ratio_1_thread": round(peer1_s / one_loop_s, 3),
        }
    write_s, mb_per_image = write_alone(out, tmp_path / "rewrite.h5")
    nodes = spec.family().layer_modules(layers)
    reference_model = model.to("cpu")  # the reference is the CPU's, on the GPU too
    extractor = create_feature_extractor(
        reference_model, return_nodes={v: v for v in nodes.values()}
    )
    with torch.inference_mode():
        reference = extractor(batches[0])
    worst = 0.0
    with h5py.File(out) as f:
        for layer, node in nodes.items():
            want = reference[node].numpy()
            got = f["layers"][layer][: len(want)]
            worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
    peer_name = "bare forward pass (torch.inference_mode), same model and batches"
    write_result(
        f"extraction_{architecture}" + ("_cuda" if CUDA else ""),
        {
            "peer": peer_name + (", batches decoded and pinned beforehand" if CUDA else ""),
            "params": {
                "n_stim": N,
                "batch_size": BATCH,
                "threads": torch.get_num_threads(),
                "device": DEVICE,
                "layers": layers,
            },
            "dnnmap_s": round(loop_s + setup_s, 3),
            "dnnmap_loop_s": round(loop_s, 3),
            "setup_s": round(setup_s, 3),
            "peer_s": round(peer_s, 3),
            "ratio": round(peer_s / loop_s, 3),
            "peer_cpu_s": round(peer_cpu, 3),
            "dnnmap_loop_cpu_s": round(loop_cpu, 3),
            "cpu_ratio": round(peer_cpu / loop_cpu, 3),
            **extra,
            "mb_per_image": round(mb_per_image, 3),
            "write_alone_s": round(write_s, 3),
            "write_bound_images_per_s": round(N / write_s, 1),
            "peer_images_per_s": round(N / peer_s, 1),
            "target": ">= 0.9 (throughput ratio)",
            "agreement": worst,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        },
    )
    assert worst <= 1e-5
