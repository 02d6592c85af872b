"""Variance partitioning of one region's RDMs (every subject) by sets of 2-4 layer RDMs.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brains`` (results/rdm/brain/{subject}/{roi}.h5 of
every subject, in the order of ``params.subjects``).
Output: ``results/rsa_partition/{model}/{roi}.tsv`` (columns in
dnnmap.rsa.tables.PARTITION_COLUMNS).
Params: ``layers``, ``sets`` (config ``rsa.advanced.partition.{model}``), ``subjects``.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import read_layer_and_brain_rdms
from dnnmap.rsa.tables import partition_table
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    model_paths: list[str],
    brain_paths: list[str],
    layers: list[str],
    sets: list[list[str]],
    subjects: list[str],
    out_path: str,
) -> None:
    models, brains = read_layer_and_brain_rdms(stimuli_path, model_paths, brain_paths)
    table = partition_table(dict(zip(layers, models, strict=True)), sets, brains, subjects)
    LOG.info("%s", table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rsa_partition", model="alexnet", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.models),
            list(snakemake.input.brains),
            list(snakemake.params.layers),
            [list(names) for names in snakemake.params.sets],
            list(snakemake.params.subjects),
            snakemake.output[0],
        )
