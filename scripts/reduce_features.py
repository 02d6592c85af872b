"""Features of one layer: its raw units, principal components, or a random projection.

Inputs: ``results/activations/{model}.h5``; with ``features.fit: external`` (PCA only) also
``results/external/activations/{model}.h5``, the activations of the external stimulus set.
Output: ``results/features/{model}/{layer}.h5`` with ``features (n_stim, k)``, ``stim_id``,
for PCA ``explained_variance_ratio (k,)``, and with ``fit: train`` the ``basis (n_stim, r)``
that each outer training set's PCA is fitted on (dnnmap.features.folds); attrs ``method``,
``fit``, ``fitted_on``, ``n_components``, ``seed`` (dnnmap.features.reduce).
Config: ``features.method`` (none, pca, random_projection), ``features.fit`` (all, train,
external), ``features.n_components``, ``features.seed``, ``features.projection``,
``features.density``, ``features.external_stimuli``; ``stimuli.table`` names the stimulus
set of ``fit: all``.
"""

import logging

import numpy as np

from dnnmap.features.reduce import layer_features
from dnnmap.logs import rule_log
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(activations_path, layer, features_config, out_path, external_path=None, table=""):
    inputs = [activations_path] + ([external_path] if external_path else [])
    out = layer_features(
        activations_path,
        layer,
        features_config,
        external_path=external_path,
        fitted_on=f"all stimuli ({table})" if table else "all stimuli",
    )
    attrs = out.attrs
    LOG.info(
        "%s: %d features by %s (fit %s; fitted on %s)",
        layer,
        out.features.shape[1],
        attrs["method"],
        attrs["fit"],
        attrs["fitted_on"],
    )
    if "explained_variance_ratio_total" in attrs:
        share = 100 * attrs["explained_variance_ratio_total"]
        LOG.info(
            "the %d components explain %.1f%% of the variance of the stimuli fitted on",
            attrs["n_components"],
            share,
        )
    dtype = np.float32 if attrs["method"] == "none" else np.float64
    arrays = {"features": np.asarray(out.features).astype(dtype, copy=False)}
    arrays.update(out.arrays)
    write_h5(
        out_path,
        arrays,
        attrs={**provenance(features_config, inputs), **attrs},
        stim_id=out.stim_id,
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("reduce_features", model="alexnet", layer="conv1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.activations,
            snakemake.wildcards.layer,
            snakemake.params.features,
            snakemake.output[0],
            snakemake.input.get("external"),
            snakemake.params.table,
        )
