"""RSA of one subject's region against every layer of one model.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brains`` (results/rdm/brain/{subject}/{roi}.h5 of
every subject, in the order of ``params.subjects``; the others give the noise ceiling).
Output: ``results/rsa/{subject}/{model}/{roi}.tsv`` (columns in dnnmap.rsa.analysis); with
remixed layer RDMs (results/rdm_remix/{model}/{layer}.h5) as ``models``,
``results/rsa_remix/{subject}/{model}/{roi}.tsv``.
Config: ``rsa`` (comparison, n_perm, n_boot, ci, seed).
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.analysis import rsa_layer_table
from dnnmap.rsa.io import read_rdms
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, layers, subjects, subject, out_path):
    stim_ids = list(read_stimuli(inputs.stimuli)["stim_id"])
    models = read_rdms(inputs.models, stim_ids, inputs.stimuli)
    brains = read_rdms(inputs.brains, stim_ids, inputs.stimuli)
    table = rsa_layer_table(models, layers, brains, subjects.index(subject), settings)
    LOG.info("%s\n%s", subject, table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input,
            snakemake.params.rsa,
            list(snakemake.params.layers),
            list(snakemake.params.subjects),
            snakemake.wildcards.subject,
            snakemake.output[0],
        )
