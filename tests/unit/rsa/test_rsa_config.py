"""Start-up checks of the ``rsa`` section (dnnmap.config.check_semantics), issue 10 item 5."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dnnmap.config import check_semantics, load_schema, validate
from dnnmap.errors import InputError

ROOT = Path(__file__).resolve().parents[3]
IDS = ["a", "b", "c", "d"]


@pytest.fixture
def config():
    """The demo config with the rsa keys that are not the defaults removed."""
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key in ("model_patterns", "n_components", "zscore"):
        raw["rsa"].pop(key, None)
    return validate(raw, load_schema(ROOT / "workflow/schemas/config.schema.yaml"), "c.yaml")


def _check(config, tmp_path):
    check_semantics(config, IDS, tmp_path, "c.yaml")


def test_demo_config_passes(tmp_path):
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    schema = load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    _check(validate(raw, schema, "c.yaml"), tmp_path)


def test_defaults_read_activations_and_pass(config, tmp_path):
    assert config["rsa"]["model_patterns"] == "activations"
    assert config["rsa"]["noise"] == "shrinkage_diag" and config["rsa"]["groups"] is None
    _check(config, tmp_path)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"metric": "mahalanobis"}, "a model layer has no repeated measurements"),
        ({"metric": "crossnobis"}, "mahalanobis and crossnobis are for rsa.brain_metric"),
        ({"metric": "manhattan"}, "rsa.metric is 'manhattan'; expected one of"),
        ({"brain_metric": "bogus"}, "rsa.brain_metric is 'bogus'"),
        ({"n_components": 30}, "rsa.n_components is 30 but rsa.model_patterns is 'activations'"),
        ({"comparison": "corr_cov"}, "rsa.n_boot: 0, or a comparison among spearman"),
        ({"comparison": "cosine_cov", "n_boot": 5}, "cannot be bootstrapped over stimuli"),
    ],
)
def test_refused_combinations(config, tmp_path, change, expected):
    config["rsa"].update(change)
    with pytest.raises(InputError, match=expected) as err:
        _check(config, tmp_path)
    assert "\n" not in str(err.value) and str(err.value).startswith("c.yaml: ")


@pytest.mark.parametrize(
    "change",
    [
        {"comparison": "corr_cov", "n_boot": 0},
        {"comparison": "cosine_cov", "n_boot": 0},
        {"comparison": "kendall"},
        {"comparison": "rho-a"},
        {"model_patterns": "features", "n_components": 30},
        {"brain_metric": "crossnobis"},  # the demo simulates 2 repeats
        {"brain_metric": "mahalanobis", "metric": "euclidean"},
        {"metric": "cityblock"},
    ],
)
def test_valid_combinations_pass(config, tmp_path, change):
    config["rsa"].update(change)
    _check(config, tmp_path)


def test_noise_metrics_need_repeats_for_every_subject(config, tmp_path):
    config["rsa"]["brain_metric"] = "crossnobis"
    config["simulation"]["n_repeats"] = 1
    with pytest.raises(InputError, match=r"subject 'sub-01' has no repeats \(simulation.n_repeats"):
        _check(config, tmp_path)
    config["rsa"]["enabled"] = False  # nothing to check when RSA does not run
    _check(config, tmp_path)
