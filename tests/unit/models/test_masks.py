"""Unit masks (dnnmap.models.masks): DNNBrain's .dmask.csv read as written, selection,
down-sampling and per-channel pooling against numpy, applied during extraction."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from dnnmap.errors import InputError
from dnnmap.models.build import ModelSpec
from dnnmap.models.extraction import extract_activations
from dnnmap.models.masks import UnitMask, check_masks, model_masks, read_dmask
from dnnmap.sizing import layer_units

# As DNNBrain's MaskFile.write lays it out: a layer line "layer=axes", then one line of
# 1-based numbers per axis.
DMASK = "conv2=chn,row,col\n1,5,9\n2,3,4,5\n1,13\nfc6=chn\n10,20,30,4096\n"


def test_read_dmask_as_dnnbrain_writes_it(tmp_path):
    path = tmp_path / "alexnet.dmask.csv"
    path.write_text(DMASK)
    assert read_dmask(path) == {
        "conv2": {"channels": (1, 5, 9), "rows": (2, 3, 4, 5), "cols": (1, 13)},
        "fc6": {"channels": (10, 20, 30, 4096)},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("conv2=chn,depth\n1\n2\n", r"line 1: 'conv2=chn,depth'; expected layer=axes with axes"),
        ("conv2=chn,row\n1,2\n", r"line 2: layer conv2 lists axis row but its line of numbers"),
        ("conv2=chn\n1,two\n", r"line 2: '1,two'; expected comma-separated chn numbers"),
        ("conv2=chn\n0,1\n", r"line 2: '0,1'; expected chn numbers counting from 1"),
        ("1,2,3\n", r"line 1: '1,2,3'; expected a layer line such as conv5=chn,row,col"),
    ],
)
def test_bad_dmask_files_name_the_line(tmp_path, text, expected):
    path = tmp_path / "bad.dmask.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=expected):
        read_dmask(path)
    with pytest.raises(InputError, match="not found"):
        read_dmask(tmp_path / "none.dmask.csv")


def _numpy_mask(values, mask):
    """Reference: the same selection, block means and pooling written with numpy."""
    out = values
    if mask.channels:
        out = out[:, [c - 1 for c in mask.channels]]
    if mask.rows:
        out = out[:, :, [r - 1 for r in mask.rows]]
    if mask.cols:
        out = out[:, :, :, [c - 1 for c in mask.cols]]
    k = mask.downsample
    if k > 1:
        b, c, h, w = out.shape
        out = out[:, :, : h // k * k, : w // k * k].reshape(b, c, h // k, k, w // k, k)
        out = out.mean(axis=(3, 5))
    if mask.pool == "mean":
        out = out.reshape(*out.shape[:2], -1).mean(axis=2)
    elif mask.pool == "max":
        out = out.reshape(*out.shape[:2], -1).max(axis=2)
    return out


@pytest.mark.parametrize(
    "mask",
    [
        UnitMask(channels=(3, 1)),
        UnitMask(channels=(2,), rows=(1, 4), cols=(7, 2, 3)),
        UnitMask(downsample=2),
        UnitMask(downsample=3, channels=(1, 2)),
        UnitMask(pool="mean"),
        UnitMask(pool="max", rows=(2, 3)),
    ],
)
def test_apply_matches_numpy(mask):
    values = np.random.default_rng(0).standard_normal((2, 4, 7, 8)).astype(np.float32)
    got = mask.apply(torch.from_numpy(values)).numpy()
    want = _numpy_mask(values, mask)
    assert got.shape == want.shape == (2, *mask.out_shape((4, 7, 8)))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_check_names_what_the_layer_lacks():
    with pytest.raises(InputError, match=r"^x: channels 65 is not in the layer, which has 64"):
        UnitMask(channels=(1, 65)).check((64, 55, 55), "x")
    with pytest.raises(InputError, match=r"rows 56 is not in the layer"):
        UnitMask(rows=(56,)).check((64, 55, 55), "x")
    with pytest.raises(InputError, match=r"rows given, but the layer's units have shape \(4096,\)"):
        UnitMask(rows=(1,)).check((4096,), "x")
    with pytest.raises(InputError, match=r"no axes to pool over"):
        UnitMask(pool="mean").check((4096,), "x")
    with pytest.raises(InputError, match=r"downsample and pool together"):
        UnitMask(pool="mean", downsample=2).check((4, 8, 8), "x")
    with pytest.raises(InputError, match=r"downsample 9 is larger than the layer's 8 x 8"):
        UnitMask(downsample=9).check((4, 8, 8), "x")


def test_config_masks_and_dmask_combine(tmp_path):
    path = tmp_path / "m.dmask.csv"
    path.write_text(DMASK)
    entry = {
        "layers": ["conv2", "fc6"],
        "dmask": str(path),
        "units": {"conv2": {"pool": "max"}},
    }
    masks = model_masks("net", entry)
    assert masks["conv2"] == UnitMask(
        channels=(1, 5, 9), rows=(2, 3, 4, 5), cols=(1, 13), pool="max"
    )
    with pytest.raises(InputError, match=r"models\.net\.dmask: .* names layer 'fc6', which is"):
        model_masks("net", {**entry, "layers": ["conv2"]})
    with pytest.raises(InputError, match=r"models\.net\.units\.conv2: channels given here and in"):
        model_masks("net", {**entry, "units": {"conv2": {"channels": [1]}}})
    with pytest.raises(
        InputError, match=r"models\.net\.units\.conv9: not among models\.net\.layers"
    ):
        model_masks("net", {"layers": ["conv2"], "units": {"conv9": {"pool": "mean"}}})
    # fc6 has 4096 units: the dmask's channel 4096 fits, 4097 would not
    check_masks("net", masks, {"conv2": (192, 13, 13), "fc6": (4096,)})
    with pytest.raises(InputError, match=r"^c\.yaml: models\.net\.units\.conv2: cols 13 is not"):
        check_masks("net", masks, {"conv2": (192, 12, 12), "fc6": (4096,)}, "c.yaml")


def test_masks_applied_during_extraction(tmp_path):
    rng = np.random.default_rng(2)
    paths = []
    for i in range(3):
        p = tmp_path / f"i{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    ids = ["a", "b", "c"]
    layers = ["conv1", "conv2", "conv5", "fc6"]
    base = {"architecture": "alexnet", "seed": 1, "layers": layers, "preprocessing": {"resize": 96}}
    full = tmp_path / "full.h5"
    extract_activations(ModelSpec.from_config("a", base), ids, paths, str(full), batch_size=2)
    dmask = tmp_path / "a.dmask.csv"
    dmask.write_text("conv2=chn,row\n2,4,6\n1,2,3\nfc6=chn\n5,1,4096\n")
    units = {
        "conv1": {"downsample": 3},
        "conv2": {"pool": "max"},
        "conv5": {"channels": [256, 1], "pool": "mean"},
    }
    masked_entry = {**base, "units": units, "dmask": str(dmask)}
    spec = ModelSpec.from_config("a", masked_entry)
    masked = tmp_path / "masked.h5"
    extract_activations(spec, ids, paths, str(masked), batch_size=2)
    with h5py.File(full) as f, h5py.File(masked) as g:
        for layer in layers:
            want = _numpy_mask(f["layers"][layer][:], spec.masks[layer])
            np.testing.assert_allclose(g["layers"][layer][:], want, rtol=1e-5, atol=1e-6)
        assert g["layers"]["conv1"].shape == (3, 64, 7, 7)  # 23 x 23 averaged in 3 x 3 blocks
        assert g["layers"]["conv2"].shape == (3, 3)
        assert g["layers"]["fc6"].shape == (3, 3)
        assert "channels" in g["layers"]["conv5"].attrs["mask"]
        assert '"pool": "mean"' in g.attrs["masks"]
    # sizing counts what is written
    units_written = layer_units(masked_entry, layers, 96)
    assert units_written == {"conv1": 64 * 7 * 7, "conv2": 3, "conv5": 2, "fc6": 3}
