"""Sets of feature spaces (config ``stacking.sets``, ``joint.sets``) and their start-up checks.

A set names its feature spaces as ``{model: [layers]}``; a space is called ``model/layer``.
Stacking weighs the spaces of a set, the joint models partition their variance; both take
their sets in this one shape and check them here. This module imports no analysis code, so
the workflow's start-up path stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dnnmap.errors import InputError
from dnnmap.models.registry import get_family


def space_names(stack_set: Mapping[str, Sequence[str]]) -> list[str]:
    """Names ``model/layer`` of a stack set's spaces, in the set's order."""
    return [f"{model}/{layer}" for model, layers in stack_set.items() for layer in layers]


def check_space_set(
    section: str,
    name: str,
    space_set,
    models: Mapping,
    where: str,
    *,
    max_spaces: int | None = None,
    purpose: str = "to weigh",
) -> list[str]:
    """Check one set of feature spaces against the config's models; return its space names.

    A set needs at least 2 spaces (at most ``max_spaces``), each named once, of models in
    ``models`` and layers those models record, all taking the same stimuli (one modality).

    Parameters
    ----------
    section : str
        The config key of the sets, e.g. ``"stacking.sets"`` or ``"joint.sets"``.
    name : str
        The set's name.
    space_set : mapping of str to list of str
        ``{model: [layers]}``.
    models : mapping
        The config's ``models`` section.
    where : str
        Prefix of the error (e.g. the config file).
    max_spaces : int or None
        Most spaces a set may have (None: no limit).
    purpose : str
        What the spaces are for, in the error of a set of the wrong size.

    Raises
    ------
    InputError
        One line starting with ``where`` and naming the key.
    """
    key = f"{where}: {section}.{name}"
    if not isinstance(space_set, Mapping) or not space_set:
        raise InputError(f"{key} is {space_set!r}; expected {{model: [layers]}}")
    modalities = {}
    for model, layers in space_set.items():
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
        modalities[model] = get_family(models[model]).modality
    if len(set(modalities.values())) > 1:
        shown = ", ".join(f"{m} ({mod})" for m, mod in modalities.items())
        raise InputError(
            f"{key}: its models take different stimuli: {shown}; expected spaces of one "
            "stimulus set"
        )
    names = space_names(space_set)
    if len(names) < 2 or (max_spaces is not None and len(names) > max_spaces):
        expected = "at least 2" if max_spaces is None else f"2 to {max_spaces}"
        raise InputError(
            f"{key} has {len(names)} space{'s' if len(names) != 1 else ''} "
            f"({', '.join(names)}); expected {expected} spaces {purpose}"
        )
    return names
