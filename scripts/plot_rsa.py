"""Figure: RSA profiles across layers per model and ROI, with noise-ceiling bands.

Inputs: ``summary`` (results/summary/rsa.tsv), ``truth`` (ground truth of simulated subjects;
may be empty: the first marks the driving layers, in the panels of the model it names).
Output: ``results/summary/rsa_profiles.png``.
Params: ``layer_order`` (model -> layers in network order).
"""

import pandas as pd

from dnnmap.figures import save_figure
from dnnmap.logs import rule_log
from dnnmap.rsa.plots import plot_rsa_profiles


def main(summary_path: str, truth_paths: list[str], layer_order: dict, out_path: str) -> None:
    table = pd.read_csv(summary_path, sep="\t")
    truth = pd.read_csv(truth_paths[0], sep="\t") if truth_paths else None
    fig = plot_rsa_profiles(table, layer_order, truth)
    save_figure(fig, out_path, dpi=150)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("plot_rsa")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.summary,
            list(snakemake.input.truth),
            dict(snakemake.params.layer_order),
            snakemake.output[0],
        )
