"""Fine-tune a model's last layers on a stimulus-table attribute and write the weights with
their provenance (dnnmap.interpret.finetune).

Rule ``interpret_finetune``.
Inputs: ``stimuli`` (results/stimuli.tsv: images and the attribute column), ``weights`` (the
base model's local weights file, if it has one).
Outputs: ``weights`` (results/finetune/{name}.pth: ``{"state_dict": ..., "dnnmap_provenance":
JSON}``; a model entry uses it with ``weights: results/finetune/{name}.pth`` and
``checkpoint_key: state_dict``), ``history`` (results/finetune/{name}.tsv: loss and validation
accuracy per epoch), ``figure`` (results/finetune/{name}.png: the validation accuracy curve
against chance, and the losses).
Params: ``entry`` (config ``interpret.finetune.{name}``: model, attribute, train_layers, epochs,
lr, batch_size, val_fraction, patience, seed, size: the input side used in training, default
the model's preprocessing), ``model`` (config ``models.{model}``),
``device`` (config ``compute.device``), ``tf32`` (config ``compute.tf32``: TF32 in CUDA
convolutions), ``background`` (config ``stimuli.background``).
Wildcard: ``name``.
"""

import dataclasses
import logging

import pandas as pd
import torch

from dnnmap.figures import save_figure
from dnnmap.images import read_image
from dnnmap.interpret.finetune import (
    finetune,
    history_figure,
    save_finetuned,
    settings_from_config,
)
from dnnmap.logs import rule_log
from dnnmap.models.build import ModelSpec, build_model, torch_device
from dnnmap.models.precision import cuda_precision
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_table

LOG = logging.getLogger("dnnmap")


def main(paths, name, entry, model_entry, device, background, outs, log):
    table = read_stimuli(paths["stimuli"])
    spec = ModelSpec.from_config(entry["model"], model_entry)
    model, weights_id = build_model(spec, paths.get("weights") or None)
    device = torch_device(device)
    preprocessing = spec.preprocessing
    if entry.get("size"):
        preprocessing = dataclasses.replace(preprocessing, resize=int(entry["size"]), crop=None)
    transform = preprocessing.transform()
    x = torch.stack([transform(read_image(p, background)[0]) for p in table["path"]]).to(device)
    settings = settings_from_config(entry)
    result = finetune(model.to(device), x, table[entry["attribute"]].astype(str), settings, log)
    LOG.info(
        "%s: %s on %s (%d classes), %d training and %d validation stimuli; best epoch %d of "
        "%d, validation accuracy %.3f (chance %.3f); trained %s; input %d px",
        name,
        entry["model"],
        entry["attribute"],
        len(result.classes),
        result.train_rows.size,
        result.val_rows.size,
        result.best_epoch,
        len(result.history["val_accuracy"]),
        result.val_accuracy,
        result.chance,
        ", ".join(result.trained),
        preprocessing.side,
    )
    record = provenance({"finetune": entry, "model": model_entry}, [paths["stimuli"]])
    record.update(
        base_weights=weights_id,
        attribute=entry["attribute"],
        settings=dict(entry),
        input_size=preprocessing.side,
    )
    save_finetuned(outs["weights"], model.cpu(), result, record)
    history = pd.DataFrame(result.history)
    history.insert(0, "epoch", range(1, len(history) + 1))
    write_table(outs["history"], history)
    title = (
        f"{name}: {entry['model']} fine-tuned on {entry['attribute']} "
        f"({result.train_rows.size} training, {result.val_rows.size} validation stimuli)"
    )
    fig = history_figure(result.history, result.chance, result.best_epoch, title)
    save_figure(fig, outs["figure"])


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("interpret_finetune", name="category")
    weights = snakemake.input.get("weights")
    with cuda_precision(snakemake.params.tf32), rule_log(snakemake.log[0]) as log:
        torch.set_num_threads(snakemake.threads)
        main(
            {"stimuli": snakemake.input.stimuli, "weights": weights},
            snakemake.wildcards.name,
            dict(snakemake.params.entry),
            snakemake.params.model,
            snakemake.params.device,
            snakemake.params.background,
            {k: snakemake.output[k] for k in ("weights", "history", "figure")},
            log,
        )
