"""Cross-validated voxelwise encoding of one ROI from one layer, with permutation inference.

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5),
``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/encoding/{subject}/{model}/{layer}/{roi}.h5`` (see dnnmap.encoding.io).
Config: ``encoding`` (estimator, estimator_params, alphas, cv, inner_folds, voxel_batch,
permutation), ``compute.device``.
"""

import logging

import numpy as np

from dnnmap.backend import resolve_device
from dnnmap.encoding.io import run_encoding, write_encoding
from dnnmap.logs import rule_log
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, device, out_path):
    device = resolve_device(device)
    out = run_encoding(inputs.stimuli, inputs.features, inputs.brain, settings, device)
    r = out.result
    LOG.info(
        "%s, %s cv (%d splits), device %s: %d stimuli, %d voxels (%d masked): "
        "median r %.3f, mean r %.3f",
        settings["estimator"],
        out.splits.scheme,
        len(out.splits),
        device,
        len(out.stim_ids),
        len(out.index),
        0 if r.masked is None else int(r.masked.sum()),
        np.nanmedian(r.score),
        np.nanmean(r.score),
    )
    if out.permutation is not None:
        p = out.permutation
        LOG.info(
            "%d %s permutations: %d voxels with p < 0.05, %d with FWE p < 0.05",
            p.n_perm,
            p.kind,
            int(np.sum(p.pvalue < 0.05)),
            int(np.sum(p.pvalue_fwe < 0.05)),
        )
    if out.noise_ceiling is not None:
        LOG.info("median noise ceiling r %.3f", np.nanmedian(out.noise_ceiling))
    attrs = provenance(settings, [inputs.features, inputs.brain])
    write_encoding(out_path, out, settings, attrs)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input,
            snakemake.params.encoding,
            snakemake.params.device,
            snakemake.output[0],
        )
