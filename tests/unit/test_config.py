"""Tests of dnnmap.config against the real schema and the demo config."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.brain.cifti import fslr32k_brain_models, write_dscalar
from dnnmap.config import (
    MIN_STIMULI,
    analysis_models,
    check_semantics,
    check_table_settings,
    load_config_file,
    load_schema,
    validate,
)
from dnnmap.errors import InputError
from dnnmap.models.registry import get_family

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_PATH = ROOT / "config" / "config.yaml"
IDS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA_PATH)


@pytest.fixture
def config(tmp_path):
    """A copy of the demo config, loaded with yaml."""
    copied = tmp_path / "config.yaml"
    copied.write_text(CONFIG_PATH.read_text())
    with open(copied) as f:
        return yaml.safe_load(f)


def _error(config, schema) -> str:
    with pytest.raises(InputError) as err:
        validate(config, schema, "config.yaml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("config.yaml: ")
    return msg


# --- validate ---------------------------------------------------------------------------------


def _spelled_out(given, filled, path=""):
    """Every key of ``given`` keeps its value in ``filled`` (validation only adds defaults)."""
    if isinstance(given, dict):
        assert isinstance(filled, dict), path
        for key, value in given.items():
            _spelled_out(value, filled[key], f"{path}.{key}")
    else:
        assert given == filled, path


def test_demo_config_is_valid(config, schema):
    before = copy.deepcopy(config)
    assert validate(config, schema, "config.yaml") is config
    _spelled_out(before, config)  # validation fills defaults, never changes a given value
    # the demo spells out every top-level section, so it shows the analyses it runs
    assert sorted(before) == sorted(schema["properties"])


def test_validate_fills_defaults(config, schema):
    props = schema["properties"]
    config["features"].pop("n_components", None)
    config["encoding"] = {}
    config["compute"] = {"batch_size": 8}
    for key in ("weights", "seed", "source"):
        del config["models"]["alexnet"][key]
    del config["simulation"]["snr"]
    validate(config, schema, "config.yaml")
    assert (
        config["features"]["n_components"]
        == props["features"]["properties"]["n_components"]["default"]
    )
    encoding = props["encoding"]["properties"]
    assert config["encoding"]["alphas"] == encoding["alphas"]["default"]
    assert config["encoding"]["estimator"] == "ridge"
    # nested sections are filled too, from their own defaults
    assert config["encoding"]["cv"] == {
        key: sub["default"] for key, sub in encoding["cv"]["properties"].items()
    }
    assert config["encoding"]["cv"]["n_folds"] == 5
    assert config["encoding"]["permutation"]["n_perm"] == 0
    assert config["compute"] == {
        "device": "auto",
        "dtype": "float32",
        "compression": "lzf",
        "batch_size": 8,
        "loader_workers": "auto",
        "autocast": False,
        "tf32": False,
    }
    model = config["models"]["alexnet"]
    assert (model["weights"], model["seed"], model["source"]) == ("none", 0, "torchvision")
    assert config["simulation"]["snr"] == 10.0


def test_filled_defaults_are_not_shared_with_the_schema(config, schema):
    default = list(schema["properties"]["encoding"]["properties"]["alphas"]["default"])
    config["encoding"] = {}
    validate(config, schema, "config.yaml")
    config["encoding"]["alphas"].append(123.0)
    assert schema["properties"]["encoding"]["properties"]["alphas"]["default"] == default
    other = {**copy.deepcopy(config), "encoding": {}}
    validate(other, schema, "config.yaml")
    assert other["encoding"]["alphas"] == default


def test_wrong_type_names_the_dotted_key(config, schema):
    config["encoding"]["cv"]["n_folds"] = "five"
    msg = _error(config, schema)
    assert msg == "config.yaml: encoding.cv.n_folds: 'five' is not of type 'integer'"


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (("encoding", "cv", "n_folds"), 1, "encoding.cv.n_folds: 1 is less than the minimum of 2"),
        (("compute", "device"), "gpu", "compute.device: 'gpu' does not match"),
        (("compute", "dtype"), "float64", "compute.dtype: 'float64' is not one of"),
        (("brain", "rois", "V1"), [], "brain.rois.V1: [] should be non-empty"),
    ],
)
def test_constraint_violations(config, schema, where, value, expected):
    section, *rest = where
    target = config[section]
    for key in rest[:-1]:
        target = target[key]
    target[rest[-1]] = value
    assert expected in _error(config, schema)


def test_list_item_path(config, schema):
    config["models"]["alexnet"]["layers"] = ["conv1", 7]
    assert "models.alexnet.layers.1: 7 is not of type 'string'" in _error(config, schema)


def test_unknown_key_lists_allowed_keys(config, schema):
    config["encoding"]["folds"] = 3
    msg = _error(config, schema)
    allowed = sorted(schema["properties"]["encoding"]["properties"])
    assert msg.startswith("config.yaml: encoding: ")
    assert "'folds' was unexpected" in msg
    assert msg.endswith("allowed keys: " + ", ".join(allowed))
    config = {**config, "extra": 1}
    del config["encoding"]["folds"]
    msg = _error(config, schema)
    assert msg.startswith("config.yaml: (top level): ") and "'extra' was unexpected" in msg
    assert ", ".join(sorted(schema["properties"])) in msg


def test_missing_section(config, schema):
    del config["brain"]
    assert "(top level): 'brain' is a required property" in _error(config, schema)


def test_numeric_yaml_keys_give_an_input_error(config, schema):
    # YAML reads `01:` as the int 1: errors under int and str keys must still be sortable.
    config["brain"]["subjects"] = yaml.safe_load("{01: {responses: 5}, sub-02: {responses: 6}}")
    msg = _error(config, schema)
    # ... and the int key itself is refused (it would become file names like brain/1/...)
    assert "brain.subjects: 1 is not of type 'string'" in msg


def test_first_error_by_key_path(config, schema):
    config["encoding"]["cv"]["n_folds"] = "five"
    config["compute"]["batch_size"] = 0
    assert "compute.batch_size: 0 is less than the minimum of 1" in _error(config, schema)


# --- check_semantics --------------------------------------------------------------------------


@pytest.fixture
def valid(config, schema, tmp_path):
    return validate(config, schema, "config.yaml")


def test_demo_config_semantics(valid, tmp_path):
    assert check_semantics(valid, IDS, tmp_path, "config.yaml") == {}  # no brain files


def test_unknown_layer_lists_valid_layers(valid, tmp_path):
    valid["models"]["alexnet"]["layers"].append("conv9")
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    msg = str(err.value)
    assert msg.startswith("config.yaml: models.alexnet.layers: alexnet has no layer 'conv9'")
    assert "valid layers: " + ", ".join(get_family("alexnet").layers) + ", or any module" in msg
    assert "python -m dnnmap.models alexnet lists them" in msg


@pytest.mark.parametrize(
    ("estimator", "params", "expected"),
    [
        ("bogus", {}, "encoding.estimator is 'bogus'; expected one of ridge_fixed, ols"),
        ("ridge_fixed", {"penalty": 3}, "encoding.estimator_params"),
        ("sklearn.linear_model.NoSuchModel", {}, "sklearn.linear_model has no NoSuchModel"),
    ],
)
def test_encoding_estimator_checked_at_startup(valid, tmp_path, estimator, params, expected):
    valid["encoding"].update(estimator=estimator, estimator_params=params)
    with pytest.raises(InputError, match=r"^config\.yaml: ") as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    assert expected in str(err.value)


def test_builtin_estimator_with_its_params_passes(valid, tmp_path):
    valid["encoding"].update(estimator="ridge_fixed", estimator_params={"alpha": 10.0})
    valid["encoding"]["permutation"]["n_perm"] = 0  # refit permutations need RidgeCV
    assert check_semantics(valid, IDS, tmp_path, "config.yaml") == {}  # no brain files


def test_unknown_architecture_lists_the_families(valid, tmp_path):
    valid["models"]["alexnet"]["architecture"] = "vgg99"  # vgg16 is torchvision's
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    msg = str(err.value)
    assert msg.startswith("config.yaml: models.alexnet.architecture: unknown architecture 'vgg99'")
    assert all(name in msg for name in ("alexnet", "resnet18", "resnet34", "resnet50"))
    assert msg.endswith("closest: vgg19, vgg19_bn, vgg16")


def test_pretrained_weights_name_of_the_family(valid, tmp_path):
    valid["models"]["alexnet"]["weights"] = "IMAGENET1K_V1"
    assert check_semantics(valid, IDS, tmp_path, "config.yaml") == {}  # no brain files
    valid["models"]["alexnet"]["weights"] = "IMAGENET1K_V2"  # a ResNet-50 name, not AlexNet's
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    msg = str(err.value)
    assert msg.startswith("config.yaml: models.alexnet.weights: 'IMAGENET1K_V2' is not 'none'")
    assert msg.endswith("of alexnet (IMAGENET1K_V1, DEFAULT)")
    valid["models"]["alexnet"]["weights"] = "weights/alexnet.pth"  # a file: checked by the rule
    assert check_semantics(valid, IDS, tmp_path, "config.yaml") == {}  # no brain files


def test_roi_label_not_in_atlas(valid, tmp_path):
    valid["brain"]["rois"]["V4"] = ["V4", "V99"]
    with pytest.raises(InputError, match=r"ROI 'V4': unknown HCP-MMP 1.0 label 'V99'"):
        check_semantics(valid, IDS, tmp_path, "config.yaml")


def test_simulation_layer_not_among_model_layers(valid, tmp_path):
    valid["models"]["alexnet"]["layers"] = ["conv1", "conv3", "fc8"]
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    assert str(err.value) == (
        "config.yaml: simulation.regions.VTC.layer: 'fc6' is not among "
        "models.alexnet.layers (conv1, conv3, fc8)"
    )


def test_simulation_problems(valid, tmp_path):
    broken = copy.deepcopy(valid)
    broken["simulation"]["model"] = "vgg"
    with pytest.raises(
        InputError, match=r"simulation.model: 'vgg' is not in models \(alexnet, resnet50\)"
    ):
        check_semantics(broken, IDS, tmp_path, "config.yaml")
    broken = copy.deepcopy(valid)
    broken["simulation"]["regions"]["V1"]["labels"] = ["XX1"]
    with pytest.raises(InputError, match=r"ROI 'V1': unknown HCP-MMP 1.0 label 'XX1'"):
        check_semantics(broken, IDS, tmp_path, "config.yaml")
    del valid["simulation"]
    with pytest.raises(InputError, match="asks for 'simulate' but there is no simulation"):
        check_semantics(valid, IDS, tmp_path, "config.yaml")


# --- user brain data --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_axis():
    return fslr32k_brain_models()[:40]


@pytest.fixture(scope="module")
def cortex_axis():
    return fslr32k_brain_models()


def _user_config(valid, path):
    valid["brain"]["subjects"] = {"sub-01": {"responses": path}}
    del valid["simulation"]
    return valid


def _dscalar(folder, names, axis, name="sub01.dscalar.nii"):
    path = folder / "data" / name
    data = np.arange(len(names) * len(axis), dtype=np.float32).reshape(len(names), -1)
    write_dscalar(path, data, names, axis)
    return path


def test_user_responses_matching(valid, tmp_path, cortex_axis):
    _dscalar(tmp_path, ["c", "a", "d", "b"], cortex_axis)  # any order: maps are matched by name
    config = _user_config(valid, "data/sub01.dscalar.nii")
    sizes = check_semantics(config, IDS, tmp_path, "config.yaml")
    assert sizes["V1"] == len(resolve_roi("V1", ["V1"], mmp_atlas()))


def test_user_responses_extra_named_maps_are_a_subset(valid, tmp_path, cortex_axis):
    _dscalar(tmp_path, ["x", "c", "a", "d", "b", "y"], cortex_axis)
    config = _user_config(valid, "data/sub01.dscalar.nii")
    sizes = check_semantics(config, IDS, tmp_path, "config.yaml")
    assert sizes["V1"] == len(resolve_roi("V1", ["V1"], mmp_atlas()))


def test_user_responses_wrong_number_of_maps(valid, tmp_path, small_axis):
    path = _dscalar(tmp_path, ["a", "b", "c"], small_axis)
    config = _user_config(valid, "data/sub01.dscalar.nii")
    with pytest.raises(InputError) as err:
        check_semantics(config, IDS, tmp_path, "config.yaml")
    assert str(err.value) == (
        f"config.yaml: brain.subjects.sub-01.responses: {path} has 3 maps but no map named 'd' "
        "(from resources/stimuli.tsv, 4 stimuli; 1 ids missing); expected a map named by every "
        "stim_id"
    )


def test_user_responses_other_names(valid, tmp_path, small_axis):
    path = _dscalar(tmp_path, ["a", "b", "c", "e"], small_axis)
    config = _user_config(valid, "data/sub01.dscalar.nii")
    with pytest.raises(InputError) as err:
        check_semantics(config, IDS, tmp_path, "config.yaml")
    assert f"brain.subjects.sub-01.responses: {path} has 4 maps but no map named 'd'" in str(
        err.value
    )


def test_user_responses_missing_or_unreadable(valid, tmp_path):
    config = _user_config(valid, "data/none.dscalar.nii")
    with pytest.raises(InputError, match=r"brain.subjects.sub-01.responses: file .*none.dscalar"):
        check_semantics(config, IDS, tmp_path, "config.yaml")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "text.dscalar.nii").write_text("not cifti")
    config["brain"]["subjects"]["sub-01"]["responses"] = "data/text.dscalar.nii"
    with pytest.raises(InputError, match=r"text.dscalar.nii: not readable as CIFTI-2"):
        check_semantics(config, IDS, tmp_path, "config.yaml")


def test_volume_and_gifti_responses_are_checked(valid, tmp_path):
    """NIfTI and GIFTI responses are read (issue 13); bad ones give one clear line (they gave
    "'Nifti1Header' object has no attribute 'get_axis'")."""
    (tmp_path / "data").mkdir()
    volume = tmp_path / "data" / "sub01.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 4), np.float32), np.eye(4)), volume)
    gifti = tmp_path / "data" / "sub01.L.func.gii"
    darrays = [nib.gifti.GiftiDataArray(np.zeros(5, np.float32)) for _ in IDS]
    nib.save(nib.gifti.GiftiImage(darrays=darrays), gifti)
    config = _user_config(valid, "data/sub01.nii.gz")
    with pytest.raises(InputError) as err:
        check_semantics(config, IDS, tmp_path, "config.yaml")
    msg = str(err.value)
    assert "sub01.nii.gz: no voxel has finite, non-zero data" in msg
    assert "get_axis" not in msg and "\n" not in msg
    config["brain"]["subjects"]["sub-01"]["responses"] = "data/sub01.L.func.gii"
    with pytest.raises(InputError) as err:
        check_semantics(config, IDS, tmp_path, "config.yaml")
    assert "surface files come per hemisphere" in str(err.value)
    config["brain"]["subjects"]["sub-01"]["responses"] = {"left": "data/sub01.L.func.gii"}
    with pytest.raises(InputError) as err:
        check_semantics(config, IDS, tmp_path, "config.yaml")
    assert "5 vertices fit no known surface mesh" in str(err.value)


def test_repeats_map_names_are_checked(valid, tmp_path, cortex_axis):
    _dscalar(tmp_path, IDS, cortex_axis)
    _dscalar(tmp_path, IDS, cortex_axis, "rep1.dscalar.nii")
    path = _dscalar(tmp_path, ["a", "b", "c", "e"], cortex_axis, "rep2.dscalar.nii")
    config = _user_config(valid, "data/sub01.dscalar.nii")
    config["brain"]["subjects"]["sub-01"]["repeats"] = [
        "data/rep1.dscalar.nii",
        "data/rep2.dscalar.nii",
    ]
    with pytest.raises(InputError) as err:
        check_semantics(config, IDS, tmp_path, "config.yaml")
    assert str(err.value).startswith(
        f"config.yaml: brain.subjects.sub-01.repeats.1: {path} has 4 maps but no map named 'd'"
    )


def test_roi_not_covered_by_the_file_grayordinates(valid, tmp_path, cortex_axis):
    """A file on the fsLR-32k mesh that leaves out an ROI's vertices (partial coverage)."""
    v1 = set(resolve_roi("V1", ["V1"], mmp_atlas()))
    keep = np.array([i not in v1 for i in range(len(cortex_axis))])
    path = _dscalar(tmp_path, IDS, cortex_axis[keep])
    config = _user_config(valid, "data/sub01.dscalar.nii")
    with pytest.raises(InputError) as err:
        check_semantics(config, IDS, tmp_path, "config.yaml")
    msg = str(err.value)
    assert msg.startswith(f"config.yaml: brain.subjects.sub-01.responses: {path}: ROI 'V1':")
    assert "has no grayordinates on these brain models" in msg


def test_partition_names_models_and_their_layers(valid, tmp_path):
    partition = valid["rsa"]["advanced"]["partition"]
    assert partition == {"alexnet": [["conv1", "conv3", "fc6"]]}
    partition["vgg"] = [["conv1", "fc6"]]
    with pytest.raises(InputError, match=r"rsa.advanced.partition: 'vgg' is not in models"):
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    del partition["vgg"]
    partition["alexnet"].append(["conv1", "conv9"])
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    assert str(err.value).startswith(
        "config.yaml: rsa.advanced.partition.alexnet.1: 'conv9' is not among models.alexnet.layers"
    )


def test_analysis_models_pick_models_in_config_order(valid):
    """rsa.models and decoding.models choose models in the order of ``models``; null (the
    schema's default) is every model."""
    assert list(valid["models"]) == ["alexnet", "resnet50"]
    assert analysis_models(valid, "rsa") == analysis_models(valid, "decoding") == ["alexnet"]
    valid["rsa"]["models"] = ["resnet50", "alexnet"]
    assert analysis_models(valid, "rsa") == ["alexnet", "resnet50"]
    valid["decoding"]["models"] = None
    assert analysis_models(valid, "decoding") == ["alexnet", "resnet50"]
    del valid["decoding"]
    assert analysis_models(valid, "decoding") == ["alexnet", "resnet50"]


def test_analysis_models_default_to_every_model(config, schema):
    del config["rsa"]["models"], config["decoding"]["models"]
    filled = validate(config, schema, "config.yaml")
    assert filled["rsa"]["models"] is None and filled["decoding"]["models"] is None
    assert analysis_models(filled, "rsa") == ["alexnet", "resnet50"]


@pytest.mark.parametrize("section", ["rsa", "decoding"])
def test_analysis_models_must_be_models(valid, tmp_path, section):
    valid[section]["models"] = ["alexnet", "resnet5"]
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    assert str(err.value) == (
        f"config.yaml: {section}.models: 'resnet5' is not in models (alexnet, resnet50); "
        "did you mean resnet50?"
    )


def test_analysis_models_schema(config, schema):
    config["rsa"]["models"] = []
    assert "rsa.models: [] should be non-empty" in _error(config, schema)
    config["rsa"]["models"] = ["alexnet", "alexnet"]
    assert "rsa.models: ['alexnet', 'alexnet'] has non-unique elements" in _error(config, schema)


def test_partition_model_must_be_compared_by_rsa(valid, tmp_path):
    valid["rsa"]["models"] = ["resnet50"]
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    assert str(err.value) == (
        "config.yaml: rsa.advanced.partition: 'alexnet' is not in rsa.models (resnet50); add "
        "it there, or drop its sets"
    )


def test_partition_sets_hold_two_to_four_layers(config, schema):
    config["rsa"]["advanced"]["partition"]["alexnet"] = [["conv1"]]
    assert "rsa.advanced.partition.alexnet.0: ['conv1'] is too short" in _error(config, schema)


# --- the stimulus table's settings, at start-up -----------------------------------------------


def _table(n=12, **columns):
    table = pd.DataFrame({"stim_id": [f"s{i:02d}" for i in range(n)], **columns})
    table.attrs["lines"] = [i + 2 for i in range(n)]
    return table


def _table_error(config, table) -> str:
    with pytest.raises(InputError) as err:
        check_table_settings(config, table, "stimuli.tsv", "config.yaml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("config.yaml: ")
    return msg


def test_demo_table_settings_pass(valid):
    demo = pd.read_csv(ROOT / "resources" / "stimuli.tsv", sep="\t", dtype=str)
    assert check_table_settings(valid, demo, "stimuli.tsv", "config.yaml") is None


def test_fewer_than_three_stimuli(valid):
    msg = _table_error(valid, _table(2, category=["a", "b"]))
    assert msg == (
        f"config.yaml: stimuli.table: stimuli.tsv has 2 stimuli; expected at least {MIN_STIMULI} "
        "(cross-validation and RDM comparisons need them)"
    )


def test_columns_named_by_the_config(valid):
    table = _table(20, category=list("ab") * 10)
    valid["decoding"]["attributes"] = ["category", "colour"]
    msg = _table_error(valid, table)
    assert "config.yaml: decoding.attributes: stimuli.tsv: no column 'colour'" in msg
    valid["decoding"]["attributes"] = ["category"]
    valid["rsa"]["categories"] = "kind"
    assert "config.yaml: rsa.categories is 'kind'" in _table_error(valid, table)
    valid["rsa"]["categories"] = "category"
    valid["encoding"]["cv"] = {"scheme": "group", "column": "session", "n_folds": 2}
    msg = _table_error(valid, table)
    assert msg.startswith("config.yaml: encoding.cv") and "'session'" in msg


def test_encoding_folds_against_the_stimuli(valid):
    table = _table(6, category=list("ab") * 3)
    valid["decoding"]["enabled"] = False
    valid["encoding"]["cv"]["n_folds"] = 8
    assert "n_folds" in _table_error(valid, table) and "6" in _table_error(valid, table)
    valid["encoding"]["cv"]["n_folds"] = 3
    valid["encoding"]["inner_folds"] = 5
    msg = _table_error(valid, table)
    assert "encoding.inner_folds (5) in outer split 1 of encoding.cv" in msg
    assert "training set of 4 rows" in msg
    valid["encoding"]["inner_folds"] = 4
    assert check_table_settings(valid, table, "stimuli.tsv", "config.yaml") is None


def test_decoding_folds_against_the_class_counts(valid):
    table = _table(20, category=[*"a" * 9, *"b" * 9, "c", "c"])
    valid["decoding"]["n_folds"] = 3
    msg = _table_error(valid, table)
    assert "decoding.attributes: stimuli.tsv: column 'category' class 'c' has 2 stimuli" in msg
    assert "fewer than the 3 outer folds" in msg
    table = _table(20, category=[*"a" * 14, *"b" * 6])
    valid["decoding"]["inner_folds"] = 5
    msg = _table_error(valid, table)
    assert "class 'b' has 4 stimuli in the training set of outer split" in msg


def test_check_semantics_runs_the_table_checks(valid, tmp_path):
    valid["decoding"]["attributes"] = ["colour"]
    with pytest.raises(
        InputError, match=r"config.yaml: decoding.attributes: .* no column 'colour'"
    ):
        valid["encoding"]["cv"]["n_folds"] = 2
        valid["encoding"]["inner_folds"] = 2
        check_semantics(valid, IDS, tmp_path, "config.yaml", table=_table(4, category=list("abab")))


# --- the config file itself ---------------------------------------------------------------------


def test_load_config_file(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("stimuli:\n  table: t.tsv\n")
    assert load_config_file(good) == {"stimuli": {"table": "t.tsv"}}
    with pytest.raises(InputError, match=r"none.yaml: config file not found \(working directory"):
        load_config_file(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stimuli:\n  table: t.tsv\nmodels: [alexnet\nbrain: {}\n")
    with pytest.raises(InputError) as err:
        load_config_file(bad)
    msg = str(err.value)
    assert msg.startswith(f"{bad} line 4, column 6: YAML syntax error (while parsing a flow")
    assert "\n" not in msg
    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("stimuli:\n\ttable: t.tsv\n")
    assert " line 2, column 1: YAML syntax error" in _load_error(tabs)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert "top level is list; expected a mapping" in _load_error(listed)


def _load_error(path) -> str:
    with pytest.raises(InputError) as err:
        load_config_file(path)
    return str(err.value)


def test_config_syntax_check_from_the_command_line(tmp_path):
    """What the README offers for a --configfile that Snakemake rejects without a line."""
    bad = tmp_path / "my.yaml"
    bad.write_text("stimuli:\n  table: t.tsv\nmodels: {alexnet: [\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    cmd = [sys.executable, "-m", "dnnmap.config", str(bad)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"dnnmap: {bad} line 4, column 1: YAML syntax error (while parsing a flow node: "
        "expected the node content, but found '<stream end>'); expected valid YAML (spaces, "
        "not tabs, for indentation; brackets and quotes closed)"
    ]
    good = tmp_path / "good.yaml"
    good.write_text("a: 1\n")
    proc = subprocess.run([*cmd[:-1], str(good)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{good}: valid YAML"


# --- joint models (issue 12) -------------------------------------------------------------------


def test_demo_joint_set_and_pair(valid):
    assert valid["joint"]["sets"] == {"driving": {"alexnet": ["conv1", "conv3", "fc6"]}}
    assert valid["joint"]["compare"]["pairs"] == {"conv1_vs_fc6": ["alexnet/conv1", "alexnet/fc6"]}
    assert valid["joint"]["alphas"] and valid["joint"]["concentration"] == [0.1, 1.0]


@pytest.mark.parametrize(
    ("spaces", "expected"),
    [
        ({"alexnet": ["conv1"]}, "joint.sets.bad has 1 space (alexnet/conv1); expected 2 to 3"),
        (
            {"alexnet": ["conv1", "conv2", "conv3", "fc6"]},
            "joint.sets.bad has 4 spaces (alexnet/conv1, alexnet/conv2, alexnet/conv3, "
            "alexnet/fc6); expected 2 to 3",
        ),
        ({"alexnet": ["conv1", "conv1"]}, "joint.sets.bad.alexnet: 'conv1' is named twice"),
        ({"vgg": ["conv1"], "alexnet": ["fc6"]}, "joint.sets.bad: 'vgg' is not in models"),
        ({"alexnet": ["conv1", "conv9"]}, "joint.sets.bad.alexnet: 'conv9' is not among"),
    ],
)
def test_bad_joint_sets_name_the_key(valid, tmp_path, spaces, expected):
    valid["joint"]["sets"]["bad"] = spaces
    with pytest.raises(InputError, match=r"^config\.yaml: joint\.sets\.bad") as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    assert expected in str(err.value)


def test_joint_spaces_need_one_stimulus_set(valid, tmp_path, monkeypatch):
    import dnnmap.config
    import dnnmap.spaces

    real = dnnmap.config.get_family

    class Audio:
        def __init__(self, family):
            self._family = family
            self.modality = "audio"

        def __getattr__(self, name):
            return getattr(self._family, name)

    def fake(architecture, key=""):
        family = real(architecture, key)
        name = architecture["architecture"] if isinstance(architecture, dict) else architecture
        return Audio(family) if name == "resnet18" else family

    monkeypatch.setattr(dnnmap.config, "get_family", fake)
    monkeypatch.setattr(dnnmap.spaces, "get_family", fake)
    valid["models"]["sound"] = {"architecture": "resnet18", "layers": ["layer1"], "weights": "none"}
    valid["joint"]["sets"]["mixed"] = {"alexnet": ["conv1"], "sound": ["layer1"]}
    with pytest.raises(InputError) as err:
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    assert str(err.value).startswith(
        "config.yaml: joint.sets.mixed: its models take different stimuli: alexnet (image)"
    )
    assert "expected spaces of one stimulus set" in str(err.value)


def test_bad_compare_pairs_name_the_key(valid, tmp_path, config, schema):
    pairs = valid["joint"]["compare"]["pairs"]
    pairs["same"] = ["alexnet/fc6", "alexnet/fc6"]
    with pytest.raises(InputError, match=r"pairs\.same: alexnet/fc6 is named twice"):
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    pairs["same"] = ["alexnet/fc6", "alexnet/conv9"]
    with pytest.raises(InputError, match=r"joint\.compare\.pairs\.same: 'conv9' is not among"):
        check_semantics(valid, IDS, tmp_path, "config.yaml")
    config["joint"]["compare"]["pairs"]["short"] = ["alexnet/fc6"]
    assert "joint.compare.pairs.short" in _error(config, schema)
