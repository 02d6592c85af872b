"""Receptive fields of a layer's channel targets: the theoretical size and stride from the
architecture, and the empirical field by sliding-occluder discrepancy maps over each
channel's top stimuli (dnnmap.interpret.receptive_field).

Rule ``interpret_receptive_fields``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``top`` (results/interpret/{model}/{layer}/units/
top_stimuli.h5: the channel targets and their top stimuli), ``weights`` (a local weights file,
if the model has one).
Outputs: ``table`` (receptive_fields.tsv: per channel target the theoretical ``rf_size``,
``rf_jump`` (stride in input pixels) and ``rf_global``, the followed ``unit_y``, ``unit_x``, its
theoretical centre ``rf_centre_y``, ``rf_centre_x``, and the empirical ``centre_y``,
``centre_x`` and ``size``; empirical columns NaN for a fully connected layer), ``figure``
(the discrepancy maps, PNG).
Params: ``model`` (config ``models.{model}``), ``settings`` (config
``interpret.receptive_field``: n_stimuli, occluder, stride), ``device`` (config
``compute.device``), ``tf32`` (config ``compute.tf32``: TF32 in CUDA convolutions),
``background`` (config ``stimuli.background``).
Wildcards: ``model``, ``layer``.
"""

import logging

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from dnnmap.figures import save_figure
from dnnmap.interpret.network import network_head, stimulus_inputs
from dnnmap.interpret.receptive_field import occlusion_field, theoretical_receptive_fields
from dnnmap.interpret.targets import read_targets
from dnnmap.interpret.top_stimuli import read_top_stimuli
from dnnmap.logs import rule_log
from dnnmap.models.build import torch_device
from dnnmap.models.precision import cuda_precision
from dnnmap.models.registry import get_family
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(paths, wildcards, model_entry, settings, device, background, out_table, out_fig):
    table = read_stimuli(paths["stimuli"])
    spec = read_targets(paths["top"])
    top = read_top_stimuli(paths["top"])
    layer = wildcards["layer"]
    head, model_spec = network_head(
        wildcards["model"], model_entry, layer, spec, paths.get("weights") or None
    )
    module = get_family(model_spec.architecture).layers[layer]
    side = model_spec.preprocessing.resize
    rf = theoretical_receptive_fields(head.layer.model, {layer: module}, side)[layer]
    LOG.info("%s: theoretical receptive field %g px, stride %g px", layer, rf.size, rf.jump)
    device = torch_device(device)
    layer_head = head.layer.to(device)
    rows, maps = [], []
    for j, channel in enumerate(spec.channel):
        row = {"target": spec.names[j], "channel": int(channel), "rf_size": rf.size}
        row.update(rf_jump=rf.jump, rf_global=rf.is_global)
        if len(spec.unit_shape) == 3 and not rf.is_global:
            chosen = top.top[j, : settings["n_stimuli"]]
            x, _ = stimulus_inputs(table["path"].to_numpy()[chosen], model_spec, background)
            field = occlusion_field(
                layer_head, x.to(device), int(channel), settings["occluder"], settings["stride"]
            )
            uy, ux = field.unit
            row.update(unit_y=uy, unit_x=ux)
            row.update(rf_centre_y=rf.start + uy * rf.jump, rf_centre_x=rf.start + ux * rf.jump)
            row.update(centre_y=field.centre[0], centre_x=field.centre[1], size=field.size)
            maps.append((spec.names[j], field))
            LOG.info(
                "%s: unit (%d, %d), empirical centre (%.1f, %.1f), size %.1f px",
                spec.names[j],
                uy,
                ux,
                *field.centre,
                field.size,
            )
        rows.append(row)
    columns = ["target", "channel", "rf_size", "rf_jump", "rf_global", "unit_y", "unit_x"]
    columns += ["rf_centre_y", "rf_centre_x", "centre_y", "centre_x", "size"]
    write_table(out_table, pd.DataFrame(rows).reindex(columns=columns))
    save_figure(field_figure(maps, side, " ".join(wildcards.values())), out_fig)


def field_figure(maps, side: int, title: str) -> Figure:
    """Discrepancy maps of each channel with the empirical centre marked."""
    fig = Figure(figsize=(2.2 * max(len(maps), 1) + 0.4, 2.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(maps), 1), squeeze=False)[0])
    for ax, (name, field) in zip(axes, maps, strict=False):
        p = field.positions
        step = p[1] - p[0] if len(p) > 1 else side
        extent = (p[0] - step / 2, p[-1] + step / 2, p[-1] + step / 2, p[0] - step / 2)
        ax.imshow(field.discrepancy, cmap="magma", extent=extent)
        ax.plot(field.centre[1], field.centre[0], "c+", ms=8)
        ax.set_xlim(0, side)
        ax.set_ylim(side, 0)
        ax.set_title(f"{name}: {field.size:.0f} px", fontsize=7)
        ax.tick_params(labelsize=6)
    if not maps:
        axes[0].text(0.5, 0.5, "no channel of a convolutional layer", ha="center", fontsize=7)
        axes[0].set_axis_off()
    fig.suptitle(f"{title}: occluder discrepancy maps", fontsize=8)
    return fig


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("interpret_receptive_fields", model="alexnet", layer="conv5")
    weights = snakemake.input.get("weights")
    with cuda_precision(snakemake.params.tf32), rule_log(snakemake.log[0]):
        torch.set_num_threads(snakemake.threads)
        main(
            {"stimuli": snakemake.input.stimuli, "top": snakemake.input.top, "weights": weights},
            dict(snakemake.wildcards),
            snakemake.params.model,
            dict(snakemake.params.settings),
            snakemake.params.device,
            snakemake.params.background,
            snakemake.output.table,
            snakemake.output.figure,
        )
