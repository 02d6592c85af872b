"""Reduce one layer's activations to principal-component features.

Inputs: ``results/activations/{model}.h5``.
Output: ``results/features/{model}/{layer}.h5`` with ``features (n_stim, k)``, ``stim_id``,
``explained_variance_ratio (k,)``.
Config: ``features.method`` (pca), ``features.n_components``.
"""

import logging

from dnnmap.features.reduce import feature_attrs, reduce_layer
from dnnmap.logs import rule_log
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(activations_path, layer, features_config, out_path):
    stim_id, result = reduce_layer(activations_path, layer, features_config["n_components"])
    LOG.info(
        "%s: %d components by the %s route explain %.1f%% of the variance",
        layer,
        result.n_components,
        result.method,
        100 * result.explained_variance_ratio.sum(),
    )
    write_h5(
        out_path,
        {
            "features": result.scores.astype("float32"),
            "explained_variance_ratio": result.explained_variance_ratio,
        },
        attrs={**provenance(features_config, [activations_path]), **feature_attrs(result, layer)},
        stim_id=stim_id,
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("reduce_features", model="alexnet", layer="conv1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input[0],
            snakemake.wildcards.layer,
            snakemake.params.features,
            snakemake.output[0],
        )
