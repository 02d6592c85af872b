"""Tests of the families' friendly layer names (dnnmap.models.registry) and
dnnmap.models.build (weights, preprocessing, devices)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from dnnmap.errors import InputError
from dnnmap.models import build as models
from dnnmap.models.build import (
    ModelSpec,
    Preprocessing,
    build_model,
    torch_device,
    weights_digest,
)
from dnnmap.models.registry import families, layer_modules

LAYERS = {name: dict(family.layers) for name, family in families().items()}

# --- layers -----------------------------------------------------------------------------------


def _skeleton(architecture: str) -> torch.nn.Module:
    """The torchvision model with weights=None, on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return families()[architecture].build(seed=0)


@pytest.mark.parametrize("architecture", sorted(LAYERS))
def test_every_layer_name_is_a_module(architecture):
    named = dict(_skeleton(architecture).named_modules())
    got = layer_modules(architecture, list(LAYERS[architecture]))
    assert list(got) == list(LAYERS[architecture])
    for name, path in got.items():
        assert path in named, f"{architecture}.{name} -> {path} is not a module"


def test_alexnet_layers_are_the_relu_outputs_and_logits():
    model = _skeleton("alexnet")
    named = dict(model.named_modules())
    convs = [i for i, m in enumerate(model.features) if isinstance(m, torch.nn.Conv2d)]
    for k, i in enumerate(convs, 1):
        path = LAYERS["alexnet"][f"conv{k}"]
        assert path == f"features.{i + 1}"
        assert isinstance(named[path], torch.nn.ReLU)
    linears = [i for i, m in enumerate(model.classifier) if isinstance(m, torch.nn.Linear)]
    assert LAYERS["alexnet"]["fc6"] == f"classifier.{linears[0] + 1}"
    assert LAYERS["alexnet"]["fc7"] == f"classifier.{linears[1] + 1}"
    assert isinstance(named[LAYERS["alexnet"]["fc6"]], torch.nn.ReLU)
    fc8 = named[LAYERS["alexnet"]["fc8"]]
    assert fc8 is model.classifier[-1] and fc8.out_features == 1000


@pytest.mark.parametrize(
    ("architecture", "width"), [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)]
)
def test_resnet_layer_types(architecture, width):
    named = dict(_skeleton(architecture).named_modules())
    modules = {k: named[v] for k, v in LAYERS[architecture].items()}
    assert isinstance(modules["conv1"], torch.nn.ReLU)
    assert isinstance(modules["avgpool"], torch.nn.AdaptiveAvgPool2d)
    assert isinstance(modules["fc"], torch.nn.Linear) and modules["fc"].in_features == width


def test_layer_modules_keeps_requested_order():
    assert layer_modules("alexnet", ["fc8", "conv1"]) == {
        "fc8": "classifier.6",
        "conv1": "features.1",
    }


def test_unknown_layer_lists_valid_names():
    with pytest.raises(InputError) as err:
        layer_modules("alexnet", ["conv1", "conv9"], "models.net.layers")
    msg = str(err.value)
    assert msg.startswith("models.net.layers:") and "'conv9'" in msg
    assert all(name in msg for name in LAYERS["alexnet"])
    assert "\n" not in msg


def test_unknown_architecture_and_repeats():
    with pytest.raises(InputError, match=r"unknown architecture 'vgg99'.*alexnet.*resnet18"):
        layer_modules("vgg99", ["conv1"])
    with pytest.raises(InputError, match="repeat"):
        layer_modules("resnet18", ["fc", "fc"])


# --- build_model ------------------------------------------------------------------------------

ARCH = "resnet18"  # the smallest registered family keeps these tests fast


def _spec(**kw) -> ModelSpec:
    return ModelSpec(**{"name": "net", "architecture": ARCH, "layers": [], **kw})


def test_random_weights_are_seeded_and_deterministic():
    a, wid = build_model(_spec(seed=3))
    b, _ = build_model(_spec(seed=3))
    c, _ = build_model(_spec(seed=4, weights="random"))
    assert wid == "random(seed=3)"
    assert not a.training
    assert weights_digest(a) == weights_digest(b)
    assert weights_digest(a) != weights_digest(c)
    # Reference: torchvision's own builder after seeding the global RNG the same way.
    torch.manual_seed(3)
    ref = getattr(torchvision.models, ARCH)(weights=None).state_dict()
    got = a.state_dict()
    assert list(got) == list(ref)
    assert all(torch.equal(got[k], ref[k]) for k in ref)


def test_weights_digest_sees_every_tensor():
    model, _ = build_model(_spec(seed=0))
    digest = weights_digest(model)
    with torch.no_grad():
        next(iter(model.parameters())).view(-1)[0] += 1.0
    assert weights_digest(model) != digest


def test_local_state_dict(tmp_path):
    source, _ = build_model(_spec(seed=11))
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    loaded, wid = build_model(_spec(weights=str(path), seed=0))
    assert wid == str(path)
    assert weights_digest(loaded) == weights_digest(source)
    for (k, v), (k2, v2) in zip(
        loaded.state_dict().items(), source.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(v, v2)


def test_wrong_state_dict(tmp_path):
    other = torchvision.models.squeezenet1_0(weights=None)  # different layer shapes
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(InputError, match=rf"other.pth: not a {ARCH} state dict"):
        build_model(_spec(weights=str(path)))
    with pytest.raises(InputError, match="does not exist"):
        build_model(_spec(weights=str(tmp_path / "missing.pth")))


def test_unknown_weights_and_architecture():
    with pytest.raises(InputError, match=r"models\.net\.weights: 'BOGUS_V9'"):
        build_model(_spec(weights="BOGUS_V9"))
    with pytest.raises(InputError, match=r"models\.net\.weights: 'BOGUS_V9'.*IMAGENET1K_V1"):
        build_model(_spec(weights="BOGUS_V9"), weights_file="unused.pth")
    with pytest.raises(InputError, match=r"models\.net\.architecture.*'no_such_net'"):
        build_model(_spec(architecture="no_such_net"))
    # a torchvision model of another task (detection) is not a classification model
    with pytest.raises(
        InputError, match=r"unknown architecture 'fasterrcnn_resnet50_fpn' \(a torchvision model"
    ):
        build_model(_spec(architecture="fasterrcnn_resnet50_fpn"))


def test_model_spec_from_config():
    spec = ModelSpec.from_config(
        "m", {"architecture": "alexnet", "layers": ["conv1"], "preprocessing": {"resize": 64}}
    )
    assert (spec.weights, spec.seed, spec.layers) == ("none", 0, ["conv1"])
    assert spec.preprocessing == Preprocessing(resize=64)
    assert spec.preprocessing.as_dict() == {
        "resize": 64,
        "mean": list(models.IMAGENET_MEAN),
        "std": list(models.IMAGENET_STD),
    }


# --- devices ----------------------------------------------------------------------------------


def test_torch_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("auto") == torch.device("cpu")
    assert torch_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(InputError, match=rf"compute.device: device is '{name}'.*no CUDA"):
            torch_device(name)
    with pytest.raises(InputError, match=r"compute.device: device is 'tpu'; expected one of"):
        torch_device("tpu")


def test_torch_device_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_device("auto") == torch.device("cuda", 0)
    assert torch_device("cuda") == torch.device("cuda", 0)
    assert torch_device("cuda:1") == torch.device("cuda", 1)


def test_torch_device_here():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert torch_device("auto").type == expected


# --- preprocessing ----------------------------------------------------------------------------


def test_transform_matches_numpy():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    out = Preprocessing(resize=6, mean=mean, std=std).transform()(Image.fromarray(pixels))
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float32 and tuple(out.shape) == (3, 6, 6)
    ref = (pixels.astype(np.float64) / 255.0 - mean) / std
    np.testing.assert_allclose(out.numpy(), ref.transpose(2, 0, 1), rtol=1e-5, atol=1e-5)


def test_transform_resizes_to_a_square():
    pixels = np.zeros((12, 20, 3), dtype=np.uint8)
    pixels[...] = (51, 102, 204)  # constant image: resizing keeps it constant
    out = Preprocessing(resize=8).transform()(Image.fromarray(pixels)).numpy()
    assert out.shape == (3, 8, 8)
    ref = (np.array([51, 102, 204]) / 255.0 - models.IMAGENET_MEAN) / models.IMAGENET_STD
    np.testing.assert_allclose(out, np.broadcast_to(ref[:, None, None], out.shape), atol=1e-5)
