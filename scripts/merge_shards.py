"""Merge a model's activation shards into its usual activations file.

Rule ``merge_shards`` (``extraction.n_shards`` > 1).
Inputs: ``stimuli`` (results/stimuli.tsv), ``shards``
(results/activations/{model}/shard-{i}-of-{n}.h5, in shard order).
Output: ``results/activations/{model}.h5``, with the datasets, chunks and attributes of an
unsharded extraction (dnnmap.models.shards.merge_shards); its ``inputs`` provenance joins the
shards' (each shard's stimulus files digest under its row range), and ``shards`` lists the
row ranges.
Config: ``models.{model}``, ``stimuli.background`` and ``compute`` (hashed into
``config_digest`` as extraction does; ``compute.batch_size`` sets the chunks).
"""

import json
import logging

from dnnmap.logs import rule_log
from dnnmap.models.shards import merge_shards
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(model_config, compute, background, stimuli_path, shard_paths, out_path, progress):
    """Check the shards against the stimulus table and copy them into ``out_path``."""
    table = read_stimuli(stimuli_path)
    config = {"model": model_config, "compute": compute, "background": list(background)}
    attrs = provenance(config, [stimuli_path])
    LOG.info("merging %d shards of %d stimuli into %s", len(shard_paths), len(table), out_path)
    merge_shards(
        shard_paths,
        out_path,
        list(table["stim_id"]),
        batch_size=compute["batch_size"],
        attrs=attrs,
        where=str(stimuli_path),
        progress=progress,
    )
    LOG.info("inputs: %s", ", ".join(json.loads(attrs["inputs"])))


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("merge_shards", model="alexnet")
    with rule_log(snakemake.log[0]) as log:
        main(
            snakemake.params.model,
            snakemake.params.compute,
            snakemake.params.background,
            snakemake.input.stimuli,
            list(snakemake.input.shards),
            snakemake.output[0],
            log,
        )
