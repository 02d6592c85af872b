"""Network -> recorded layer -> targets, as one differentiable ``torch.nn.Module``.

:class:`LayerHead` runs a network only up to one module (a forward hook stops the pass once
the layer's output exists) and returns that output; :class:`TargetHead` maps it to the
targets of a :class:`~dnnmap.interpret.targets.TargetSpec`: channel means or units, then
linear read-outs ``(a - mean) @ w + intercept`` (principal components, voxels and ROI means
through their encoding model). Its output has shape (batch, t), the form attribution
libraries take (``target=j`` picks a column).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from dnnmap.errors import InputError
from dnnmap.interpret.targets import TargetSpec


class _StopForwardError(Exception):
    """Raised by the layer hook to end the forward pass at the recorded layer."""


class LayerHead(nn.Module):
    """A network cut at one module: ``forward(x)`` returns that module's output.

    Parameters
    ----------
    model : torch.nn.Module
        The network; copied, with in-place activations made out-of-place (so gradients and
        guided backpropagation see each module's own input and output).
    module_path : str
        Dotted path of the module whose output is the layer (the family's ``layers`` value).
    """

    def __init__(self, model: nn.Module, module_path: str):
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        for module in self.model.modules():
            if hasattr(module, "inplace"):
                module.inplace = False
        for p in self.model.parameters():
            p.requires_grad_(False)
        named = dict(self.model.named_modules())
        if module_path not in named:
            raise InputError(f"the network has no module {module_path!r}")
        self._module = named[module_path]
        self._out = None

    def _hook(self, _module, _inputs, output):
        self._out = output
        raise _StopForwardError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output for inputs ``x`` of shape (b, 3, H, W): (b, *unit_shape)."""
        # registered on every call, so it runs after hooks others put on the module since
        # (captum's guided backprop replaces ReLU outputs in forward hooks of its own)
        self._out = None
        handle = self._module.register_forward_hook(self._hook)
        try:
            self.model(x)
        except _StopForwardError:
            pass
        finally:
            handle.remove()
        out, self._out = self._out, None
        if out is None:
            raise RuntimeError("the forward pass never reached the recorded layer")
        return out


class TargetHead(nn.Module):
    """Targets of a layer as a differentiable function of the input image.

    Parameters
    ----------
    layer : LayerHead
    spec : TargetSpec
    """

    def __init__(self, layer: LayerHead, spec: TargetSpec):
        super().__init__()
        self.layer = layer
        self.spec = spec
        self.register_buffer("channel", torch.as_tensor(np.asarray(spec.channel, np.int64)))
        if spec.weights is not None:
            self.register_buffer("weights", torch.as_tensor(np.asarray(spec.weights, np.float32)))
            self.register_buffer("mean", torch.as_tensor(np.asarray(spec.mean, np.float32)))
            self.register_buffer(
                "intercept", torch.as_tensor(np.asarray(spec.intercept, np.float32))
            )
        else:
            self.weights = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Target values for inputs ``x`` (b, 3, H, W): shape (b, t)."""
        out = self.layer(x)
        # channel means take any input size; a read-out needs the units it was fitted on
        shape = tuple(out.shape[1:]) if self.weights is not None else tuple(out.shape[1:2])
        if shape != tuple(self.spec.unit_shape)[: len(shape)]:
            raise InputError(
                f"layer {self.spec.layer} has unit shape {tuple(out.shape[1:])} for this input "
                f"size, but the targets were made for {tuple(self.spec.unit_shape)} (the model's "
                "preprocessing resize must match the activations')"
            )
        b = out.shape[0]
        cols = [out.reshape(b, out.shape[1], -1)[:, self.channel].mean(dim=2)]
        if self.weights is not None:
            flat = out.reshape(b, -1)
            cols.append((flat - self.mean) @ self.weights + self.intercept)
        return torch.cat(cols, dim=1)


def target_head(model: nn.Module, module_path: str, spec: TargetSpec) -> TargetHead:
    """:class:`TargetHead` of ``spec`` on ``model`` cut at ``module_path``."""
    return TargetHead(LayerHead(model, module_path), spec).eval()
