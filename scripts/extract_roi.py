"""Cut one ROI out of a subject's brain responses, rows in stimulus-table order.

Inputs: ``stimuli`` (results/stimuli.tsv), ``responses`` (CIFTI-2 with one map per stimulus,
named by stim_id; the user's file or the simulated one), ``repeats`` (CIFTI files of single
repeated measurements, or none).
Output: ``results/brain/{subject}/{roi}.h5`` with ``responses (n_stim, n_vox)``,
``index (n_vox,)`` grayordinate indices into the CIFTI file, ``stim_id``, and with repeats
``repeats (n_rep, n_stim, n_vox)`` (NaN where a stimulus has fewer repeats; z-scored per
repeat and voxel with ``brain.zscore_sessions``) and ``noise_ceiling (n_vox,)`` (the noise
ceiling of the correlation between a model's prediction and the mean response; see
dnnmap.brain.noise_ceiling).
Config: ``brain.rois.{roi}`` (HCP-MMP 1.0 area names), ``brain.subjects.{subject}.repeats``,
``brain.zscore_sessions``.
Masked grayordinates (dnnmap.brain.summary.masked_voxels) are kept in the file and counted in
the log; every analysis leaves them out. Errors name the subject, ROI and file.
"""

import logging

import numpy as np

from dnnmap.brain.noise_ceiling import response_noise_ceiling, zscore_sessions
from dnnmap.brain.roi import roi_responses
from dnnmap.brain.summary import masked_voxels
from dnnmap.errors import InputError
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(stimuli_path, responses_path, repeat_paths, subject, roi, labels, out_path, zscore=True):
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])

    def read(path, what):
        try:
            return roi_responses(path, stim_ids, roi, labels, stimuli_path)
        except InputError as err:
            named = "" if str(path) in str(err) else f" {path}:"
            raise InputError(f"subject {subject}, ROI {roi}, {what}:{named} {err}") from None

    responses, index = read(responses_path, "responses")
    masked = masked_voxels(responses)
    LOG.info(
        "%s: %d grayordinates from %s; %d masked (NaN, inf or constant), left out of analyses",
        roi,
        len(index),
        "+".join(labels),
        int(masked.sum()),
    )
    if masked.all():
        LOG.warning(
            "%s: every grayordinate is masked (outside the data's coverage?); its results "
            "will be NaN rows with this reason",
            roi,
        )
    arrays = {"responses": responses, "index": index}
    if repeat_paths:
        repeats = np.stack([read(p, "repeats")[0] for p in repeat_paths])
        if zscore:
            repeats = zscore_sessions(repeats).astype(np.float32)
        ceiling = response_noise_ceiling(repeats)
        arrays.update(repeats=repeats, noise_ceiling=ceiling.astype(np.float32))
        finite = ceiling[np.isfinite(ceiling)]
        LOG.info(
            "%d repeats%s: median noise ceiling r %s",
            len(repeat_paths),
            " (z-scored per session)" if zscore else "",
            f"{np.median(finite):.3f}" if finite.size else "NaN (no finite voxel)",
        )
    write_h5(
        out_path,
        arrays,
        attrs={
            **provenance({"roi": roi, "labels": labels}, [responses_path, *repeat_paths]),
            "roi": roi,
        },
        stim_id=stim_ids,
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("extract_roi", subject="sub-01", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.responses,
            list(snakemake.input.repeats),
            snakemake.wildcards.subject,
            snakemake.wildcards.roi,
            list(snakemake.params.labels),
            snakemake.output[0],
            snakemake.params.zscore_sessions,
        )
