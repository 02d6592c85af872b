"""RDM of one subject's region: the dissimilarity of its response patterns between stimuli.

Inputs: ``stimuli`` (results/stimuli.tsv), ``brain`` (results/brain/{subject}/{roi}.h5, with
``repeats`` when the subject has them).
Output: ``results/rdm/brain/{subject}/{roi}.h5`` (layout in dnnmap.rsa.io; ``repeat_rdms``
when the ROI has repeats; all NaN, with ``masked_reason``, when fewer than 2 voxels are
left after dropping non-finite and constant ones).
Params: ``rsa`` (config ``rsa``: brain_metric, noise), ``device`` (config ``compute.device``).
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.rsa.io import brain_patterns, write_rdm
from dnnmap.rsa.roi_rdm import roi_rdm
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance

LOG = logging.getLogger("dnnmap")


def main(stimuli_path: str, brain_path: str, settings: dict, device: str, out_path: str) -> None:
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    patterns = brain_patterns(brain_path, stim_ids, stimuli_path, with_repeats=True)
    metric = settings["brain_metric"]
    noise = settings.get("noise", "shrinkage_diag")
    rdm, repeat_rdms = roi_rdm(patterns, metric, noise, device, where=brain_path)
    LOG.info(
        "%d stimuli x %d voxels (%d masked): %s RDM%s",
        len(stim_ids),
        patterns.responses.shape[1],
        patterns.n_masked,
        metric,
        "" if repeat_rdms is None else f", and one per repeat ({len(repeat_rdms)})",
    )
    attrs = provenance(settings, [brain_path])
    attrs.update(
        metric=metric,
        zscore=False,
        n_features=patterns.responses.shape[1],
        source="brain",
        n_vox=patterns.n_vox,
        n_masked=patterns.n_masked,
        masked_reason=patterns.reason,
    )
    if metric in ("mahalanobis", "crossnobis"):
        attrs.update(noise=noise)
    write_rdm(out_path, rdm, stim_ids, attrs, repeat_rdms=repeat_rdms)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("rdm_brain", subject="sub-01", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.brain,
            snakemake.params.rsa,
            snakemake.params.device,
            snakemake.output[0],
        )
