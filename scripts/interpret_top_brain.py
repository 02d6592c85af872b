"""Top stimuli of an ROI's mean and chosen voxels by their encoding model's predictions.

Rule ``interpret_top_brain``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``encoding``
(results/encoding/{subject}/{model}/{layer}/{roi}.h5: its out-of-fold ``predictions``).
Outputs: ``h5`` (results/interpret/{model}/{layer}/brain/{subject}/{roi}/top_stimuli.h5; see
dnnmap.interpret.top_stimuli), ``figure`` (the montage, PNG).
Params: ``settings``: ``n_voxels`` and ``voxels`` (config ``interpret.brain``), ``top_k``
(config ``interpret``), ``background`` (config ``stimuli.background``).
Wildcards: ``model``, ``layer``, ``subject``, ``roi``.
"""

import logging

import numpy as np

from dnnmap.figures import save_figure
from dnnmap.interpret.montage import montage_figure, thumbnails
from dnnmap.interpret.top_stimuli import brain_top_stimuli, write_top_stimuli
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(stimuli_path, encoding_path, wildcards, settings, out_h5, out_figure):
    table = read_stimuli(stimuli_path)
    roi = wildcards["roi"]
    top, _, _ = brain_top_stimuli(
        encoding_path,
        roi,
        settings["n_voxels"],
        settings["voxels"],
        settings["top_k"],
        list(table["stim_id"]),
        stimuli_path,
    )
    for name, row in zip(top.names, top.top, strict=True):
        LOG.info("%s: top predicted stimulus %s", name, table["stim_id"].iloc[row[0]])
    attrs = provenance(settings, [encoding_path])
    attrs.update(wildcards, source="encoding predictions", top_k=int(top.top.shape[1]))
    write_top_stimuli(out_h5, top, attrs)
    paths = table["path"].to_numpy()
    images = np.stack([thumbnails(paths[row], 96, settings["background"]) for row in top.top])
    ids = np.asarray(top.stim_ids, dtype=object)[top.top]
    title = (
        f"{wildcards['subject']} {roi} from {wildcards['model']} {wildcards['layer']}: "
        "top stimuli by cross-validated prediction"
    )
    save_figure(montage_figure(images, top.top_values, ids, top.names, title), out_figure)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "interpret_top_brain", model="alexnet", layer="fc6", subject="sub-01", roi="VTC"
        )
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.encoding,
            dict(snakemake.wildcards),
            dict(snakemake.params.settings),
            snakemake.output.h5,
            snakemake.output.figure,
        )
