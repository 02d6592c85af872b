"""RDM of one subject's region: the dissimilarity of its response patterns between stimuli.

Inputs: ``stimuli`` (results/stimuli.tsv), ``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/rdm/brain/{subject}/{roi}.h5`` (layout in dnnmap.rsa.io).
Config: ``rsa.brain_metric``, ``compute.device``.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import brain_patterns, write_rdm
from dnnmap.rsa.rdm import compute_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, device, out_path):
    stim_ids = list(read_stimuli(inputs.stimuli)["stim_id"])
    Y = brain_patterns(inputs.brain, stim_ids, inputs.stimuli)
    metric = settings["brain_metric"]
    rdm = compute_rdm(Y, metric, device=device)
    LOG.info("%d stimuli x %d voxels: %s RDM", Y.shape[0], Y.shape[1], metric)
    attrs = provenance(settings, [inputs.brain])
    attrs.update(metric=metric, zscore=False, n_features=Y.shape[1], source="brain")
    write_rdm(out_path, rdm, stim_ids, attrs)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(snakemake.input, snakemake.params.rsa, snakemake.params.device, snakemake.output[0])
