"""Receptive fields of a layer's units: theoretical from the architecture, empirical by
sliding-occluder discrepancy maps (DNNBrain's empirical receptive field).

**Theoretical.** A forward pass records the network's leaf modules in call order; every
convolution and pooling updates the receptive field size ``r``, the stride between adjacent
units in input pixels (``jump``) and the input position of the centre of unit 0 (``start``)::

    r += (d * (k - 1)) * jump;  start += ((d * (k - 1)) / 2 - p) * jump;  jump *= s

Element-wise modules (ReLU, normalisation, dropout) change nothing; a fully connected layer,
or an adaptive pooling that changes the spatial size, sees the whole input (``global``). Only
chains are handled: a module whose input is not the previous module's output (a residual
branch) stops with an error rather than giving a wrong answer.

**Empirical.** For a channel, the unit at the position where the channel responds most (mean
over its top stimuli) is followed while a grey square (zeros of the normalised input: the mean
image) slides over each top stimulus; the discrepancy map is the absolute change of the unit's
response at each occluder position, averaged over the stimuli. Its centre is the
discrepancy-weighted centroid (in input pixels) and its size the side of the square whose area
equals the area where the map is at least half its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dnnmap.errors import InputError

_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


@dataclass(frozen=True)
class ReceptiveField:
    """Theoretical receptive field of the units of one module's output.

    Attributes
    ----------
    size : float
        Side of the receptive field in input pixels (the input side when ``is_global``).
    jump : float
        Distance between adjacent units' receptive field centres, in input pixels.
    start : float
        Input position (pixel index, may be fractional or negative) of unit 0's centre.
    is_global : bool
        Whether every unit sees the whole input.
    """

    size: float
    jump: float
    start: float
    is_global: bool = False


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


def theoretical_receptive_fields(
    model: nn.Module, modules: dict[str, str], input_size: int
) -> dict[str, ReceptiveField]:
    """Receptive field of the units of each named module (see module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        An image network taking (b, 3, H, W).
    modules : dict of str to str
        Friendly layer name -> module path (the family's ``layers``).
    input_size : int
        Side of the square input.

    Returns
    -------
    dict of str to ReceptiveField
    """
    calls: list[tuple[str, nn.Module, tuple, tuple]] = []
    leaves = {n: m for n, m in model.named_modules() if not list(m.children())}
    targets = set(modules.values())
    handles = []
    for name, module in model.named_modules():
        if name in leaves or name in targets:

            def hook(mod, inputs, output, name=name):
                calls.append((name, mod, tuple(inputs[0].shape), tuple(output.shape)))

            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
    r, jump, start, is_global = 1.0, 1.0, 0.0, False
    prev_spatial = (input_size, input_size)
    out: dict[str, ReceptiveField] = {}
    for name, mod, in_shape, out_shape in calls:
        if name in leaves:
            if isinstance(mod, _SPATIAL) and not is_global:
                if tuple(in_shape[-2:]) != prev_spatial:
                    raise InputError(
                        f"module {name} takes a {in_shape[-2:]} input after a {prev_spatial} "
                        "output: the network is not a chain (a residual branch?); theoretical "
                        "receptive fields are computed for chains only"
                    )
                k = _pair(mod.kernel_size)[0]
                s = _pair(mod.stride if mod.stride is not None else mod.kernel_size)[0]
                p = _pair(mod.padding)[0]
                d = _pair(getattr(mod, "dilation", 1))[0]
                span = d * (k - 1)
                r += span * jump
                start += (span / 2 - p) * jump
                jump *= s
                prev_spatial = tuple(out_shape[-2:])
            elif isinstance(mod, nn.Linear) or (
                isinstance(mod, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d)
                and tuple(in_shape[-2:]) != tuple(out_shape[-2:])
            ):
                is_global = True
            elif len(out_shape) == 4 and tuple(out_shape[-2:]) != tuple(in_shape[-2:]):
                raise InputError(
                    f"module {name} ({type(mod).__name__}) changes the spatial size; its "
                    "receptive field rule is unknown"
                )
        for layer, path in modules.items():
            if path == name and layer not in out:
                out[layer] = (
                    ReceptiveField(float(input_size), float(input_size), 0.0, True)
                    if is_global
                    else ReceptiveField(r, jump, start)
                )
    return out


@dataclass(frozen=True)
class EmpiricalField:
    """The empirical receptive field of one channel's unit.

    Attributes
    ----------
    discrepancy : array of shape (n_y, n_x)
        Mean absolute change of the unit per occluder position.
    centre : tuple of float
        (y, x) in input pixels.
    size : float
        Side of the square of the area at or above half the maximum, in pixels.
    unit : tuple of int
        (y, x) of the unit in the layer.
    positions : array of shape (n_y,)
        Input pixel of the occluder centres along each axis.
    """

    discrepancy: np.ndarray
    centre: tuple[float, float]
    size: float
    unit: tuple[int, int]
    positions: np.ndarray


def occlusion_field(
    layer_head: nn.Module,
    x: torch.Tensor,
    channel: int,
    occluder: int,
    stride: int,
    batch_size: int = 64,
) -> EmpiricalField:
    """Empirical receptive field of ``channel``'s most active unit over images ``x``.

    Parameters
    ----------
    layer_head : torch.nn.Module
        Inputs (b, 3, H, W) -> the layer's output (b, C, h, w)
        (:class:`dnnmap.interpret.heads.LayerHead`).
    x : tensor of shape (n, 3, H, W)
        Preprocessed top stimuli of the channel.
    channel : int
    occluder : int
        Side of the grey square, pixels.
    stride : int
        Step between occluder positions, pixels.
    batch_size : int
        Occluded images per forward pass.
    """
    with torch.no_grad():
        base = layer_head(x)
        if base.ndim != 4:
            raise InputError("empirical receptive fields need a convolutional layer (C, h, w)")
        mean_map = base[:, channel].mean(dim=0)
        uy, ux = divmod(int(torch.argmax(mean_map)), mean_map.shape[1])
        ref = base[:, channel, uy, ux]
        side = x.shape[-1]
        pos = np.arange(0, side - occluder + 1, stride)
        maps = np.zeros((len(pos), len(pos)))
        corners = [(a, b) for a in pos for b in pos]
        for i, image in enumerate(x):
            values = []
            for c0 in range(0, len(corners), batch_size):
                chunk = corners[c0 : c0 + batch_size]
                batch = image.repeat(len(chunk), 1, 1, 1)
                for k, (a, b) in enumerate(chunk):
                    batch[k, :, a : a + occluder, b : b + occluder] = 0
                values.append(layer_head(batch)[:, channel, uy, ux])
            maps += np.abs(torch.cat(values).numpy() - float(ref[i])).reshape(maps.shape)
        maps /= len(x)
    centres = pos + (occluder - 1) / 2
    total = maps.sum()
    if total <= 0:
        return EmpiricalField(maps, (np.nan, np.nan), 0.0, (uy, ux), centres)
    cy = float((maps.sum(axis=1) * centres).sum() / total)
    cx = float((maps.sum(axis=0) * centres).sum() / total)
    area = np.count_nonzero(maps >= maps.max() / 2) * stride**2
    return EmpiricalField(maps, (cy, cx), float(np.sqrt(area)), (uy, ux), centres)
