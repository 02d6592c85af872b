"""The network of a model entry, cut at one recorded layer, and its inputs for given stimuli."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from dnnmap.errors import InputError
from dnnmap.images import DEFAULT_BACKGROUND, read_image
from dnnmap.interpret.heads import TargetHead, target_head
from dnnmap.interpret.targets import TargetSpec
from dnnmap.models.build import ModelSpec, build_model
from dnnmap.models.registry import get_family


def network_head(
    name: str,
    entry: Mapping,
    layer: str,
    spec: TargetSpec,
    weights_file: str | None = None,
) -> tuple[TargetHead, ModelSpec]:
    """The :class:`~dnnmap.interpret.heads.TargetHead` of ``spec`` on model ``name``.

    Parameters
    ----------
    name : str
        The model's key in the config's ``models``.
    entry : mapping
        ``config["models"][name]``.
    layer : str
        A recorded layer (one of the entry's ``layers``).
    spec : TargetSpec
    weights_file : str, optional
        Local copy of torchvision's named weights (the workflow's ``fetch_weights`` output).

    Raises
    ------
    InputError
        When ``layer`` is not among the layers the model entry records.
    """
    model_spec = ModelSpec.from_config(name, entry)
    if layer not in model_spec.layers:
        raise InputError(
            f"interpret: layer {layer!r} of model {name} was not recorded; "
            f"models.{name}.layers are {', '.join(model_spec.layers)}"
        )
    module = get_family(model_spec.architecture, f"models.{name}.architecture").layers[layer]
    model, _ = build_model(model_spec, weights_file)
    return target_head(model, module, spec), model_spec


def stimulus_inputs(
    paths: Sequence[str], spec: ModelSpec, background=DEFAULT_BACKGROUND
) -> tuple[torch.Tensor, np.ndarray]:
    """Stimuli as the network sees them, and as RGB for display.

    Returns
    -------
    x : tensor of shape (n, 3, resize, resize)
        Preprocessed (normalised) inputs.
    rgb : float32 array of shape (n, resize, resize, 3)
        The same images in [0, 1] before normalisation.
    """
    transform = spec.preprocessing.transform()
    x = torch.stack([transform(read_image(p, background)[0]) for p in paths])
    mean = torch.tensor(spec.preprocessing.mean)[None, :, None, None]
    std = torch.tensor(spec.preprocessing.std)[None, :, None, None]
    rgb = (x * std + mean).clamp(0, 1).permute(0, 2, 3, 1).numpy().astype(np.float32)
    return x, rgb
