"""Group RSA of one region: the subject-mean similarity of every layer RDM with the region's RDMs.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brains`` (results/rdm/brain/{subject}/{roi}.h5
of every subject).
Output: ``results/rsa_group/{model}/{roi}.tsv`` (columns in dnnmap.rsa.tables.GROUP_COLUMNS).
Config: ``rsa`` (comparison, n_boot, ci, seed).
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import read_rdms
from dnnmap.rsa.tables import group_rsa_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, layers, out_path):
    stim_ids = list(read_stimuli(inputs.stimuli)["stim_id"])
    models = read_rdms(inputs.models, stim_ids, inputs.stimuli)
    brains = read_rdms(inputs.brains, stim_ids, inputs.stimuli)
    table = group_rsa_table(models, layers, brains, settings)
    LOG.info("%d subjects\n%s", len(brains), table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input,
            snakemake.params.rsa,
            list(snakemake.params.layers),
            snakemake.output[0],
        )
