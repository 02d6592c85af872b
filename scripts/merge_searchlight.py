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
from nibabel.cifti2 import BrainModelAxis

from dnnmap.errors import InputError
from dnnmap.logs import rule_log
from dnnmap.rsa.searchlight import merge_shards, read_geometry, write_maps

LOG = logging.getLogger("dnnmap")


def main(responses_path, shard_paths, settings, out_path):
    merged = merge_shards(shard_paths)
    geometry = read_geometry(responses_path, settings.get("mask"))
    n_columns = len(geometry) if isinstance(geometry, BrainModelAxis) else len(geometry.ijk)
    if merged.maps.shape[1] != n_columns:
        raise InputError(
            f"searchlight shards cover {merged.maps.shape[1]} centers but {responses_path} has "
            f"{n_columns} columns; expected shards computed from this file"
        )
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
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.responses,
            list(snakemake.input.shards),
            dict(snakemake.params.searchlight),
            snakemake.output[0],
        )
