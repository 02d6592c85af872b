"""Paired swap-permutation test of two encoding results of one ROI, with FWE and FDR.

Inputs: ``stimuli`` (results/stimuli.tsv), ``encodings`` (the two encoding files
results/encoding/{subject}/{model}/{layer}/{roi}.h5 of the pair, a then b), ``brain``
(results/brain/{subject}/{roi}.h5).
Output: ``results/joint/compare/{subject}/{pair}/{roi}.h5`` (see dnnmap.encoding.joint_io).
Params: ``pair`` (the two spaces, ``model/layer``), ``compare`` (config ``joint.compare``:
metric, n_perm, seed), ``encoding`` (config ``encoding``: cv, for the group column).
"""

import logging

import numpy as np

from dnnmap.encoding.joint_io import run_comparison, write_comparison
from dnnmap.logs import rule_log
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    encoding_paths: list[str],
    brain_path: str,
    pair: list[str],
    compare: dict,
    encoding: dict,
    out_path: str,
) -> None:
    result, index = run_comparison(
        stimuli_path, encoding_paths[0], encoding_paths[1], brain_path, compare, encoding
    )
    ok = np.isfinite(result.statistic)
    LOG.info(
        "%s - %s (%s, %d swaps): median difference %.4f over %d voxels; %d with p < 0.05, "
        "%d with FDR q < 0.05, %d with FWE p < 0.05",
        pair[0],
        pair[1],
        result.metric,
        result.n_perm,
        np.median(result.statistic[ok]) if ok.any() else np.nan,
        int(ok.sum()),
        int(np.sum(result.pvalue <= 0.05)),
        int(np.sum(result.q_fdr <= 0.05)),
        int(np.sum(result.p_fwe <= 0.05)),
    )
    attrs = provenance(compare, [*encoding_paths, brain_path])
    write_comparison(out_path, result, index, {**attrs, "a": pair[0], "b": pair[1]})


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "compare_spaces", subject="sub-01", pair="conv1_vs_fc6", roi="V1"
        )
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.encodings),
            snakemake.input.brain,
            list(snakemake.params.pair),
            dict(snakemake.params.compare),
            dict(snakemake.params.encoding),
            snakemake.output[0],
        )
