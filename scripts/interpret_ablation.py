"""Channel ablation through an ROI's encoding model: the drop in accuracy when each channel of
the encoding layer is set to its mean (or zero), ranked (dnnmap.interpret.ablation).

Rule ``interpret_ablation``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``activations`` (results/activations/{model}.h5),
``brain`` (results/brain/{subject}/{roi}.h5: the measured responses), ``readout``
(results/interpret/{model}/{layer}/brain/{subject}/{roi}/readout.h5: the encoding model
refitted on all stimuli as a read-out of the layer's units).
Outputs: ``table`` (ablation.tsv: one row per target and channel with ``r_full``, ``r``
ablated, ``importance`` = r_full - r, ``mse_full``, ``mse`` and ``rank`` (1: most important)),
``figure`` (the most important channels per target, PNG).
Params: ``mode`` (config ``interpret.ablation.mode``), ``n_show`` (channels drawn).
Wildcards: ``model``, ``layer``, ``subject``, ``roi``.
"""

import logging

import h5py
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dnnmap.encoding.io import read_layer_units, read_roi
from dnnmap.figures import save_figure
from dnnmap.interpret.ablation import ablate_channels
from dnnmap.interpret.targets import read_targets
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def ablation_table(ab, names) -> pd.DataFrame:
    """One row per target and channel, channels in layer order."""
    C, t = ab.r.shape
    ranks = np.empty((t, C), dtype=np.int64)
    np.put_along_axis(ranks, ab.ranking(), np.arange(1, C + 1)[None, :], axis=1)
    return pd.DataFrame(
        {
            "target": np.repeat(names, C),
            "channel": np.tile(np.arange(C), t),
            "r_full": np.repeat(ab.r_full, C),
            "r": ab.r.T.ravel(),
            "importance": ab.importance.T.ravel(),
            "mse_full": np.repeat(ab.mse_full, C),
            "mse": ab.mse.T.ravel(),
            "rank": ranks.ravel(),
        }
    )


def ablation_figure(table: pd.DataFrame, n_show: int, title: str) -> Figure:
    """The ``n_show`` most important channels of each target, as bars."""
    names = list(dict.fromkeys(table["target"]))
    fig = Figure(figsize=(6, 1.8 * len(names) + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(names), 1, squeeze=False)[:, 0])
    for ax, name in zip(axes, names, strict=True):
        rows = table[table["target"] == name].nsmallest(n_show, "rank")
        ax.bar(range(len(rows)), rows["importance"], color="tab:blue")
        ax.set_xticks(range(len(rows)), [str(c) for c in rows["channel"]], fontsize=6)
        ax.set_ylabel("drop in r", fontsize=7)
        ax.set_title(f"{name} (r {rows['r_full'].iloc[0]:.3f} intact)", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[-1].set_xlabel("channel", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def main(paths, wildcards, mode, n_show, out_table, out_figure):
    table = read_stimuli(paths["stimuli"])
    stim_ids = list(table["stim_id"])
    spec = read_targets(paths["readout"])
    A, unit_shape = read_layer_units(paths["activations"], spec.layer, stim_ids, paths["stimuli"])
    Y = read_roi(paths["brain"], stim_ids, paths["stimuli"])["responses"].astype(np.float64)
    with h5py.File(paths["readout"], "r") as f:
        cols, T = f["voxel_column"][()], f["target_weights"][()]
    ab = ablate_channels(
        A, unit_shape, spec.weights, spec.mean, spec.intercept, Y[:, cols] @ T, mode
    )
    out = ablation_table(ab, spec.names)
    for j, name in enumerate(spec.names):
        top = ab.ranking()[j, :5]
        LOG.info(
            "%s: r %.3f intact; most important channels %s (drop in r %s)",
            name,
            ab.r_full[j],
            top.tolist(),
            np.round(ab.importance[top, j], 4).tolist(),
        )
    write_table(out_table, out)
    title = " ".join(wildcards.values()) + f": {mode}-ablation of each channel (in-sample r)"
    save_figure(ablation_figure(out, n_show, title), out_figure)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "interpret_ablation", model="alexnet", layer="fc6", subject="sub-01", roi="VTC"
        )
    with rule_log(snakemake.log[0]):
        main(
            {k: snakemake.input[k] for k in ("stimuli", "activations", "brain", "readout")},
            dict(snakemake.wildcards),
            snakemake.params.mode,
            snakemake.params.n_show,
            snakemake.output.table,
            snakemake.output.figure,
        )
