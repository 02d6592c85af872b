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

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dnnmap.errors import InputError

#: Stimulus modalities a family can take (the ``modality`` column of the stimulus table).
MODALITIES = ("image", "video", "audio")
#: Per-channel (RGB) mean and standard deviation of ImageNet, for images scaled to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ImageNet preprocessing: a 224 x 224 input normalised with the ImageNet statistics.
IMAGENET_PREPROCESSING = MappingProxyType(
    {"resize": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
)

_FAMILIES: dict[str, ModelFamily] = {}
_LOADED = False


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
        ``build(seed=0, state=None)`` returns the ``torch.nn.Module`` (on the CPU, in train
        mode): with ``state`` (a state dict) its weights are loaded from it, otherwise the
        global torch RNG is seeded with ``seed`` and the weights are random. It imports
        torch when called; a state dict of another architecture raises ``RuntimeError``.
    unit_shapes : callable
        ``unit_shapes(resize)`` returns layer name -> unit shape (one stimulus' output) for
        a square input of side ``resize``, e.g. ``{"conv1": (64, 55, 55), "fc8": (1000,)}``.
    n_parameters : int
        Number of parameters of the network.
    weights : tuple of str
        Pretrained weights names it accepts (torchvision's, e.g. ``"IMAGENET1K_V1"``).
    preprocessing : mapping
        Default preprocessing (``resize``, ``mean``, ``std``), overridden per key by the
        config's ``models.<model>.preprocessing``.
    cpu_seconds_per_image : float
        Forward-pass time of one stimulus on a CPU, in seconds, for runtime hints.
    """

    name: str
    modality: str
    layers: Mapping[str, str]
    build: Callable[..., Any]
    unit_shapes: Callable[[int], dict[str, tuple[int, ...]]]
    n_parameters: int
    weights: tuple[str, ...] = ()
    preprocessing: Mapping[str, Any] = field(default_factory=lambda: IMAGENET_PREPROCESSING)
    cpu_seconds_per_image: float = 0.1

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

    def layer_modules(self, layers: list[str], where: str = "models") -> dict[str, str]:
        """Map friendly layer names to module paths (see :func:`layer_modules`)."""
        for name in layers:
            if name not in self.layers:
                raise InputError(
                    f"{where}: {self.name} has no layer {name!r}; "
                    f"valid layers: {', '.join(self.layers)}"
                )
        if len(set(layers)) != len(layers):
            raise InputError(f"{where}: layer names repeat in {layers}")
        return {name: self.layers[name] for name in layers}

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


def get_family(name: str, where: str = "architecture") -> ModelFamily:
    """The family of architecture ``name``.

    Parameters
    ----------
    name : str
        An architecture, e.g. ``"resnet50"``.
    where : str
        Config location used in the error message, e.g. ``"models.net.architecture"``.

    Raises
    ------
    InputError
        For an unknown name; the message lists the known ones.
    """
    _load()
    family = _FAMILIES.get(name)
    if family is None:
        raise InputError(
            f"{where}: unknown architecture {name!r}; expected one of {sorted(_FAMILIES)}"
        )
    return family


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


def torchvision_builder(architecture: str) -> Callable[..., Any]:
    """A family ``build`` function for torchvision's ``architecture`` (e.g. ``"resnet50"``).

    The returned ``build(seed=0, state=None)`` seeds the global torch RNG with ``seed`` and
    calls ``torchvision.models.<architecture>(weights=None)``; given a state dict, it loads
    that instead (without seeding: the random weights are overwritten).
    """

    def build(seed: int = 0, state: Mapping | None = None):
        import torch
        import torchvision

        constructor = getattr(torchvision.models, architecture)
        if state is not None:
            model = constructor(weights=None)
            model.load_state_dict(state)
            return model
        torch.manual_seed(seed)
        return constructor(weights=None)

    build.__name__ = f"build_{architecture}"
    build.__qualname__ = build.__name__
    return build
