"""Summary table of every stacking job: one row per subject, stack set, ROI and space.

Rule ``summarize_stacking``.
Inputs: every stacking file (results/stacking/{subject}/{stack}/{roi}.h5).
Output: ``results/summary/stacking.tsv`` (columns: dnnmap.stacking.summary.COLUMNS).
Params: ``jobs`` (subject, stack, roi of each input, in input order), ``n_best``, ``n_boot``,
``seed`` (config ``stacking``).
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.stacking.summary import summarize_stacking
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(
    paths: list[str], jobs: list[dict], n_best: int, n_boot: int, seed: int, out_path: str
) -> None:
    table = summarize_stacking(paths, jobs, n_best=n_best, n_boot=n_boot, seed=seed)
    write_table(out_path, table, float_format="%.4f")
    top = table.loc[table.groupby(["subject", "stack", "roi"])["weight_mean"].idxmax()]
    LOG.info(
        "space with the largest mean weight per ROI:\n%s",
        top[["subject", "stack", "roi", "space", "weight_mean", "stacked_r_median"]].to_string(
            index=False
        ),
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_stacking")
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            list(snakemake.params.jobs),
            snakemake.params.n_best,
            snakemake.params.n_boot,
            snakemake.params.seed,
            snakemake.output[0],
        )
