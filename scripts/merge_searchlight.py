"""Merge the shards of a searchlight RSA into one map per layer.

Inputs: ``responses`` (the subject's CIFTI file, whose brain model axis is copied; or the
4-D NIfTI, whose grid and mask are reused), ``shards``
(results/searchlight/{subject}/{model}/shard-{shard}.h5, all of them).
Output: ``results/maps/{subject}/{model}/searchlight.dscalar.nii`` (CIFTI input) or
``searchlight.nii.gz`` (NIfTI input): one map per layer of searchlight r (NaN where a
neighborhood's RDM is undefined).
Params: ``searchlight`` (config ``rsa.searchlight``; ``mask`` for NIfTI input).
"""

import logging

import numpy as np

from dnnmap.brain.responses_io import write_maps
from dnnmap.logs import rule_log
from dnnmap.rsa.searchlight import merge_searchlight

LOG = logging.getLogger("dnnmap")


def main(responses_path: str, shard_paths: list[str], settings: dict, out_path: str) -> None:
    merged, geometry = merge_searchlight(shard_paths, responses_path, settings.get("mask"))
    write_maps(out_path, merged.maps, merged.names, geometry)
    for name, row in zip(merged.names, merged.maps, strict=True):
        LOG.info(
            "%s: max r %.3f, %d undefined centers",
            name,
            np.nanmax(row, initial=np.nan),
            int(np.isnan(row).sum()),
        )
    LOG.info("wrote %d maps on %d columns from %d shards", *merged.maps.shape, len(shard_paths))


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("merge_searchlight", subject="sub-01", model="alexnet")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.responses,
            list(snakemake.input.shards),
            dict(snakemake.params.searchlight),
            snakemake.output[0],
        )
