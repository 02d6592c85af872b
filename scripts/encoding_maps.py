"""Write one subject x model's encoding accuracy as CIFTI-2 dscalars, one map per layer.

Inputs: ``responses`` (the subject's CIFTI file; its brain model axis is copied),
``encoding`` (results of every layer x ROI of this subject and model).
Output: ``results/maps/{subject}/{model}/encoding_r.dscalar.nii``: one map per layer
(cross-validated r; 0 outside the ROIs) and a map ``best_layer`` (1-based layer number of
the best layer per grayordinate, 0 outside the ROIs); with permutations also
``encoding_logp.dscalar.nii`` (-log10 uncorrected p per layer) and
``encoding_r_fwe.dscalar.nii`` (r where the max-statistic FWE p < 0.05, else 0).
Params: ``layers`` (network order) and ``rois``, in the order of the inputs.
"""

import logging

from dnnmap.brain.cifti import read_brain_models, write_dscalar
from dnnmap.encoding.maps import encoding_maps, significance_maps
from dnnmap.logs import rule_log

LOG = logging.getLogger("dnnmap")


def main(responses_path, encoding_paths, layers, rois, outputs):
    brain_models = read_brain_models(responses_path)
    data, names = encoding_maps(encoding_paths, layers, rois, len(brain_models))
    write_dscalar(outputs.r, data, names, brain_models)
    LOG.info("wrote %d maps (%s) on %d grayordinates", len(names), ", ".join(names), data.shape[1])
    if hasattr(outputs, "logp"):
        logp, r_fwe, names = significance_maps(encoding_paths, layers, rois, len(brain_models))
        write_dscalar(outputs.logp, logp, names, brain_models)
        write_dscalar(outputs.r_fwe, r_fwe, names, brain_models)
        LOG.info("wrote p-value and FWE-thresholded maps of %d layers", len(names))


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.responses,
            list(snakemake.input.encoding),
            list(snakemake.params.layers),
            list(snakemake.params.rois),
            snakemake.output,
        )
