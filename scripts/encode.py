"""Cross-validated voxelwise encoding of one ROI from one layer, with permutation inference.

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5;
for ``encoding.estimator: per_unit`` the layer's units, results/activations/{model}.h5),
``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/encoding/{subject}/{model}/{layer}/{roi}.h5`` (see dnnmap.encoding.io).
Params: ``encoding`` (config ``encoding``: estimator, estimator_params, alphas, alpha_scale,
score, pooling, cv, inner_folds, voxel_batch, permutation with blocks and tail), ``device``
(config ``compute.device``). Wildcard: ``layer`` (read from the activations by per_unit).
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
    layer: str | None = None,
) -> None:
    device = resolve_device(device)
    out = run_encoding(stimuli_path, features_path, brain_path, settings, device, layer)
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
    if out.units is not None:
        chosen = out.units.best_unit >= 0
        channels = np.unique(out.units.location[chosen, 0]) if chosen.any() else []
        LOG.info(
            "per-unit model on %s units of %s: %d voxels chose a unit, in %d distinct "
            "units of %d channels (on all stimuli)",
            "x".join(map(str, out.units.unit_shape)),
            layer,
            int(chosen.sum()),
            np.unique(out.units.best_unit[chosen]).size,
            len(channels),
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
            snakemake.wildcards.layer,
        )
