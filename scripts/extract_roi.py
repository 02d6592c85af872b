"""Cut one ROI out of a subject's brain responses, rows in stimulus-table order.

Inputs: ``stimuli`` (results/stimuli.tsv), ``responses`` (the user's data: CIFTI-2, 4-D NIfTI
in a mask, GIFTI or MGH per hemisphere, one map per stimulus, named by stim_id or by an ids
sidecar or in table order; or the simulated CIFTI file, or NIfTI in the subject's mask),
``repeats`` (files of single repeated measurements in the same space, or none),
``side_files`` (mask, ids, ROI files).
Output: ``results/brain/{subject}/{roi}.h5`` with ``responses (n_stim, n_vox)``,
``index (n_vox,)`` column indices into the subject's space (grayordinates, mask voxels, or
left-then-right vertices; dnnmap.brain.spaces), ``stim_id``, and with repeats
``repeats (n_rep, n_stim, n_vox)`` (NaN where a stimulus has fewer repeats; z-scored per
repeat and voxel with ``brain.zscore_sessions``) and ``noise_ceiling (n_vox,)`` (the noise
ceiling of the correlation between a model's prediction and the mean response; see
dnnmap.brain.noise_ceiling).
Config: ``brain.rois.{roi}`` (HCP-MMP 1.0 area names, or labels of the subject's
``roi_files``), ``brain.subjects.{subject}`` (``responses``, ``mask``, ``ids``, ``repeats``,
``roi_files``), ``brain.zscore_sessions``. For a time-series subject the repeats are the
per-run betas of stimuli shown in several runs (``repeats`` of
results/brain/{subject}/betas.h5).
Masked grayordinates (dnnmap.brain.summary.masked_voxels) are kept in the file and counted in
the log; every analysis leaves them out. Errors name the subject, ROI and file.
"""

import logging

import numpy as np

from dnnmap.brain.noise_ceiling import response_noise_ceiling, zscore_sessions
from dnnmap.brain.spaces import SubjectData
from dnnmap.brain.subjects import subject_data, subject_roi_responses
from dnnmap.brain.summary import masked_voxels
from dnnmap.brain.timeseries import read_run_repeats
from dnnmap.errors import InputError
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path,
    data,
    repeats,
    subject,
    roi,
    labels,
    out_path,
    zscore=True,
    roi_files=None,
):
    """``data`` and each of ``repeats`` are :class:`dnnmap.brain.spaces.SubjectData`."""
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    if not isinstance(data, SubjectData):
        data = SubjectData.from_config(data)
    repeats = [r if isinstance(r, SubjectData) else SubjectData.from_config(r) for r in repeats]

    def read(source, what):
        try:
            responses, index, _ = subject_roi_responses(
                source, stim_ids, roi, labels, roi_files, stimuli_path, f"subject {subject}"
            )
            return responses, index
        except InputError as err:
            raise InputError(f"subject {subject}, ROI {roi}, {what}: {err}") from None

    repeat_paths = [p for rep in repeats for p in rep.files.values()]
    responses, index = read(data, "responses")
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
    n_repeats = len(repeats)
    if repeats:
        repeats = np.stack([read(rep, "repeats")[0] for rep in repeats])
    elif data.betas is not None:  # time series: betas of stimuli shown in several runs
        repeats = read_run_repeats(data.betas, stim_ids, index)
        n_repeats = 0 if repeats is None else len(repeats)
    if n_repeats:
        if zscore:
            repeats = zscore_sessions(repeats).astype(np.float32)
        ceiling = response_noise_ceiling(repeats)
        arrays.update(repeats=repeats, noise_ceiling=ceiling.astype(np.float32))
        finite = ceiling[np.isfinite(ceiling)]
        LOG.info(
            "%d repeats%s: median noise ceiling r %s",
            n_repeats,
            " (z-scored per session)" if zscore else "",
            f"{np.median(finite):.3f}" if finite.size else "NaN (no finite voxel)",
        )
    write_h5(
        out_path,
        arrays,
        attrs={
            **provenance({"roi": roi, "labels": labels}, [*data.paths, *repeat_paths]),
            "roi": roi,
        },
        stim_id=stim_ids,
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("extract_roi", subject="sub-01", roi="V1")
    with rule_log(snakemake.log[0]):
        entry = dict(snakemake.params.entry)
        where = f"brain.subjects.{snakemake.wildcards.subject}"
        if entry["responses"] == "timeseries":
            data = subject_data(entry, where, betas=snakemake.input.responses)
            repeats = []
        elif entry["responses"] == "simulate":
            # a volume simulation: NIfTI in the subject's mask, maps named by the ids sidecar
            volume = {"mask": entry.get("mask"), "ids": snakemake.params.simulated_ids}
            side = volume if entry.get("mask") else {}
            data = SubjectData.from_config(snakemake.params.simulated, where=where, **side)
            repeats = [
                SubjectData.from_config(p, where=where, **side) for p in snakemake.input.repeats
            ]
        else:
            data = subject_data(entry, where)
            repeats = [
                subject_data(entry, where, repeat=i) for i in range(len(entry.get("repeats", [])))
            ]
        main(
            snakemake.input.stimuli,
            data,
            repeats,
            snakemake.wildcards.subject,
            snakemake.wildcards.roi,
            list(snakemake.params.labels),
            snakemake.output[0],
            snakemake.params.zscore_sessions,
            entry.get("roi_files"),
        )
