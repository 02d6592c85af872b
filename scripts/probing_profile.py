"""Probing profile: one attribute's decoding accuracy across layers (or brain regions).

Serves rules ``probing_profile`` (layers of a model) and ``summarize_brain_decoding`` (ROIs
of every subject).

Inputs: the decoding files (results/decoding/{model}/{layer}/{attribute}.h5, one per layer,
or results/decoding/brain/{subject}/{roi}/{attribute}.h5, one per subject and ROI).
Outputs: ``table`` (TSV, one row per file and estimator; columns in dnnmap.decoding.probing) and
``figure`` (PNG).
Params: ``labels`` (the key columns of each input, e.g. {"layer": "conv1"}), ``x`` (the key
on the figure's x axis), ``series`` (keys that split the lines), ``title``, ``model``
(written as a first column when given).
"""

import logging

from dnnmap.decoding.probing import decoding_table, plot_probing_profile
from dnnmap.figures import save_figure
from dnnmap.logs import rule_log
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(
    paths: list[str],
    labels: list[dict],
    x: str,
    series: list[str],
    title: str,
    model: str,
    table_path: str,
    figure_path: str,
) -> None:
    table = decoding_table(paths, labels)
    if model:
        table.insert(0, "model", model)
    for row in table.itertuples():
        LOG.info(
            "%s %s: %s %.3f (sd %.3f), chance %.3f, p %.4g",
            " ".join(str(getattr(row, k)) for k in labels[0]),
            row.estimator,
            row.metric,
            row.score,
            row.score_sd,
            row.chance,
            row.p,
        )
    fig = plot_probing_profile(table, x=x, series=series, title=title)
    write_table(table_path, table)
    save_figure(fig, figure_path, dpi=150)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("probing_profile", model="alexnet", attribute="category")
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            list(snakemake.params.labels),
            snakemake.params.x,
            list(snakemake.params.series),
            snakemake.params.title,
            snakemake.params.model,
            snakemake.output.table,
            snakemake.output.figure,
        )
