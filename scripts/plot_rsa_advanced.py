"""Figure: second-level RSA of one model (held-out fits, layer weights, variance partition).

Inputs: ``reweighting`` (results/summary/rsa_reweighting.tsv), optional ``partition``
(results/summary/rsa_partition.tsv), the other summary tables of rsa_summary_tables() (not
drawn), ``truth`` (ground truth of simulated subjects; may be empty: the first marks the
driving layers when it names this model).
Output: ``results/rsa/figures/{model}_advanced.png``.
Params: ``layers`` (the model's layers in network order), ``rois``.
"""

import pandas as pd

from dnnmap.figures import save_figure
from dnnmap.logs import rule_log
from dnnmap.rsa.plots import plot_second_level


def main(
    reweighting_path: str,
    partition_path: str | None,
    truth_paths: list[str],
    model: str,
    layers: list[str],
    rois: list[str],
    out_path: str,
) -> None:
    reweighting = pd.read_csv(reweighting_path, sep="\t")
    partition = pd.read_csv(partition_path, sep="\t") if partition_path else None
    truth = pd.read_csv(truth_paths[0], sep="\t") if truth_paths else None
    fig = plot_second_level(model, layers, rois, reweighting, partition, truth)
    save_figure(fig, out_path, dpi=150)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("plot_rsa_advanced", model="alexnet")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.reweighting,
            snakemake.input.get("partition"),
            list(snakemake.input.truth),
            snakemake.wildcards.model,
            list(snakemake.params.layers),
            list(snakemake.params.rois),
            snakemake.output[0],
        )
