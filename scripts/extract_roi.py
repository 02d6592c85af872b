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
"""

import logging

import numpy as np

from dnnmap.brain.noise_ceiling import response_noise_ceiling, zscore_sessions
from dnnmap.brain.roi import roi_responses
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(stimuli_path, responses_path, repeat_paths, roi, labels, out_path, zscore=True):
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    responses, index = roi_responses(responses_path, stim_ids, roi, labels, stimuli_path)
    LOG.info("%s: %d grayordinates from %s", roi, len(index), "+".join(labels))
    arrays = {"responses": responses, "index": index}
    if repeat_paths:
        repeats = np.stack(
            [roi_responses(p, stim_ids, roi, labels, stimuli_path)[0] for p in repeat_paths]
        )
        if zscore:
            repeats = zscore_sessions(repeats).astype(np.float32)
        ceiling = response_noise_ceiling(repeats)
        arrays.update(repeats=repeats, noise_ceiling=ceiling.astype(np.float32))
        LOG.info(
            "%d repeats%s: median noise ceiling r %.3f",
            len(repeat_paths),
            " (z-scored per session)" if zscore else "",
            np.nanmedian(ceiling),
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
            snakemake.wildcards.roi,
            list(snakemake.params.labels),
            snakemake.output[0],
            snakemake.params.zscore_sessions,
        )
