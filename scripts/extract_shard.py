"""Record the activations of one network's layers for one shard of the stimuli.

Rule ``extract_shard`` (``extraction.n_shards`` > 1).
Inputs: ``stimuli`` (results/stimuli.tsv), ``weights`` (a local weights file, if any).
Output: ``results/activations/{model}/shard-{shard}-of-{n_shards}.h5``: the layout of
results/activations/{model}.h5 (dnnmap.models.extraction) for the rows of this shard
(dnnmap.models.shards.shard_bounds), with a ``shard`` attribute (index, count, row range).
Wildcards: ``model``, ``shard`` (0-based index), ``n_shards``.
Config: as extract_activations (``models.{model}``, ``stimuli.background``, ``compute``);
``compute.batch_size`` also sets where the shards are cut (in whole batches).
"""

import logging

from dnnmap.logs import rule_log
from extract_activations import main as extract

LOG = logging.getLogger("dnnmap")


def main(
    name,
    model_config,
    compute,
    stimuli_path,
    weights,
    out_path,
    threads,
    progress,
    background,
    shard,
    n_shards,
):
    """Extract shard ``shard`` (0-based) of ``n_shards`` of ``name``'s stimuli."""
    extract(
        name,
        model_config,
        compute,
        stimuli_path,
        weights,
        out_path,
        threads,
        progress,
        background,
        shard=(shard, n_shards),
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("extract_shard", model="alexnet", shard="0", n_shards="1")
    weights = snakemake.input.weights
    with rule_log(snakemake.log[0]) as log:
        main(
            snakemake.wildcards.model,
            snakemake.params.model,
            snakemake.params.compute,
            snakemake.input.stimuli,
            [weights] if isinstance(weights, str) else list(weights),
            snakemake.output[0],
            snakemake.threads,
            log,
            snakemake.params.background,
            int(snakemake.wildcards.shard),
            int(snakemake.wildcards.n_shards),
        )
