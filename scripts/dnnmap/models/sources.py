"""Model families made on demand from a source: torchvision, timm, or the user's own module.

:func:`dnnmap.models.registry.get_family` calls :func:`make_family` for any model entry that
no hand-written family covers. Each family builds its network with seeded random weights
(or loads a state dict into it), builds it on torch's ``meta`` device for quick shape and
module queries, counts its parameters, names its friendly layers
(:mod:`dnnmap.models.aliases`) and takes its default preprocessing from the weights'
metadata where the source has it:

- ``torchvision``: any classification model of ``torchvision.models.list_models(module=
  torchvision.models)``; preprocessing from its weights' ``transforms()`` (resize, centre
  crop, mean, std, interpolation); pretrained weights by name.
- ``timm``: any ``timm.list_models()`` name, ``pretrained=False``; preprocessing from the
  model's ``pretrained_cfg`` (:func:`timm.data.resolve_data_config`); local weights only.
- ``module``: ``path/to/net.py:ClassName`` or ``package.module:factory`` called with the
  entry's ``kwargs``; ImageNet preprocessing (224 x 224) unless the config says otherwise.

This module imports torch; the registry imports it only when such a family is asked for.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import logging
import math
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from dnnmap.errors import InputError
from dnnmap.models.aliases import friendly_layers
from dnnmap.models.meta import meta_build
from dnnmap.models.registry import (
    IMAGENET_PREPROCESSING,
    ModelFamily,
    transforms_preprocessing,
)

LOG = logging.getLogger("dnnmap")


def make_family(source: str, entry: Mapping, where: str, known: list[str]) -> ModelFamily:
    """The family of a config model entry whose source is ``source``.

    Parameters
    ----------
    source : {"torchvision", "timm", "module"}
        The entry's source.
    entry : mapping
        ``models.<model>`` of the config (``architecture``, ``module``, ``kwargs``).
    where : str
        Config location of the architecture (``...models.<model>.architecture``), for messages.
    known : list of str
        The hand-written families, listed in the message for an unknown name.

    Raises
    ------
    InputError
        For an unknown architecture (with close matches), a module or class that cannot be
        found, or a constructor that fails with the entry's ``kwargs``.
    """
    kwargs = dict(entry.get("kwargs") or {})
    base = where[: -len(".architecture")] if where.endswith(".architecture") else where
    if source == "torchvision":
        return _torchvision_family(str(entry.get("architecture")), kwargs, where, known)
    if source == "timm":
        return _timm_family(str(entry.get("architecture")), kwargs, where)
    label = str(entry.get("architecture") or entry["module"])
    return _module_family(label, str(entry["module"]), kwargs, base)


# --- torchvision ------------------------------------------------------------------------------


def _torchvision_family(name: str, kwargs: dict, where: str, known: list[str]) -> ModelFamily:
    import torchvision
    from torchvision.models import get_model_builder, get_model_weights, list_models

    classification = list_models(module=torchvision.models)
    if name not in classification:
        other = " (a torchvision model of another task)" if name in list_models() else ""
        close = difflib.get_close_matches(name, classification + known, n=3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise InputError(
            f"{where}: unknown architecture {name!r}{other}; expected one of {', '.join(known)} "
            f"or another of torchvision's {len(classification)} classification models "
            f"(torchvision.models.list_models(module=torchvision.models)){hint}"
        )
    builder = get_model_builder(name)
    enum = get_model_weights(name)
    names = (*(w.name for w in enum), "DEFAULT")
    vit = builder.__module__.endswith("vision_transformer")

    def arch_kwargs(weights: str | None) -> dict:
        """ViTs take their input size from named weights (torchvision does the same)."""
        if vit and weights and weights in names and "image_size" not in kwargs:
            return {"image_size": enum[weights].meta["min_size"][0]}
        return {}

    def build(seed: int = 0, state: Mapping | None = None, strict: bool = True, weights=None):
        torch.manual_seed(seed)
        model = _quiet(builder, weights=None, **kwargs, **arch_kwargs(weights))
        if state is not None:
            model.load_state_dict(state, strict=strict)
        return model

    def build_meta():
        return meta_build(lambda: _quiet(builder, weights=None, **kwargs))

    def weights_preprocessing(weights: str) -> dict:
        return transforms_preprocessing(enum[weights].transforms())

    preprocessing = _default_torchvision_preprocessing(enum, kwargs, vit)
    return _family(
        name, "torchvision", build, build_meta, preprocessing, names, weights_preprocessing
    )


def _default_torchvision_preprocessing(enum, kwargs: dict, vit: bool) -> dict:
    """Preprocessing of random weights: the DEFAULT weights' metadata, at the input size the
    network is built for (a ViT's ``image_size``)."""
    chosen = enum.DEFAULT
    if vit:
        size = kwargs.get("image_size", 224)
        fitting = [w for w in enum if w.transforms().crop_size[0] == size]
        if fitting:
            chosen = fitting[0]
        else:
            pre = transforms_preprocessing(chosen.transforms())
            return {**pre, "resize": size, "crop": size}
    return transforms_preprocessing(chosen.transforms())


# --- timm -------------------------------------------------------------------------------------


def _timm_family(name: str, kwargs: dict, where: str) -> ModelFamily:
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise InputError(
            f"{where}: unknown timm model {name!r}; expected a name of timm.list_models() "
            f"(timm {timm.__version__}){hint}"
        )

    def build(seed: int = 0, state: Mapping | None = None, strict: bool = True, weights=None):
        torch.manual_seed(seed)
        model = timm.create_model(name, pretrained=False, **kwargs)
        if state is not None:
            model.load_state_dict(state, strict=strict)
        return model

    def build_meta():
        return meta_build(lambda: timm.create_model(name, pretrained=False, **kwargs))

    try:
        model = build_meta()
    except Exception:
        model = build(seed=0)
    config = timm.data.resolve_data_config({}, model=model)
    size = int(config["input_size"][-1])
    preprocessing = {
        "resize": math.floor(size / config.get("crop_pct", 1.0)),
        "crop": size,
        "mean": tuple(float(v) for v in config["mean"]),
        "std": tuple(float(v) for v in config["std"]),
        "interpolation": config.get("interpolation", "bilinear"),
    }
    return _family(name, "timm", build, build_meta, preprocessing, (), None, model=model)


# --- the user's own module ----------------------------------------------------------------------


def load_callable(spec: str, key: str) -> Callable[..., Any]:
    """The class or factory named by ``path/to/net.py:Name`` or ``package.module:name``.

    Parameters
    ----------
    spec : str
        ``FILE.py:NAME`` (a file, relative to the working directory) or ``MODULE:NAME``
        (an importable module, or a package in the working directory).
    key : str
        Config location (``models.<model>``), for messages.

    Raises
    ------
    InputError
        One line naming ``<key>.module``: a spec without ``:``, a missing file, a module
        that cannot be imported (with the error it raised), or a name the module does not
        define (its classes and functions are listed, closest first).
    """
    where = f"{key}.module: {spec!r}"
    if ":" not in spec:
        raise InputError(f"{where}: expected path/to/net.py:ClassName or package.module:factory")
    target, attr = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise InputError(
                f"{where}: file {path} does not exist (working directory {Path.cwd()})"
            )
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        name = f"dnnmap_user_{path.stem}_{digest}"
        module = sys.modules.get(name)
        if module is None:
            loader = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(loader)
            try:
                loader.loader.exec_module(module)
            except Exception as err:  # the user's file may raise anything
                raise InputError(
                    f"{where}: running {path} failed: {type(err).__name__}: {err}"
                ) from None
            sys.modules[name] = module
    else:
        cwd = str(Path.cwd())
        added = cwd not in sys.path
        if added:  # a package in the working directory, as ``python -m`` would find it
            sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(target)
        except Exception as err:  # ModuleNotFoundError, or an error inside the module
            raise InputError(
                f"{where}: cannot import {target} ({type(err).__name__}: {err})"
            ) from None
        finally:
            if added:
                sys.path.remove(cwd)
    obj = getattr(module, attr, None)
    if obj is None or not callable(obj):
        defined = [
            n
            for n, v in vars(module).items()
            if (inspect.isclass(v) or inspect.isfunction(v)) and not n.startswith("_")
        ]
        close = difflib.get_close_matches(attr, defined, n=3, cutoff=0.3)
        listed = ", ".join(close + [d for d in defined if d not in close][:5]) or "none"
        raise InputError(
            f"{where}: {target} defines no class or function {attr!r} (it has {listed})"
        )
    return obj


def _module_family(label: str, spec: str, kwargs: dict, key: str) -> ModelFamily:
    factory = load_callable(spec, key)
    where = f"{key}.module: {spec!r}"

    def construct():
        try:
            model = factory(**kwargs)
        except Exception as err:  # the user's constructor may raise anything
            raise InputError(
                f"{where}: calling it with kwargs {kwargs} failed: {type(err).__name__}: {err} "
                f"(set {key}.kwargs)"
            ) from None
        if not isinstance(model, torch.nn.Module):
            raise InputError(f"{where}: returned a {type(model).__name__}, not a torch.nn.Module")
        return model

    def build(seed: int = 0, state: Mapping | None = None, strict: bool = True, weights=None):
        torch.manual_seed(seed)
        model = construct()
        if state is not None:
            model.load_state_dict(state, strict=strict)
        return model

    def build_meta():
        return meta_build(construct)

    return _family(label, "module", build, build_meta, dict(IMAGENET_PREPROCESSING), (), None)


# --- shared -----------------------------------------------------------------------------------


def _quiet(builder, **kwargs):
    """Call a torchvision builder without its FutureWarnings about initialisation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        return builder(**kwargs)


def _family(
    name, source, build, build_meta, preprocessing, weights, weights_preprocessing, model=None
) -> ModelFamily:
    """A :class:`ModelFamily` from a source's builders (parameters and aliases measured)."""
    meta = build_meta
    if model is None:
        try:
            model = build_meta()
        except InputError:
            raise
        except Exception:
            meta, model = None, build(seed=0)
    modules = [(path, type(m).__name__) for path, m in model.named_modules() if path]
    n_parameters = sum(p.numel() for p in model.parameters())
    return ModelFamily(
        name=name,
        modality="image",
        layers=friendly_layers(type(model).__name__, modules),
        build=build,
        unit_shapes=None,
        n_parameters=int(n_parameters),
        weights=weights,
        preprocessing=preprocessing,
        cpu_seconds_per_image=0.05 + n_parameters * 1e-8,
        source=source,
        build_meta=meta,
        weights_preprocessing=weights_preprocessing,
    )
