"""Figure: encoding accuracy across layers per ROI, with the simulated driving layer marked.

Inputs: ``summary`` (results/summary/encoding.tsv), ``truth`` (ground-truth tables of
simulated subjects; may be empty). Subjects share the simulated regions and their layers (only
the seed differs), so the first table marks the driving layers for all, in the row of the
model it names (its ``model`` column); a row of panels per model.
Output: ``results/summary/encoding_layers.png``.
Params: ``layer_order`` (model -> layers in network order).
"""

import pandas as pd

from dnnmap.encoding.summary import plot_layer_profiles
from dnnmap.figures import save_figure
from dnnmap.logs import rule_log


def main(summary_path: str, truth_paths: list[str], layer_order: dict, out_path: str) -> None:
    summary = pd.read_csv(summary_path, sep="\t")
    truth = pd.read_csv(truth_paths[0], sep="\t") if truth_paths else None
    fig = plot_layer_profiles(summary, truth, layer_order)
    save_figure(fig, out_path, dpi=150)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("plot_encoding")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.summary,
            list(snakemake.input.truth),
            dict(snakemake.params.layer_order),
            snakemake.output[0],
        )
