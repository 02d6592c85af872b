"""Variance partitioning of one ROI by a joint set of 2-3 spaces (banded ridge on every subset).

Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5 of
each space of the set, in config order), ``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/joint/{subject}/{set}/{roi}.h5`` (see dnnmap.encoding.joint_io).
Params: ``spaces`` (``model/layer`` of each space), ``joint`` (config ``joint``: alphas,
n_iter, concentration, seed), ``encoding`` (config ``encoding``: cv, inner_folds, voxel_batch,
pooling), ``device`` (config ``compute.device``).
"""

import logging

import numpy as np

from dnnmap.backend import resolve_device
from dnnmap.encoding.joint_io import run_partition, write_partition
from dnnmap.logs import rule_log
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    feature_paths: list[str],
    brain_path: str,
    spaces: list[str],
    joint: dict,
    encoding: dict,
    device: str,
    out_path: str,
) -> None:
    device = resolve_device(device)
    LOG.info(
        "banded ridge on every subset of %s: %d candidate space weights x %d alphas, device %s",
        ", ".join(spaces),
        joint["n_iter"],
        len(joint["alphas"]),
        device,
    )
    result, index, stim_ids = run_partition(
        stimuli_path, feature_paths, spaces, brain_path, joint, encoding, device
    )
    keep = ~result.masked
    for region, part, neg in zip(result.regions, result.parts, result.n_negative, strict=True):
        LOG.info(
            "%s: median %.4f, mean %.4f over %d voxels; %d negative",
            region,
            np.median(part[keep]) if keep.any() else np.nan,
            np.mean(part[keep]) if keep.any() else np.nan,
            int(keep.sum()),
            int(neg),
        )
    attrs = provenance({"joint": joint, "encoding": encoding}, [*feature_paths, brain_path])
    write_partition(out_path, result, index, stim_ids, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("joint_partition", subject="sub-01", set="driving", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.features),
            snakemake.input.brain,
            list(snakemake.params.spaces),
            dict(snakemake.params.joint),
            dict(snakemake.params.encoding),
            snakemake.params.device,
            snakemake.output[0],
        )
