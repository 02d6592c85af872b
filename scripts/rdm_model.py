"""RDM of one model layer: the dissimilarity of its feature patterns between stimuli.

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5).
Output: ``results/rdm/{model}/{layer}.h5`` (layout in dnnmap.rsa.io).
Params: ``rsa`` (config ``rsa``: metric, n_components, zscore), ``device`` (config
``compute.device``).
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import model_patterns, write_rdm, zscore_columns
from dnnmap.rsa.rdm import compute_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(stimuli_path: str, features_path: str, settings: dict, device: str, out_path: str) -> None:
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    X = model_patterns(features_path, stim_ids, stimuli_path, settings["n_components"])
    if settings["zscore"]:
        X = zscore_columns(X)
    rdm = compute_rdm(X, settings["metric"], device=device)
    LOG.info("%d stimuli x %d features: %s RDM", X.shape[0], X.shape[1], settings["metric"])
    attrs = provenance(settings, [features_path])
    attrs.update(
        metric=settings["metric"], zscore=settings["zscore"], n_features=X.shape[1], source="model"
    )
    write_rdm(out_path, rdm, stim_ids, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rdm_model", model="alexnet", layer="conv1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.features,
            snakemake.params.rsa,
            snakemake.params.device,
            snakemake.output[0],
        )
