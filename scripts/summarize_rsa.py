"""Table of every RSA result, with FDR-adjusted p-values across layers x ROIs.

Inputs: the RSA tables ``results/rsa/{subject}/{model}/{roi}.tsv``.
Output: ``results/summary/rsa.tsv`` (one row per subject, model, ROI and layer; column ``q``
is the Benjamini-Hochberg adjusted p-value within each subject x model).
Params: ``jobs`` (subject, model and ROI of each input, in order).
"""

from dnnmap.logs import rule_log
from dnnmap.rsa.analysis import summarize_rsa
from dnnmap.store import write_table


def main(paths, jobs, out_path):
    table = summarize_rsa(paths, jobs)
    write_table(out_path, table)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(list(snakemake.input), snakemake.params.jobs, snakemake.output[0])
