"""Summary table of every paired comparison of two spaces.

Inputs: results/joint/compare/{subject}/{pair}/{roi}.h5 of every job, in the order of
``params.jobs``.
Output: results/summary/joint_compare.tsv (columns in
dnnmap.encoding.joint_io.COMPARE_COLUMNS).
Params: ``jobs`` (subject, pair, a, b and roi of each input).
"""

import logging

from dnnmap.encoding.joint_io import comparison_table
from dnnmap.logs import rule_log
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(paths: list[str], jobs: list[dict], out_path: str) -> None:
    table = comparison_table(paths, jobs)
    LOG.info("%s", table.to_string(index=False))
    write_table(out_path, table)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_compare")
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            [dict(job) for job in snakemake.params.jobs],
            snakemake.output[0],
        )
