"""What a network can record: its module paths and graph nodes, their output shapes, and the
recorder that captures them during a forward pass.

A layer is recorded either by a forward hook on a module (``features.3``, ``layer4``) or,
for a name that is no module but a node of the network's torch.fx graph (``layer1.0.add``,
``flatten``), by :func:`torchvision.models.feature_extraction.create_feature_extractor`.
Shapes are measured with one forward pass on torch's ``meta`` device (no memory, no
arithmetic), or on the CPU for a network that cannot be built there.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from dnnmap.errors import InputError

LOG = logging.getLogger("dnnmap")


def _network(family, meta: bool = True) -> tuple[torch.nn.Module, torch.device]:
    """The family's network in eval mode, on the meta device when it can be built there."""
    if meta and family.build_meta is not None:
        try:
            return family.build_meta().eval(), torch.device("meta")
        except Exception:
            LOG.debug("%s: no meta build; building on the CPU", family.name)
    return family.build(seed=0).eval(), torch.device("cpu")


def module_paths(family) -> tuple[str, ...]:
    """Every module path of the family's network, in ``named_modules`` order (root left out)."""
    model, _ = _network(family)
    return tuple(path for path, _ in model.named_modules() if path)


def graph_nodes(family) -> tuple[str, ...]:
    """The eval-mode torch.fx graph nodes of the network (empty if it cannot be traced)."""
    from torchvision.models.feature_extraction import get_graph_node_names

    model, _ = _network(family)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, nodes = get_graph_node_names(model)
    except Exception as err:
        LOG.info("%s: torch.fx cannot trace it (%s); module paths only", family.name, err)
        return ()
    return tuple(nodes)


def first_tensor(output) -> torch.Tensor:
    """A module's output as one tensor: itself, or the first tensor of a tuple/list/dict."""
    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, Mapping) else output
    if isinstance(values, Sequence | type({}.values())):
        for value in values:
            if isinstance(value, torch.Tensor):
                return value
    raise InputError(f"a layer's output is a {type(output).__name__} with no tensor in it")


class Recorder:
    """Capture the outputs of named layers during forward passes.

    Parameters
    ----------
    model : torch.nn.Module
        The network (eval mode).
    targets : mapping of str to str
        Layer name -> module path or graph node to record, in the order to return them.

    Notes
    -----
    Module paths are recorded with forward hooks on ``model`` itself; if any target is a
    graph node but no module, all targets come from one
    :func:`~torchvision.models.feature_extraction.create_feature_extractor` of ``model``
    (the same operations, so the same values). Call :meth:`close` (or use ``with``) to
    remove the hooks.
    """

    def __init__(self, model: torch.nn.Module, targets: Mapping[str, str]):
        self.targets = dict(targets)
        named = dict(model.named_modules())
        self._store: dict[str, torch.Tensor] = {}
        self._handles = []
        self.mode = "hooks" if all(p in named for p in self.targets.values()) else "graph"
        if self.mode == "hooks":
            self._model = model
            for layer, path in self.targets.items():
                self._handles.append(named[path].register_forward_hook(self._hook(layer)))
        else:
            from torchvision.models.feature_extraction import create_feature_extractor

            by_node: dict[str, list[str]] = {}
            for layer, path in self.targets.items():
                by_node.setdefault(path, []).append(layer)
            self._by_node = by_node
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._model = create_feature_extractor(
                    model, return_nodes={node: node for node in by_node}
                )

    def _hook(self, layer: str):
        def hook(_module, _inputs, output):
            # A copy: an in-place operation after the module (ReLU(inplace=True)) would
            # otherwise change what was recorded.
            self._store[layer] = first_tensor(output).detach().clone()

        return hook

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run ``batch`` through the network; return layer -> output, shape (b, *unit_shape)."""
        if self.mode == "hooks":
            self._store.clear()
            self._model(batch)
            return {layer: self._store.pop(layer) for layer in self.targets}
        out = self._model(batch)
        return {
            layer: first_tensor(out[node])
            for node, layers in self._by_node.items()
            for layer in layers
        }

    def close(self) -> None:
        """Remove the forward hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def probe_shapes(family, targets: Sequence[str], side: int) -> dict[str, tuple[int, ...]]:
    """Unit shape of each target (module path or graph node) for a ``side`` x ``side`` image.

    One forward pass of one image on the meta device (or the CPU, see :func:`_network`).

    Raises
    ------
    InputError
        When the network cannot take an input of that size (the message says which size).
    """
    model, device = _network(family)
    with Recorder(model, {t: t for t in targets}) as record, torch.no_grad():
        try:
            out = record(torch.zeros(1, 3, side, side, device=device))
        except InputError:
            raise
        except Exception as err:
            raise InputError(
                f"{family.name}: a {side} x {side} input does not pass through the network "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                "set preprocessing.resize/crop to a size it takes"
            ) from None
    return {t: tuple(int(n) for n in out[t].shape[1:]) for t in targets}


@dataclass(frozen=True)
class LayerInfo:
    """One recordable layer: its name, friendly alias (or ""), kind and output shape."""

    name: str
    alias: str
    kind: str
    module_type: str
    shape: tuple[int, ...]

    @property
    def units(self) -> int:
        """Number of units (product of the shape)."""
        return math.prod(self.shape)


def list_layers(family, side: int, nodes: bool = False) -> list[LayerInfo]:
    """Every module of the network (and, with ``nodes``, every graph node) with its output.

    Parameters
    ----------
    family : ModelFamily
        The network's family.
    side : int
        Side of the square input.
    nodes : bool
        Also list the torch.fx graph nodes that are not modules.

    Returns
    -------
    list of LayerInfo
        In forward order (modules whose output is no tensor are left out).
    """
    model, device = _network(family)
    aliases = {path: name for name, path in family.layers.items()}
    shapes: dict[str, tuple[int, ...]] = {}
    kinds: dict[str, str] = {}

    def hook(path):
        def record(module, _inputs, output):
            try:
                tensor = first_tensor(output)
            except InputError:
                return
            shapes.setdefault(path, tuple(int(n) for n in tensor.shape[1:]))
            kinds[path] = type(module).__name__

        return record

    handles = [m.register_forward_hook(hook(p)) for p, m in model.named_modules() if p]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, side, side, device=device))
    finally:
        for handle in handles:
            handle.remove()
    rows = [LayerInfo(p, aliases.get(p, ""), "module", kinds[p], s) for p, s in shapes.items()]
    if nodes:
        extra = [n for n in graph_nodes(family) if n not in shapes and n != "x"]
        if extra:
            measured = probe_shapes(family, extra, side)
            rows += [LayerInfo(n, "", "node", "", measured[n]) for n in extra]
    return rows
