"""Check the stimulus table and write the validated copy every later rule reads.

Inputs: ``table`` (the user's stimulus table, config ``stimuli.table``) and the stimulus files.
Output: ``results/stimuli.tsv`` with ``stim_id``, absolute ``path``, ``modality`` and the
attribute columns, in the table's order.
Params: ``background`` (config ``stimuli.background``, the colour transparency is
composited on).
Checks: required columns, unique ids, every file exists and every image, video and
sound decodes as the network will read it (the log gives the videos' and sounds' durations,
rates and sizes). The log lists the images' modes with their size ranges, and warns
once per kind of conversion (bit depth, float range, transparency, orientation, frames).
"""

import logging
from pathlib import Path

from dnnmap.images import conversion_report, mode_report
from dnnmap.logs import rule_log
from dnnmap.media.checks import media_report
from dnnmap.stimuli import (
    IMAGES_ATTR,
    LINES_ATTR,
    MEDIA_ATTR,
    check_stimuli,
    read_table,
    write_stimuli,
)

LOG = logging.getLogger("dnnmap")


def main(table_path: str, out_path: str, background: list[int]) -> None:
    table = check_stimuli(read_table(table_path), table_path, decode=True, background=background)
    write_stimuli(table, out_path)
    counts = table["modality"].value_counts().to_dict()
    LOG.info("%d stimuli checked (%s); wrote %s", len(table), counts, out_path)
    for line in media_report(table.attrs[MEDIA_ATTR]):
        LOG.info("%s", line)
    infos = table.attrs[IMAGES_ATTR]
    for line in mode_report(list(infos.values())):
        LOG.info("image mode %s", line)
    lines = table.attrs[LINES_ATTR]
    names = [f"row {lines[i]} ({Path(table['path'][i]).name})" for i in infos]
    for line in conversion_report(list(infos.values()), names):
        LOG.warning("%s: %s", table_path, line)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("check_stimuli")
    with rule_log(snakemake.log[0]):
        main(snakemake.input.table, snakemake.output[0], snakemake.params.background)
