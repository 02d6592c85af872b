"""Tests of dnnmap.interpret.upstream on a tiny random network: ablating every upstream channel
makes the downstream layer the network's response to the lesion constant (r undefined,
flagged); a voxel simulated to read one upstream channel through the downstream path loses the
most when that channel is ablated; mean- and zero-ablation differ; bad requests stop."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from dnnmap.errors import InputError
from dnnmap.interpret.ablation import split_readouts
from dnnmap.interpret.upstream import ALL, lesion_scores, upstream_lesions
from dnnmap.stats.splits import kfold_assignment

N_UP = 6


def _network(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        OrderedDict(
            c1=nn.Conv2d(3, 4, 3, padding=1),
            r1=nn.ReLU(),
            up=nn.Conv2d(4, N_UP, 3, padding=1),
            r2=nn.ReLU(),
            pool=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            down=nn.Linear(N_UP, 8),
            r3=nn.ReLU(),
            head=nn.Linear(8, 3),
        )
    )
    with torch.no_grad():  # downstream unit j reads upstream channel j % 6 only
        w = torch.zeros(8, N_UP)
        w[torch.arange(8), torch.arange(8) % N_UP] = 1.0 + torch.rand(8)
        net.down.weight.copy_(w)
        net.down.bias.fill_(0.0)
        net.up.bias.fill_(0.1)
    return net


def _lesions(net, x, mode="zero"):
    return dict(upstream_lesions(net, "up", "down", x, mode=mode, batch_size=16))


def test_every_channel_ablated_gives_the_lesion_constant():
    net = _network()
    x = torch.randn(30, 3, 12, 12)
    out = _lesions(net, x)
    assert set(out) == {-1, *range(N_UP), ALL}
    every = out[ALL]
    # the downstream layer's response to an upstream output of zeros, for every stimulus
    with torch.no_grad():
        const = net.down(net.flat(net.pool(net.r2(torch.zeros(1, N_UP, 12, 12))))).numpy()
    np.testing.assert_allclose(every, np.repeat(const, 30, axis=0), atol=1e-6)
    # against the intact network run by hand
    with torch.no_grad():
        h = net.flat(net.pool(net.r2(net.up(net.r1(net.c1(x))))))
        np.testing.assert_allclose(out[-1], net.down(h).numpy(), atol=1e-5)
        h2 = net.r2(net.up(net.r1(net.c1(x))))
        h2[:, 1] = 0.0
        np.testing.assert_allclose(out[1], net.down(net.flat(net.pool(h2))).numpy(), atol=1e-5)


def test_voxel_reading_one_upstream_channel_loses_most_from_it():
    net = _network(1)
    n = 80
    x = torch.randn(n, 3, 12, 12)
    out = _lesions(net, x)
    D = out[-1]
    rng = np.random.default_rng(0)
    y = D[:, 2] / D[:, 2].std() + 0.3 * rng.normal(size=n)  # reads channel 2 via unit 2
    folds = kfold_assignment(n, 4, 0)
    ro = split_readouts(D, D, y[:, None], np.ones((1, 1)), np.full((4, 1), 0.01), folds)
    intact = lesion_scores(ro, D, y[:, None])
    assert intact["r"][0] > 0.8 and not intact["constant"]
    drops = {c: intact["r"][0] - lesion_scores(ro, out[c], y[:, None])["r"][0] for c in range(6)}
    assert max(drops, key=drops.get) == 2
    assert drops[2] > 3 * max(v for c, v in drops.items() if c != 2)
    every = lesion_scores(ro, out[ALL], y[:, None])
    assert every["constant"] and np.isnan(every["r"][0])  # undefined, flagged
    assert every["r2"][0] <= 0.0


def test_mean_and_zero_upstream_ablation_differ():
    """Through the ReLU and pooling after the upstream layer, the two lesions are not one
    offset apart: the downstream activations (and r) differ."""
    net = _network(2)
    x = torch.randn(40, 3, 12, 12)
    zero, mean = _lesions(net, x, "zero"), _lesions(net, x, "mean")
    np.testing.assert_allclose(zero[-1], mean[-1])
    assert np.abs(zero[3] - mean[3]).max() > 1e-3
    # the mean lesion fills each unit with its mean over the stimuli
    with torch.no_grad():
        u = net.up(net.r1(net.c1(x)))  # the hook acts on up's output, before r2
        u[:, 3] = u[:, 3].mean(dim=0)
        np.testing.assert_allclose(
            mean[3], net.down(net.flat(net.pool(net.r2(u)))).numpy(), atol=1e-5
        )


def test_bad_requests():
    net = _network()
    x = torch.randn(4, 3, 8, 8)
    with pytest.raises(InputError, match="upstream channels \\[6\\] are outside the layer"):
        list(upstream_lesions(net, "up", "down", x, channels=[6]))
    with pytest.raises(InputError, match="no module 'conv9'"):
        list(upstream_lesions(net, "conv9", "down", x))
    with pytest.raises(InputError, match="downstream layer runs before the upstream"):
        list(upstream_lesions(net, "down", "up", x))
    with pytest.raises(InputError, match="ablation mode 'noise'"):
        list(upstream_lesions(net, "up", "down", x, mode="noise"))


def test_lesions_sharing_a_pass_equal_one_per_pass():
    net = _network(3)
    x = torch.randn(20, 3, 12, 12)
    one = dict(upstream_lesions(net, "up", "down", x, "mean", batch_size=8, per_pass=1))
    many = dict(upstream_lesions(net, "up", "down", x, "mean", batch_size=8, per_pass=4))
    assert one.keys() == many.keys()
    for c in one:
        np.testing.assert_allclose(many[c], one[c], atol=1e-6)


def test_max_channels_ablates_the_first_channels_and_still_every_channel():
    net = _network(3)
    x = torch.randn(20, 3, 12, 12)
    full = dict(upstream_lesions(net, "up", "down", x, "zero", batch_size=8))
    capped = list(upstream_lesions(net, "up", "down", x, "zero", batch_size=8, max_channels=2))
    assert [c for c, _ in capped] == [-1, 0, 1, ALL]
    for c, acts in capped:
        np.testing.assert_allclose(acts, full[c], atol=1e-6)


class _Skip(nn.Module):
    """A skip connection around the upstream layer: ``down(relu(up(h)) + h)``."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Conv2d(4, 4, 3, padding=1)
        self.down = nn.Identity()

    def forward(self, x):
        h = torch.relu(self.c1(x))
        return self.down(torch.relu(self.up(h)) + h)


def test_a_skip_connection_runs_one_lesion_per_pass_and_keeps_stimulus_information():
    torch.manual_seed(0)
    net = _Skip()
    x = torch.randn(6, 3, 8, 8)
    out = dict(upstream_lesions(net, "up", "down", x, "zero", per_pass=3))
    with torch.no_grad():
        h = torch.relu(net.c1(x))
        u = net.up(h)
        u[:, 2] = 0.0
        np.testing.assert_allclose(out[2], (torch.relu(u) + h).reshape(6, -1).numpy(), atol=1e-6)
    assert np.ptp(out[ALL], axis=0).max() > 0  # the skip carries the stimulus around the lesion
