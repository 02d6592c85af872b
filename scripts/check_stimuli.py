"""Check the stimulus table and write the validated copy every later rule reads.

Inputs: ``table`` (the user's stimulus table, config ``stimuli.table``) and the stimulus files.
Output: ``results/stimuli.tsv`` with ``stim_id``, absolute ``path``, ``modality`` and the
attribute columns, in the table's order.
Checks: required columns, unique ids, every file exists and decodes.
"""

import logging

from dnnmap.logs import rule_log
from dnnmap.stimuli import check_stimuli, read_table, write_stimuli

LOG = logging.getLogger("dnnmap")


def main(table_path: str, out_path: str) -> None:
    table = check_stimuli(read_table(table_path), table_path, decode=True)
    write_stimuli(table, out_path)
    counts = table["modality"].value_counts().to_dict()
    LOG.info("%d stimuli checked (%s); wrote %s", len(table), counts, out_path)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("check_stimuli")
    with rule_log(snakemake.log[0]):
        main(snakemake.input.table, snakemake.output[0])
