"""Check a dnnmap configuration before any job runs.

:func:`validate` applies a JSON schema (filling in defaults) and turns the first violation
into one line that names the key; :func:`check_semantics` then checks what a schema cannot
see: architectures, layer names and weights names the model registry does not have
(:mod:`dnnmap.models.registry`), ROI labels the atlas does not have, brain data
whose stimuli do not match the stimulus table.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import yaml

from dnnmap.errors import InputError
from dnnmap.models.registry import get_family

SIMULATE = "simulate"
WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin")


def weights_kind(weights: str) -> str:
    """What a model's ``weights`` entry names: ``random``, ``file`` or ``torchvision``.

    ``none``/``random`` mean seeded random weights, a name ending in .pt/.pth/.bin a local
    state dict, anything else a torchvision weights name (e.g. ``IMAGENET1K_V1``).
    """
    if str(weights).lower() in ("none", "random"):
        return "random"
    if Path(str(weights)).suffix in WEIGHT_FILE_SUFFIXES:
        return "file"
    return "torchvision"


def _extend_with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    # A copy: the config must not share (mutable) defaults with the schema.
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _extend_with_defaults(jsonschema.Draft7Validator)


def load_schema(path: str | os.PathLike) -> dict:
    """Read a YAML JSON-schema file."""
    with open(path) as f:
        return yaml.safe_load(f)


def validate(instance: dict, schema: dict, source: str) -> dict:
    """Validate ``instance`` against ``schema``, filling in defaults in place.

    Parameters
    ----------
    instance : dict
        The config (or one stimulus-table row).
    schema : dict
        A JSON schema (draft 7).
    source : str
        What the instance is, for the message: a file name, or ``"table.tsv row 5"``.

    Raises
    ------
    InputError
        One line: the source, the dotted key path, and what was expected.
    """
    errors = sorted(_Validator(schema).iter_errors(instance), key=_path_key)
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.path) or "(top level)"
        raise InputError(f"{source}: {key}: {_describe(err)}")
    return instance


def _path_key(err: jsonschema.ValidationError) -> list[tuple[int, object]]:
    """Sort key of an error's path that never compares an int with a str (YAML keys may be ints)."""
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in err.path]


def _describe(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"{err.message}{hint}"
    return err.message


def check_semantics(
    config: Mapping, stim_ids: list[str], base: str | os.PathLike, source: str
) -> None:
    """Check the parts of a validated config that depend on models, atlas and data.

    Parameters
    ----------
    config : mapping
        The validated config.
    stim_ids : list of str
        Stimulus ids of the checked stimulus table, in order.
    base : path
        Folder that relative paths in the config are resolved against.
    source : str
        Config file name for messages.

    Raises
    ------
    InputError
        On an unknown architecture or layer (listing the valid ones), a pretrained weights
        name the architecture does not have, an ROI label not in the atlas, a
        simulation that names an unknown model/layer, or brain data whose stimulus ids
        do not match the table.
    """
    from dnnmap.brain.atlas import mmp_atlas, resolve_roi

    for name, model in config["models"].items():
        family = get_family(model["architecture"], f"{source}: models.{name}.architecture")
        family.layer_modules(model["layers"], f"{source}: models.{name}.layers")
        weights = str(model.get("weights", "none"))
        if weights_kind(weights) == "torchvision":
            family.check_weights(weights, f"{source}: models.{name}.weights")
    atlas = mmp_atlas()
    for roi, labels in config["brain"]["rois"].items():
        try:
            resolve_roi(roi, labels, atlas)
        except InputError as err:
            raise InputError(f"{source}: brain.rois.{roi}: {err}") from None
    simulated = [s for s, e in config["brain"]["subjects"].items() if e["responses"] == SIMULATE]
    if simulated:
        _check_simulation(config, source, atlas)
    _check_partition(config, source)
    _check_estimator(config, source)
    for subject, entry in config["brain"]["subjects"].items():
        if entry["responses"] != SIMULATE:
            path = Path(base, entry["responses"])
            check_brain_stim_ids(
                path,
                stim_ids,
                f"{source}: brain.subjects.{subject}.responses",
                config["stimuli"]["table"],
            )


def _check_estimator(config, source):
    """``encoding.estimator`` names a built-in estimator or an importable one whose
    constructor takes ``encoding.estimator_params``."""
    from dnnmap.encoding.estimators import make_estimator

    encoding = config.get("encoding", {})
    name = encoding.get("estimator", "ridge")
    if name in ("ridge", "kernel_ridge"):
        return
    try:
        make_estimator(name, encoding.get("estimator_params") or {}, key="encoding.estimator")
    except InputError as err:
        raise InputError(f"{source}: {err}") from None


def _check_partition(config, source):
    """Every ``rsa.advanced.partition`` entry names a model and layers that it records."""
    partition = config.get("rsa", {}).get("advanced", {}).get("partition", {})
    for model, sets in partition.items():
        if model not in config["models"]:
            raise InputError(
                f"{source}: rsa.advanced.partition: {model!r} is not in models "
                f"({', '.join(config['models'])})"
            )
        layers = config["models"][model]["layers"]
        for i, names in enumerate(sets):
            unknown = [name for name in names if name not in layers]
            if unknown:
                raise InputError(
                    f"{source}: rsa.advanced.partition.{model}.{i}: {unknown[0]!r} is not among "
                    f"models.{model}.layers ({', '.join(layers)})"
                )


def _check_simulation(config, source, atlas):
    from dnnmap.brain.atlas import resolve_roi

    sim = config.get("simulation")
    if sim is None:
        raise InputError(f"{source}: brain.subjects asks for 'simulate' but there is no simulation")
    model = config["models"].get(sim["model"])
    if model is None:
        raise InputError(
            f"{source}: simulation.model: {sim['model']!r} is not in models "
            f"({', '.join(config['models'])})"
        )
    from dnnmap.brain.simulate import region_layers

    for region, entry in sim["regions"].items():
        key = "layer" if "layer" in entry else "layers"
        try:
            layers, _ = region_layers(entry, f"simulation.regions.{region}")
        except InputError as err:
            raise InputError(f"{source}: {err}") from None
        for layer in layers:
            if layer not in model["layers"]:
                raise InputError(
                    f"{source}: simulation.regions.{region}.{key}: {layer!r} is not among "
                    f"models.{sim['model']}.layers ({', '.join(model['layers'])})"
                )
        try:
            resolve_roi(region, entry["labels"], atlas)
        except InputError as err:
            raise InputError(f"{source}: simulation.regions.{region}.labels: {err}") from None


def check_brain_stim_ids(
    path: Path, stim_ids: list[str], where: str, table: str = "the stimulus table"
) -> None:
    """Check, from the header alone, that a CIFTI file has one map per stimulus, named by id.

    Raises
    ------
    InputError
        If the file is missing, is not CIFTI-2, or its map names differ from ``stim_ids``
        (as a set: maps are re-ordered by id when the brain data are read).
    """
    import nibabel as nib

    if not path.is_file():
        raise InputError(f"{where}: file {path} does not exist")
    try:
        axis = nib.load(path).header.get_axis(0)
    except Exception as err:
        raise InputError(f"{where}: {path} is not a readable CIFTI-2 file ({err})") from err
    if len(axis) != len(stim_ids):
        raise InputError(
            f"{path} has {len(axis)} maps but {table} has {len(stim_ids)} stimuli; "
            "expected one map per stimulus"
        )
    names = getattr(axis, "name", None)
    if names is not None:
        from dnnmap.brain.roi import align_maps

        align_maps(list(names), stim_ids, path, table)
