"""Cut one ROI out of a subject's brain responses, rows in stimulus-table order.

Inputs: ``stimuli`` (results/stimuli.tsv), ``responses`` (CIFTI-2 with one map per stimulus,
named by stim_id; the user's file or the simulated one).
Output: ``results/brain/{subject}/{roi}.h5`` with ``responses (n_stim, n_vox)``,
``index (n_vox,)`` grayordinate indices into the CIFTI file, ``stim_id``.
Config: ``brain.rois.{roi}`` (HCP-MMP 1.0 area names).
"""

import logging

from dnnmap.brain import roi_responses
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(stimuli_path, responses_path, roi, labels, out_path):
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    responses, index = roi_responses(responses_path, stim_ids, roi, labels, stimuli_path)
    LOG.info("%s: %d grayordinates from %s", roi, len(index), "+".join(labels))
    write_h5(
        out_path,
        {"responses": responses, "index": index},
        attrs={**provenance({"roi": roi, "labels": labels}, [responses_path]), "roi": roi},
        stim_id=stim_ids,
    )


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.responses,
            snakemake.wildcards.roi,
            list(snakemake.params.labels),
            snakemake.output[0],
        )
