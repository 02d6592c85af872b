"""Runtime and peak memory per job of the heavy rules, as a table and a figure.

Inputs: the ``benchmark:`` files of extract_activations, reduce_features and encode.
Outputs: ``results/summary/benchmarks.tsv`` (rule, job, seconds, cpu_seconds, max_rss_mb) and
``results/summary/benchmarks.png``.
Params: ``jobs``, the rule and wildcards of each input, in input order.
"""

import logging

from dnnmap.benchmarks import collect_benchmarks, plot_benchmarks, rule_totals
from dnnmap.logs import rule_log
from dnnmap.store import atomic_path, write_table

LOG = logging.getLogger("dnnmap")


def main(paths, jobs, out_table, out_figure):
    table = collect_benchmarks(paths, jobs)
    write_table(out_table, table, float_format="%.2f")
    fig = plot_benchmarks(table)
    with atomic_path(out_figure) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    LOG.info("per rule:\n%s", rule_totals(table).to_string(index=False))


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            snakemake.params.jobs,
            snakemake.output.table,
            snakemake.output.figure,
        )
