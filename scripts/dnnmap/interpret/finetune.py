"""Fine-tuning a network's last layers on a stimulus-table attribute (DNNBrain's transfer
learning), written as a weights file any model entry can load.

The architecture is kept, so the result loads into the model family's own network: the
attribute's ``K`` classes (in sorted order) are read out from the first ``K`` units of the
network's output layer (the class logits), trained with cross-entropy; the other output
units are left as they were. The last ``train_layers`` layers with parameters (in module
order; ``0``: all) are trained with Adam, the rest frozen; the network stays in eval mode
(no dropout, fixed normalisation statistics), so the result does not depend on batch order
beyond the seeded shuffling. Stimuli are split once into training and validation sets
(stratified, seeded); after each epoch the validation accuracy is measured, the best epoch's
weights are kept, and training stops after ``patience`` epochs without improvement.

The weights file is ``{"state_dict": ..., "dnnmap_provenance": JSON}``: a model entry reads it
with ``weights: <file>`` and ``checkpoint_key: state_dict`` (dnnmap.models.checkpoint reads
tensors and strings only).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from tqdm import tqdm

from dnnmap.errors import InputError
from dnnmap.store import atomic_path

STATE_KEY = "state_dict"
"""Entry of the weights file holding the state dict (the model entry's ``checkpoint_key``)."""


@dataclass(frozen=True)
class FinetuneSettings:
    """Settings of :func:`finetune` (``interpret.finetune.<name>``)."""

    train_layers: int = 1
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 32
    val_fraction: float = 0.2
    patience: int = 3
    seed: int = 0


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune` did.

    Attributes
    ----------
    classes : list of str
        The attribute's classes; class k is output unit k.
    train_rows, val_rows : int arrays
        Stimulus rows of the two sets.
    history : dict of str to list
        Per epoch: ``train_loss``, ``val_loss``, ``val_accuracy``.
    best_epoch : int
        1-based epoch whose weights were kept (0: none improved on the start).
    val_accuracy : float
        Validation accuracy of the kept weights.
    chance : float
        Share of the most frequent class in the validation set.
    trained : list of str
        Names of the trained parameters.
    """

    classes: list[str]
    train_rows: np.ndarray
    val_rows: np.ndarray
    history: dict
    best_epoch: int
    val_accuracy: float
    chance: float
    trained: list[str]


def trainable_parameters(model: nn.Module, train_layers: int) -> list[str]:
    """Names of the parameters of the last ``train_layers`` modules that own parameters
    (0: every parameter)."""
    owners = [
        name
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]
    if train_layers < 0 or train_layers > len(owners):
        raise InputError(
            f"interpret.finetune: train_layers is {train_layers}; the network has "
            f"{len(owners)} layers with parameters (0 trains all)"
        )
    chosen = owners if train_layers == 0 else owners[-train_layers:]
    return [
        f"{owner}.{p}" if owner else p
        for owner in chosen
        for p, _ in dict(model.named_modules())[owner].named_parameters(recurse=False)
    ]


def _accuracy_and_loss(model, x, y, k, batch_size):
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    correct, total = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size])[:, :k]
            target = y[start : start + batch_size]
            total += float(loss_fn(logits, target))
            correct += int((logits.argmax(dim=1) == target).sum())
    return correct / len(x), total / len(x)


def finetune(
    model: nn.Module, x: torch.Tensor, labels, settings: FinetuneSettings, progress=None
) -> FinetuneResult:
    """Train the last layers of ``model`` (in place) to read ``labels`` out of its outputs.

    Parameters
    ----------
    model : torch.nn.Module
        The network, outputs (b, n_out) with ``n_out`` at least the number of classes.
    x : tensor of shape (n, 3, H, W)
        Preprocessed stimuli.
    labels : sequence of shape (n,)
        The attribute's value per stimulus.
    settings : FinetuneSettings
    progress : file-like, optional

    Returns
    -------
    FinetuneResult
    """
    labels = np.asarray(labels).astype(str)
    classes, codes = np.unique(labels, return_inverse=True)
    if classes.size < 2:
        raise InputError("interpret.finetune: the attribute has fewer than two classes")
    rows = np.arange(len(labels))
    try:
        train, val = train_test_split(
            rows,
            test_size=settings.val_fraction,
            random_state=settings.seed,
            stratify=codes,
        )
    except ValueError as err:
        raise InputError(f"interpret.finetune: cannot split the stimuli ({err})") from None
    train, val = np.sort(train), np.sort(val)
    torch.manual_seed(settings.seed)
    model.eval()
    with torch.no_grad():
        n_out = model(x[:1]).shape[1]
    k = classes.size
    if k > n_out:
        raise InputError(f"interpret.finetune: {k} classes but the network has {n_out} outputs")
    names = trainable_parameters(model, settings.train_layers)
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in names)
    optimizer = torch.optim.Adam([params[n] for n in names], lr=settings.lr)
    y = torch.as_tensor(codes, dtype=torch.long)
    generator = torch.Generator().manual_seed(settings.seed)
    loss_fn = nn.CrossEntropyLoss()
    best_acc, _ = _accuracy_and_loss(model, x[val], y[val], k, settings.batch_size)
    best_state = {n: params[n].detach().clone() for n in names}
    best_epoch, stale = 0, 0
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    for epoch in tqdm(range(1, settings.epochs + 1), desc="epochs", file=progress):
        order = train[torch.randperm(len(train), generator=generator).numpy()]
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch])[:, :k], y[batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        acc, val_loss = _accuracy_and_loss(model, x[val], y[val], k, settings.batch_size)
        history["train_loss"].append(total / len(train))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(acc)
        if acc > best_acc:
            best_acc, best_epoch, stale = acc, epoch, 0
            best_state = {n: params[n].detach().clone() for n in names}
        else:
            stale += 1
            if stale >= settings.patience:
                break
    with torch.no_grad():
        for n in names:
            params[n].copy_(best_state[n])
    for p in params.values():
        p.requires_grad_(True)
    chance = float(np.bincount(codes[val]).max() / len(val))
    return FinetuneResult(
        list(classes), train, val, history, best_epoch, float(best_acc), chance, names
    )


def save_finetuned(path, model: nn.Module, result: FinetuneResult, provenance: dict) -> None:
    """Write the weights file (module docstring), atomically.

    Parameters
    ----------
    path : path
    model : torch.nn.Module
    result : FinetuneResult
    provenance : dict
        Base model entry, attribute, settings, dnnmap's provenance attributes; the classes,
        their output units, the split and the validation result are added.
    """
    record = {
        **provenance,
        "classes": result.classes,
        "class_output_units": list(range(len(result.classes))),
        "best_epoch": result.best_epoch,
        "val_accuracy": result.val_accuracy,
        "chance": result.chance,
        "n_train": int(result.train_rows.size),
        "n_val": int(result.val_rows.size),
        "trained_parameters": result.trained,
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({STATE_KEY: state, "dnnmap_provenance": json.dumps(record, default=str)}, tmp)


def settings_from_config(entry: dict) -> FinetuneSettings:
    """:class:`FinetuneSettings` from a config entry (its model and attribute keys dropped)."""
    fields = set(asdict(FinetuneSettings()))
    return FinetuneSettings(**{k: v for k, v in entry.items() if k in fields})


def history_figure(history, chance: float, best_epoch: int, title: str):
    """Validation accuracy (and chance) and the losses per epoch.

    Parameters
    ----------
    history : mapping of str to sequence
        ``train_loss``, ``val_loss``, ``val_accuracy`` per epoch (:class:`FinetuneResult`).
    chance : float
        Share of the most frequent class in the validation set.
    best_epoch : int
        The kept epoch (0: the starting weights).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    epochs = np.arange(1, len(history["val_accuracy"]) + 1)
    fig = Figure(figsize=(7, 2.6), layout="constrained")
    acc, loss = fig.subplots(1, 2)
    acc.plot(epochs, history["val_accuracy"], "o-", color="tab:blue", label="validation")
    acc.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    if best_epoch:
        acc.plot(
            [best_epoch],
            [history["val_accuracy"][best_epoch - 1]],
            "*",
            ms=12,
            color="tab:red",
            label="kept",
        )
    acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), xticks=epochs)
    acc.legend(fontsize=7)
    loss.plot(epochs, history["train_loss"], "o-", label="training")
    loss.plot(epochs, history["val_loss"], "o-", label="validation")
    loss.set(xlabel="epoch", ylabel="cross-entropy", xticks=epochs)
    loss.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig
