"""One table of every second-level RSA job of a kind (group, reweighting or partition).

Inputs: the per-job tables (results/rsa_{kind}/...tsv).
Output: ``results/summary/rsa_{kind}.tsv``: the job's subject, model and ROI, then the table.
Params: ``jobs`` (the wildcards of each input, in order).
Wildcards: ``kind``.
"""

from dnnmap.logs import rule_log
from dnnmap.rsa.tables import collect_tables
from dnnmap.store import write_table


def main(paths: list[str], jobs: list[dict], out_path: str) -> None:
    table = collect_tables(paths, jobs)
    write_table(out_path, table)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("collect_rsa_table", kind="reweighting")
    with rule_log(snakemake.log[0]):
        main(list(snakemake.input), list(snakemake.params.jobs), snakemake.output[0])
