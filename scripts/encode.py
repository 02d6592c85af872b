"""Cross-validated voxelwise encoding of one ROI from one layer, with permutation inference.

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5),
``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/encoding/{subject}/{model}/{layer}/{roi}.h5`` (see dnnmap.encoding.io).
Params: ``encoding`` (config ``encoding``: estimator, estimator_params, alphas, alpha_scale,
score, pooling, cv, inner_folds, voxel_batch, permutation with blocks and tail), ``device``
(config ``compute.device``).
"""

import logging

import numpy as np

from dnnmap.backend import resolve_device
from dnnmap.encoding.io import alpha_on_edge, run_encoding, write_encoding
from dnnmap.logs import rule_log
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    features_path: str,
    brain_path: str,
    settings: dict,
    device: str,
    out_path: str,
) -> None:
    device = resolve_device(device)
    out = run_encoding(stimuli_path, features_path, brain_path, settings, device)
    r = out.result
    LOG.info(
        "%s, %s cv (%d splits), device %s: %d stimuli, %d voxels (%d masked): "
        "median %s %.3f (%s), mean %.3f; median pooled r %.3f",
        settings["estimator"],
        out.splits.scheme,
        len(out.splits),
        device,
        len(out.stim_ids),
        len(out.index),
        0 if r.masked is None else int(r.masked.sum()),
        r.score_metric,
        np.nanmedian(r.score),
        r.pooling,
        np.nanmean(r.score),
        np.nanmedian(r.score_pooled),
    )
    edge = alpha_on_edge(r.alpha, settings)
    LOG.info(
        "%d of %d voxels chose an alpha on an edge of the grid (%s alphas) in some outer split",
        int(edge.sum()),
        edge.size,
        settings.get("alpha_scale", "relative"),
    )
    if out.permutation is not None:
        p = out.permutation
        LOG.info(
            "%d %s permutations (%s tail): %d voxels with p < 0.05, %d with FWE p < 0.05",
            p.n_perm,
            p.kind,
            p.tail,
            int(np.sum(p.pvalue < 0.05)),
            int(np.sum(p.pvalue_fwe < 0.05)),
        )
    if out.noise_ceiling is not None:
        LOG.info("median noise ceiling r %.3f", np.nanmedian(out.noise_ceiling))
    attrs = provenance(settings, [features_path, brain_path])
    write_encoding(out_path, out, settings, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "encode", model="alexnet", layer="conv1", subject="sub-01", roi="V1"
        )
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.features,
            snakemake.input.brain,
            snakemake.params.encoding,
            snakemake.params.device,
            snakemake.output[0],
        )
