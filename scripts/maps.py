"""Write one subject x model's encoding accuracy as a CIFTI-2 dscalar, one map per layer.

Inputs: ``responses`` (the subject's CIFTI file; its brain model axis is copied),
``encoding`` (results of every layer x ROI of this subject and model).
Output: ``results/maps/{subject}/{model}/encoding_r.dscalar.nii``: one map per layer
(cross-validated r; 0 outside the ROIs) and a map ``best_layer`` (1-based layer number of
the best layer per grayordinate, 0 outside the ROIs).
Params: ``layers`` (network order) and ``rois``, in the order of the inputs.
"""

import logging

from dnnmap.cifti import read_brain_models, write_dscalar
from dnnmap.logs import rule_log
from dnnmap.maps import encoding_maps

LOG = logging.getLogger("dnnmap")


def main(responses_path, encoding_paths, layers, rois, out_path):
    brain_models = read_brain_models(responses_path)
    data, names = encoding_maps(encoding_paths, layers, rois, len(brain_models))
    write_dscalar(out_path, data, names, brain_models)
    LOG.info("wrote %d maps (%s) on %d grayordinates", len(names), ", ".join(names), data.shape[1])


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.responses,
            list(snakemake.input.encoding),
            list(snakemake.params.layers),
            list(snakemake.params.rois),
            snakemake.output[0],
        )
