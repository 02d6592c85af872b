"""Runtime and peak memory per job of the heavy rules, as a table and a figure.

Inputs: the ``benchmark:`` files of every job of every rule that has a ``benchmark:``
directive (``benchmark_jobs()`` in workflow/rules/targets.smk derives the list from the
directives, with each rule's jobs from ``BENCHMARKED_JOBS``: today extract_activations,
reduce_features, encode, rsa, searchlight, decode and decode_brain, when they run).
Outputs: ``results/summary/benchmarks.tsv`` (rule, job, seconds, cpu_seconds, max_rss_mb) and
``results/summary/benchmarks.png``.
Params: ``jobs``, the rule and wildcards of each input, in input order.
"""

import logging

from dnnmap.benchmarks import collect_benchmarks, plot_benchmarks, rule_totals
from dnnmap.figures import save_figure
from dnnmap.logs import rule_log
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(paths: list[str], jobs: list[dict], out_table: str, out_figure: str) -> None:
    table = collect_benchmarks(paths, jobs)
    write_table(out_table, table, float_format="%.2f")
    fig = plot_benchmarks(table)
    save_figure(fig, out_figure, dpi=150)
    LOG.info("per rule:\n%s", rule_totals(table).to_string(index=False))


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_benchmarks")
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            list(snakemake.params.jobs),
            snakemake.output.table,
            snakemake.output.figure,
        )
