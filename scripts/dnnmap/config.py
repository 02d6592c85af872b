"""Check a dnnmap configuration before any job runs.

:func:`validate` applies a JSON schema (filling in defaults) and turns the first violation
into one line that names the key; :func:`check_semantics` then checks what a schema cannot
see: architectures, layer names and weights names the model registry does not have
(:mod:`dnnmap.models.registry`), ROI labels the atlas does not have, brain data
whose stimuli do not match the stimulus table or whose grayordinates miss an ROI, and
settings (columns, fold counts) that the stimulus table cannot serve.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import yaml

from dnnmap.errors import InputError
from dnnmap.models.registry import get_family, weights_kind
from dnnmap.spaces import check_space_set

if TYPE_CHECKING:
    import pandas as pd
    from nibabel.cifti2 import BrainModelAxis

SIMULATE = "simulate"


def check_model_weights(name: str, model: Mapping, source: str) -> None:
    """Check a model's ``weights`` and its checkpoint options, before any job runs.

    A torchvision weights name must be one the architecture's family accepts (the message
    lists them); ``checkpoint_key`` and ``strip_prefix`` apply to a local weights file only.

    Raises
    ------
    InputError
        One line starting with ``source`` and naming the key.
    """
    family = get_family(model, f"{source}: models.{name}.architecture")
    weights = str(model.get("weights", "none"))
    kind = weights_kind(weights)
    if kind == "torchvision" and family.source != "torchvision":
        raise InputError(
            f"{source}: models.{name}.weights: {weights!r}; a {family.source} model takes "
            "none (seeded random) or a local weights file (.pt, .pth, .bin, .tar)"
        )
    if kind == "torchvision":
        family.check_weights(weights, f"{source}: models.{name}.weights")
    for option in ("checkpoint_key", "strip_prefix"):
        if option in model and kind != "file":
            raise InputError(
                f"{source}: models.{name}.{option}: applies to a local weights file "
                f"(.pt, .pth, .bin) only, but weights is {weights!r}"
            )


def check_model_units(name: str, model: Mapping, family, source: str) -> None:
    """Check a model's unit masks (``units``, ``dmask``) against its layers' shapes.

    Raises
    ------
    InputError
        One line starting with ``source``: a mask for a layer the model does not record, an
        unreadable ``.dmask.csv``, or channels (rows, columns) the layer does not have.
    """
    from dnnmap.models.masks import check_masks, model_masks
    from dnnmap.models.registry import input_side

    try:
        masks = model_masks(name, model)
    except InputError as err:
        raise InputError(f"{source}: {err}") from None
    if masks:
        shapes = family.layer_shapes(list(masks), input_side(model))
        check_masks(name, masks, shapes, source)


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


def load_config_file(path: str | os.PathLike) -> dict:
    """Read a YAML config file; a missing file or a syntax error is one line with its place.

    Parameters
    ----------
    path : path
        The config file.

    Returns
    -------
    dict
        The config as written (not yet validated).

    Raises
    ------
    InputError
        ``<path>: config file not found ...``, ``<path> line L, column C: YAML syntax error
        (<what the parser says>) ...``, or a file whose top level is not a mapping of keys.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: config file not found (working directory {Path.cwd()}); expected a YAML "
            "file such as config/config.yaml, or --configfile FILE"
        )
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = ": ".join(
            str(p) for p in (getattr(err, "context", None), getattr(err, "problem", None)) if p
        )
        raise InputError(
            f"{path}{where}: YAML syntax error ({problem or type(err).__name__}); expected "
            "valid YAML (spaces, not tabs, for indentation; brackets and quotes closed)"
        ) from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason}); expected a YAML file") from None
    if not isinstance(config, dict):
        raise InputError(
            f"{path}: top level is {type(config).__name__}; expected a mapping of config keys "
            "(stimuli, models, brain, ...)"
        )
    return config


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

    Notes
    -----
    PyYAML reads ``1e-2`` (an exponent without a dot) as a string, following YAML 1.1.
    Such a string where the schema asks for a number (or an integer, when its value is
    whole) is converted in place first (:func:`convert_numeric_strings`).
    """
    convert_numeric_strings(instance, schema)
    errors = sorted(_Validator(schema).iter_errors(instance), key=_path_key)
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.path) or "(top level)"
        raise InputError(f"{source}: {key}: {_describe(err)}")
    return instance


_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def convert_numeric_strings(instance: dict, schema: dict) -> None:
    """Turn strings such as ``"1e-2"`` into numbers where the schema asks for a number.

    These are the numbers in exponent form that PyYAML (YAML 1.1) reads as strings when
    they have no dot. Only a string of that form (``1e-2``, ``-3.5E+4``, ``.5e1``) at a key
    whose schema type is ``number`` becomes a float, or an integer at a key of type
    ``integer`` when its value is whole (``1e3`` -> 1000). Any other string (``"five"``, a
    quoted ``"5"``) stays, and the schema check reports it as usual.

    Parameters
    ----------
    instance : dict
        The config, changed in place.
    schema : dict
        Its JSON schema.
    """
    changed = True
    while changed:  # a converted value is no longer a string, so this ends
        changed = False
        for err in list(_Validator(schema).iter_errors(instance)):
            value, types = err.instance, err.validator_value
            if err.validator != "type" or not isinstance(value, str) or not err.path:
                continue
            types = [types] if isinstance(types, str) else list(types)
            if not _EXPONENT_NUMBER.match(value.strip()):
                continue
            number = float(value)
            if "number" in types:
                new = number
            elif "integer" in types and number.is_integer():
                new = int(number)
            else:
                continue
            parent = instance
            for part in list(err.path)[:-1]:
                parent = parent[part]
            parent[err.path[-1]] = new
            changed = True


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
    config: Mapping,
    stim_ids: list[str],
    base: str | os.PathLike,
    source: str,
    table: pd.DataFrame | None = None,
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
    table : DataFrame, optional
        The checked stimulus table (:func:`dnnmap.stimuli.check_stimuli`), with
        ``attrs[LINES_ATTR]`` for row numbers; when given, the settings that depend on its
        columns and size are checked too (:func:`check_table_settings`).

    Returns
    -------
    dict of str -> int
        Columns of each ROI in the subjects' own data (:func:`check_brain_files`).

    Raises
    ------
    InputError
        On an unknown architecture or layer (listing the valid ones), a pretrained weights
        name the architecture does not have, an ROI label not in the atlas, a
        simulation that names an unknown model/layer, a stack set of fewer than 2 spaces,
        a space named twice or of unknown model/layer or of models with other stimuli, brain
        data (responses or repeats) whose map names miss a stimulus id, that are not CIFTI-2,
        or whose grayordinates do not cover an ROI (:func:`check_brain_files`), or table
        settings that the table cannot serve.
    """
    from dnnmap.brain.atlas import mmp_atlas, resolve_roi
    from dnnmap.brain.subjects import uses_atlas

    for name, model in config["models"].items():
        family = get_family(model, f"{source}: models.{name}.architecture")
        family.layer_modules(model["layers"], f"{source}: models.{name}.layers")
        check_model_weights(name, model, source)
        check_model_units(name, model, family, source)
    atlas = mmp_atlas()
    _volume_simulated(config, source)
    # ROIs are names of HCP-MMP 1.0 areas unless every subject brings its own ROI files
    # (then check_brain_files resolves them in each subject's files).
    if any(uses_atlas(entry, SIMULATE) for entry in config["brain"]["subjects"].values()):
        for roi, labels in config["brain"]["rois"].items():
            try:
                resolve_roi(roi, labels, atlas)
            except InputError as err:
                raise InputError(f"{source}: brain.rois.{roi}: {err}") from None
    simulated = [s for s, e in config["brain"]["subjects"].items() if e["responses"] == SIMULATE]
    if simulated:
        _check_simulation(config, source, atlas)
    _check_analysis_models(config, source)
    _check_partition(config, source)
    _check_stacking(config, source)
    _check_joint(config, source)
    check_features(config, source)
    _check_rsa(config, source)
    _check_estimator(config, source)
    _check_encoding(config, source)
    if table is not None:
        check_table_settings(config, table, config["stimuli"]["table"], source)
    return check_brain_files(config, stim_ids, base, source)


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


def _check_encoding(config, source):
    """Combinations of ``encoding`` keys that cannot give a valid score or test.

    Leave-one-out with ``pooling: folds`` stops (a test set of one stimulus has no r or R²);
    with ``pooling: pooled`` it runs with a warning (pooled scores are biased downward, most
    under leave-one-out). ``permutation.kind: test_labels`` stops with ``repeated_kfold`` and
    warns with any scheme of several test folds (anti-conservative: the fold models share
    training responses); ``refit`` needs the ridge estimator; ``best_layer_fwe`` needs
    permutations.
    """
    import logging

    log = logging.getLogger("dnnmap")
    enc = config.get("encoding", {})
    cv = enc.get("cv") or {}
    scheme = cv.get("scheme", "kfold")
    pooling = enc.get("pooling", "folds")
    perm = enc.get("permutation") or {}
    kind, n_perm = perm.get("kind", "refit"), int(perm.get("n_perm", 0))
    if scheme == "loo" and pooling == "folds":
        raise InputError(
            f"{source}: encoding.cv.scheme is 'loo' with encoding.pooling 'folds'; a test set "
            "of one stimulus has no r or R2, so per-fold scores are undefined (use kfold with "
            "10 or more folds, or pooling: pooled, which is biased downward under loo)"
        )
    if scheme == "loo":
        log.warning(
            "%s: encoding.cv.scheme loo with pooling: pooled: the pooled score is biased "
            "downward (median r about -0.4 on pure noise); prefer kfold with pooling: folds",
            source,
        )
    if n_perm > 0 and kind == "test_labels":
        if scheme == "repeated_kfold":
            raise InputError(
                f"{source}: encoding.permutation.kind is 'test_labels' with cv.scheme "
                "'repeated_kfold'; the predictions of one repeat cannot give the null of a "
                "score averaged over repeats (use kind: refit)"
            )
        if scheme != "split":
            log.warning(
                "%s: encoding.permutation.kind test_labels with cv.scheme %s is "
                "anti-conservative (the fold models share training responses; per-voxel "
                "type-I error about 0.11 at 0.05 on pure noise); kind: refit, or cv.scheme: "
                "split, is exact",
                source,
                scheme,
            )
    if n_perm > 0 and kind == "refit" and enc.get("estimator", "ridge") != "ridge":
        raise InputError(
            f"{source}: encoding.permutation.kind is 'refit' with estimator "
            f"{enc.get('estimator')!r}; refit permutations reuse the ridge decompositions, so "
            "they need estimator: ridge (or kind: test_labels with cv.scheme: split)"
        )
    if enc.get("best_layer_fwe") is not None and n_perm == 0:
        raise InputError(
            f"{source}: encoding.best_layer_fwe is {enc['best_layer_fwe']} with "
            "encoding.permutation.n_perm 0; significance needs permutations (n_perm > 0)"
        )


ANALYSIS_SECTIONS = ("rsa", "decoding")
"""Sections whose ``models`` key picks the models they analyse (null: every model)."""


def analysis_models(config: Mapping, section: str) -> list[str]:
    """The models one analysis section runs on, in the order of ``models``.

    Parameters
    ----------
    config : mapping
        The validated config.
    section : str
        One of :data:`ANALYSIS_SECTIONS`.

    Returns
    -------
    list of str
        ``<section>.models`` in the order of the ``models`` section, or every model when it
        is null or absent.
    """
    chosen = (config.get(section) or {}).get("models")
    return [m for m in config["models"] if chosen is None or m in chosen]


def _check_analysis_models(config, source):
    """``rsa.models`` and ``decoding.models`` name models of the ``models`` section."""
    known = list(config["models"])
    for section in ANALYSIS_SECTIONS:
        for name in (config.get(section) or {}).get("models") or []:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise InputError(
                    f"{source}: {section}.models: {name!r} is not in models "
                    f"({', '.join(known)}){hint}"
                )


def _check_partition(config, source):
    """Every ``rsa.advanced.partition`` entry names a model and layers that it records."""
    partition = config.get("rsa", {}).get("advanced", {}).get("partition", {})
    for model, sets in partition.items():
        if model not in config["models"]:
            raise InputError(
                f"{source}: rsa.advanced.partition: {model!r} is not in models "
                f"({', '.join(config['models'])})"
            )
        if model not in analysis_models(config, "rsa"):
            raise InputError(
                f"{source}: rsa.advanced.partition: {model!r} is not in rsa.models "
                f"({', '.join(analysis_models(config, 'rsa'))}); add it there, or drop its sets"
            )
        layers = config["models"][model]["layers"]
        for i, names in enumerate(sets):
            unknown = [name for name in names if name not in layers]
            if unknown:
                raise InputError(
                    f"{source}: rsa.advanced.partition.{model}.{i}: {unknown[0]!r} is not among "
                    f"models.{model}.layers ({', '.join(layers)})"
                )


def _check_stacking(config, source):
    """Every ``stacking.sets`` entry: at least 2 spaces, each once, of known models and
    layers that take the same stimuli (:func:`dnnmap.spaces.check_space_set`)."""
    for name, space_set in (config.get("stacking") or {}).get("sets", {}).items():
        check_space_set("stacking.sets", name, space_set, config["models"], source)


def _check_joint(config, source):
    """``joint.sets`` and ``joint.compare.pairs``: 2-3 known, distinct spaces per set, of
    models of one modality (the same stimuli); pairs of two known, distinct spaces."""
    joint = config.get("joint") or {}
    models = config["models"]

    def modality(model):
        return get_family(models[model], "").modality

    for name, space_set in (joint.get("sets") or {}).items():
        check_space_set(
            "joint.sets",
            name,
            space_set,
            models,
            source,
            max_spaces=3,
            purpose="for variance partitioning",
        )
    pairs = (joint.get("compare") or {}).get("pairs") or {}
    for name, pair in pairs.items():
        key = f"{source}: joint.compare.pairs.{name}"
        for space in pair:
            model, layer = space.split("/", 1)
            if model not in models:
                raise InputError(f"{key}: {model!r} is not in models ({', '.join(models)})")
            if layer not in models[model]["layers"]:
                raise InputError(
                    f"{key}: {layer!r} is not among models.{model}.layers "
                    f"({', '.join(models[model]['layers'])})"
                )
        if pair[0] == pair[1]:
            raise InputError(f"{key}: {pair[0]} is named twice; expected two different spaces")
        if modality(pair[0].split("/")[0]) != modality(pair[1].split("/")[0]):
            raise InputError(
                f"{key}: {pair[0]} and {pair[1]} come from models that take different "
                "stimuli; expected the same stimulus set"
            )


# --- features (issue 10) ---------------------------------------------------------------------


def check_features(config: Mapping, source: str) -> None:
    """The ``features`` settings that contradict each other.

    - ``fit: external`` needs ``external_stimuli``, and ``external_stimuli`` needs ``fit:
      external``;
    - ``fit: external`` is for ``method: pca`` only: ``none`` and ``random_projection`` fit
      nothing (for them ``fit: all`` and ``fit: train`` make no difference and are accepted;
      the features file records ``fit: none``);
    - ``projection`` only with ``method: random_projection``; ``density`` only with
      ``projection: sparse``;
    - ``max_fit_stimuli`` and ``solver: randomized`` only with ``method: pca`` and ``fit:
      all`` or ``external``.

    Raises
    ------
    InputError
        One line naming the key.
    """
    feats = config.get("features", {})
    method = feats.get("method", "none")
    fit = feats.get("fit", "train")
    external = feats.get("external_stimuli")
    scale = [key for key in ("max_fit_stimuli",) if feats.get(key) is not None]
    if feats.get("solver", "auto") == "randomized":
        scale.append("solver: randomized")
    if scale and (method != "pca" or fit == "train"):
        raise InputError(
            f"{source}: features.{scale[0]} is set with features.method {method!r} and fit "
            f"{fit!r}; expected features.method: pca with fit: all or external (fit: train "
            "fits each split's PCA exactly from a lossless basis of every stimulus; at a scale "
            "where that is too large, fit on an external set or a subset with fit: all)"
        )
    if fit == "external" and method != "pca":
        raise InputError(
            f"{source}: features.fit is 'external' but features.method is {method!r}, which "
            "fits nothing (raw units, or a data-independent random projection); expected "
            "features.method: pca, or features.fit: train"
        )
    if fit == "external" and not external:
        raise InputError(
            f"{source}: features.fit is 'external' but features.external_stimuli is not set; "
            "expected the stimulus table of the images the PCA is fitted on"
        )
    if external and fit != "external":
        raise InputError(
            f"{source}: features.external_stimuli is {external!r} but features.fit is "
            f"{fit!r}; expected features.fit: external (or no features.external_stimuli)"
        )
    projection = feats.get("projection")
    if projection is not None and method != "random_projection":
        raise InputError(
            f"{source}: features.projection is {projection!r} but features.method is "
            f"{method!r}; expected features.method: random_projection (or no projection)"
        )
    if feats.get("density") is not None and projection != "sparse":
        raise InputError(
            f"{source}: features.density is {feats['density']} but features.projection is "
            f"{projection or 'gaussian'!r}; expected features.projection: sparse"
        )


def check_external_stimuli(config: Mapping, table: pd.DataFrame, source: str):
    """Read and check the external stimulus set of ``features.fit: external``.

    Parameters
    ----------
    config : mapping
        The validated config.
    table : DataFrame
        The checked stimulus table of the experiment (:func:`dnnmap.stimuli.check_stimuli`).
    source : str
        Config file name for messages.

    Returns
    -------
    DataFrame or None
        The checked external table (absolute paths), or None without ``fit: external``.

    Raises
    ------
    InputError
        One line naming ``features.external_stimuli`` when the table is missing or invalid
        (columns, ids, a missing image), has other modalities than the experiment's, or
        shares a stimulus (by id or by file) with the experiment: the PCA must be fitted on
        images the brain never saw.
    """
    from dnnmap.stimuli import check_stimuli, read_table

    feats = config.get("features", {})
    path = feats.get("external_stimuli")
    if feats.get("fit") != "external" or not path:
        return None
    key = f"{source}: features.external_stimuli"
    if not Path(path).is_file():
        raise InputError(f"{key}: {path} does not exist; expected a stimulus table (TSV/CSV)")
    try:
        ext = check_stimuli(read_table(path), path, decode=False)
    except InputError as err:
        raise InputError(f"{key}: {err}") from None
    shared = sorted(set(ext["stim_id"]) & set(table["stim_id"]))
    if shared:
        raise InputError(
            f"{key}: {path} shares {len(shared)} stim_id(s) with {config['stimuli']['table']} "
            f"(first {shared[0]!r}); expected images the brain never saw"
        )
    files = sorted(
        {str(Path(p).resolve()) for p in ext["path"]}
        & {str(Path(p).resolve()) for p in table["path"]}
    )
    if files:
        raise InputError(
            f"{key}: {path} lists {len(files)} file(s) of {config['stimuli']['table']} "
            f"(first {files[0]}); expected images the brain never saw"
        )
    kinds = set(ext["modality"]) - set(table["modality"])
    if kinds:
        raise InputError(
            f"{key}: {path} has modality {sorted(kinds)[0]!r}, which the experiment's stimuli "
            "do not; expected stimuli the same networks read the same way"
        )
    if len(ext) < 3:
        raise InputError(f"{key}: {path} has {len(ext)} stimuli; expected at least 3 for a PCA")
    return ext


# --- rsa (issue 10) -------------------------------------------------------------------------

RSA_NOISE_METRICS = ("mahalanobis", "crossnobis")
RSA_UNRESAMPLABLE = ("corr_cov", "cosine_cov")


def _check_rsa(config, source):
    """The ``rsa`` settings that a schema cannot judge: metrics, patterns, repeats, bootstrap.

    - ``metric`` and ``brain_metric`` are metrics :func:`dnnmap.rsa.rdm.compute_rdm` knows;
      mahalanobis and crossnobis only for the brain (a layer has no repeats to estimate a
      noise covariance from);
    - ``brain_metric`` mahalanobis or crossnobis needs repeats for every subject;
    - ``n_components`` only with ``model_patterns: features``;
    - ``comparison`` ``corr_cov``/``cosine_cov`` cannot be bootstrapped over stimuli, so they
      need ``n_boot: 0``.
    """
    rsa = config.get("rsa", {})
    if not rsa.get("enabled", True):
        return
    from dnnmap.rsa.rdm import RDM_METRICS, SCIPY_METRICS

    known = sorted(set(RDM_METRICS) | set(SCIPY_METRICS))
    for key in ("metric", "brain_metric"):
        metric = rsa.get(key, "correlation")
        if metric not in known:
            raise InputError(
                f"{source}: rsa.{key} is {metric!r}; expected one of {', '.join(known)}"
            )
    metric = rsa.get("metric", "correlation")
    if metric in RSA_NOISE_METRICS:
        raise InputError(
            f"{source}: rsa.metric is {metric!r}, but a model layer has no repeated measurements "
            "to estimate a noise covariance from (and with none it equals the Euclidean "
            "distance); expected correlation, cosine, euclidean, sqeuclidean or another pdist "
            "metric (mahalanobis and crossnobis are for rsa.brain_metric)"
        )
    brain_metric = rsa.get("brain_metric", "correlation")
    if brain_metric in RSA_NOISE_METRICS:
        n_sim = config.get("simulation", {}).get("n_repeats", 1)
        for subject, entry in config["brain"]["subjects"].items():
            n_rep = n_sim if entry["responses"] == SIMULATE else len(entry.get("repeats", []))
            if n_rep < 2:
                where = (
                    "simulation.n_repeats"
                    if entry["responses"] == SIMULATE
                    else f"brain.subjects.{subject}.repeats"
                )
                raise InputError(
                    f"{source}: rsa.brain_metric is {brain_metric!r} but subject {subject!r} has "
                    f"{n_rep if n_rep > 1 else 'no'} repeats ({where}); the noise covariance "
                    "is estimated from at least 2 repeats. Give the repeats, or choose "
                    "correlation, cosine, euclidean or sqeuclidean"
                )
    patterns = rsa.get("model_patterns", "activations")
    if patterns == "activations" and rsa.get("n_components") is not None:
        raise InputError(
            f"{source}: rsa.n_components is {rsa['n_components']} but rsa.model_patterns is "
            "'activations' (all units); expected rsa.n_components: null, or "
            "rsa.model_patterns: features to take the first components of the features"
        )
    comparison = rsa.get("comparison", "spearman")
    if comparison in RSA_UNRESAMPLABLE and rsa.get("n_boot", 1000) > 0:
        raise InputError(
            f"{source}: rsa.comparison is {comparison!r} with rsa.n_boot "
            f"{rsa.get('n_boot', 1000)}; the whitening of {comparison} is not defined for "
            "resampled stimuli, so it cannot be bootstrapped over stimuli. Expected "
            "rsa.n_boot: 0, or a comparison among spearman, pearson, kendall, tau-a, rho-a, "
            "cosine"
        )


def _volume_simulated(config, source) -> list[str]:
    """The subjects simulated in a volume; every simulated subject must be, or none (the
    simulated files of a run are all NIfTI or all CIFTI)."""
    from dnnmap.brain.subjects import simulates_volume

    simulated = {s: e for s, e in config["brain"]["subjects"].items() if e["responses"] == SIMULATE}
    volume_subjects = [s for s, e in simulated.items() if simulates_volume(e, SIMULATE)]
    if volume_subjects and len(volume_subjects) != len(simulated):
        cifti = sorted(set(simulated) - set(volume_subjects))
        raise InputError(
            f"{source}: brain.subjects: {volume_subjects} are simulated in a volume (a mask) "
            f"and {cifti} on fsLR-32k (no mask); expected every simulated subject in one kind "
            "of space"
        )
    return volume_subjects


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

    volume_subjects = _volume_simulated(config, source)
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
        if volume_subjects:
            continue  # labels of the subjects' ROI files, checked below
        try:
            resolve_roi(region, entry["labels"], atlas)
        except InputError as err:
            raise InputError(f"{source}: simulation.regions.{region}.labels: {err}") from None
    for subject in volume_subjects:
        from dnnmap.brain.simulate_volume import VolumeSubject

        where = f"{source}: brain.subjects.{subject}"
        VolumeSubject(config["brain"]["subjects"][subject], where).check_regions(
            sim["regions"], f"{source}: simulation"
        )


# --- Start-up checks of the data: brain files and the stimulus table's settings ------------

MIN_STIMULI = 3
"""Fewest stimuli a run accepts (an RDM needs 3 for a correlation of its 3 pairs)."""


def check_brain_stim_ids(
    path: Path, stim_ids: list[str], where: str, table: str = "the stimulus table"
) -> BrainModelAxis:
    """Check, from the header alone, that a CIFTI file has a map for every stimulus.

    Named maps (a dscalar) are matched by stim_id and may be more than the stimuli (a
    subset runs); unnamed maps (a dtseries) must be one per stimulus, in table order.

    Returns
    -------
    BrainModelAxis
        The file's grayordinates.

    Raises
    ------
    InputError
        If the file is missing, is not CIFTI-2 (a NIfTI volume or GIFTI file: "not supported
        yet"), or its maps miss a stimulus (the first missing id, or the first extra
        unnamed map, is named): see :func:`dnnmap.brain.roi.align_maps`.
    """
    from dnnmap.brain.cifti import read_header
    from dnnmap.brain.roi import align_maps

    if not path.is_file():
        raise InputError(f"{where}: file {path} does not exist")
    try:
        header = read_header(path)
        align_maps(header.names, stim_ids, path, table, n_maps=header.n_maps)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    return header.brain_models


def check_brain_files(
    config: Mapping, stim_ids: list[str], base: str | os.PathLike, source: str
) -> dict[str, int]:
    """Every subject's responses, repeats and ROI files (headers only where the format allows).

    Each file's maps must cover the stimuli (by name, ``ids`` sidecar or table order), a
    NIfTI mask must share the data's shape and affine, surface files must be on a known mesh
    (the same for both hemispheres), repeats in the responses' space, and every ROI of
    ``brain.rois`` must resolve in the subject's ROI files (on the data's space) or the
    HCP-MMP 1.0 atlas (:func:`dnnmap.brain.subjects.check_subject`).

    Returns
    -------
    RoiSizes
        The largest number of columns of each ROI over the subjects with files, and in
        ``columns`` each such subject's number of columns (for job sizes); empty when every
        subject is simulated.

    Raises
    ------
    InputError
        ``<source>: brain.subjects.<subject>.<key>: <file>: <reason>``.
    """
    from dnnmap.brain.subjects import RoiSizes, check_subject

    table = config["stimuli"]["table"]
    sizes = RoiSizes()
    for subject, entry in config["brain"]["subjects"].items():
        if entry["responses"] == SIMULATE:
            if entry.get("mask"):  # simulated in a volume: the mask and its ROI files
                from dnnmap.brain.simulate_volume import VolumeSubject

                key = f"{source}: brain.subjects.{subject}"
                found = VolumeSubject(entry, key, base).roi_sizes(config["brain"]["rois"])
                for roi, n in found.items():
                    sizes[roi] = max(sizes.get(roi, 0), n)
                sizes.columns[subject] = found.columns[key]
            continue
        key = f"{source}: brain.subjects.{subject}"
        searchlight = (config.get("rsa") or {}).get("searchlight") or {}
        if searchlight.get("enabled") and entry["responses"] == "timeseries":
            raise InputError(
                f"{key}.responses: rsa.searchlight runs on response files (CIFTI, NIfTI, GIFTI, "
                "MGH) with one map per stimulus; this subject's data is time series: set "
                "rsa.searchlight.enabled: false"
            )
        found = check_subject(entry, config["brain"]["rois"], stim_ids, key, base, table)
        if searchlight.get("enabled") and isinstance(entry["responses"], Mapping):
            _check_searchlight_meshes(entry, searchlight, key, base)
        for roi, n in found.items():
            sizes[roi] = max(sizes.get(roi, 0), n)
        sizes.columns[subject] = found.columns[key]
    return sizes


def _check_searchlight_meshes(entry, searchlight, key, base) -> None:
    """A surface subject's searchlight has a mesh per hemisphere: shipped on disk (fsLR-32k,
    fsaverage5) or given in rsa.searchlight.surfaces."""
    from dnnmap.brain.space_neighborhoods import shipped_midthickness
    from dnnmap.brain.spaces import read_data_header
    from dnnmap.brain.subjects import subject_data

    space = read_data_header(subject_data(entry, key, base)).space
    given = searchlight.get("surfaces") or {}
    for hemi in space.hemis:
        if hemi in given or space.mesh in ("fsLR-32k", "fsaverage5"):
            continue
        if shipped_midthickness(space.mesh, hemi) is None:
            raise InputError(
                f"{key}.responses: rsa.searchlight needs a {space.mesh} mesh of the {hemi} "
                f"hemisphere, which no installed package ships; expected "
                f"rsa.searchlight.surfaces.{hemi}: a .surf.gii"
            )


def check_table_settings(config: Mapping, table, table_path: str, source: str) -> None:
    """Settings that name stimulus-table columns or need enough stimuli, checked at start-up.

    The same library functions that build a job's folds build them here, so a setting that
    passes cannot fail in the job: at least :data:`MIN_STIMULI` stimuli;
    ``encoding.cv`` (its ``column`` for the group and split schemes, ``n_folds``) and
    ``encoding.inner_folds`` against every outer training set; ``rsa.categories``; each of
    ``decoding.attributes`` (column, values, classes) with ``decoding.n_folds``/``cv`` and
    ``decoding.inner_folds`` against the class counts.

    Parameters
    ----------
    config : mapping
        The validated config.
    table : DataFrame
        The checked stimulus table (string values).
    table_path : str
        The table's file, for messages.
    source : str
        Config file name for messages.

    Raises
    ------
    InputError
        ``<source>: <key>: <reason>`` for the first setting that the table cannot serve.
    """
    n = len(table)
    if n < MIN_STIMULI:
        raise InputError(
            f"{source}: stimuli.table: {table_path} has {n} stimuli; expected at least "
            f"{MIN_STIMULI} (cross-validation and RDM comparisons need them)"
        )
    # The messages of the first two name their keys (encoding.cv.*, encoding.inner_folds,
    # rsa.categories); an attribute's do not.
    for key, check in (
        ("", _check_encoding_folds),
        ("", _check_categories),
        ("decoding.attributes: ", _check_decoding_table),
    ):
        try:
            check(config, table, table_path)
        except InputError as err:
            raise InputError(f"{source}: {key}{err}") from None


def _check_encoding_folds(config, table, table_path):
    from dnnmap.stats.splits import groups_from_table, inner_splits, splits_from_table

    encoding = config.get("encoding", {})
    cv = dict(encoding.get("cv") or {})
    splits = splits_from_table(table, cv, table_path, key="encoding.cv")
    groups = groups_from_table(table, cv, table_path, key="encoding.cv")
    inner = encoding.get("inner_folds", 5)
    for k, train in enumerate(splits.train):
        try:
            inner_splits(train, splits.scheme, n_folds=inner, seed=cv.get("seed", 0), groups=groups)
        except InputError as err:
            raise InputError(
                f"encoding.inner_folds ({inner}) in outer split {k + 1} of encoding.cv: {err}"
            ) from None


def _check_categories(config, table, table_path):
    column = config.get("rsa", {}).get("categories")
    if column:
        from dnnmap.rsa.io import category_labels

        category_labels(table, column, table_path)


def _check_decoding_table(config, table, table_path):
    from dnnmap.decoding.io import check_decoding_settings

    settings = config.get("decoding", {})
    if settings.get("enabled", True):
        for attribute in settings.get("attributes") or []:
            check_decoding_settings(table, attribute, settings, table_path)


if __name__ == "__main__":  # python -m dnnmap.config FILE: the syntax check of a config file
    import sys

    for name in sys.argv[1:]:
        try:
            load_config_file(name)
        except InputError as err:
            raise SystemExit(f"dnnmap: {err}") from None
        print(f"{name}: valid YAML")
