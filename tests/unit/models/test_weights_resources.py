"""Tests of dnnmap.models.weights (offline weights for compute nodes) and dnnmap.sizing (job
sizes)."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
import torchvision

from dnnmap.errors import InputError
from dnnmap.models.registry import families, get_family
from dnnmap.models.weights import fetch_weights, weights_url
from dnnmap.sizing import (
    encoding_mem_mb,
    extraction_mem_mb,
    layer_shapes,
    layer_units,
    pca_mem_mb,
)


def _state_file(folder, stem="alexnet-owt"):
    """A small state dict saved under a torchvision-style name with its sha256 prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp.pth"
    torch.save({"w": torch.arange(6.0)}, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"{stem}-{digest[:8]}.pth"
    tmp.rename(path)
    return path


def test_weights_url_and_unknown_name():
    assert weights_url("alexnet", "IMAGENET1K_V1").endswith("alexnet-owt-7be5be79.pth")
    with pytest.raises(InputError, match=r"'IMAGENET9' is not 'none', a \.pth file"):
        weights_url("alexnet", "IMAGENET9")
    assert weights_url("resnet50", "IMAGENET1K_V2").endswith("resnet50-11ad3fa6.pth")


def test_fetch_from_cache_checks_the_hash(tmp_path, monkeypatch):
    cached = _state_file(tmp_path / "cache")
    monkeypatch.setattr(
        "dnnmap.models.weights.weights_url", lambda *a, **k: f"https://x/{cached.name}"
    )
    dest = tmp_path / "results" / "weights" / "m.pth"
    source = fetch_weights("alexnet", "IMAGENET1K_V1", dest, [tmp_path / "cache"], download=False)
    assert source == str(cached)
    assert dest.read_bytes() == cached.read_bytes()
    assert torch.equal(torch.load(dest, weights_only=True)["w"], torch.arange(6.0))


def test_fetch_rejects_a_damaged_file(tmp_path, monkeypatch):
    cached = _state_file(tmp_path / "cache")
    cached.write_bytes(cached.read_bytes() + b"x")
    monkeypatch.setattr(
        "dnnmap.models.weights.weights_url", lambda *a, **k: f"https://x/{cached.name}"
    )
    dest = tmp_path / "m.pth"
    with pytest.raises(InputError, match="does not match"):
        fetch_weights("alexnet", "IMAGENET1K_V1", dest, [tmp_path / "cache"], download=False)
    assert not dest.exists()


def test_fetch_without_cache_or_network_says_what_to_do(tmp_path):
    dest = tmp_path / "m.pth"
    with pytest.raises(InputError) as err:
        fetch_weights(
            "alexnet", "IMAGENET1K_V1", dest, [tmp_path / "empty"], download=False, where="w"
        )
    message = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "empty") in message
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in message
    assert "\n" not in message
    assert not dest.exists()


# Image networks; the video and audio families' shapes: tests/unit/media/test_media_models.py.
@pytest.mark.parametrize(
    "architecture", sorted(n for n, f in families().items() if f.modality == "image")
)
@pytest.mark.parametrize("resize", [64, 96, 224])
def test_layer_shapes_match_a_forward_pass(architecture, resize):
    with torch.device("meta"):
        model = getattr(torchvision.models, architecture)(weights=None).eval()
    modules = dict(model.named_modules())
    shapes = {}
    for layer, path in get_family(architecture).layers.items():
        modules[path].register_forward_hook(
            lambda _m, _i, out, layer=layer: shapes.__setitem__(layer, tuple(out.shape[1:]))
        )
    model(torch.empty(1, 3, resize, resize, device="meta"))
    assert layer_shapes(architecture, resize) == shapes
    assert sum(p.numel() for p in model.parameters()) == get_family(architecture).n_parameters


def test_memory_estimates_grow_with_data_and_attempt():
    layers = list(get_family("alexnet").layers)
    one = extraction_mem_mb("alexnet", layers, 224, 32)
    assert extraction_mem_mb("alexnet", layers, 224, 32, attempt=2) == 2 * one
    assert extraction_mem_mb("alexnet", layers, 224, 64) > one
    # 32 stimuli x ~535k units x 4 bytes x 3 copies = ~205 MB above the fixed part
    units = sum(layer_units("alexnet", layers, 224).values())
    assert units == 64 * 55 * 55 + 192 * 27 * 27 + 384 * 169 + 2 * 256 * 169 + 2 * 4096 + 1000
    params = get_family("alexnet").n_parameters
    assert one > 1500 + 2 * 4 * params / 1e6 + 32 * 3 * units * 4 / 1e6
    assert encoding_mem_mb(1000, 100, 50_000, 10_000) > encoding_mem_mb(1000, 100, 5_000, 10_000)
    assert encoding_mem_mb(150, 100, 1600, 10_000, attempt=3) == 3 * encoding_mem_mb(
        150, 100, 1600, 10_000
    )
    big = pca_mem_mb(10_000, 200_000)
    assert big > 3 * 8 * 10_000**2 / 1e6  # the Gram matrix and its eigendecomposition
    assert math.isclose(pca_mem_mb(150, 4096, attempt=2), 2 * pca_mem_mb(150, 4096))


def test_runtime_hints_scale_with_stimuli_and_device():
    from dnnmap.sizing import encoding_runtime_min, extraction_runtime_min

    cpu = extraction_runtime_min(100_000, "alexnet", gpu=False)
    assert cpu == 10 + math.ceil(3 * 100_000 * 0.05 / 60)
    assert extraction_runtime_min(100_000, "alexnet", gpu=True) < cpu
    assert extraction_runtime_min(100_000, "resnet18", gpu=False) > cpu
    assert encoding_runtime_min(10_000, 5_000) > encoding_runtime_min(150, 1_600) >= 5
