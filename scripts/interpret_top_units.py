"""Top stimuli of a layer's channels (or units) and first principal components.

Rule ``interpret_top_units``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``activations`` (results/activations/{model}.h5).
Outputs: ``h5`` (results/interpret/{model}/{layer}/units/top_stimuli.h5: values of every
target for every stimulus, the top ``k`` per target, and the targets' definition; see
dnnmap.interpret.top_stimuli), ``figure`` (the montage, PNG).
Params: ``units`` (config ``interpret.units.{model}.{layer}``), ``n_components``, ``top_k``
(config ``interpret``), ``resize`` (the model's input size, for the thumbnails),
``background`` (config ``stimuli.background``). Wildcards: ``model``, ``layer``.
"""

import logging

import numpy as np

from dnnmap.figures import save_figure
from dnnmap.interpret.montage import montage_figure, thumbnails
from dnnmap.interpret.top_stimuli import unit_top_stimuli, write_top_stimuli
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(stimuli_path, activations_path, model, layer, settings, out_h5, out_figure):
    table = read_stimuli(stimuli_path)
    top = unit_top_stimuli(
        activations_path,
        layer,
        settings["units"],
        settings["n_components"],
        settings["top_k"],
        list(table["stim_id"]),
        stimuli_path,
    )
    for name, row, values in zip(top.names, top.top, top.top_values, strict=True):
        LOG.info("%s: top %s (%s)", name, table["stim_id"].iloc[row[0]], np.round(values[:3], 4))
    attrs = provenance(settings, [activations_path])
    attrs.update(model=model, layer=layer, source="activations", top_k=int(top.top.shape[1]))
    write_top_stimuli(out_h5, top, attrs)
    paths = table["path"].to_numpy()
    images = np.stack([thumbnails(paths[row], 96, settings["background"]) for row in top.top])
    ids = np.asarray(top.stim_ids, dtype=object)[top.top]
    title = f"{model} {layer}: top stimuli (channel mean or unit; PCs over all stimuli)"
    save_figure(montage_figure(images, top.top_values, ids, top.names, title), out_figure)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("interpret_top_units", model="alexnet", layer="conv5")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.activations,
            snakemake.wildcards.model,
            snakemake.wildcards.layer,
            dict(snakemake.params.settings),
            snakemake.output.h5,
            snakemake.output.figure,
        )
