"""Merge the shards of a searchlight RSA into one map per layer.

Inputs: ``responses`` (the subject's data, whose space the maps are written in),
``shards`` (results/searchlight/{subject}/{model}/shard-{shard}.h5, all of them).
Output: ``results/maps/{subject}/{model}/searchlight{mapsuffix}`` in the data's format:
``.dscalar.nii`` (CIFTI, brain model axis copied), ``.nii.gz`` (NIfTI, the mask's grid), or
one ``.L.func.gii``/``.R.func.gii`` (GIFTI) or ``.lh.mgz``/``.rh.mgz`` (MGH, names in a
``.names.tsv`` sidecar) per hemisphere job: one map per layer of searchlight r (NaN where a
neighborhood's RDM is undefined).
Params: ``searchlight`` (config ``rsa.searchlight``), ``space`` (the subject's
``responses``/``mask``/``ids``: dnnmap.brain.spaces.SubjectData.from_config).
"""

import logging

import numpy as np

from dnnmap.brain.responses_io import write_maps
from dnnmap.brain.spaces import BrainSpace, SubjectData
from dnnmap.brain.spaces import write_maps as write_space_maps
from dnnmap.logs import rule_log
from dnnmap.rsa.searchlight import merge_searchlight

LOG = logging.getLogger("dnnmap")


def main(responses, shard_paths: list[str], settings: dict, out_path: str) -> None:
    """``responses``: a CIFTI/NIfTI path, or the subject's SubjectData (any format)."""
    merged, geometry = merge_searchlight(shard_paths, responses, settings.get("mask"))
    if isinstance(geometry, BrainSpace):
        write_space_maps(out_path, merged.maps, merged.names, geometry)
    else:
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

        snakemake = mock_snakemake(
            "merge_searchlight", subject="sub-01", model="alexnet", mapsuffix=".dscalar.nii"
        )
    with rule_log(snakemake.log[0]):
        where = f"brain.subjects.{snakemake.wildcards.subject}"
        main(
            SubjectData.from_config(**snakemake.params.space, where=where),
            list(snakemake.input.shards),
            dict(snakemake.params.searchlight),
            snakemake.output[0],
        )
