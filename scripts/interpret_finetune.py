"""Fine-tune a model's last layers on a stimulus-table attribute and write the weights with
their provenance (dnnmap.interpret.finetune).

Rule ``interpret_finetune``.
Inputs: ``stimuli`` (results/stimuli.tsv: images and the attribute column), ``weights`` (the
base model's local weights file, if it has one).
Outputs: ``weights`` (results/finetune/{name}.pth: ``{"state_dict": ..., "dnnmap_provenance":
JSON}``; a model entry uses it with ``weights: results/finetune/{name}.pth`` and
``checkpoint_key: state_dict``), ``history`` (results/finetune/{name}.tsv: loss and validation
accuracy per epoch).
Params: ``entry`` (config ``interpret.finetune.{name}``: model, attribute, train_layers, epochs,
lr, batch_size, val_fraction, patience, seed), ``model`` (config ``models.{model}``),
``device`` (config ``compute.device``), ``background`` (config ``stimuli.background``).
Wildcard: ``name``.
"""

import logging

import pandas as pd
import torch

from dnnmap.images import read_image
from dnnmap.interpret.finetune import finetune, save_finetuned, settings_from_config
from dnnmap.logs import rule_log
from dnnmap.models.build import ModelSpec, build_model, torch_device
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_table

LOG = logging.getLogger("dnnmap")


def main(paths, name, entry, model_entry, device, background, out_weights, out_history, log):
    table = read_stimuli(paths["stimuli"])
    spec = ModelSpec.from_config(entry["model"], model_entry)
    model, weights_id = build_model(spec, paths.get("weights") or None)
    device = torch_device(device)
    transform = spec.preprocessing.transform()
    x = torch.stack([transform(read_image(p, background)[0]) for p in table["path"]]).to(device)
    settings = settings_from_config(entry)
    result = finetune(model.to(device), x, table[entry["attribute"]].astype(str), settings, log)
    LOG.info(
        "%s: %s on %s (%d classes), %d training and %d validation stimuli; best epoch %d of "
        "%d, validation accuracy %.3f (chance %.3f); trained %s",
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
    )
    record = provenance({"finetune": entry, "model": model_entry}, [paths["stimuli"]])
    record.update(base_weights=weights_id, attribute=entry["attribute"], settings=dict(entry))
    save_finetuned(out_weights, model.cpu(), result, record)
    history = pd.DataFrame(result.history)
    history.insert(0, "epoch", range(1, len(history) + 1))
    write_table(out_history, history)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("interpret_finetune", name="category")
    weights = snakemake.input.get("weights")
    with rule_log(snakemake.log[0]) as log:
        torch.set_num_threads(snakemake.threads)
        main(
            {"stimuli": snakemake.input.stimuli, "weights": weights},
            snakemake.wildcards.name,
            dict(snakemake.params.entry),
            snakemake.params.model,
            snakemake.params.device,
            snakemake.params.background,
            snakemake.output.weights,
            snakemake.output.history,
            log,
        )
