"""RDM of one model layer: the dissimilarity of its feature patterns between stimuli.

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5).
Output: ``results/rdm/{model}/{layer}.h5`` (layout in dnnmap.rsa.io).
Config: ``rsa`` (metric, n_components, zscore), ``compute.device``.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import model_patterns, write_rdm, zscore_columns
from dnnmap.rsa.rdm import compute_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, device, out_path):
    stim_ids = list(read_stimuli(inputs.stimuli)["stim_id"])
    X = model_patterns(inputs.features, stim_ids, inputs.stimuli, settings["n_components"])
    if settings["zscore"]:
        X = zscore_columns(X)
    rdm = compute_rdm(X, settings["metric"], device=device)
    LOG.info("%d stimuli x %d features: %s RDM", X.shape[0], X.shape[1], settings["metric"])
    attrs = provenance(settings, [inputs.features])
    attrs.update(
        metric=settings["metric"], zscore=settings["zscore"], n_features=X.shape[1], source="model"
    )
    write_rdm(out_path, rdm, stim_ids, attrs)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(snakemake.input, snakemake.params.rsa, snakemake.params.device, snakemake.output[0])
