"""Cross-validated voxelwise ridge encoding of one ROI from one layer.

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5),
``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/encoding/{subject}/{model}/{layer}/{roi}.h5`` (see dnnmap.encoding).
Config: ``encoding`` (alphas, n_folds, inner_folds, seed, voxel_batch).
"""

import logging

import numpy as np

from dnnmap.encoding import run_encoding, write_encoding
from dnnmap.logs import rule_log
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(inputs, settings, out_path):
    result, index, stim_ids = run_encoding(inputs.stimuli, inputs.features, inputs.brain, settings)
    LOG.info(
        "%d stimuli, %d voxels: median r %.3f, mean r %.3f, median alpha %.3g",
        len(stim_ids),
        len(index),
        np.median(result.score),
        np.mean(result.score),
        np.median(result.alpha),
    )
    attrs = provenance(settings, [inputs.features, inputs.brain])
    write_encoding(out_path, result, index, stim_ids, settings, attrs)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(snakemake.input, snakemake.params.encoding, snakemake.output[0])
