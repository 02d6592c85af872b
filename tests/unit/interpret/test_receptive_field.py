"""Tests of dnnmap.interpret.receptive_field: AlexNet's closed form, gradient support on a
dilated chain, the refusal of a residual network, and conv1's empirical field inside 11 px."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from dnnmap.errors import InputError
from dnnmap.interpret.heads import LayerHead
from dnnmap.interpret.receptive_field import occlusion_field, theoretical_receptive_fields
from dnnmap.models.families.alexnet import LAYERS


def test_alexnet_closed_form():
    torch.manual_seed(0)
    rf = theoretical_receptive_fields(torchvision.models.alexnet(), dict(LAYERS), 224)
    # conv k11 s4 p2; pool k3 s2; conv k5 p2; pool; conv k3 p1 x3 (sizes and strides)
    expected = {
        "conv1": (11, 4),
        "conv2": (51, 8),
        "conv3": (99, 16),
        "conv4": (131, 16),
        "conv5": (163, 16),
    }
    for layer, (size, jump) in expected.items():
        assert (rf[layer].size, rf[layer].jump) == (size, jump)
        assert not rf[layer].is_global
    assert rf["conv1"].start == pytest.approx(5 - 2)  # centre of unit 0: (11 - 1) / 2 - pad
    assert rf["fc6"].is_global and rf["fc8"].size == 224


def test_dilated_chain_matches_gradient_support():
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1),
        nn.Conv2d(2, 2, 3, dilation=2),
        nn.AvgPool2d(2),
    )
    # every weight positive: a unit's gradient is nonzero exactly on its receptive field
    for p in net.parameters():
        p.data.abs_().add_(0.1)
    rf = theoretical_receptive_fields(nn.Sequential(nn.Conv2d(3, 1, 1), net), {"out": "1.2"}, 32)[
        "out"
    ]
    x = torch.ones(1, 3, 32, 32, requires_grad=True)
    stem = nn.Conv2d(3, 1, 1)
    stem.weight.data.fill_(1.0)
    out = net(stem(x))
    out[0, 0, 2, 2].backward()
    rows = np.flatnonzero(x.grad[0, 0].abs().sum(axis=1).numpy())
    assert rf.size == rows.size == rows[-1] - rows[0] + 1
    assert rf.start + 2 * rf.jump == pytest.approx((rows[0] + rows[-1]) / 2)


def test_residual_network_is_refused():
    with pytest.raises(InputError, match="not a chain"):
        theoretical_receptive_fields(torchvision.models.resnet18(), {"l2": "layer2"}, 64)


def test_conv1_empirical_field_fits_inside_its_theoretical_one():
    torch.manual_seed(0)
    model = torchvision.models.alexnet()
    head = LayerHead(model, LAYERS["conv1"])
    x = torch.randn(2, 3, 64, 64)
    field = occlusion_field(head, x, channel=7, occluder=3, stride=2)
    uy, ux = field.unit
    rf = theoretical_receptive_fields(model, {"conv1": LAYERS["conv1"]}, 64)["conv1"]
    lo_y, lo_x = rf.start + uy * rf.jump - 5, rf.start + ux * rf.jump - 5
    rows, cols = np.nonzero(field.discrepancy > 0)
    centres = field.positions
    # occluders that change the unit overlap its 11-pixel field
    assert centres[rows].min() >= lo_y - 1 and centres[rows].max() <= lo_y + 10 + 1
    assert centres[cols].min() >= lo_x - 1 and centres[cols].max() <= lo_x + 10 + 1
    assert field.size <= 11
    assert abs(field.centre[0] - (lo_y + 5)) <= 3 and abs(field.centre[1] - (lo_x + 5)) <= 3
