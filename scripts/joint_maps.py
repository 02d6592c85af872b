"""CIFTI maps of a subject's variance partitioning by one joint set: unique and shared parts.

Inputs: ``responses`` (the subject's CIFTI responses; its brain model axis is copied),
``partitions`` (results/joint/{subject}/{set}/{roi}.h5 of every ROI).
Output: ``results/maps/{subject}/joint_{set}.dscalar.nii``: one map per region
(``unique:A``, ``shared:A+B``, ...), then ``total_r2``; 0 outside the ROIs and at masked
grayordinates, negative parts kept.
"""

import logging

from dnnmap.brain.cifti import read_brain_models, write_dscalar
from dnnmap.encoding.joint_io import partition_maps
from dnnmap.logs import rule_log

LOG = logging.getLogger("dnnmap")


def main(responses_path: str, partition_paths: list[str], out_path: str) -> None:
    brain_models = read_brain_models(responses_path)
    data, names = partition_maps(partition_paths, len(brain_models))
    write_dscalar(out_path, data, names, brain_models)
    LOG.info("wrote %d maps (%s) on %d grayordinates", len(names), ", ".join(names), data.shape[1])


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("joint_maps", subject="sub-01", set="driving")
    with rule_log(snakemake.log[0]):
        main(snakemake.input.responses, list(snakemake.input.partitions), snakemake.output[0])
