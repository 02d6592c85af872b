"""One table of every second-level RSA job of a kind (group, reweighting or partition).

Inputs: the per-job tables (results/rsa_{kind}/...tsv).
Output: ``results/summary/rsa_{kind}.tsv``: the job's subject, model and ROI, then the table.
Params: ``jobs`` (the wildcards of each input, in order).
"""

from dnnmap.logs import rule_log
from dnnmap.rsa.tables import collect_tables
from dnnmap.store import write_table


def main(paths, jobs, out_path):
    table = collect_tables(paths, jobs)
    write_table(out_path, table)


if __name__ == "__main__":
    with rule_log(snakemake.log[0]):
        main(list(snakemake.input), list(snakemake.params.jobs), snakemake.output[0])
