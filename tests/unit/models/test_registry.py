"""Tests of dnnmap.models.registry and of every registered family against torchvision.

The family tests are parametrized over :func:`families`, so a newly registered family is
covered without edits: its weights names are torchvision's, and an extraction with seeded
random weights on one small image records the declared unit shape of every layer.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from dnnmap import sizing
from dnnmap.errors import InputError
from dnnmap.models.build import ModelSpec, Preprocessing, build_model, weights_digest
from dnnmap.models.extraction import extract_activations
from dnnmap.models.registry import (
    IMAGENET_PREPROCESSING,
    ModelFamily,
    check_architecture,
    families,
    get_family,
    layer_modules,
    register,
    unregister,
)

RESIZE = 64


def test_importing_the_registry_and_sizing_loads_no_torch():
    code = textwrap.dedent(
        """
        import sys
        from dnnmap import config, sizing
        from dnnmap.models.registry import families, get_family
        for name, family in families().items():
            family.unit_shapes(224)
            sizing.extraction_mem_mb(name, list(family.layers), 224, 32)
            sizing.extraction_runtime_min(100, name, gpu=False)
        print(sorted(families()), "torch" in sys.modules, "torchvision" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    names = "'alexnet', 'mc3_18', 'mvit_v2_s', 'r2plus1d_18', 'r3d_18', 'resnet18', 'resnet34', "
    names += "'resnet50', 's3d', 'vggish'"
    assert out.strip() == f"[{names}] False False"


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        get_family("vgg99", "models.net.architecture")
    msg = str(err.value)
    assert msg.startswith("models.net.architecture: unknown architecture 'vgg99'; expected one of")
    assert all(name in msg for name in families())
    with pytest.raises(InputError, match=r"^architecture: unknown architecture 'vgg99'"):
        check_architecture("vgg99")
    assert check_architecture("resnet50") is None


def test_families_are_frozen_and_read_only():
    family = get_family("alexnet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        family.n_parameters = 1
    with pytest.raises(TypeError):
        family.layers["conv9"] = "features.99"
    with pytest.raises(TypeError):
        family.preprocessing["resize"] = 32
    assert family.preprocessing == IMAGENET_PREPROCESSING
    with pytest.raises(InputError, match=r"family net: modality 'smell'; expected one of image"):
        dataclasses.replace(family, name="net", modality="smell")


def test_register_twice_is_an_error():
    with pytest.raises(InputError, match="'alexnet' is registered twice"):
        register(get_family("alexnet"))


def test_resnet50_has_bottleneck_widths():
    shapes = get_family("resnet50").unit_shapes(224)
    assert [shapes[f"layer{k}"] for k in range(1, 5)] == [
        (256, 56, 56),
        (512, 28, 28),
        (1024, 14, 14),
        (2048, 7, 7),
    ]
    assert shapes["avgpool"] == (2048, 1, 1) and shapes["fc"] == (1000,)
    assert get_family("resnet34").unit_shapes(224) == get_family("resnet18").unit_shapes(224)


# --- a temporary family: every consumer asks the registry ------------------------------------


def _tiny_build(seed=0, state=None):
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 5),
    )
    if state is not None:
        model.load_state_dict(state)
    else:
        torch.manual_seed(seed)
        for module in (model[0], model[4]):
            module.reset_parameters()
    return model


@pytest.fixture
def tiny():
    family = register(
        ModelFamily(
            name="tinynet",
            modality="image",
            layers={"conv": "1", "pool": "2", "logits": "4"},
            build=_tiny_build,
            unit_shapes=lambda resize: {
                "conv": (4, resize - 2, resize - 2),
                "pool": (4, 2, 2),
                "logits": (5,),
            },
            n_parameters=3 * 4 * 9 + 4 + 16 * 5 + 5,
            weights=("TOY_V1",),
            preprocessing={"resize": 12, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)},
            cpu_seconds_per_image=0.01,
        )
    )
    yield family
    unregister("tinynet")
    assert "tinynet" not in families()


def test_a_registered_family_reaches_every_consumer(tiny, tmp_path):
    assert families()["tinynet"] is tiny
    assert layer_modules("tinynet", ["logits", "conv"]) == {"logits": "4", "conv": "1"}
    with pytest.raises(InputError, match=r"tinynet has no layer 'fc'; valid layers: conv, pool"):
        layer_modules("tinynet", ["fc"], "models.t.layers")
    assert sizing.layer_units("tinynet", ["conv", "logits"], 12) == {"conv": 400, "logits": 5}
    assert sizing.extraction_runtime_min(5900, "tinynet", gpu=False) == 10 + 3
    spec = ModelSpec.from_config(
        "t", {"architecture": "tinynet", "layers": ["conv"], "preprocessing": {"resize": 8}}
    )
    assert spec.preprocessing == Preprocessing(resize=8, mean=(0.5,) * 3, std=(0.25,) * 3)
    model, wid = build_model(spec)
    assert wid == "random(seed=0)"
    assert weights_digest(model) == weights_digest(_tiny_build(seed=0))
    assert weights_digest(model) != weights_digest(_tiny_build(seed=1))
    spec.weights = "BOGUS"
    with pytest.raises(InputError, match=r"models\.t\.weights: 'BOGUS' .* of tinynet \(TOY_V1\)"):
        build_model(spec, weights_file="unused.pth")


# --- every registered family -----------------------------------------------------------------


# VGGish has no torchvision weights; the media families' extraction is tested in tests/unit/media.
@pytest.mark.parametrize(
    "architecture", sorted(n for n, f in families().items() if f.modality != "audio")
)
def test_weights_names_are_torchvision_names(architecture):
    family = get_family(architecture)
    assert family.weights
    names = torchvision.models.get_model_weights(architecture).__members__
    assert set(family.weights) <= set(names)


@pytest.fixture(scope="module")
def one_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("stimuli") / "im.png"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


@pytest.mark.parametrize(
    "architecture", sorted(n for n, f in families().items() if f.modality == "image")
)
def test_extraction_records_the_declared_shapes(architecture, one_image, tmp_path):
    family = get_family(architecture)
    spec = ModelSpec(
        name="net",
        architecture=architecture,
        seed=2,
        layers=list(family.layers),
        preprocessing=Preprocessing(**{**family.preprocessing, "resize": RESIZE}),
    )
    out = tmp_path / "act.h5"
    extract_activations(spec, ["s0"], [one_image], str(out), batch_size=1)
    with h5py.File(out) as f:
        assert json.loads(f.attrs["layers"]) == dict(family.layers)
        assert f.attrs["weights_id"] == "random(seed=2)"
        shapes = {layer: f["layers"][layer].shape[1:] for layer in f["layers"]}
        assert all(np.isfinite(f["layers"][layer][:]).all() for layer in f["layers"])
        digest = f.attrs["weights_sha256"]
    assert shapes == family.unit_shapes(RESIZE)
    model = family.build(seed=2)
    assert weights_digest(model) == digest
    assert sum(p.numel() for p in model.parameters()) == family.n_parameters


def test_check_modality_names_the_stimuli_of_another_modality():
    family = get_family("alexnet")
    family.check_modality(["a", "b"], ["image", "image"], "stimuli.tsv: alexnet")
    with pytest.raises(
        InputError,
        match=r"^stimuli\.tsv: alexnet: alexnet takes image stimuli, but stimuli \['b'\] have",
    ):
        family.check_modality(["a", "b"], ["image", "audio"], "stimuli.tsv: alexnet")
