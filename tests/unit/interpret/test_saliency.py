"""Tests of dnnmap.interpret.heads and saliency: gradients against central finite
differences, guided backprop against its closed form, SmoothGrad and integrated gradients
against closed forms, and the voxel head against the activations the extraction records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dnnmap.interpret.heads import LayerHead, target_head
from dnnmap.interpret.saliency import SaliencySettings, pixel_map, saliency_maps
from dnnmap.interpret.targets import TargetSpec


def _conv_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 5, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(5 * 6 * 6, 3),
    )


def test_gradient_matches_finite_differences():
    net = _conv_net().double()
    spec = TargetSpec("c2", (5, 6, 6), ["a", "b"], np.array([1, 3]))
    head = target_head(net, "3", spec)
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    maps, _ = saliency_maps(head, x, 1, SaliencySettings(methods=("gradient",)))
    g = maps["gradient"][0].astype(np.float64)
    eps = 1e-6
    rng = np.random.default_rng(0)
    for _ in range(12):
        i = tuple(int(rng.integers(s)) for s in x.shape[1:])
        d = torch.zeros_like(x)
        d[(0, *i)] = eps
        with torch.no_grad():
            fd = (head(x + d)[0, 1] - head(x - d)[0, 1]) / (2 * eps)
        assert abs(float(fd) - g[i]) < 1e-5 * max(1.0, abs(g[i])) + 1e-4 * np.abs(g).max()


def test_guided_backprop_closed_form():
    """x -> relu(A x) -> relu(B h1) -> c . h2: guided backprop passes only positive gradients
    through each ReLU, where its input was positive."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU())
    rng = np.random.default_rng(1)
    c = rng.normal(size=(10, 1)).astype(np.float32)
    spec = TargetSpec(
        "h2", (10,), ["r"], np.zeros(0, np.int64), c, np.zeros(10, np.float32), np.zeros(1)
    )
    head = target_head(net, "4", spec)
    x = torch.randn(1, 3, 4, 4)
    maps, _ = saliency_maps(head, x, 0, SaliencySettings(methods=("guided_backprop",)))
    A, B = net[1].weight.detach().numpy(), net[3].weight.detach().numpy()
    xv = x.numpy().reshape(-1)
    h1 = A @ xv + net[1].bias.detach().numpy()
    h2 = B @ np.maximum(h1, 0) + net[3].bias.detach().numpy()
    g = (h2 > 0) * np.maximum(c[:, 0], 0)
    g = (h1 > 0) * np.maximum(B.T @ g, 0)
    ref = (A.T @ g).reshape(3, 4, 4)
    np.testing.assert_allclose(maps["guided_backprop"][0], ref, atol=1e-5)


def test_smoothgrad_and_integrated_gradients_on_a_linear_head():
    """For a linear function, SmoothGrad is the gradient and integrated gradients from zero
    are x times it (completeness holds exactly)."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Flatten(), nn.Linear(27, 4))
    spec = TargetSpec("lin", (4,), ["u0", "u1", "u2", "u3"], np.arange(4))
    head = target_head(net, "1", spec)
    x = torch.randn(2, 3, 3, 3)
    maps, gap = saliency_maps(head, x, 2, SaliencySettings(smoothgrad_samples=5, ig_steps=8))
    w = net[1].weight.detach().numpy()[2].reshape(3, 3, 3)
    for method in ("gradient", "smoothgrad", "guided_backprop"):
        np.testing.assert_allclose(maps[method], np.broadcast_to(w, (2, 3, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(maps["integrated_gradients"], x.numpy() * w, atol=1e-6)
    assert gap < 1e-5


def test_integrated_gradients_completeness_on_a_relu_net():
    net = _conv_net()
    spec = TargetSpec("c2", (5, 6, 6), ["a"], np.array([2]))
    head = target_head(net, "3", spec)
    x = torch.randn(1, 3, 8, 8)
    maps, gap = saliency_maps(
        head, x, 0, SaliencySettings(methods=("integrated_gradients",), ig_steps=128)
    )
    with torch.no_grad():
        diff = float(head(x)[0, 0] - head(torch.zeros_like(x))[0, 0])
    assert abs(maps["integrated_gradients"].sum() - diff) < 0.02 * abs(diff) + 1e-4
    assert gap < 0.02 * abs(diff) + 1e-4


def test_layer_head_stops_at_the_layer_and_leaves_the_model_alone():
    net = _conv_net()
    head = LayerHead(net, "1")
    x = torch.randn(2, 3, 8, 8)
    np.testing.assert_allclose(head(x).detach(), torch.relu(net[0](x)).detach(), atol=1e-6)
    assert net[1].inplace  # the copy is made out-of-place, not the caller's network
    pm = pixel_map(np.ones((2, 3, 4, 4)))
    assert pm.shape == (2, 4, 4) and pm.max() == 1


@pytest.mark.parametrize("layer", ["fc6"])
def test_alexnet_head_matches_recorded_activations(tmp_path, layer):
    """network -> recorded layer -> read-out as one module equals the read-out of the
    activations that extraction writes (AlexNet, seeded, 64 px)."""
    from PIL import Image

    from dnnmap.encoding.io import read_layer_units
    from dnnmap.models.build import ModelSpec, Preprocessing, build_model
    from dnnmap.models.extraction import extract_activations
    from dnnmap.models.registry import get_family

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"im{i}.png"))
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(paths[-1])
    spec = ModelSpec("a", "alexnet", seed=3, layers=[layer], preprocessing=Preprocessing(64))
    ids = ["a", "b", "c"]
    extract_activations(spec, ids, paths, str(tmp_path / "acts.h5"), batch_size=3)
    A, shape = read_layer_units(tmp_path / "acts.h5", layer, ids, "t")
    w = rng.normal(size=(A.shape[1], 2)).astype(np.float32)
    targets = TargetSpec(
        layer, shape, ["ch0", "v0", "v1"], np.array([0]), w, A.mean(0), np.array([0.5, -1.0])
    )
    model, _ = build_model(spec)
    head = target_head(model, get_family("alexnet").layers[layer], targets)
    from dnnmap.images import read_image

    transform = spec.preprocessing.transform()
    x = torch.stack([transform(read_image(p)[0]) for p in paths])
    with torch.no_grad():
        got = head(x).numpy()
    np.testing.assert_allclose(got, targets.values(A), rtol=1e-4, atol=1e-4)
