"""Start-up checks of the interpret section (dnnmap.interpret.checks) and the network head's
refusal of a layer that was not recorded."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from dnnmap.errors import InputError
from dnnmap.interpret.checks import check_interpret
from dnnmap.interpret.network import network_head
from dnnmap.interpret.targets import TargetSpec

TABLE = pd.DataFrame({"stim_id": [f"s{i}" for i in range(50)], "category": ["a", "b"] * 25})

BASE = {
    "models": {
        "net": {
            "architecture": "alexnet",
            "layers": ["conv1", "fc6"],
            "preprocessing": {"resize": 64},
        }
    },
    "brain": {"subjects": {"sub-01": {}}, "rois": {"V1": ["V1"]}},
    "encoding": {"estimator": "ridge"},
    "interpret": {
        "enabled": True,
        "n_components": 0,
        "units": {"net": {"conv1": [63]}},
        "brain": {"subjects": ["sub-01"], "rois": ["V1"], "layers": {"net": ["fc6"]}, "voxels": {}},
    },
}


def _with(**changes):
    config = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = config
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return config


def test_good_section_passes_and_disabled_is_not_checked():
    check_interpret(BASE, TABLE, "c.yaml")
    check_interpret(_with(interpret__ablation={"upstream": {"net": {"conv3": "fc6"}}}), TABLE, "c")
    check_interpret(_with(interpret__enabled=False, interpret__units={"x": {}}), TABLE, "c.yaml")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"interpret__units": {"net": {"conv1": [64]}}},
            "interpret.units.net.conv1: index 64 is outside the layer, which has 64 channels",
        ),
        ({"interpret__units": {"net": {"fc6": [4096]}}}, "which has 4096 units"),
        (
            {"interpret__units": {"net": {"conv5": [0]}}},
            "layer 'conv5' of net was not recorded; models.net.layers are conv1, fc6",
        ),
        ({"interpret__units": {"other": {"conv1": [0]}}}, "model 'other' is not in models"),
        ({"interpret__n_components": 50}, "n_components is 50; expected at most 49"),
        ({"interpret__brain__layers": {"net": ["conv3"]}}, "layer 'conv3' of net was not recorded"),
        ({"interpret__brain__rois": ["V4"]}, "ROI 'V4' is not in brain.rois"),
        ({"interpret__brain__subjects": ["sub-09"]}, "'sub-09' is not in brain.subjects"),
        ({"encoding__estimator": "pls"}, "needs encoding.estimator: ridge"),
        (
            {"interpret__finetune": {"t": {"model": "net", "attribute": "size"}}},
            "finetune.t.attribute: 'size' is not a column of the stimulus table",
        ),
        (
            {"interpret__finetune": {"t": {"model": "vgg", "attribute": "category"}}},
            "finetune.t.model: 'vgg' is not in models",
        ),
        (
            {"interpret__ablation": {"attributes": ["animacy"]}},
            "'animacy' is not a column of the stimulus table (stim_id, category)",
        ),
        (
            {"interpret__ablation": {"reading": "drop"}, "features": {"method": "pca"}},
            "ablation.reading is 'drop' (each split refitted on the layer's units without the "
            "channel); it needs features.method: none, not 'pca'",
        ),
        (
            {"interpret__ablation": {"upstream": {"net": {"conv3": "fc7"}}}},
            "ablation.upstream.net.conv3: layer 'fc7' of net was not recorded",
        ),
        (
            {"interpret__ablation": {"upstream": {"net": {"conv9": "fc6"}}}},
            "ablation.upstream.net.conv9: alexnet has no layer 'conv9'",
        ),
        (
            {
                "models__net__layers": ["conv1", "conv3", "fc6"],
                "interpret__ablation": {"upstream": {"net": {"fc6": "conv3"}}},
            },
            "ablation.upstream.net.fc6: the downstream layer 'conv3' must come after 'fc6'",
        ),
    ],
)
def test_bad_sections_name_the_key(changes, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_interpret(_with(**changes), TABLE, "c.yaml")


def test_head_of_a_layer_not_recorded():
    spec = TargetSpec("conv5", (256, 1, 1), ["c"], np.array([0]))
    with pytest.raises(InputError, match="layer 'conv5' of model net was not recorded"):
        network_head("net", BASE["models"]["net"], "conv5", spec)
