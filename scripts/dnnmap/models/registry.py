"""The model-family registry: everything dnnmap knows about each network architecture.

A :class:`ModelFamily` declares, for one architecture, the stimulus modality it takes, its
friendly layer names (and the module each one records), how to build it, its default
preprocessing, the unit shape of every layer as a closed-form function of the input size,
its parameter count, the pretrained weights names it accepts and a runtime hint. Every
consumer (config checks, job sizing, network building, extraction) asks the family, so an
architecture is declared in one file under :mod:`dnnmap.models.families`.

This module imports no torch (a family's ``build`` imports it when called), so the
workflow's start-up checks and job sizing can use it in a process that never loads torch.
"""

from __future__ import annotations

import difflib
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dnnmap.errors import InputError

#: Stimulus modalities a family can take (the ``modality`` column of the stimulus table).
MODALITIES = ("image", "video", "audio")
#: Where a network comes from (``models.<model>.source``): torchvision's catalogue (the
#: hand-written families below first, then any classification model torchvision builds),
#: timm's catalogue, or the user's own ``nn.Module`` class or factory.
SOURCES = ("torchvision", "timm", "module")
#: Per-channel (RGB) mean and standard deviation of ImageNet, for images scaled to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ImageNet preprocessing: a 224 x 224 input normalised with the ImageNet statistics.
IMAGENET_PREPROCESSING = MappingProxyType(
    {"resize": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
)

WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".tar")

_FAMILIES: dict[str, ModelFamily] = {}
_LOADED = False
#: Families made on demand from a source (torchvision, timm, module), by their cache key.
_GENERIC: dict[str, ModelFamily] = {}


@dataclass(frozen=True, eq=False)
class ModelFamily:
    """Everything dnnmap needs to know about one architecture.

    Attributes
    ----------
    name : str
        The ``architecture`` value of the config, e.g. ``"alexnet"``.
    modality : {"image", "video", "audio"}
        What the network takes as stimuli.
    layers : mapping of str to str
        Friendly layer name (as written in ``config.yaml``) -> path of the module whose
        output is recorded, in network order.
    build : callable
        ``build(seed=0, state=None, strict=True, weights=None)`` returns the
        ``torch.nn.Module`` (on the CPU, in train mode): the global torch RNG is seeded with
        ``seed`` and the weights are random, then, with ``state`` (a state dict), loaded from
        it (``strict`` as in ``load_state_dict``); ``weights`` names pretrained weights whose
        architecture variant to build (a ViT's input size). It imports torch when called; a
        state dict of another architecture raises ``RuntimeError``.
    unit_shapes : callable or None
        ``unit_shapes(resize)`` returns friendly layer name -> unit shape (one stimulus'
        output) for a square input of side ``resize``, e.g. ``{"conv1": (64, 55, 55), "fc8":
        (1000,)}``; None for a family made from a source, whose shapes are measured
        (:meth:`layer_shapes`).
    n_parameters : int
        Number of parameters of the network.
    weights : tuple of str
        Pretrained weights names it accepts (torchvision's, e.g. ``"IMAGENET1K_V1"``).
    preprocessing : mapping
        Default preprocessing (``resize``, ``mean``, ``std``), overridden per key by the
        config's ``models.<model>.preprocessing``.
    cpu_seconds_per_image : float
        Forward-pass time of one stimulus on a CPU, in seconds, for runtime hints.
    source : {"torchvision", "timm", "module"}
        Where the network comes from.
    build_meta : callable, optional
        ``build_meta()`` returns the network with its parameters on torch's ``meta`` device
        (no memory, no initialisation), to find module paths and output shapes quickly;
        without it, ``build(seed=0)`` serves (slower, exact).
    weights_preprocessing : callable, optional
        ``weights_preprocessing(name)`` returns the preprocessing of a pretrained weights
        name from its metadata (``resize``, ``crop``, ``mean``, ``std``, ``interpolation``);
        it may import torch.

    Notes
    -----
    Besides its friendly names (``layers``), a family records any module path of the
    network (``features.3``) and any node of its torch.fx graph
    (:func:`torchvision.models.feature_extraction.get_graph_node_names`, e.g.
    ``layer1.0.add``); checking such a name builds the network on the meta device, so it
    imports torch, which a config of friendly names alone never does.
    """

    name: str
    modality: str
    layers: Mapping[str, str]
    build: Callable[..., Any]
    unit_shapes: Callable[[int], dict[str, tuple[int, ...]]] | None
    n_parameters: int
    weights: tuple[str, ...] = ()
    preprocessing: Mapping[str, Any] = field(default_factory=lambda: IMAGENET_PREPROCESSING)
    cpu_seconds_per_image: float = 0.1
    source: str = "torchvision"
    build_meta: Callable[[], Any] | None = None
    weights_preprocessing: Callable[[str], Mapping[str, Any]] | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise InputError(
                f"family {self.name}: modality {self.modality!r}; expected one of "
                f"{', '.join(MODALITIES)}"
            )
        # Read-only views, so a registered family cannot be changed through its mappings.
        object.__setattr__(self, "layers", MappingProxyType(dict(self.layers)))
        object.__setattr__(self, "preprocessing", MappingProxyType(dict(self.preprocessing)))
        object.__setattr__(self, "weights", tuple(self.weights))
        for name in ("build_meta", "weights_preprocessing"):
            if getattr(self, name) is None and hasattr(self.build, name):
                object.__setattr__(self, name, getattr(self.build, name))

    def layer_modules(self, layers: list[str], where: str = "models") -> dict[str, str]:
        """Map layer names to what is recorded: a friendly name to its module path; a module
        path or graph node of the network to itself (see :func:`layer_modules`)."""
        targets = {}
        for name in layers:
            if name in self.layers:
                targets[name] = self.layers[name]
            elif self.is_recordable(name):
                targets[name] = name
            else:
                raise InputError(self._unknown_layer(name, where))
        if len(set(layers)) != len(layers):
            raise InputError(f"{where}: layer names repeat in {layers}")
        return targets

    def is_recordable(self, name: str) -> bool:
        """True if ``name`` is a module path or torch.fx graph node of the network.

        Builds the network on the meta device the first time (imports torch); the graph is
        traced only for a name that is not a module path.
        """
        from dnnmap.models import layers as recordable

        if "modules" not in self._cache:
            self._cache["modules"] = recordable.module_paths(self)
        if name in self._cache["modules"]:
            return True
        if "nodes" not in self._cache:
            self._cache["nodes"] = recordable.graph_nodes(self)
        return name in self._cache["nodes"]

    def _unknown_layer(self, name: str, where: str) -> str:
        """The message for a layer name that is neither friendly, a module nor a node."""
        known = list(self.layers) + list(self._cache.get("modules", ()))
        known += list(self._cache.get("nodes", ()))
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        listing = f"python -m dnnmap.models {self.name}"
        if self.source != "torchvision":
            listing += f" --source {self.source}"
        friendly = f"{', '.join(self.layers)}, or " if self.layers else ""
        return (
            f"{where}: {self.name} has no layer {name!r}{hint}; valid layers: {friendly}any "
            f"module path or graph node ({listing} lists them)"
        )

    def layer_shapes(self, layers: list[str], side: int) -> dict[str, tuple[int, ...]]:
        """Unit shape of each layer for a square input of side ``side``.

        Friendly names of a family with closed-form shapes need no torch; any other name
        (or a family without formulas) is measured by one forward pass on the meta device.

        Returns
        -------
        dict
            Layer name -> unit shape (one stimulus' output), in the order of ``layers``.
        """
        shapes = {}
        closed = self.unit_shapes(side) if self.unit_shapes is not None else {}
        others = [name for name in layers if name not in closed]
        if others:
            from dnnmap.models import layers as recordable

            targets = self.layer_modules(others)
            measured = recordable.probe_shapes(self, list(targets.values()), side)
            closed = {**closed, **{n: measured[targets[n]] for n in others}}
        for name in layers:
            shapes[name] = tuple(closed[name])
        return shapes

    def preprocessing_for(self, weights: str = "none") -> dict[str, Any]:
        """Default preprocessing for ``weights``: a pretrained weights name's metadata when
        the family knows it, else the family's own defaults."""
        base = {"crop": None, "interpolation": "bilinear", **self.preprocessing}
        if (
            weights_kind(weights) == "torchvision"
            and self.weights_preprocessing is not None
            and weights in self.weights
        ):
            return {**base, **self.weights_preprocessing(weights)}
        return base

    def check_weights(self, weights: str, where: str = "weights") -> None:
        """Stop unless ``weights`` is a pretrained weights name of this family."""
        if weights not in self.weights:
            accepted = ", ".join(self.weights) or "none"
            raise InputError(
                f"{where}: {weights!r} is not 'none', a .pth file, or a torchvision weights "
                f"name of {self.name} ({accepted})"
            )

    def check_modality(self, stim_ids, modalities, where: str = "stimuli") -> None:
        """Stop unless every stimulus has this family's modality.

        Parameters
        ----------
        stim_ids : sequence of str
            Stimulus ids, shape (n_stim,).
        modalities : sequence of str
            The stimulus table's ``modality`` of each, shape (n_stim,).
        where : str
            The table and model, named in the message.
        """
        others = [s for s, m in zip(stim_ids, modalities, strict=True) if m != self.modality]
        if others:
            raise InputError(
                f"{where}: {self.name} takes {self.modality} stimuli, but stimuli "
                f"{others[:3]} have another modality"
            )


def weights_kind(weights: str) -> str:
    """What a model's ``weights`` entry names: ``random``, ``file`` or ``torchvision``.

    ``none``/``random`` mean seeded random weights, a name ending in .pt/.pth/.bin/.tar (in
    any case, e.g. ``.PTH``; ``.pth.tar`` as Places365 ships them) a local state dict,
    anything else a torchvision weights name (e.g. ``IMAGENET1K_V1``).
    """
    if str(weights).lower() in ("none", "random"):
        return "random"
    if str(weights).lower().endswith(WEIGHT_FILE_SUFFIXES):
        return "file"
    return "torchvision"


def register(family: ModelFamily) -> ModelFamily:
    """Add ``family`` to the registry and return it.

    Raises
    ------
    InputError
        If a family of the same name is registered already.
    """
    if family.name in _FAMILIES:
        raise InputError(f"model family {family.name!r} is registered twice")
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    """Remove the family ``name`` (for tests that register a temporary family)."""
    _FAMILIES.pop(name, None)


def _load() -> None:
    """Import the shipped families (they register themselves) the first time it is called."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        importlib.import_module("dnnmap.models.families")


def families() -> dict[str, ModelFamily]:
    """All registered families, name -> family, sorted by name."""
    _load()
    return dict(sorted(_FAMILIES.items()))


def get_family(name: str | Mapping, where: str = "architecture") -> ModelFamily:
    """The family of an architecture name or of a config's model entry.

    Parameters
    ----------
    name : str or mapping
        An architecture, e.g. ``"resnet50"`` (source torchvision), or a ``models.<model>``
        entry of the config (``source``, ``architecture``, ``module``, ``kwargs``).
    where : str
        Config location used in the error message, e.g. ``"models.net.architecture"``.

    Returns
    -------
    ModelFamily
        A hand-written family (:mod:`dnnmap.models.families`) when one has the name and
        the source is torchvision without ``kwargs``; otherwise a family made from the
        source (:mod:`dnnmap.models.sources`, which imports torch), cached per entry.

    Raises
    ------
    InputError
        For an unknown source, architecture, module or class; the message lists the known
        names and the closest matches.
    """
    _load()
    entry = dict(name) if isinstance(name, Mapping) else {"architecture": name}
    source = entry.get("source", "torchvision")
    architecture = entry.get("architecture")
    kwargs = entry.get("kwargs") or {}
    if source not in SOURCES:
        raise InputError(
            f"{_source_key(where)}: unknown source {source!r}; expected one of {', '.join(SOURCES)}"
        )
    if source != "module" and entry.get("module"):
        key = _source_key(where).removesuffix(".source")
        raise InputError(f"{key}.module: applies to source: module only, but source is {source!r}")
    if source == "torchvision" and not kwargs and architecture in _FAMILIES:
        return _FAMILIES[architecture]
    if source == "module" and not entry.get("module"):
        raise InputError(
            f"{_source_key(where)}: source 'module' needs a module entry "
            "(path/to/net.py:ClassName or package.module:factory)"
        )
    key = json.dumps(
        [source, architecture, entry.get("module"), kwargs], sort_keys=True, default=str
    )
    if key not in _GENERIC:
        from dnnmap.models import sources

        _GENERIC[key] = sources.make_family(source, entry, where, known=sorted(_FAMILIES))
    return _GENERIC[key]


def _source_key(where: str) -> str:
    """``models.net.architecture`` -> ``models.net.source`` (other locations unchanged)."""
    return where[: -len(".architecture")] + ".source" if where.endswith(".architecture") else where


def input_side(entry: Mapping, where: str = "architecture") -> int:
    """Side of the square network input of a config model entry, pixels.

    The entry's ``preprocessing`` over its family's defaults for its weights: ``crop``
    when there is one, else ``resize``. Imports torch only for a pretrained weights name
    of a family that reads its metadata.
    """
    family = get_family(entry, where)
    pre = {
        **family.preprocessing_for(str(entry.get("weights", "none"))),
        **(entry.get("preprocessing") or {}),
    }
    return int(pre.get("crop") or pre["resize"])


def check_architecture(architecture: str, where: str = "architecture") -> None:
    """Stop unless ``architecture`` is a registered family (the message lists them)."""
    get_family(architecture, where)


def layer_modules(architecture: str, layers: list[str], where: str = "models") -> dict[str, str]:
    """Map friendly layer names to module paths, stopping on a name the model does not have.

    Parameters
    ----------
    architecture : str
        A registered family, e.g. ``"alexnet"``.
    layers : list of str
        Friendly layer names in the order they should be recorded.
    where : str
        Config location used in error messages, e.g. ``"models.alexnet.layers"``.

    Returns
    -------
    dict
        Friendly name -> module path, in the order of ``layers``.

    Raises
    ------
    InputError
        For an unknown architecture or layer, or a repeated layer; the message lists the
        valid names.
    """
    return get_family(architecture, where).layer_modules(layers, where)


def conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output side of a convolution or pooling of a ``size``-wide input (floor mode)."""
    return (size + 2 * pad - kernel) // stride + 1


def transforms_preprocessing(transform) -> dict[str, Any]:
    """``resize``, ``crop``, ``mean``, ``std`` and ``interpolation`` of a torchvision
    ``ImageClassification`` preset (the ``transforms()`` of a weights entry)."""
    return {
        "resize": int(transform.resize_size[0]),
        "crop": int(transform.crop_size[0]),
        "mean": tuple(float(v) for v in transform.mean),
        "std": tuple(float(v) for v in transform.std),
        "interpolation": transform.interpolation.value,
    }


def torchvision_builder(architecture: str) -> Callable[..., Any]:
    """A family ``build`` function for torchvision's ``architecture`` (e.g. ``"resnet50"``).

    The returned ``build(seed=0, state=None, strict=True, weights=None)`` seeds the global
    torch RNG with ``seed`` and calls ``torchvision.models.<architecture>(weights=None)``;
    given a state dict, it loads that into the network (``strict`` as in
    ``load_state_dict``: keys the file lacks keep their seeded random values when false).
    It carries ``build.build_meta`` (the network on the meta device) and
    ``build.weights_preprocessing`` (a weights name's metadata preprocessing), which a
    :class:`ModelFamily` built with it takes over.
    """

    def build(seed: int = 0, state: Mapping | None = None, strict: bool = True, weights=None):
        import torch
        import torchvision

        constructor = getattr(torchvision.models, architecture)
        torch.manual_seed(seed)
        model = constructor(weights=None)
        if state is not None:
            model.load_state_dict(state, strict=strict)
        return model

    def build_meta():
        import torch
        import torchvision

        with torch.device("meta"):
            return getattr(torchvision.models, architecture)(weights=None)

    def weights_preprocessing(name: str) -> dict[str, Any]:
        import torchvision

        return transforms_preprocessing(
            torchvision.models.get_model_weights(architecture)[name].transforms()
        )

    build.__name__ = f"build_{architecture}"
    build.__qualname__ = build.__name__
    build.build_meta = build_meta
    build.weights_preprocessing = weights_preprocessing
    return build
