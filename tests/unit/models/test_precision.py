"""TF32 off by default in CUDA forward passes: the flags inside the block, and after it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from dnnmap.models.build import ModelSpec
from dnnmap.models.extraction import extract_activations
from dnnmap.models.precision import cuda_precision


def _flags():
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("tf32", [False, True])
def test_cuda_precision_sets_both_flags_and_restores_them(tf32):
    before = _flags()
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = (not tf32,) * 2
    try:
        with cuda_precision(tf32):
            assert _flags() == (tf32, tf32)
        assert _flags() == (not tf32, not tf32)
        with pytest.raises(RuntimeError, match="inside"), cuda_precision(tf32):
            raise RuntimeError("inside")
        assert _flags() == (not tf32, not tf32)  # restored after an error too
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_extraction_records_tf32_only_where_it_applies(tmp_path):
    """On the CPU, asking for TF32 changes nothing: the attr says false and the values are
    those of a run without it; PyTorch's own default (TF32 convolutions allowed) is back
    after the job."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"im{i}.png"))
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(paths[-1])
    ids = ["a", "b", "c"]
    spec = ModelSpec.from_config(
        "net",
        {"architecture": "alexnet", "layers": ["conv1", "fc8"], "preprocessing": {"resize": 64}},
    )
    before = _flags()
    for name, tf32 in (("off.h5", False), ("on.h5", True)):
        extract_activations(spec, ids, paths, str(tmp_path / name), batch_size=2, tf32=tf32)
        assert _flags() == before
    with h5py.File(tmp_path / "off.h5") as off, h5py.File(tmp_path / "on.h5") as on:
        assert not off.attrs["tf32"] and not on.attrs["tf32"]
        for layer in ("conv1", "fc8"):
            np.testing.assert_array_equal(off["layers"][layer][()], on["layers"][layer][()])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_activations_equal_the_cpu_ones_without_tf32(tmp_path):
    """The same network and images on CUDA (full float32, the default) and on the CPU agree to
    float32 rounding (1e-5 of each layer's largest value); with ``tf32`` the attr says so."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(8):
        paths.append(str(tmp_path / f"im{i}.png"))
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(paths[-1])
    ids = [f"s{i}" for i in range(8)]
    layers = ["conv1", "layer2", "layer4", "fc"]
    spec = ModelSpec.from_config(
        "net", {"architecture": "resnet18", "layers": layers, "preprocessing": {"resize": 96}}
    )
    runs = {"cpu": ("cpu", False), "cuda": ("cuda", False), "tf32": ("cuda", True)}
    for name, (device, tf32) in runs.items():
        extract_activations(
            spec, ids, paths, str(tmp_path / f"{name}.h5"), batch_size=4, device=device, tf32=tf32
        )
    with h5py.File(tmp_path / "cpu.h5") as cpu, h5py.File(tmp_path / "cuda.h5") as gpu:
        assert gpu.attrs["device"].startswith("cuda") and not gpu.attrs["tf32"]
        for layer in layers:
            want, got = cpu["layers"][layer][()], gpu["layers"][layer][()]
            assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max(), layer
    with h5py.File(tmp_path / "tf32.h5") as f:
        assert f.attrs["tf32"]
