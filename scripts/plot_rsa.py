"""Figure: RSA profiles across layers per model and ROI, with noise-ceiling bands.

Inputs: ``summary`` (results/summary/rsa.tsv), ``truth`` (ground truth of simulated subjects;
may be empty: the first marks the driving layers).
Output: ``results/summary/rsa_profiles.png``.
Params: ``layer_order`` (model -> layers in network order).
"""

import pandas as pd

from dnnmap.logs import rule_log
from dnnmap.rsa.plots import plot_rsa_profiles
from dnnmap.store import atomic_path


def main(summary_path, truth_paths, layer_order, out_path):
    table = pd.read_csv(summary_path, sep="\t")
    truth = pd.read_csv(truth_paths[0], sep="\t") if truth_paths else None
    fig = plot_rsa_profiles(table, layer_order, truth)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.summary,
            list(snakemake.input.truth),
            snakemake.params.layer_order,
            snakemake.output[0],
        )
