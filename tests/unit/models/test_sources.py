"""Every torchvision classification model, a sample of timm models and the user's own
modules through dnnmap's registry (dnnmap.models.sources): built with seeded random weights,
recorded on a small image, with the shapes the meta-device probe predicts; activations
against torchvision's create_feature_extractor; the layer-listing command."""

from __future__ import annotations

import collections
import functools

import h5py
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models.feature_extraction import create_feature_extractor

from dnnmap.errors import InputError
from dnnmap.models import __main__ as listing
from dnnmap.models.build import ModelSpec, build_model
from dnnmap.models.extraction import extract_activations
from dnnmap.models.layers import module_paths, probe_shapes
from dnnmap.models.registry import get_family

SMALL = 64  # input side where a network takes it (ViT, MaxViT: their native size)


@functools.cache
def _classification_models() -> tuple[str, ...]:
    return tuple(torchvision.models.list_models(module=torchvision.models))


@functools.cache
def _fast_subset() -> tuple[str, ...]:
    """The smallest model (parameters, counted on the meta device) of each torchvision
    builder module (resnet, vgg, vision_transformer, ...): every kind of network, once."""
    groups = collections.defaultdict(list)
    for name in _classification_models():
        builder = torchvision.models.get_model_builder(name)
        with torch.device("meta"):
            try:
                size = sum(p.numel() for p in builder(weights=None).parameters())
            except Exception:
                size = float("inf") if "gf" in name else 0
        groups[builder.__module__].append((size, name))
    return tuple(sorted(min(group)[1] for group in groups.values()))


FAST = _fast_subset()
REST = tuple(n for n in _classification_models() if n not in FAST)


@pytest.fixture(scope="module")
def one_image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    path = folder / "a.png"
    Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(path)
    return ["a"], [str(path)]


#: Constructor arguments that keep the CI test fast: GoogLeNet and Inception v3 initialise
#: their random weights with scipy's truncated normal unless told not to (seconds each).
FAST_KWARGS = {"googlenet": {"init_weights": False}, "inception_v3": {"init_weights": False}}


def _record_two_layers(architecture, images, tmp_path, entry=None):
    """Extract the first and the last module of a network with random weights; check the
    file against the meta-device probe and return the file's arrays."""
    entry = {"architecture": architecture, "layers": [], **(entry or {})}
    family = get_family(entry)
    paths = module_paths(family)
    layers = [paths[0], paths[-1]]
    try:  # a small input where the network takes it
        probe_shapes(family, layers, SMALL)
        pre = {"resize": SMALL, "crop": None}
    except InputError:
        pre = {}
    entry = {**entry, "layers": layers, "preprocessing": pre}
    spec = ModelSpec.from_config("net", entry)
    out = tmp_path / f"{architecture}.h5"
    extract_activations(spec, *images, str(out), batch_size=1)
    expected = probe_shapes(family, layers, spec.preprocessing.side)
    with h5py.File(out) as f:
        arrays = {layer: f["layers"][layer][:] for layer in layers}
    for layer in layers:
        assert arrays[layer].shape == (1, *expected[layer]), layer
        assert np.isfinite(arrays[layer]).all(), layer
    return arrays


def test_fast_subset_covers_every_builder_module():
    modules = {torchvision.models.get_model_builder(n).__module__ for n in FAST}
    assert len(FAST) == len(modules) >= 15
    assert {"alexnet", "resnet18", "vgg11", "vit_b_16", "swin_t", "maxvit_t"} <= set(FAST)


@pytest.mark.parametrize("architecture", FAST)
def test_torchvision_model_builds_and_records(architecture, one_image, tmp_path):
    kwargs = FAST_KWARGS.get(architecture)
    _record_two_layers(architecture, one_image, tmp_path, {"kwargs": kwargs} if kwargs else None)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", REST)
def test_every_other_torchvision_model_builds_and_records(architecture, one_image, tmp_path):
    _record_two_layers(architecture, one_image, tmp_path)


@pytest.mark.parametrize(
    ("architecture", "kwargs"),
    [("resnet18", {}), ("vit_tiny_patch16_224", {"img_size": 64}), ("mobilenetv3_small_050", {})],
)
def test_timm_model_builds_and_records(architecture, kwargs, one_image, tmp_path):
    import timm

    entry = {"source": "timm", "kwargs": kwargs}
    arrays = _record_two_layers(architecture, one_image, tmp_path, entry)
    assert arrays  # shapes checked inside
    family = get_family({"source": "timm", "architecture": architecture})
    config = timm.data.resolve_data_config({}, model=timm.create_model(architecture))
    assert family.preprocessing["crop"] == config["input_size"][-1]
    assert tuple(family.preprocessing["mean"]) == pytest.approx(config["mean"])


def test_torchvision_preprocessing_comes_from_the_weights_metadata():
    family = get_family("efficientnet_b3")
    meta = torchvision.models.EfficientNet_B3_Weights.IMAGENET1K_V1.transforms()
    assert family.preprocessing_for("IMAGENET1K_V1") == {
        "resize": meta.resize_size[0],
        "crop": meta.crop_size[0],
        "mean": tuple(meta.mean),
        "std": tuple(meta.std),
        "interpolation": "bicubic",
    }
    # the hand-written AlexNet keeps its square resize with random weights (the demo) and
    # takes torchvision's resize + centre crop with its ImageNet weights
    alexnet = get_family("alexnet")
    assert alexnet.preprocessing_for("none")["crop"] is None
    assert alexnet.preprocessing_for("IMAGENET1K_V1")["crop"] == 224
    spec = ModelSpec.from_config(
        "m",
        {"architecture": "alexnet", "weights": "IMAGENET1K_V1", "layers": ["fc8"],
         "preprocessing": {"crop": 112}},
    )  # fmt: skip
    assert (spec.preprocessing.resize, spec.preprocessing.crop) == (256, 112)
    # a ViT with random weights at the size it is built for (vit_h_14's default is 518)
    assert get_family("vit_h_14").preprocessing["crop"] == 224


def test_transform_with_crop_matches_torchvision_preset(one_image):
    """Resize + centre crop + normalise equals the weights' own ImageClassification preset."""
    meta = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    spec = ModelSpec.from_config(
        "m", {"architecture": "resnet50", "weights": "IMAGENET1K_V2", "layers": ["fc"]}
    )
    image = Image.open(one_image[1][0]).convert("RGB")
    ours = spec.preprocessing.transform()(image)
    theirs = meta.transforms()(image)
    assert ours.shape == theirs.shape == (3, 224, 224)
    # torchvision's preset resizes the PIL image, dnnmap its uint8 tensor: the two round
    # differently, by at most one grey level (in normalised units: 1 / 255 / std)
    diff = np.abs(ours.numpy() - theirs.numpy())
    assert diff.max() <= 1.01 / 255 / min(meta.transforms().std)
    assert diff.mean() < 1e-3


@pytest.mark.parametrize(
    ("architecture", "layers"),
    [
        ("alexnet", ["conv1", "conv5", "fc6", "fc8"]),
        ("resnet18", ["conv1", "layer1", "layer1.0.add", "layer3.1.bn2", "avgpool", "flatten"]),
    ],
)
def test_activations_equal_create_feature_extractor(architecture, layers, tmp_path):
    """Hooks (module paths) and the fx route (graph nodes) against torchvision's extractor."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(3):
        path = tmp_path / f"s{i}.png"
        Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    spec = ModelSpec.from_config(
        "net",
        {"architecture": architecture, "seed": 3, "layers": layers,
         "preprocessing": {"resize": 72, "crop": 64}},
    )  # fmt: skip
    out = tmp_path / "act.h5"
    extract_activations(spec, ["a", "b", "c"], paths, str(out), batch_size=2)
    model, _ = build_model(spec)
    family = get_family(architecture)
    nodes = family.layer_modules(layers)
    extractor = create_feature_extractor(model, return_nodes={v: v for v in nodes.values()})
    transform = spec.preprocessing.transform()
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.inference_mode():
        expected = extractor(batch)
    with h5py.File(out) as f:
        for layer, node in nodes.items():
            got = f["layers"][layer][:]
            want = expected[node].numpy()
            assert got.shape == want.shape
            scale = np.abs(want).max()
            assert np.abs(got - want).max() <= 1e-5 * scale, layer


def test_listing_command_prints_shapes_and_units(capsys):
    assert listing.main(["alexnet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("alexnet (source torchvision): 61,100,840 parameters; input 3 x 224")
    assert lines[1].split() == ["layer", "friendly", "type", "shape", "units"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    model = torchvision.models.alexnet().eval()
    shapes = {}

    def hook(path):
        def record(_module, _inputs, output):
            shapes.setdefault(path, tuple(output.shape[1:]))

        return record

    hooks = [m.register_forward_hook(hook(p)) for p, m in model.named_modules() if p]
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    assert set(rows) == set(shapes)
    for path, shape in shapes.items():
        row = rows[path]
        assert row[-1] == f"{int(np.prod(shape)):,}"
        assert " ".join(row[-2 - 2 * (len(shape) - 1) : -1]) == " x ".join(map(str, shape))
    assert rows["features.11"][1] == "conv5" and rows["classifier.6"][1] == "fc8"


def test_listing_command_friendly_nodes_and_errors(capsys):
    assert listing.main(["resnet18", "--friendly", "--size", "64"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out[2:]] == [
        "conv1", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc",
    ]  # fmt: skip
    assert out[3].split()[-4:] == ["16", "x", "16", "16,384"]  # layer1: 64 x 16 x 16 at 64 px
    assert listing.main(["squeezenet1_1", "--nodes", "--size", "64"]) == 0
    text = capsys.readouterr().out
    assert "flatten" in text and "node" in text
    assert listing.main(["vgg99"]) == 1
    assert "closest: vgg19" in capsys.readouterr().err


def test_friendly_names_of_the_main_families():
    vgg = get_family("vgg16")
    assert list(vgg.layers)[:3] == ["conv1_1", "conv1_2", "pool1"]
    assert [vgg.layers[n] for n in ("conv5_3", "pool5", "fc6", "fc7", "fc8")] == [
        "features.29", "features.30", "classifier.1", "classifier.4", "classifier.6",
    ]  # fmt: skip
    vit = get_family("vit_b_16")
    assert vit.layers["block1"] == "encoder.layers.encoder_layer_0"
    assert vit.layers["block12"] == "encoder.layers.encoder_layer_11"
    assert vit.layer_shapes(["block12", "heads"], 224) == {"block12": (197, 768), "heads": (1000,)}
    # the seed study's ResNet-50 six on a generic ResNet
    wide = get_family("wide_resnet50_2")
    assert list(wide.layers) == ["conv1", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert wide.layer_shapes(["layer4"], 224) == {"layer4": (2048, 7, 7)}


def test_unknown_names_suggest_close_matches():
    with pytest.raises(
        InputError,
        match=r"^models\.n\.architecture: unknown architecture 'resnet5'.*closest: resnet50",
    ):
        get_family({"architecture": "resnet5"}, "models.n.architecture")
    with pytest.raises(InputError, match=r"unknown timm model 'resnet_18'.*closest:.*resnet18"):
        get_family({"source": "timm", "architecture": "resnet_18"}, "models.n.architecture")
    with pytest.raises(InputError, match=r"^models\.n\.source: unknown source 'keras'"):
        get_family({"source": "keras", "architecture": "x"}, "models.n.architecture")
    with pytest.raises(InputError, match=r"^models\.n\.module: applies to source: module only"):
        get_family({"architecture": "alexnet", "module": "x.py:A"}, "models.n.architecture")
    with pytest.raises(InputError, match=r"has no layer 'layer1.0.relu_9' \(did you mean"):
        get_family("resnet18").layer_modules(["layer1.0.relu_9"], "models.n.layers")


def test_timm_local_weights_load_through_config(one_image, tmp_path):
    """A timm model's own state dict, saved to a file, loads through ``weights`` (with the
    checkpoint options) and gives the network's own output; a weights name is refused."""
    import timm

    torch.manual_seed(7)
    net = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    path = tmp_path / "timm_resnet18.pth"
    torch.save({"model": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    entry = {
        "source": "timm",
        "architecture": "resnet18",
        "kwargs": {"num_classes": 10},
        "weights": str(path),
        "checkpoint_key": "model",
        "strip_prefix": "module.",
        "layers": ["fc"],
        "preprocessing": {"resize": 64, "crop": None},
    }
    spec = ModelSpec.from_config("t", entry)
    out = tmp_path / "t.h5"
    extract_activations(spec, *one_image, str(out), batch_size=1)
    image = spec.preprocessing.transform()(Image.open(one_image[1][0]).convert("RGB"))
    with torch.no_grad():
        want = net(image[None]).numpy()
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["layers"]["fc"][:], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"a timm model takes none \(seeded random\) or a local"):
        build_model(ModelSpec.from_config("t", {**entry, "weights": "IMAGENET1K_V1"}))
