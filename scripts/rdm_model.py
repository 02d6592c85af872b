"""RDM of one model layer: the dissimilarity of its patterns between stimuli.

Inputs: ``stimuli`` (results/stimuli.tsv), ``patterns``: with ``rsa.model_patterns``
``activations`` (the default) the model's activations (results/activations/{model}.h5, the
layer read in unit chunks), with ``features`` the layer's features
(results/features/{model}/{layer}.h5).
Output: ``results/rdm/{model}/{layer}.h5`` (layout in dnnmap.rsa.io).
Params: ``rsa`` (config ``rsa``: model_patterns, metric, n_components, zscore, center_units),
``device`` (config ``compute.device``).
Wildcards: ``layer``.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import activation_reader, model_patterns, write_rdm, zscore_columns
from dnnmap.rsa.rdm import STREAM_METRICS, compute_rdm, stream_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    patterns_path: str,
    layer: str,
    settings: dict,
    device: str,
    out_path: str,
) -> None:
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    metric, zscore = settings["metric"], settings["zscore"]
    center = settings.get("center_units", True)
    source = settings.get("model_patterns", "activations")
    if source == "activations":
        f, reader = activation_reader(patterns_path, layer, stim_ids, stimuli_path)
        with f:
            if metric in STREAM_METRICS:
                rdm = stream_rdm(reader, metric, zscore=zscore, center=center, device=device)
            else:  # a scipy pdist metric: the layer is read whole
                X = reader.read(0, reader.n_cols)
                rdm = compute_rdm(X, metric, zscore=zscore, center=center)
        n_features = reader.n_cols
    else:
        X = model_patterns(patterns_path, stim_ids, stimuli_path, settings["n_components"])
        X = zscore_columns(X) if zscore else X
        rdm = compute_rdm(X, metric, center=center, device=device)
        n_features = X.shape[1]
    LOG.info("%d stimuli x %d %s: %s RDM", len(stim_ids), n_features, source, metric)
    attrs = provenance(settings, [patterns_path])
    attrs.update(
        metric=metric,
        zscore=zscore,
        center_units=center,
        n_features=n_features,
        source="model",
        patterns=source,
    )
    write_rdm(out_path, rdm, stim_ids, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rdm_model", model="alexnet", layer="conv1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.patterns,
            snakemake.wildcards.layer,
            snakemake.params.rsa,
            snakemake.params.device,
            snakemake.output[0],
        )
