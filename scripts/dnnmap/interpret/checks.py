"""Start-up checks of the config's ``interpret`` section (run before any job)."""

from __future__ import annotations

from collections.abc import Mapping

from dnnmap.errors import InputError
from dnnmap.interpret.targets import check_units
from dnnmap.models.registry import get_family


def _recorded(config: Mapping, model: str, layer: str, where: str) -> None:
    if model not in config["models"]:
        raise InputError(
            f"{where}: model {model!r} is not in models ({', '.join(config['models'])})"
        )
    layers = config["models"][model]["layers"]
    if layer not in layers:
        raise InputError(
            f"{where}: layer {layer!r} of {model} was not recorded; models.{model}.layers are "
            f"{', '.join(layers)}"
        )


def check_interpret(config: Mapping, table, source: str) -> None:
    """Stop on an ``interpret`` section the data cannot serve, naming the key.

    Checks that every model and layer named is recorded (``models.<m>.layers``), that unit
    indices lie inside their layer (unit shapes from the model family at the model's input
    size), that ``n_components`` is below the number of stimuli, and that brain targets name
    known subjects and ROIs and an encoding model that is linear (``encoding.estimator:
    ridge``), and that ``ablation.attributes`` are columns of the stimulus table.

    Parameters
    ----------
    config : mapping
        The validated config.
    table : pandas.DataFrame
        The checked stimulus table (its length and columns).
    source : str
        The config file, named in messages.
    """
    section = config.get("interpret") or {}
    if not section.get("enabled"):
        return
    key = f"{source}: interpret"
    for model, layers in (section.get("units") or {}).items():
        for layer, indices in layers.items():
            where = f"{key}.units.{model}.{layer}"
            _recorded(config, model, layer, where)
            entry = config["models"][model]
            family = get_family(entry["architecture"], f"models.{model}.architecture")
            resize = (entry.get("preprocessing") or {}).get(
                "resize", family.preprocessing.get("resize", 224)
            )
            shape = family.unit_shapes(int(resize))[layer]
            check_units(indices, shape, where)
    n_stim = len(table)
    for column in (section.get("ablation") or {}).get("attributes") or []:
        if column not in table.columns:
            raise InputError(
                f"{key}.ablation.attributes: {column!r} is not a column of the stimulus table "
                f"({', '.join(map(str, table.columns))})"
            )
    ablation = section.get("ablation") or {}
    method = (config.get("features") or {}).get("method", "none")
    if ablation.get("reading") == "drop" and brain_jobs_configured(section) and method != "none":
        raise InputError(
            f"{key}.ablation.reading is 'drop' (each split refitted on the layer's units "
            f"without the channel); it needs features.method: none, not {method!r}"
        )
    for model, pairs in ((section.get("ablation") or {}).get("upstream") or {}).items():
        check_upstream(config, model, pairs, f"{key}.ablation.upstream.{model}")
    for name, entry in (section.get("finetune") or {}).items():
        where = f"{key}.finetune.{name}"
        if entry["model"] not in config["models"]:
            raise InputError(f"{where}.model: {entry['model']!r} is not in models")
        if entry["attribute"] not in table.columns:
            raise InputError(
                f"{where}.attribute: {entry['attribute']!r} is not a column of the stimulus table"
            )
    k = int(section.get("n_components", 0))
    if k and k > n_stim - 1:
        raise InputError(f"{key}.n_components is {k}; expected at most {n_stim - 1} (stimuli - 1)")
    brain = section.get("brain") or {}
    for model, layers in (brain.get("layers") or {}).items():
        for layer in layers:
            _recorded(config, model, layer, f"{key}.brain.layers.{model}")
    for subject in brain.get("subjects") or []:
        if subject not in config["brain"]["subjects"]:
            raise InputError(f"{key}.brain.subjects: {subject!r} is not in brain.subjects")
    rois = list(brain.get("rois") or [])
    for roi in rois + list(brain.get("voxels") or {}):
        if roi not in config["brain"]["rois"]:
            raise InputError(f"{key}.brain: ROI {roi!r} is not in brain.rois")
    for roi in brain.get("voxels") or {}:
        if roi not in rois:
            raise InputError(f"{key}.brain.voxels: ROI {roi!r} is not in interpret.brain.rois")
    if brain_jobs_configured(section) and config["encoding"]["estimator"] != "ridge":
        raise InputError(
            f"{key}.brain needs encoding.estimator: ridge (a linear model to differentiate "
            f"through); the config has {config['encoding']['estimator']!r}"
        )


def check_upstream(config: Mapping, model: str, pairs: Mapping, where: str) -> None:
    """``interpret.ablation.upstream.<model>``: each upstream layer is a layer of the model's
    family, each downstream layer is recorded and comes after its upstream layer in the
    network (checked here for the family's named layers, which are in network order; for
    module paths, when the job runs)."""
    for upstream, downstream in pairs.items():
        _recorded(config, model, downstream, f"{where}.{upstream}")
        entry = config["models"][model]
        family = get_family(entry["architecture"], f"models.{model}.architecture")
        family.layer_modules([upstream, downstream], f"{where}.{upstream}")
        names = list(family.layers)
        if upstream not in names or downstream not in names:
            continue
        if names.index(upstream) >= names.index(downstream):
            raise InputError(
                f"{where}.{upstream}: the downstream layer {downstream!r} must come after "
                f"{upstream!r} in the network"
            )


def brain_jobs_configured(section: Mapping) -> bool:
    """Whether ``interpret.brain`` names subjects, ROIs and layers (its jobs run)."""
    brain = section.get("brain") or {}
    return bool(brain.get("subjects") and brain.get("rois") and brain.get("layers"))
