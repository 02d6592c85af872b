"""The ``module`` source: the user's own networks and training checkpoints through config.

A tiny Places365-style AlexNet (torchvision's layout, 365 classes; its checkpoint wraps the
state dict under ``state_dict`` with DataParallel's ``module.`` prefix) and a tiny
Taskonomy-style encoder (a ResNet-like trunk with constructor arguments) are written to a
temporary ``.py`` file; their checkpoints load through the config's options, and the
activations equal a direct forward pass of the same network with the same weights.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from dnnmap.config import check_model_weights, check_semantics
from dnnmap.errors import InputError
from dnnmap.models.build import ModelSpec, build_model
from dnnmap.models.extraction import extract_activations
from dnnmap.models.registry import get_family
from dnnmap.models.sources import load_callable

NETS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class AlexNet(nn.Module):
        '''AlexNet's layout (features, avgpool, classifier), narrow, 365 Places classes.'''

        def __init__(self, num_classes=365):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(inplace=True),
            )
            self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
            self.classifier = nn.Sequential(
                nn.Dropout(), nn.Linear(64, 32), nn.ReLU(inplace=True),
                nn.Dropout(), nn.Linear(32, 32), nn.ReLU(inplace=True),
                nn.Linear(32, num_classes),
            )

        def forward(self, x):
            x = self.avgpool(self.features(x))
            return self.classifier(torch.flatten(x, 1))


    class TaskonomyEncoder(nn.Module):
        '''A ResNet-like trunk whose output is an 8-channel representation, not logits.'''

        def __init__(self, width=8, normalize_outputs=True):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
            self.layer2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1))
            self.compress = nn.Conv2d(2 * width, 8, 1)
            self.normalize_outputs = normalize_outputs

        def forward(self, x):
            x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
            x = self.compress(x)
            if self.normalize_outputs:
                x = nn.functional.group_norm(x, 1)
            return x


    def make_encoder(width=8):
        return TaskonomyEncoder(width=width, normalize_outputs=False)


    NOT_A_NETWORK = 3
    """
)


@pytest.fixture
def nets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets.py").write_text(NETS)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return tmp_path, ["a", "b", "c"], paths


def _direct(cls, state, paths, spec, layer_paths, kwargs=None):
    """Reference: the network built by hand, the state loaded, hooks on the layers."""
    net = cls(**(kwargs or {}))
    net.load_state_dict(state)
    net.eval()
    named = dict(net.named_modules())
    out = {}
    hooks = [
        named[p].register_forward_hook(lambda m, i, o, p=p: out.__setitem__(p, o.clone()))
        for p in layer_paths
    ]
    transform = spec.preprocessing.transform()
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        net(batch)
    for h in hooks:
        h.remove()
    return {p: out[p].numpy() for p in layer_paths}


def test_places365_style_alexnet_checkpoint(nets):
    folder, ids, paths = nets
    load = load_callable("nets.py:AlexNet", "models.places")
    torch.manual_seed(11)
    trained = load(num_classes=365)
    state = {f"module.{k}": v for k, v in trained.state_dict().items()}
    torch.save({"epoch": 90, "arch": "alexnet", "state_dict": state}, "places.pth.tar")
    entry = {
        "source": "module",
        "architecture": "alexnet_places365",
        "module": "nets.py:AlexNet",
        "weights": "places.pth.tar",
        "checkpoint_key": "state_dict",
        "strip_prefix": "module.",
        "layers": ["conv1", "conv3", "fc6", "fc8", "classifier.4"],
        "preprocessing": {"resize": 48},
    }
    family = get_family(entry, "models.places.architecture")
    # the friendly names follow AlexNet's layout, whatever the widths
    assert dict(family.layers) == {
        "conv1": "features.1", "conv2": "features.4", "conv3": "features.7",
        "fc6": "classifier.2", "fc7": "classifier.5", "fc8": "classifier.6",
    }  # fmt: skip
    check_model_weights("places", entry, "config.yaml")
    spec = ModelSpec.from_config("places", entry)
    out = folder / "places.h5"
    extract_activations(spec, ids, paths, str(out), batch_size=2)
    targets = family.layer_modules(entry["layers"])
    want = _direct(type(trained), trained.state_dict(), paths, spec, list(targets.values()))
    with h5py.File(out) as f:
        assert f.attrs["source"] == "module"
        assert f.attrs["weights_id"] == "places.pth.tar"
        assert f["layers"]["fc8"].shape == (3, 365)
        for layer, path in targets.items():
            np.testing.assert_allclose(f["layers"][layer][:], want[path], rtol=1e-6, atol=1e-6)


def test_places365_checkpoint_without_the_options_names_what_to_set(nets):
    load = load_callable("nets.py:AlexNet", "models.places")
    state = {f"module.{k}": v for k, v in load().state_dict().items()}
    torch.save({"state_dict": state}, "places.pth.tar")
    entry = {
        "source": "module",
        "architecture": "places",
        "module": "nets.py:AlexNet",
        "weights": "places.pth.tar",
        "layers": ["fc8"],
    }
    with pytest.raises(
        InputError, match=r"tensors are under 'state_dict': set models\.places\.checkpoint_key"
    ):
        build_model(ModelSpec.from_config("places", entry))
    entry["checkpoint_key"] = "state_dict"
    with pytest.raises(InputError) as err:
        build_model(ModelSpec.from_config("places", entry))
    msg = str(err.value)
    assert msg.startswith("models.places.weights: places.pth.tar: not a places state dict (")
    assert "12 keys missing (first: features.0.weight, features.0.bias, features.3.weight" in msg
    assert "12 unexpected (first: module.features.0.weight" in msg
    assert msg.endswith("set models.places.strip_prefix: module.)")
    assert "\n" not in msg


def test_taskonomy_style_encoder_with_kwargs_and_lenient_loading(nets, caplog):
    folder, ids, paths = nets
    cls = load_callable("nets.py:TaskonomyEncoder", "models.edge")
    torch.manual_seed(5)
    trained = cls(width=6)
    state = trained.state_dict()
    torch.save({"state_dict": state}, "edge_encoder.pth")
    entry = {
        "source": "module",
        "architecture": "taskonomy_edge",
        "module": "nets.py:TaskonomyEncoder",
        "kwargs": {"width": 6},
        "weights": "edge_encoder.pth",
        "checkpoint_key": "state_dict",
        "layers": ["relu", "layer1", "layer2", "compress"],
        "preprocessing": {"resize": 32},
    }
    spec = ModelSpec.from_config("edge", entry)
    out = folder / "edge.h5"
    extract_activations(spec, ids, paths, str(out), batch_size=3)
    want = _direct(cls, state, paths, spec, entry["layers"], {"width": 6})
    with h5py.File(out) as f:
        for layer in entry["layers"]:
            np.testing.assert_allclose(f["layers"][layer][:], want[layer], rtol=1e-6, atol=1e-6)
        assert f["layers"]["compress"].shape == (3, 8, 8, 8)
    # a checkpoint missing a head loads with strict: false, the missing keys logged
    partial = {k: v for k, v in state.items() if not k.startswith("compress.")}
    partial["decoder.weight"] = torch.zeros(2)
    torch.save({"state_dict": partial}, "partial.pth")
    lenient = {**entry, "weights": "partial.pth"}
    with pytest.raises(
        InputError,
        match=r"2 keys missing \(first: compress\.weight, compress\.bias\), "
        r"1 unexpected \(first: decoder\.weight\)",
    ):
        build_model(ModelSpec.from_config("edge", lenient))
    model, _ = build_model(ModelSpec.from_config("edge", {**lenient, "strict": False}))
    assert torch.equal(model.layer1[0].weight, state["layer1.0.weight"])
    assert "strict: false: 2 keys missing (first: compress.weight" in caplog.text
    # a factory in a package-style spec
    factory = {**entry, "module": "nets:make_encoder", "kwargs": {"width": 6}}
    monkey = get_family(factory, "models.edge.architecture")
    assert monkey.build(seed=0).normalize_outputs is False


BAD_MODULES = [
    ("nets.py", {}, r"models\.net\.module: 'nets\.py': expected path/to/net\.py:ClassName"),
    ("missing.py:Net", {}, r"'missing\.py:Net': file missing\.py does not exist"),
    ("nets.py:Alexnet", {}, r"nets\.py defines no class or function 'Alexnet' \(it has AlexNet"),
    ("nets.py:NOT_A_NETWORK", {}, r"defines no class or function 'NOT_A_NETWORK'"),
    ("no_such_package.nets:Net", {}, r"cannot import no_such_package\.nets \(ModuleNotFound"),
    (
        "nets.py:AlexNet",
        {"depth": 3},
        r"kwargs \{'depth': 3\} failed: TypeError.*models\.net\.kwargs",
    ),
    ("torch:zeros", {"size": [2]}, r"returned a Tensor, not a torch\.nn\.Module"),
]


@pytest.mark.parametrize(("module", "kwargs", "expected"), BAD_MODULES)
def test_bad_module_entries_are_one_clear_line(nets, module, kwargs, expected):
    entry = {"source": "module", "architecture": "net", "module": module, "kwargs": kwargs}
    with pytest.raises(InputError, match=expected) as err:
        get_family(entry, "models.net.architecture")
    assert "\n" not in str(err.value)


def _demo_config():
    """The demo config, validated against the schema (defaults filled in)."""
    import yaml

    from dnnmap.config import load_schema, validate

    root = Path(__file__).resolve().parents[3]
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    return validate(config, load_schema(root / "workflow/schemas/config.schema.yaml"), "c.yaml")


def test_module_entries_are_checked_at_startup(nets):
    """check_semantics stops on a bad class, a weights name for a module, a layer the
    network lacks (with close matches) and a mask naming channels it does not have."""
    import jsonschema

    from dnnmap.config import load_schema

    root = Path(__file__).resolve().parents[3]
    schema = load_schema(root / "workflow/schemas/config.schema.yaml")
    config = _demo_config()
    entry = {
        "source": "module",
        "architecture": "places",
        "module": "nets.py:AlexNet",
        "layers": ["conv1", "fc8"],
        "units": {"conv1": {"channels": [1, 8], "pool": "max"}},
    }
    jsonschema.validate({"models": {"places": entry}}, {"properties": schema["properties"]})
    config["models"]["places"] = entry
    ids = [f"s{i}" for i in range(4)]
    check_semantics(config, ids, ".", "c.yaml")  # passes: no error

    def error(**change):
        config["models"]["places"] = {**entry, **change}
        with pytest.raises(InputError) as err:
            check_semantics(config, ids, ".", "c.yaml")
        assert "\n" not in str(err.value)
        return str(err.value)

    assert error(module="nets.py:Alexnet").startswith(
        "c.yaml: models.places.module: 'nets.py:Alexnet': nets.py defines no class or "
        "function 'Alexnet' (it has AlexNet"
    )
    assert error(weights="IMAGENET1K_V1") == (
        "c.yaml: models.places.weights: 'IMAGENET1K_V1'; a module model takes none (seeded "
        "random) or a local weights file (.pt, .pth, .bin, .tar)"
    )
    assert error(layers=["conv1", "clasifier.6"]).startswith(
        "c.yaml: models.places.layers: places has no layer 'clasifier.6' (did you mean classifier.6"
    )
    assert error(units={"conv1": {"channels": [1, 9]}}) == (
        "c.yaml: models.places.units.conv1: channels 9 is not in the layer, which has 8 "
        "channels (unit shape (8, 112, 112)); numbers count from 1"
    )


def test_bad_file_in_module_names_the_error(nets):
    folder, _, _ = nets
    (folder / "broken.py").write_text("import torch\nraise ValueError('no GPU here')\n")
    with pytest.raises(InputError, match=r"running broken\.py failed: ValueError: no GPU here"):
        get_family(
            {"source": "module", "architecture": "b", "module": "broken.py:Net"},
            "models.b.architecture",
        )
