"""Maps of a subject's variance partitioning by one joint set: unique and shared parts.

Inputs: ``responses`` (the subject's responses; maps are written in their space and format),
``partitions`` (results/joint/{subject}/{set}/{roi}.h5 of every ROI).
Params: ``space`` (the subject's ``responses``/``mask``/``ids``, dnnmap.brain.spaces.space_of).
Output: ``results/maps/{subject}/joint_{set}{mapsuffix}`` (``.dscalar.nii`` for CIFTI):
one map per region (``unique:A``, ``shared:A+B``, ...), then ``total_r2``; 0 outside the ROIs
and at masked grayordinates, negative parts kept.
"""

import logging

from dnnmap.brain.spaces import space_of, write_maps
from dnnmap.encoding.joint_io import partition_maps
from dnnmap.logs import rule_log

LOG = logging.getLogger("dnnmap")


def main(responses_path: str, partition_paths: list[str], out_path: str) -> None:
    space = space_of(responses_path)
    data, names = partition_maps(partition_paths, space.n_columns)
    write_maps(out_path, data, names, space)
    LOG.info("wrote %d maps (%s) on %d grayordinates", len(names), ", ".join(names), data.shape[1])


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("joint_maps", subject="sub-01", set="driving")
    with rule_log(snakemake.log[0]):
        main(snakemake.params.space, list(snakemake.input.partitions), snakemake.output[0])
