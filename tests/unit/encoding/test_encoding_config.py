"""Start-up checks of the encoding section (dnnmap.config._check_encoding via check_semantics)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from dnnmap.config import check_semantics, load_schema, validate
from dnnmap.errors import InputError

ROOT = Path(__file__).resolve().parents[3]
IDS = ["a", "b", "c", "d"]


@pytest.fixture
def config():
    with open(ROOT / "config" / "config.yaml") as f:
        raw = yaml.safe_load(f)
    return validate(raw, load_schema(ROOT / "workflow/schemas/config.schema.yaml"), "config.yaml")


def _check(config, tmp_path):
    return check_semantics(config, IDS, tmp_path, "config.yaml")


def test_defaults(config):
    raw = {"stimuli": config["stimuli"], "models": config["models"], "brain": config["brain"]}
    schema = load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    filled = validate({**raw, "features": {}, "encoding": {}, "compute": {}}, schema, "c.yaml")
    enc = filled["encoding"]
    assert (enc["score"], enc["pooling"], enc["alpha_scale"]) == ("r", "folds", "relative")
    assert enc["best_layer_fwe"] is None
    perm = enc["permutation"]
    assert (perm["kind"], perm["tail"], perm["blocks"]) == ("refit", "greater", None)


def test_loo_needs_pooled_scores(config, tmp_path, caplog):
    config["encoding"]["cv"]["scheme"] = "loo"
    with pytest.raises(InputError, match=r"config.yaml: encoding.cv.scheme is 'loo' with"):
        _check(config, tmp_path)
    config["encoding"]["pooling"] = "pooled"
    with caplog.at_level(logging.WARNING, logger="dnnmap"):
        _check(config, tmp_path)
    assert "biased downward" in caplog.text


def test_test_label_permutations_warned_or_refused(config, tmp_path, caplog):
    config["encoding"]["permutation"].update(kind="test_labels", n_perm=100)
    with caplog.at_level(logging.WARNING, logger="dnnmap"):
        _check(config, tmp_path)
    assert "anti-conservative" in caplog.text
    caplog.clear()
    config["encoding"]["cv"].update(scheme="split", column="split")
    with caplog.at_level(logging.WARNING, logger="dnnmap"):
        _check(config, tmp_path)
    assert "anti-conservative" not in caplog.text
    config["encoding"]["cv"].update(scheme="repeated_kfold", n_repeats=2)
    with pytest.raises(InputError, match="the predictions of one repeat"):
        _check(config, tmp_path)


def test_refit_needs_ridge_and_best_layer_needs_permutations(config, tmp_path):
    config["encoding"]["permutation"].update(kind="refit", n_perm=10)
    config["encoding"]["estimator"] = "ols"
    with pytest.raises(InputError, match="refit permutations reuse the ridge"):
        _check(config, tmp_path)
    config["encoding"]["estimator"] = "ridge"
    config["encoding"]["permutation"]["n_perm"] = 0
    config["encoding"]["best_layer_fwe"] = 0.05
    with pytest.raises(InputError, match=r"best_layer_fwe is 0\.05 with"):
        _check(config, tmp_path)
