"""Cross-validated stacked regression of one ROI over the spaces of one stack set.

Rule ``stack``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5
of each space of the set, in the set's order), ``brain`` (results/brain/{subject}/{roi}.h5).
Output: ``results/stacking/{subject}/{stack}/{roi}.h5`` (see dnnmap.stacking.io).
Params: ``spaces`` (``model/layer`` of each features file), ``encoding`` (config
``encoding``: cv, inner_folds, alphas, alpha_scale), ``device`` (config ``compute.device``).
Wildcards: ``stack`` (the set's name, stored in the file).
"""

import logging

import numpy as np

from dnnmap.backend import resolve_device
from dnnmap.logs import rule_log
from dnnmap.stacking.io import run_stacking, write_stacking
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    features_paths: list[str],
    spaces: list[str],
    brain_path: str,
    stack: str,
    encoding: dict,
    device: str,
    out_path: str,
) -> None:
    device = resolve_device(device)
    LOG.info(
        "stack set %s: %d spaces (%s), device %s", stack, len(spaces), ", ".join(spaces), device
    )

    def progress(split: int, n_splits: int) -> None:
        LOG.info("outer split %d of %d done", split + 1, n_splits)

    out = run_stacking(
        stimuli_path, features_paths, spaces, brain_path, encoding, device, log=progress
    )
    r = out.result
    LOG.info(
        "%d stimuli, %d voxels (%d masked), %s cv (%d splits): median stacked r %.3f, R %.3f",
        len(out.stim_ids),
        len(out.index),
        int(r.masked.sum()),
        out.splits.scheme,
        len(out.splits),
        np.nanmedian(r.r),
        np.nanmedian(r.signed_sqrt_r2),
    )
    for j, space in enumerate(out.spaces):
        LOG.info(
            "%-24s mean weight %.3f, median single-space r %.3f",
            space,
            np.nanmean(r.weights[:, j]),
            np.nanmedian(r.space_r[:, j]),
        )
    attrs = provenance({"encoding": encoding, "spaces": spaces}, [*features_paths, brain_path])
    write_stacking(out_path, out, stack, encoding, attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("stack", subject="sub-01", stack="alexnet_all", roi="LO")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            list(snakemake.input.features),
            list(snakemake.params.spaces),
            snakemake.input.brain,
            snakemake.wildcards.stack,
            snakemake.params.encoding,
            snakemake.params.device,
            snakemake.output[0],
        )
