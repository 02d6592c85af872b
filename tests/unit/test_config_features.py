"""Start-up checks of the ``features`` section: schema, contradictions, the external set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from dnnmap.config import check_external_stimuli, check_features, load_schema, validate
from dnnmap.errors import InputError
from dnnmap.stimuli import check_stimuli, read_table

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def _config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _check(features: dict, joint_models: bool = False) -> None:
    config = _config()
    config["features"] = features
    if not joint_models:
        config.pop("stacking", None)
        config.pop("joint", None)
    validate(config, SCHEMA, "config.yaml")
    check_features(config, "config.yaml")


def test_schema_fills_the_features_defaults():
    config = _config()
    config["features"] = {}
    validate(config, SCHEMA, "config.yaml")
    props = SCHEMA["properties"]["features"]["properties"]
    assert config["features"] == {
        "method": props["method"]["default"],
        "fit": "train",
        "n_components": 100,
        "seed": 0,
        "solver": "auto",
        "max_fit_stimuli": None,
        "power_iterations": 4,
        "projection": None,
        "density": None,
        "external_stimuli": None,
    }
    assert props["method"]["enum"] == ["none", "pca", "random_projection"]
    assert props["fit"]["enum"] == ["all", "train", "external"]


def test_the_demo_spells_out_the_default_method():
    props = SCHEMA["properties"]["features"]["properties"]
    assert _config()["features"]["method"] == props["method"]["default"]


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        ("method", "ica", "features.method"),
        ("fit", "test", "features.fit"),
        ("projection", "uniform", "features.projection"),
        ("density", 0, "features.density"),
    ],
)
def test_schema_rejects_bad_values(where, value, expected):
    config = _config()
    config["features"][where] = value
    with pytest.raises(InputError, match=expected):
        validate(config, SCHEMA, "config.yaml")


@pytest.mark.parametrize(
    "features",
    [
        {"method": "none"},
        {"method": "none", "fit": "all"},  # fit makes no difference: accepted
        {"method": "pca", "fit": "all"},
        {"method": "pca", "fit": "train", "n_components": 50},
        {"method": "pca", "fit": "external", "external_stimuli": "ext.tsv"},
        {"method": "random_projection", "projection": "sparse", "density": 0.1},
        {"method": "random_projection", "fit": "train", "seed": 4},
        {"method": "pca", "fit": "all", "solver": "randomized", "max_fit_stimuli": 1000},
        {"method": "pca", "fit": "external", "external_stimuli": "e.tsv", "max_fit_stimuli": 9},
    ],
)
def test_consistent_settings_pass(features):
    _check(features)


@pytest.mark.parametrize(
    ("features", "key"),
    [
        ({"method": "none", "fit": "external", "external_stimuli": "e.tsv"}, "features.fit"),
        ({"method": "random_projection", "fit": "external"}, "features.fit"),
        ({"method": "pca", "fit": "external"}, "features.fit"),
        ({"method": "pca", "fit": "train", "external_stimuli": "e.tsv"}, "features.external"),
        ({"method": "pca", "projection": "gaussian"}, "features.projection"),
        ({"method": "random_projection", "density": 0.2}, "features.density"),
        ({"method": "pca", "fit": "train", "max_fit_stimuli": 500}, "features.max_fit"),
        ({"method": "pca", "fit": "train", "solver": "randomized"}, "features.solver"),
        ({"method": "none", "max_fit_stimuli": 500}, "features.max_fit"),
    ],
)
def test_contradictions_are_one_line_naming_the_key(features, key):
    with pytest.raises(InputError) as err:
        _check(features)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"config.yaml: {key}")


@pytest.mark.parametrize("section", ["stacking", "joint"])
def test_per_fold_pca_is_accepted_with_stacking_and_joint_models(section):
    """Stacking and the joint models get each split's design through the fold seam
    (dnnmap.features.folds.FeatureSpaces), so a PCA fitted per training set reaches them."""
    config = _config()
    other = "joint" if section == "stacking" else "stacking"
    config.pop(other, None)
    config["features"] = {"method": "pca", "fit": "train"}
    validate(config, SCHEMA, "config.yaml")
    check_features(config, "config.yaml")
    _check({"method": "pca", "fit": "all"}, joint_models=True)
    _check({"method": "none"}, joint_models=True)


def _images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), i * 20, dtype=np.uint8)).save(folder / name)


def _table(path: Path, ids: list[str], files: list[str]) -> None:
    pd.DataFrame({"stim_id": ids, "path": files}).to_csv(path, sep="\t", index=False)


def test_external_stimuli_checked_at_startup(tmp_path):
    _images(tmp_path / "img", ["a.png", "b.png", "c.png", "x.png", "y.png", "z.png"])
    _table(tmp_path / "main.tsv", ["a", "b", "c"], ["img/a.png", "img/b.png", "img/c.png"])
    main = check_stimuli(read_table(tmp_path / "main.tsv"), tmp_path / "main.tsv", decode=False)
    config = _config()
    config["stimuli"]["table"] = str(tmp_path / "main.tsv")
    config["features"] = {"method": "pca", "fit": "external"}
    assert check_external_stimuli(config, main, "config.yaml") is None  # no table given

    ext = tmp_path / "ext.tsv"
    config["features"]["external_stimuli"] = str(ext)
    with pytest.raises(InputError, match=r"^config.yaml: features.external_stimuli: .* not exist"):
        check_external_stimuli(config, main, "config.yaml")
    _table(ext, ["x", "y", "z"], ["img/x.png", "img/y.png", "img/q.png"])
    with pytest.raises(InputError, match=r"^config.yaml: features.external_stimuli: .*q\.png"):
        check_external_stimuli(config, main, "config.yaml")
    _table(ext, ["x", "b", "z"], ["img/x.png", "img/y.png", "img/z.png"])
    with pytest.raises(InputError, match=r"shares 1 stim_id.*'b'.*never saw"):
        check_external_stimuli(config, main, "config.yaml")
    _table(ext, ["x", "y", "z"], ["img/x.png", "img/a.png", "img/z.png"])
    with pytest.raises(InputError, match=r"lists 1 file.*never saw"):
        check_external_stimuli(config, main, "config.yaml")
    _table(ext, ["x", "y", "z"], ["img/x.png", "img/y.png", "img/z.png"])
    checked = check_external_stimuli(config, main, "config.yaml")
    assert list(checked["stim_id"]) == ["x", "y", "z"]
