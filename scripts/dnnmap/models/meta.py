"""Build a network on torch's ``meta`` device: shapes without memory or initialisation.

``with torch.device("meta")`` makes every tensor a constructor creates a meta tensor, which
fails for constructors that compute with real tensors (torchvision's RegNets derive their
widths from ``torch.arange`` and read them back). :func:`meta_build` then builds under
:func:`parameters_on_meta` instead: tensors are real while the constructor runs, but every
parameter and buffer a module registers is moved to the meta device at once, so no memory
is kept and the random initialisation runs on meta tensors (no arithmetic).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Within the context, parameters and buffers registered by a module live on meta."""
    register_parameter = nn.Module.register_parameter
    register_buffer = nn.Module.register_buffer

    def parameter(self, name, param):
        register_parameter(self, name, param)
        if param is not None:
            value = self._parameters[name]
            self._parameters[name] = nn.Parameter(
                value.to("meta"), requires_grad=value.requires_grad
            )

    def buffer(self, name, tensor, persistent=True):
        register_buffer(self, name, tensor, persistent)
        if tensor is not None:
            self._buffers[name] = self._buffers[name].to("meta")

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer
    try:
        yield
    finally:
        nn.Module.register_parameter = register_parameter
        nn.Module.register_buffer = register_buffer


def meta_build(construct: Callable[[], nn.Module]) -> nn.Module:
    """``construct()`` with its parameters and buffers on the meta device.

    Raises
    ------
    Exception
        Whatever ``construct`` raises under :func:`parameters_on_meta` (the caller may
        fall back to a real build).
    """
    try:
        with torch.device("meta"):
            return construct()
    except Exception:
        with parameters_on_meta():
            return construct()
