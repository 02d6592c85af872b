"""Tests of the model and number parts of dnnmap.config: weights at start-up, checkpoint
options, and YAML 1.1 numbers such as ``1e-2`` that PyYAML reads as strings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dnnmap.config import (
    check_model_weights,
    check_semantics,
    convert_numeric_strings,
    load_schema,
    validate,
)
from dnnmap.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
DEMO = (ROOT / "config" / "config.yaml").read_text()
IDS = ["a", "b", "c"]


def demo(replace: tuple[str, str] | None = None) -> dict:
    """The demo config read by PyYAML as Snakemake reads it, after a textual edit."""
    text = DEMO
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    return yaml.safe_load(text)


def test_yaml_exponent_without_dot_is_a_string_to_pyyaml():
    assert yaml.safe_load("x: 1e-2") == {"x": "1e-2"}  # the behaviour being worked around


@pytest.mark.parametrize(
    ("text", "expected"),
    [("snr: 1e1", 10.0), ("snr: 2.5E-1", 0.25), ("snr: .5e1", 5.0), ("snr: +3e0", 3.0)],
)
def test_numbers_in_exponent_form_are_read(text, expected):
    config = validate(demo(("snr: 4.0", text)), SCHEMA, "config.yaml")
    assert config["simulation"]["snr"] == expected
    assert isinstance(config["simulation"]["snr"], float)


def test_whole_numbers_for_integer_keys_and_nested_lists():
    # the demo sets no n_components (features.method: none), so the edit adds one
    config = demo(("  method: none\n", "  method: none\n  n_components: 1e2\n"))
    config["models"]["alexnet"]["preprocessing"]["mean"] = ["5e-1", 0.4, "4e-1"]
    validate(config, SCHEMA, "config.yaml")
    assert config["features"]["n_components"] == 100
    assert isinstance(config["features"]["n_components"], int)
    assert config["models"]["alexnet"]["preprocessing"]["mean"] == [0.5, 0.4, 0.4]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n_components: 1.5e0", "features.n_components: '1.5e0' is not of type 'integer'"),
        ("n_components: 1e2x", "features.n_components: '1e2x' is not of type 'integer'"),
        ("n_components: '100'", "features.n_components: '100' is not of type 'integer'"),
        ("snr: 10.0", None),
    ],
)
def test_other_strings_are_still_errors(text, message):
    added = ("  method: none\n", f"  method: none\n  {text}\n")
    config = demo(added) if "n_components" in text else demo()
    if message is None:
        validate(config, SCHEMA, "config.yaml")
        return
    with pytest.raises(InputError) as err:
        validate(config, SCHEMA, "config.yaml")
    assert str(err.value) == f"config.yaml: {message}"


def test_strings_stay_strings_where_the_schema_wants_a_string():
    config = demo(("weights: none", "weights: 1e3"))
    convert_numeric_strings(config, SCHEMA)
    assert config["models"]["alexnet"]["weights"] == "1e3"


def _model(**entry):
    return {"architecture": "resnet18", "layers": ["fc"], **entry}


def test_torchvision_weights_names_checked_at_startup():
    check_model_weights("net", _model(weights="IMAGENET1K_V1"), "c.yaml")
    with pytest.raises(InputError, match=r"^c\.yaml: models\.net\.weights: 'imagenet1k_v1' is not"):
        check_model_weights("net", _model(weights="imagenet1k_v1"), "c.yaml")


def test_upper_case_weights_file_is_not_a_torchvision_name():
    check_model_weights("net", _model(weights="ckpt/ResNet18.PTH"), "c.yaml")


@pytest.mark.parametrize("option", ["checkpoint_key", "strip_prefix"])
def test_checkpoint_options_need_a_weights_file(option):
    check_model_weights("net", _model(weights="w.pth", **{option: "x"}), "c.yaml")
    for weights in ("none", "IMAGENET1K_V1"):
        with pytest.raises(InputError) as err:
            check_model_weights("net", _model(weights=weights, **{option: "x"}), "c.yaml")
        assert str(err.value) == (
            f"c.yaml: models.net.{option}: applies to a local weights file (.pt, .pth, .bin) "
            f"only, but weights is '{weights}'"
        )


def test_check_semantics_checks_the_checkpoint_options(tmp_path):
    config = validate(demo(), SCHEMA, "config.yaml")
    config["models"]["alexnet"]["strip_prefix"] = "module."
    with pytest.raises(InputError, match=r"models\.alexnet\.strip_prefix: applies to a local"):
        check_semantics(config, IDS, tmp_path, "config.yaml")


def test_schema_takes_the_checkpoint_options():
    config = demo(("weights: none", "weights: w.pth\n    checkpoint_key: state_dict"))
    validate(config, SCHEMA, "config.yaml")
    config["models"]["alexnet"]["strip_prefix"] = ""
    with pytest.raises(InputError, match=r"models\.alexnet\.strip_prefix: '' should be non-empty"):
        validate(config, SCHEMA, "config.yaml")


def test_background_default_and_range():
    config = validate(demo(), SCHEMA, "config.yaml")
    assert config["stimuli"]["background"] == [128, 128, 128]
    config["stimuli"]["background"] = [0, 0, 300]
    with pytest.raises(InputError, match=r"stimuli\.background\.2: 300 is greater than"):
        validate(config, SCHEMA, "config.yaml")
