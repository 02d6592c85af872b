"""Group RSA of one region: the subject-mean similarity of every layer RDM with the region's RDMs.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brains`` (results/rdm/brain/{subject}/{roi}.h5
of every subject).
Output: ``results/rsa_group/{model}/{roi}.tsv`` (columns in dnnmap.rsa.tables.GROUP_COLUMNS).
Params: ``rsa`` (config ``rsa``: comparison, n_boot, ci, seed, groups), ``layers``.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import read_layer_and_brain_rdms, rsa_groups
from dnnmap.rsa.tables import group_rsa_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    model_paths: list[str],
    brain_paths: list[str],
    settings: dict,
    layers: list[str],
    out_path: str,
) -> None:
    models, brains = read_layer_and_brain_rdms(stimuli_path, model_paths, brain_paths)
    groups = rsa_groups(read_stimuli(stimuli_path), settings, stimuli_path)
    table = group_rsa_table(models, layers, brains, settings, groups)
    LOG.info("%d subjects\n%s", len(brains), table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rsa_group", model="alexnet", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.models),
            list(snakemake.input.brains),
            snakemake.params.rsa,
            list(snakemake.params.layers),
            snakemake.output[0],
        )
