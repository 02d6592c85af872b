"""Estimate per-stimulus betas of a time-series subject: a GLM per run, averaged over runs.

Rule ``estimate_betas``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``runs`` (every run's data, events and confounds
files, and the mask).
Output: ``results/brain/{subject}/betas.h5``: ``betas (n_stim, n_columns)`` float32 on the
columns of the runs' space (dnnmap.brain.spaces: grayordinates, mask voxels or vertices) and
``stim_id (n_stim)`` in table order, and where stimuli are shown in several runs
``repeats (n_rep, n_stim, n_columns)`` (their per-run betas, NaN where a stimulus has fewer
runs); extract_roi reads it as the subject's responses (and repeats: the noise ceiling).
Config: ``brain.subjects.{subject}.timeseries`` (``tr``, ``method`` lsa/lss, ``hrf_model``,
``high_pass``, ``noise_model``, ``runs`` of ``data``, ``events``, ``confounds``),
``brain.subjects.{subject}.mask``. See dnnmap.brain.timeseries.
"""

import logging

from dnnmap.brain.timeseries import subject_betas
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(stimuli_path: str, entry: dict, subject: str, inputs: list[str], out_path: str) -> None:
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    betas, space, repeats = subject_betas(entry, stim_ids, f"brain.subjects.{subject}")
    arrays = {"betas": betas}
    if repeats is not None:
        arrays["repeats"] = repeats
        LOG.info("%d repeats across runs (stimuli shown in several runs)", len(repeats))
    LOG.info(
        "betas of %d stimuli on the %s (method %s)",
        len(stim_ids),
        space.describe(),
        entry["timeseries"].get("method", "lsa"),
    )
    write_h5(
        out_path,
        arrays,
        attrs=provenance({"timeseries": entry["timeseries"]}, inputs),
        stim_id=stim_ids,
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("estimate_betas", subject="sub-01")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            dict(snakemake.params.entry),
            snakemake.wildcards.subject,
            list(snakemake.input.runs),
            snakemake.output[0],
        )
