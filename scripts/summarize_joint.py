"""Summary table and figure of every variance partitioning job.

Inputs: results/joint/{subject}/{set}/{roi}.h5 of every job, in the order of ``params.jobs``.
Outputs: ``table`` (results/summary/joint_partition.tsv, columns in
dnnmap.encoding.joint_io.PARTITION_COLUMNS), ``figure`` (results/summary/joint_partition.png:
unique and shared parts per ROI, one panel per set).
Params: ``jobs`` (subject, set and roi of each input).
"""

import logging

from dnnmap.encoding.joint_io import partition_table, plot_partition
from dnnmap.logs import rule_log
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(paths: list[str], jobs: list[dict], table_path: str, figure_path: str) -> None:
    table = partition_table(paths, jobs)
    LOG.info("%s", table.to_string(index=False))
    write_table(table_path, table)
    plot_partition(table, figure_path)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_joint")
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            [dict(job) for job in snakemake.params.jobs],
            snakemake.output.table,
            snakemake.output.figure,
        )
