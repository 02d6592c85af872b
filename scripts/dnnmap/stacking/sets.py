"""Stack sets (config ``stacking.sets``): their spaces and the checks run at start-up.

A set names its feature spaces as ``{model: [layers]}``; a space is called ``model/layer``.
This module imports no analysis code, so the workflow's start-up path stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dnnmap.errors import InputError
from dnnmap.models.registry import get_family


def space_names(stack_set: Mapping[str, Sequence[str]]) -> list[str]:
    """Names ``model/layer`` of a stack set's spaces, in the set's order."""
    return [f"{model}/{layer}" for model, layers in stack_set.items() for layer in layers]


def check_stack_set(name: str, stack_set, models: Mapping, where: str) -> list[str]:
    """Check one ``stacking.sets`` entry against the config's models; return its space names.

    A set needs at least 2 spaces, each named once, of models in ``models`` and layers those
    models record, all taking the same stimuli (one modality of stimulus).

    Raises
    ------
    InputError
        One line starting with ``where`` (e.g. the config file) and naming the key.
    """
    key = f"{where}: stacking.sets.{name}"
    if not isinstance(stack_set, Mapping) or not stack_set:
        raise InputError(f"{key} is {stack_set!r}; expected {{model: [layers]}}")
    modalities = {}
    for model, layers in stack_set.items():
        if model not in models:
            raise InputError(f"{key}: {model!r} is not in models ({', '.join(models)})")
        known = models[model]["layers"]
        for layer in layers:
            if layer not in known:
                raise InputError(
                    f"{key}.{model}: {layer!r} is not among models.{model}.layers "
                    f"({', '.join(known)})"
                )
        if len(set(layers)) != len(layers):
            twice = next(layer for layer in layers if list(layers).count(layer) > 1)
            raise InputError(f"{key}.{model}: {twice!r} is named twice; expected each space once")
        modalities[model] = get_family(models[model]["architecture"]).modality
    if len(set(modalities.values())) > 1:
        shown = ", ".join(f"{m} ({mod})" for m, mod in modalities.items())
        raise InputError(
            f"{key}: its models take different stimuli: {shown}; expected spaces of one "
            "stimulus set"
        )
    names = space_names(stack_set)
    if len(names) < 2:
        raise InputError(
            f"{key} has {len(names)} space ({', '.join(names)}); expected at least 2 spaces "
            "to weigh"
        )
    return names
