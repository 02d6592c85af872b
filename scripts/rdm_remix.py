"""Remixed RDM of one layer: the RDM of a category read-out's out-of-fold decision values.

Inputs: ``stimuli`` (results/stimuli.tsv, with the ``rsa.categories`` column),
``features`` (results/features/{model}/{layer}.h5).
Output: ``results/rdm_remix/{model}/{layer}.h5`` (layout in dnnmap.rsa.io; attrs metric
``euclidean``, source ``remix``).
Params: ``rsa`` (config ``rsa``: categories, n_components, seed, advanced: n_splits,
remix_C). The read-out is a logistic regression on the standardized patterns
(dnnmap.rsa.reweighting.remix_decision); the decision values have one column per category (one
for two), so their RDM is Euclidean.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import category_labels, model_patterns, write_rdm
from dnnmap.rsa.reweighting import remix_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")
METRIC = "euclidean"


def main(stimuli_path: str, features_path: str, settings: dict, out_path: str) -> None:
    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    labels = category_labels(table, settings["categories"], stimuli_path)
    X = model_patterns(features_path, stim_ids, stimuli_path, settings["n_components"])
    adv = settings["advanced"]
    rdm = remix_rdm(
        X, labels, METRIC, n_splits=adv["n_splits"], seed=settings["seed"], C=adv["remix_C"]
    )
    LOG.info(
        "%d stimuli x %d features: logistic read-out of %d categories, %s RDM",
        X.shape[0],
        X.shape[1],
        len(set(labels)),
        METRIC,
    )
    attrs = provenance(settings, [stimuli_path, features_path])
    attrs.update(metric=METRIC, zscore=False, n_features=X.shape[1], source="remix")
    write_rdm(out_path, rdm, stim_ids, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rdm_remix", model="alexnet", layer="conv1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.features,
            snakemake.params.rsa,
            snakemake.output[0],
        )
