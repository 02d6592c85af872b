"""Tests of dnnmap.models.checkpoint and the weights files build_model reads.

Weights files that are not state dicts, checkpoints that wrap the state dict or prefix its
keys, and state dicts of another network each give one line naming the file, what was
found and what is expected, and never advice to load the file unsafely.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

from dnnmap.config import weights_kind
from dnnmap.errors import InputError
from dnnmap.models.build import ModelSpec, build_model, weights_digest
from dnnmap.models.checkpoint import EXPECTED, describe_mismatch, load_state_dict

ARCH = "resnet18"


def _spec(weights: str, **options) -> ModelSpec:
    return ModelSpec(name="net", architecture=ARCH, weights=weights, layers=["fc"], **options)


@pytest.fixture(scope="module")
def reference():
    """A seeded ResNet-18 state dict and its digest."""
    model, _ = build_model(ModelSpec(name="net", architecture=ARCH, seed=5, layers=["fc"]))
    return model.state_dict(), weights_digest(model)


def _message(path, **options) -> str:
    with pytest.raises(InputError) as err:
        build_model(_spec(str(path), **options))
    message = str(err.value)
    assert "\n" not in message
    assert "weights_only" not in message  # never the advice to unpickle unsafely
    return message


def test_whole_pickled_model_is_refused_safely(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(torch.nn.Linear(2, 2), path)
    message = _message(path)
    assert message.startswith(f"models.net.weights: {path} holds a pickled ")
    assert "torch.nn.modules.linear.Linear object (a whole model?), not a state dict" in message
    assert "never runs code" in message and message.endswith(EXPECTED)
    assert "torch.save(model.state_dict(), path)" in message


@pytest.mark.parametrize(
    ("obj", "found"),
    [
        ([torch.zeros(2), torch.ones(3)], "holds a list of 2 items, not a state dict"),
        (torch.zeros(3, 4), "holds a single tensor of shape (3, 4), not a state dict"),
        ({}, "holds an empty dict, not a state dict"),
        ({"w": torch.zeros(1), "epoch": 3}, "dict whose entries are not all tensors (keys: w,"),
        (7, "holds a int, not a state dict"),
    ],
)
def test_other_objects_say_what_was_found(tmp_path, obj, found):
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    message = _message(path)
    assert found in message and message.endswith(EXPECTED)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"hello, not a checkpoint")
    assert "not a file torch.load can read" in _message(path)


def test_wrapped_checkpoint_hint_and_key(tmp_path, reference):
    state, digest = reference
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 90, "state_dict": state, "best_acc": 0.7}, path)
    message = _message(path)
    assert "keys: epoch, state_dict, best_acc" in message
    assert (
        "the tensors are under 'state_dict': set models.net.checkpoint_key: state_dict" in message
    )
    model, _ = build_model(_spec(str(path), checkpoint_key="state_dict"))
    assert weights_digest(model) == digest
    with pytest.raises(
        InputError,
        match=r"no entry 'model' \(models\.net\.checkpoint_key\).*"
        r"top-level keys are epoch, state_dict, best_acc",
    ):
        build_model(_spec(str(path), checkpoint_key="model"))


def test_module_prefix_listed_and_stripped(tmp_path, reference):
    state, digest = reference
    path = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    message = _message(path)
    n = len(state)
    assert message.startswith(f"models.net.weights: {path}: not a {ARCH} state dict (")
    assert f"{n} keys missing (first: conv1.weight, bn1.weight, bn1.bias, ...)" in message
    assert f"{n} unexpected (first: module.conv1.weight, module.bn1.weight" in message
    assert "the file's keys all start with 'module.': set models.net.strip_prefix: module." in (
        message
    )
    model, _ = build_model(_spec(str(path), strip_prefix="module."))
    assert weights_digest(model) == digest
    with pytest.raises(InputError, match=r"no key starts with 'model\.' .*strip_prefix"):
        build_model(_spec(str(path), strip_prefix="model."))


def test_wrapper_and_prefix_together(tmp_path, reference):
    state, digest = reference
    path = tmp_path / "lightning.ckpt.pt"
    torch.save({"model": {f"net.backbone.{k}": v for k, v in state.items()}}, path)
    assert "set models.net.checkpoint_key: model" in _message(path)
    message = _message(path, checkpoint_key="model")
    assert "set models.net.strip_prefix: net.backbone." in message
    spec = _spec(str(path), checkpoint_key="model", strip_prefix="net.backbone.")
    assert weights_digest(build_model(spec)[0]) == digest


def test_shape_mismatch_named(tmp_path, reference):
    state, _ = reference
    other = dict(state)
    other["fc.weight"] = torch.zeros(10, 512)
    other["fc.bias"] = torch.zeros(10)
    path = tmp_path / "ten_classes.pth"
    torch.save(other, path)
    message = _message(path)
    shape = "2 of another shape (first: fc.weight is (10, 512) in the file, (1000, 512) expected)"
    assert shape in message
    assert "strip_prefix" not in message and "missing" not in message


def test_missing_keys_without_a_prefix_hint(tmp_path, reference):
    state, _ = reference
    path = tmp_path / "partial.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("layer4")}, path)
    message = _message(path)
    assert "keys missing (first: layer4.0.conv1.weight" in message
    assert "unexpected" not in message and "strip_prefix" not in message


def test_describe_mismatch_by_hand():
    expected = {"a.w": (2,), "b.w": (3,)}
    state = {"m.a.w": torch.zeros(2), "m.b.w": torch.zeros(3)}
    assert describe_mismatch(expected, state, "models.x") == (
        "2 keys missing (first: a.w, b.w), 2 unexpected (first: m.a.w, m.b.w); the file's keys "
        "all start with 'm.': set models.x.strip_prefix: m."
    )
    # A prefix shared by all keys that does not help is not suggested.
    assert "strip_prefix" not in describe_mismatch(expected, {"m.z": torch.zeros(1)}, "k")
    assert describe_mismatch(expected, {"a.w": torch.zeros(2), "b.w": torch.zeros(3)}, "k") == (
        "keys and shapes match"
    )


def test_upper_case_suffix_is_a_file(tmp_path, reference):
    state, digest = reference
    for suffix in (".PTH", ".Pt", ".BIN"):
        assert weights_kind(f"w{suffix}") == "file"
    path = tmp_path / "W.PTH"
    torch.save(state, path)
    model, weights_id = build_model(_spec(str(path)))
    assert weights_id == str(path) and weights_digest(model) == digest
    assert weights_kind("IMAGENET1K_V1") == "torchvision" and weights_kind("None") == "random"


def test_load_state_dict_returns_the_tensors(tmp_path):
    model = torchvision.models.resnet18(weights=None)
    path = tmp_path / "w.pth"
    torch.save(model.state_dict(), path)
    state = load_state_dict(path, "models.net")
    assert list(state) == list(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
