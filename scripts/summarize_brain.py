"""Tabulate the brain data of every subject and ROI: size, masked voxels, noise ceiling.

Rule ``summarize_brain``.

Inputs: every ``results/brain/{subject}/{roi}.h5``.
Output: ``results/summary/brain.tsv`` (columns in dnnmap.brain.summary.COLUMNS).
Params: ``jobs``, the subject and roi of each input, in input order.
"""

import logging

from dnnmap.brain.summary import summarize_rois
from dnnmap.logs import rule_log
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(paths: list[str], keys: list[dict], out_path: str) -> None:
    table = summarize_rois(paths, keys)
    write_table(out_path, table, float_format="%.4f")
    LOG.info("brain data per subject and ROI:\n%s", table.to_string(index=False))


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_brain")
    with rule_log(snakemake.log[0]):
        main(list(snakemake.input), list(snakemake.params.jobs), snakemake.output[0])
