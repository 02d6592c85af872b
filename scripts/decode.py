"""Decode one stimulus attribute from one layer's features or one ROI's brain responses.

Serves rules ``decode`` (features) and ``decode_brain`` (responses).
Inputs: ``stimuli`` (results/stimuli.tsv, with the attribute column), ``source``
(results/features/{model}/{layer}.h5 or results/brain/{subject}/{roi}.h5).
Output: ``results/decoding/{model}/{layer}/{attribute}.h5`` or
``results/decoding/brain/{subject}/{roi}/{attribute}.h5`` (see dnnmap.decoding.io.write_decoding).
Params: ``decoding`` (the config section: continuous, estimators, Cs, alphas, n_folds,
inner_folds, n_perm, seed), ``attribute``, ``dataset`` (features or responses).
Threads: processes for the classifier permutations.
"""

import logging

from dnnmap.decoding.io import run_decoding, write_decoding
from dnnmap.logs import rule_log
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    source_path: str,
    settings: dict,
    attribute: str,
    dataset: str,
    threads: int,
    out_path: str,
) -> None:
    results, splits, stim_ids = run_decoding(
        stimuli_path, source_path, dataset, attribute, settings, n_jobs=threads
    )
    attrs = provenance(settings, [stimuli_path, source_path])
    write_decoding(out_path, results, splits, stim_ids, attribute, settings, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("decode", model="alexnet", layer="conv1", attribute="category")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.source,
            snakemake.params.decoding,
            snakemake.params.attribute,
            snakemake.params.dataset,
            snakemake.threads,
            snakemake.output[0],
        )
