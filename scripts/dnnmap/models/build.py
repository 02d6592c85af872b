"""Build a registered network with known weights, its input preprocessing, and its device.

The architecture's :class:`~dnnmap.models.registry.ModelFamily` builds the network and gives
the default preprocessing. ``weights: none`` builds it with seeded random weights, a path
loads a local state dict (read safely by :mod:`dnnmap.models.checkpoint`, optionally
unwrapped by ``checkpoint_key`` and renamed by ``strip_prefix``), and a torchvision
weights name (e.g. ``IMAGENET1K_V1``) loads the file the workflow's login-node rule
fetched (``weights_file``), or, from a notebook, the torch hub cache, downloading it there
if the network allows (see :mod:`dnnmap.models.weights`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torchvision.transforms import v2 as transforms

from dnnmap.backend import resolve_device
from dnnmap.errors import InputError
from dnnmap.models.checkpoint import describe_mismatch, load_state_dict
from dnnmap.models.masks import UnitMask, model_masks
from dnnmap.models.registry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelFamily,
    get_family,
    weights_kind,
)

LOG = logging.getLogger("dnnmap")

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelSpec",
    "Preprocessing",
    "build_model",
    "torch_device",
    "weights_digest",
]


INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")


@dataclass
class Preprocessing:
    """Image preprocessing: resize (and centre-crop), scale to [0, 1], normalise per channel.

    Without ``crop``, the image is resized to ``resize`` x ``resize`` (its aspect ratio is
    not kept). With ``crop``, its shorter side is resized to ``resize`` (aspect kept) and the
    centre ``crop`` x ``crop`` is cut out, as torchvision's and timm's evaluation
    transforms do.
    """

    resize: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    crop: int | None = None
    interpolation: str = "bilinear"

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise InputError(
                f"preprocessing.interpolation: {self.interpolation!r}; expected one of "
                f"{', '.join(INTERPOLATIONS)}"
            )
        self.mean, self.std = tuple(self.mean), tuple(self.std)

    @property
    def side(self) -> int:
        """Side of the square network input, pixels."""
        return self.crop or self.resize

    def transform(self) -> transforms.Compose:
        """Return the torchvision transform from a PIL RGB image to a (3, side, side) tensor."""
        mode = transforms.InterpolationMode(self.interpolation)
        if self.crop is None:
            sizing = [transforms.Resize((self.resize, self.resize), mode, antialias=True)]
        else:
            sizing = [
                transforms.Resize(self.resize, mode, antialias=True),
                transforms.CenterCrop(self.crop),
            ]
        return transforms.Compose(
            [
                transforms.PILToTensor(),
                *sizing,
                transforms.ToDtype(torch.float32, scale=True),
                transforms.Normalize(mean=list(self.mean), std=list(self.std)),
            ]
        )

    def as_dict(self) -> dict:
        """Return the settings as a JSON-ready dict (``crop`` and ``interpolation`` only when
        they differ from a plain bilinear square resize)."""
        out = {"resize": self.resize, "mean": list(self.mean), "std": list(self.std)}
        if self.crop is not None:
            out["crop"] = self.crop
        if self.interpolation != "bilinear":
            out["interpolation"] = self.interpolation
        return out


@dataclass
class ModelSpec:
    """One entry of the config's ``models`` section."""

    name: str
    architecture: str
    weights: str = "none"
    seed: int = 0
    layers: list[str] = field(default_factory=list)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    checkpoint_key: str | None = None
    strip_prefix: str | None = None
    source: str = "torchvision"
    module: str | None = None
    kwargs: dict = field(default_factory=dict)
    strict: bool = True
    masks: dict[str, UnitMask] = field(default_factory=dict)

    @property
    def entry(self) -> dict:
        """The config entry that names the family (source, architecture, module, kwargs)."""
        entry = {"source": self.source, "architecture": self.architecture}
        if self.module is not None:
            entry["module"] = self.module
        if self.kwargs:
            entry["kwargs"] = dict(self.kwargs)
        return entry

    def family(self) -> ModelFamily:
        """The registry family of this model."""
        return get_family(self.entry, f"models.{self.name}.architecture")

    @classmethod
    def from_config(cls, name: str, entry: dict) -> ModelSpec:
        """Build a spec from ``config["models"][name]``.

        Preprocessing keys the entry leaves out take the defaults of the family for the
        entry's weights (a pretrained weights name's own metadata where there is one, see
        :meth:`~dnnmap.models.registry.ModelFamily.preprocessing_for`). Unit masks come from
        ``units`` and ``dmask`` (:func:`dnnmap.models.masks.model_masks`).
        """
        family = get_family(entry, f"models.{name}.architecture")
        weights = str(entry.get("weights", "none"))
        pre = Preprocessing(
            **{**family.preprocessing_for(weights), **entry.get("preprocessing", {})}
        )
        return cls(
            name=name,
            architecture=entry["architecture"],
            weights=weights,
            seed=int(entry.get("seed", 0)),
            layers=list(entry["layers"]),
            preprocessing=pre,
            checkpoint_key=entry.get("checkpoint_key"),
            strip_prefix=entry.get("strip_prefix"),
            source=entry.get("source", "torchvision"),
            module=entry.get("module"),
            kwargs=dict(entry.get("kwargs") or {}),
            strict=bool(entry.get("strict", True)),
            masks=model_masks(name, entry),
        )


def build_model(spec: ModelSpec, weights_file: str | None = None) -> tuple[torch.nn.Module, str]:
    """Build the network of ``spec`` in eval mode, with its weights.

    ``weights_file`` is a local copy of torchvision's named weights (from
    :func:`dnnmap.models.weights.fetch_weights`); given, it is loaded instead of the hub cache.

    Returns
    -------
    model : torch.nn.Module
        The network on the CPU, in eval mode.
    weights_id : str
        A readable id of the weights: ``random(seed=N)``, the file path, or the torchvision name.

    Raises
    ------
    InputError
        For an unregistered architecture (listing the known ones), a weights name the family
        does not accept, or a weights file that is missing, not a state dict (see
        :func:`dnnmap.models.checkpoint.load_state_dict`) or of another architecture (the
        first missing and unexpected keys, and the ``strip_prefix`` that would fix them).
    """
    key = f"models.{spec.name}"
    family = spec.family()
    weights = spec.weights
    kind = weights_kind(weights)
    if kind == "random":
        model = family.build(seed=spec.seed)
        weights_id = f"random(seed={spec.seed})"
    elif kind == "file":
        if not Path(weights).is_file():
            raise InputError(f"{key}.weights: file {weights} does not exist")
        state = load_state_dict(weights, key, spec.checkpoint_key, spec.strip_prefix)
        model = _load(family, state, weights, key, spec.strict)
        weights_id = str(weights)
    else:
        if family.source != "torchvision":
            raise InputError(
                f"{key}.weights: {weights!r}; a {family.source} model takes none (seeded "
                "random) or a local weights file"
            )
        family.check_weights(weights, f"{key}.weights")
        if weights_file is None:
            weights_file = _hub_weights_file(family, spec)
        model = _load(family, load_state_dict(weights_file, key), weights_file, key, True, weights)
        weights_id = f"torchvision:{spec.architecture}.{weights}"
    return model.eval(), weights_id


def _load(
    family: ModelFamily, state: dict, path, key: str, strict: bool = True, weights=None
) -> torch.nn.Module:
    """The family's network with ``state`` loaded; a mismatch is one line naming the keys.

    With ``strict`` false, keys of the network that the file lacks keep their seeded random
    values and keys of the file the network lacks are ignored; both are logged (the first
    few of each), but a tensor of another shape still stops the load.
    """
    kwargs = {"weights": weights} if weights is not None else {}
    reference = _reference_shapes(family)
    if not strict:
        missing = [k for k in reference if k not in state]
        unexpected = [k for k in state if k not in reference]
        if missing or unexpected:
            LOG.warning(
                "%s.weights: %s: strict: false: %s",
                key,
                path,
                describe_mismatch(reference, state, key),
            )
    try:
        return family.build(state=state, strict=strict, **kwargs)
    except RuntimeError as err:
        detail = describe_mismatch(reference, state, key)
        raise InputError(
            f"{key}.weights: {path}: not a {family.name} state dict ({detail})"
        ) from err


def _reference_shapes(family: ModelFamily) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer names of the family's network -> shapes (meta build if it can)."""
    model = None
    if family.build_meta is not None:
        try:
            model = family.build_meta()
        except Exception:
            model = None
    if model is None:
        model = family.build(seed=0)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def _hub_weights_file(family: ModelFamily, spec: ModelSpec) -> Path:
    """Torchvision's named weights file in the torch hub cache, downloaded there if absent."""
    from dnnmap.models.weights import default_cache_dirs, fetch_weights, weights_url

    where = f"models.{spec.name}.weights"
    filename = Path(weights_url(family.name, spec.weights, where)).name
    path = default_cache_dirs()[0] / filename
    if not path.is_file():
        fetch_weights(family.name, spec.weights, path, cache_dirs=[], where=where)
    return path


def weights_digest(model: torch.nn.Module) -> str:
    """Return the sha256 of all parameters and buffers (name, dtype, shape and bytes)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def torch_device(device: str, where: str = "compute.device") -> torch.device:
    """The torch device of ``compute.device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    :func:`dnnmap.backend.resolve_device` resolves the name (``auto``: CUDA device 0 when
    torch sees one); its ``"numpy"`` (no CUDA) means the CPU here.

    Raises
    ------
    InputError
        For an unknown device name, or CUDA asked for where no CUDA device is visible; the
        message starts with ``where``.
    """
    try:
        resolved = resolve_device(device)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    return torch.device("cpu" if resolved == "numpy" else resolved)
