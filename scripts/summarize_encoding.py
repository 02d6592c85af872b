"""Tabulate encoding accuracy over all models, layers, subjects and ROIs.

Rule ``summarize_encoding``.

Inputs: every ``results/encoding/{subject}/{model}/{layer}/{roi}.h5``.
Output: ``results/summary/encoding.tsv`` (model, layer, subject, roi, then
``dnnmap.encoding.summary.COLUMNS``: median_r and mean_r of the reported score, median_r2,
normalized score and ceiling, frac_fwe_05, n_vox, n_nan, median_r_pooled, n_alpha_edge and
frac_fwe_family_05, the fraction significant family-wise over a model's layers x ROIs).
Params: ``jobs``, the model/layer/subject/roi of each input, in input order.
"""

import logging

from dnnmap.encoding.summary import best_layers, summarize_encoding
from dnnmap.logs import rule_log
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(paths: list[str], keys: list[dict], out_path: str) -> None:
    table = summarize_encoding(paths, keys)
    write_table(out_path, table, float_format="%.4f")
    LOG.info("best layer per ROI:\n%s", best_layers(table).to_string(index=False))


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_encoding")
    with rule_log(snakemake.log[0]):
        main(list(snakemake.input), list(snakemake.params.jobs), snakemake.output[0])
