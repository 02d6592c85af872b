"""Tabulate encoding accuracy over all models, layers, subjects and ROIs.

Rule ``summarize_encoding``.

Inputs: every ``results/encoding/{subject}/{model}/{layer}/{roi}.h5``.
Output: ``results/summary/encoding.tsv`` (model, layer, subject, roi, then
``dnnmap.encoding.summary.COLUMNS``: median_r and mean_r of the reported score, median_r2,
r_normalized (the ROI's mean score over its mean noise ceiling, capped at 1, flagged by
r_normalized_above_1), n_above_ceiling, n_ceiling, median_noise_ceiling, frac_fwe_05, n_vox,
n_nan, median_r_pooled, n_alpha_edge and frac_fwe_family_05, the fraction significant
family-wise over a model's layers x ROIs).
Params: ``jobs``, the model/layer/subject/roi of each input, in input order; ``min_ceiling``
(config ``encoding.min_ceiling``: voxels at or below it stay out of normalized scores).
"""

import logging

from dnnmap.encoding.summary import best_layers, summarize_encoding
from dnnmap.logs import rule_log
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def main(paths: list[str], keys: list[dict], out_path: str, min_ceiling: float = 0.2) -> None:
    table = summarize_encoding(paths, keys, min_ceiling)
    write_table(out_path, table, float_format="%.4f")
    LOG.info("best layer per ROI:\n%s", best_layers(table).to_string(index=False))
    above = table[table["r_normalized_above_1"]]
    if len(above):
        LOG.warning(
            "%d rows have a score above their noise ceiling (r_normalized capped at 1; the "
            "ceiling is underestimated there):\n%s",
            len(above),
            above[["model", "layer", "subject", "roi"]].to_string(index=False),
        )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_encoding")
    with rule_log(snakemake.log[0]):
        main(
            list(snakemake.input),
            list(snakemake.params.jobs),
            snakemake.output[0],
            snakemake.params.min_ceiling,
        )
