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
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torchvision.transforms import v2 as transforms

from dnnmap.backend import resolve_device
from dnnmap.config import weights_kind
from dnnmap.errors import InputError
from dnnmap.models.checkpoint import describe_mismatch, load_state_dict
from dnnmap.models.registry import IMAGENET_MEAN, IMAGENET_STD, ModelFamily, get_family

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelSpec",
    "Preprocessing",
    "build_model",
    "torch_device",
    "weights_digest",
]


@dataclass
class Preprocessing:
    """Image preprocessing: resize to a square, scale to [0, 1], normalise per channel."""

    resize: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def transform(self) -> transforms.Compose:
        """Return the torchvision transform from a PIL RGB image to a (3, resize, resize) tensor."""
        return transforms.Compose(
            [
                transforms.PILToTensor(),
                transforms.Resize((self.resize, self.resize), antialias=True),
                transforms.ToDtype(torch.float32, scale=True),
                transforms.Normalize(mean=list(self.mean), std=list(self.std)),
            ]
        )

    def as_dict(self) -> dict:
        """Return the settings as a JSON-ready dict."""
        return {"resize": self.resize, "mean": list(self.mean), "std": list(self.std)}


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

    @classmethod
    def from_config(cls, name: str, entry: dict) -> ModelSpec:
        """Build a spec from ``config["models"][name]``.

        Preprocessing keys the entry leaves out take the family's defaults.
        """
        family = get_family(entry["architecture"], f"models.{name}.architecture")
        pre = Preprocessing(**{**family.preprocessing, **entry.get("preprocessing", {})})
        return cls(
            name=name,
            architecture=entry["architecture"],
            weights=str(entry.get("weights", "none")),
            seed=int(entry.get("seed", 0)),
            layers=list(entry["layers"]),
            preprocessing=pre,
            checkpoint_key=entry.get("checkpoint_key"),
            strip_prefix=entry.get("strip_prefix"),
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
    family = get_family(spec.architecture, f"{key}.architecture")
    weights = spec.weights
    kind = weights_kind(weights)
    if kind == "random":
        model = family.build(seed=spec.seed)
        weights_id = f"random(seed={spec.seed})"
    elif kind == "file":
        if not Path(weights).is_file():
            raise InputError(f"{key}.weights: file {weights} does not exist")
        state = load_state_dict(weights, key, spec.checkpoint_key, spec.strip_prefix)
        model = _load(family, state, weights, key)
        weights_id = str(weights)
    else:
        family.check_weights(weights, f"{key}.weights")
        if weights_file is None:
            weights_file = _hub_weights_file(family, spec)
        model = _load(family, load_state_dict(weights_file, key), weights_file, key)
        weights_id = f"torchvision:{spec.architecture}.{weights}"
    return model.eval(), weights_id


def _load(family: ModelFamily, state: dict, path, key: str) -> torch.nn.Module:
    """The family's network with ``state`` loaded; a mismatch is one line naming the keys."""
    try:
        return family.build(state=state)
    except RuntimeError as err:
        reference = family.build(seed=0).state_dict()
        shapes = {name: tuple(tensor.shape) for name, tensor in reference.items()}
        detail = describe_mismatch(shapes, state, key)
        raise InputError(
            f"{key}.weights: {path}: not a {family.name} state dict ({detail})"
        ) from err


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
