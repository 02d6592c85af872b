"""RSA of one subject's region against every layer of one model.

Inputs: ``stimuli`` (results/stimuli.tsv), ``models`` (results/rdm/{model}/{layer}.h5 of every
layer, in the order of ``params.layers``), ``brains`` (results/rdm/brain/{subject}/{roi}.h5 of
every subject, in the order of ``params.subjects``; the others give the noise ceiling).
Output: ``results/rsa/{subject}/{model}/{roi}.tsv`` (columns in dnnmap.rsa_analysis).
Config: ``rsa`` (comparison, n_perm, n_boot, ci, seed).
"""

import logging

import numpy as np

from dnnmap.logs import rule_log
from dnnmap.rsa_analysis import rsa_layer_table
from dnnmap.rsa_io import read_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import atomic_path

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, layers, subjects, subject, out_path):
    stim_ids = list(read_stimuli(inputs.stimuli)["stim_id"])
    models = np.stack([read_rdm(p, stim_ids, inputs.stimuli) for p in inputs.models])
    brains = np.stack([read_rdm(p, stim_ids, inputs.stimuli) for p in inputs.brains])
    table = rsa_layer_table(models, layers, brains, subjects.index(subject), settings)
    LOG.info("%s\n%s", subject, table.to_string(index=False))
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


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
