"""Fetch a model's pretrained torchvision weights on the login node (a local rule).

Compute nodes often have no internet: this rule runs where Snakemake runs, copies the
weights file from the torch hub cache or downloads it, and writes it where the extraction
job reads it.
Output: ``results/weights/{model}.pth`` (torchvision's state dict, sha256-checked).
Config: ``models.{model}.architecture`` and ``.weights`` (a torchvision weights name that the
architecture's family in :mod:`dnnmap.models.registry` accepts).
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.models.weights import fetch_weights

LOG = logging.getLogger("dnnmap")


def main(name, model_config, out_path):
    source = fetch_weights(
        model_config["architecture"],
        model_config["weights"],
        out_path,
        where=f"models.{name}.weights",
    )
    LOG.info("%s: %s weights from %s", name, model_config["weights"], source)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("fetch_weights", model="alexnet")
    with rule_log(snakemake.log[0]):
        main(snakemake.wildcards.model, snakemake.params.model, snakemake.output[0])
