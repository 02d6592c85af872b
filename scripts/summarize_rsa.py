"""Table of every RSA result, with FDR-adjusted p-values across layers x ROIs.

Inputs: the RSA tables ``results/rsa/{subject}/{model}/{roi}.tsv``.
Output: ``results/summary/rsa.tsv`` (one row per subject, model, ROI and layer; column ``q``
is the Benjamini-Hochberg adjusted p-value within each subject x model).
Serves rules ``summarize_rsa`` and ``summarize_rsa_remix`` (``results/summary/rsa_remix.tsv``).
Params: ``jobs`` (subject, model and ROI of each input, in order).
"""

from dnnmap.logs import rule_log
from dnnmap.rsa.analysis import summarize_rsa
from dnnmap.store import write_table


def main(paths: list[str], jobs: list[dict], out_path: str) -> None:
    table = summarize_rsa(paths, jobs)
    write_table(out_path, table)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("summarize_rsa")
    with rule_log(snakemake.log[0]):
        main(list(snakemake.input), list(snakemake.params.jobs), snakemake.output[0])
