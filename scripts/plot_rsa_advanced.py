"""Figure: second-level RSA of one model (held-out fits, layer weights, variance partition).

Inputs: ``reweighting`` (results/summary/rsa_reweighting.tsv), optional ``partition``
(results/summary/rsa_partition.tsv), the other summary tables of rsa_summary_tables() (not
drawn), ``truth`` (ground truth of simulated subjects; may be empty: the first marks the
driving layers).
Output: ``results/rsa/figures/{model}_advanced.png``.
Params: ``layers`` (the model's layers in network order), ``rois``.
"""

import pandas as pd

from dnnmap.logs import rule_log
from dnnmap.rsa.plots import plot_second_level
from dnnmap.store import atomic_path


def main(inputs, model, layers, rois, out_path):
    reweighting = pd.read_csv(inputs.reweighting, sep="\t")
    partition = pd.read_csv(inputs.partition, sep="\t") if hasattr(inputs, "partition") else None
    truth = pd.read_csv(inputs.truth[0], sep="\t") if inputs.truth else None
    fig = plot_second_level(model, layers, rois, reweighting, partition, truth)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input,
            snakemake.wildcards.model,
            list(snakemake.params.layers),
            list(snakemake.params.rois),
            snakemake.output[0],
        )
