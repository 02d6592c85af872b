"""Remixed RDM of one layer: the RDM of a category read-out's out-of-fold decision values.

Inputs: ``stimuli`` (results/stimuli.tsv, with the ``rsa.categories`` column),
``features`` (results/features/{model}/{layer}.h5).
Output: ``results/rdm_remix/{model}/{layer}.h5`` (layout in dnnmap.rsa.io; attrs metric
``euclidean``, source ``remix``).
Config: ``rsa`` (categories, n_components, seed, advanced: n_splits, remix_C). The read-out is
a logistic regression on the standardized patterns (dnnmap.rsa.reweighting.remix_decision); the
decision values have one column per category (one for two), so their RDM is Euclidean.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import category_labels, model_patterns, write_rdm
from dnnmap.rsa.reweighting import remix_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")
METRIC = "euclidean"


def main(inputs, settings, out_path):
    table = read_stimuli(inputs.stimuli)
    stim_ids = list(table["stim_id"])
    labels = category_labels(table, settings["categories"], inputs.stimuli)
    X = model_patterns(inputs.features, stim_ids, inputs.stimuli, settings["n_components"])
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
    attrs = provenance(settings, [inputs.stimuli, inputs.features])
    attrs.update(metric=METRIC, zscore=False, n_features=X.shape[1], source="remix")
    write_rdm(out_path, rdm, stim_ids, attrs)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(snakemake.input, snakemake.params.rsa, snakemake.output[0])
