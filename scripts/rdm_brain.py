"""RDM of one subject's region: the dissimilarity of its response patterns between stimuli.

Inputs: ``stimuli`` (results/stimuli.tsv), ``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/rdm/brain/{subject}/{roi}.h5`` (layout in dnnmap.rsa.io).
Params: ``rsa`` (config ``rsa``; ``brain_metric`` is used), ``device`` (config
``compute.device``).
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import brain_patterns, write_rdm
from dnnmap.rsa.rdm import compute_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(stimuli_path: str, brain_path: str, settings: dict, device: str, out_path: str) -> None:
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    Y = brain_patterns(brain_path, stim_ids, stimuli_path)
    metric = settings["brain_metric"]
    rdm = compute_rdm(Y, metric, device=device)
    LOG.info("%d stimuli x %d voxels: %s RDM", Y.shape[0], Y.shape[1], metric)
    attrs = provenance(settings, [brain_path])
    attrs.update(metric=metric, zscore=False, n_features=Y.shape[1], source="brain")
    write_rdm(out_path, rdm, stim_ids, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rdm_brain", subject="sub-01", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.brain,
            snakemake.params.rsa,
            snakemake.params.device,
            snakemake.output[0],
        )
