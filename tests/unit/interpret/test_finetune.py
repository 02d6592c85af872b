"""Tests of dnnmap.interpret.finetune: a separable attribute is learned above chance on tiny
data with a random AlexNet, and the weights file loads into a model entry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dnnmap.errors import InputError
from dnnmap.interpret.finetune import (
    FinetuneSettings,
    finetune,
    save_finetuned,
    trainable_parameters,
)
from dnnmap.models.build import ModelSpec, Preprocessing, build_model


def test_finetuning_learns_a_separable_attribute_and_loads_back(tmp_path):
    spec = ModelSpec("a", "alexnet", seed=0, layers=["fc8"], preprocessing=Preprocessing(64))
    model, _ = build_model(spec)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    n = 32
    labels = np.array(["dark", "light"] * (n // 2))
    x = torch.as_tensor(rng.normal(size=(n, 3, 64, 64)).astype(np.float32)) * 0.3
    x[labels == "light"] += 1.0  # brightness separates the classes
    settings = FinetuneSettings(
        train_layers=1, epochs=4, lr=0.01, batch_size=24, seed=1, val_fraction=0.25
    )
    result = finetune(model, x, labels, settings)
    assert result.val_accuracy > result.chance + 0.2
    assert result.trained == ["classifier.6.weight", "classifier.6.bias"]
    after = model.state_dict()
    assert torch.equal(after["features.0.weight"], before["features.0.weight"])
    assert not torch.equal(after["classifier.6.weight"], before["classifier.6.weight"])
    path = tmp_path / "tuned.pth"
    save_finetuned(path, model, result, {"attribute": "brightness"})
    entry = ModelSpec(
        "tuned",
        "alexnet",
        weights=str(path),
        layers=["fc8"],
        checkpoint_key="state_dict",
        preprocessing=Preprocessing(64),
    )
    loaded, weights_id = build_model(entry)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x[:4]).numpy(), model(x[:4]).numpy(), atol=1e-5)
    record = json.loads(torch.load(path, weights_only=True)["dnnmap_provenance"])
    assert record["classes"] == ["dark", "light"] and record["attribute"] == "brightness"
    assert weights_id == str(path)


def test_trainable_parameters_and_bad_settings():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    assert trainable_parameters(net, 1) == ["2.weight", "2.bias"]
    assert len(trainable_parameters(net, 0)) == 4
    with pytest.raises(InputError, match="train_layers is 3; the network has 2 layers"):
        trainable_parameters(net, 3)
    with pytest.raises(InputError, match="fewer than two classes"):
        finetune(net, torch.zeros(4, 4), ["a"] * 4, FinetuneSettings())


def test_history_figure_draws_the_validation_curve_and_chance(tmp_path):
    from dnnmap.figures import save_figure
    from dnnmap.interpret.finetune import history_figure

    history = {
        "train_loss": [2.3, 2.1, 2.0],
        "val_loss": [2.2, 2.1, 2.1],
        "val_accuracy": [0.3, 0.2, 0.4],
    }
    fig = history_figure(history, 0.1, 3, "t")
    acc, loss = fig.axes
    np.testing.assert_allclose(acc.lines[0].get_ydata(), history["val_accuracy"])
    np.testing.assert_allclose(acc.lines[1].get_ydata(), [0.1, 0.1])  # chance
    np.testing.assert_allclose(acc.lines[2].get_ydata(), [0.4])  # the kept epoch
    np.testing.assert_allclose(loss.lines[1].get_ydata(), history["val_loss"])
    save_figure(fig, tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0
