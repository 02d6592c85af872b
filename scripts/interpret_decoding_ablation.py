"""Decoding accuracy of stimulus attributes from a layer with each channel ablated, ranked
(dnnmap.interpret.ablation.decoding_ablation).

Rule ``interpret_decoding_ablation``.
Inputs: ``stimuli`` (results/stimuli.tsv: the attribute columns), ``activations``
(results/activations/{model}.h5).
Outputs: ``table`` (results/interpret/{model}/{layer}/units/decoding_ablation.tsv: one row per
attribute and channel (``channel`` -1: nothing ablated, -2: every channel ablated) with the
mean cross-validated ``accuracy``, the drop from the intact ``importance``, ``rank`` (1: most
important) and ``chance`` (the most frequent class's share)), ``figure``
(decoding_ablation.png: the ``n_show`` most important channels per attribute).
Params: ``attributes`` (config ``interpret.ablation.attributes``), ``mode`` (config
``interpret.ablation.mode``: ablated units set to their training mean or to zero),
``n_folds`` and ``seed`` (config ``decoding``), ``n_show``. Wildcards: ``model``, ``layer``.
"""

import logging

import numpy as np
import pandas as pd

from dnnmap.encoding.io import read_layer_units
from dnnmap.figures import save_figure
from dnnmap.interpret.ablation import decoding_ablation
from dnnmap.interpret.ablation_figure import ablation_figure
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def decoding_figure(table: pd.DataFrame, n_show: int, title: str):
    """The ablation figure of a decoding-ablation table: per attribute, the drop in
    cross-validated accuracy of its ``n_show`` most important channels."""
    rows = []
    for attribute, sub in table.groupby("attribute", sort=False):
        intact = sub.loc[sub["channel"] == -1, "accuracy"].iloc[0]
        every = sub.loc[sub["channel"] == -2, "accuracy"].iloc[0]
        chance = sub["chance"].iloc[0]
        name = f"{attribute} (every channel ablated {every:.3f}, chance {chance:.3f})"
        rows.append(sub.assign(target=name, metric="accuracy", accuracy_full=intact))
    return ablation_figure(pd.concat(rows, ignore_index=True), n_show, title)


def main(
    stimuli_path,
    activations_path,
    layer,
    attributes,
    n_folds,
    seed,
    outs,
    mode="mean",
    n_show=20,
    model="",
):
    table = read_stimuli(stimuli_path)
    A, unit_shape = read_layer_units(activations_path, layer, list(table["stim_id"]), stimuli_path)
    frames = []
    for attribute in attributes:
        out = decoding_ablation(
            A, unit_shape, table[attribute].astype(str), n_folds, seed, mode=mode
        )
        order = np.argsort(-out.importance, kind="stable")
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(1, order.size + 1)
        frames.append(
            pd.DataFrame(
                {
                    "attribute": attribute,
                    "channel": np.r_[-1, -2, np.arange(out.accuracy.size)],
                    "accuracy": np.r_[out.accuracy_full, out.accuracy_all, out.accuracy],
                    "importance": np.r_[0.0, out.accuracy_full - out.accuracy_all, out.importance],
                    "rank": np.r_[0, 0, rank],
                    "chance": out.chance,
                    "mode": mode,
                }
            )
        )
        LOG.info(
            "%s from %s: accuracy %.3f intact, %.3f with every channel ablated (chance %.3f); "
            "most important channels %s (drop in accuracy %s)",
            attribute,
            layer,
            out.accuracy_full,
            out.accuracy_all,
            out.chance,
            order[:5].tolist(),
            np.round(out.importance[order[:5]], 3).tolist(),
        )
    out = pd.concat(frames, ignore_index=True)
    write_table(outs["table"], out)
    title = f"Decoding from {model} {layer}: {mode}-ablation of each channel in the test sets"
    save_figure(decoding_figure(out, n_show, title), outs["figure"])


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("interpret_decoding_ablation", model="alexnet", layer="conv5")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.activations,
            snakemake.wildcards.layer,
            list(snakemake.params.attributes),
            snakemake.params.n_folds,
            snakemake.params.seed,
            {"table": snakemake.output.table, "figure": snakemake.output.figure},
            snakemake.params.mode,
            snakemake.params.n_show,
            snakemake.wildcards.model,
        )
