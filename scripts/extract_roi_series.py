"""Cut one ROI's time series out of every run of a time-series subject (FIR encoding).

Rule ``extract_roi_series``.
Inputs: ``runs`` (every run's data, events and confounds files, and the mask),
``side_files`` (the subject's ROI files and lookup tables).
Output: ``results/brain_series/{subject}/{roi}.h5`` with ``series (n_tr, n_vox)`` float32
(the runs one after the other, in config order, each cleaned of its cosine drifts below
``high_pass``, its ``confounds`` and its mean), ``n_scans (n_runs,)`` and ``index
(n_vox,)`` (the ROI's columns in the runs' space: grayordinates, mask voxels or vertices);
encode_fir reads it once per layer.
Config: ``brain.subjects.{subject}.timeseries`` (``tr``, ``high_pass``, ``runs`` of ``data``
and ``confounds``),
``brain.subjects.{subject}.mask`` and ``roi_files``, ``brain.rois.{roi}`` (its labels).
See dnnmap.encoding.fir.
"""

import logging

from dnnmap.encoding.fir import read_roi_series
from dnnmap.logs import rule_log
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(
    entry: dict, subject: str, roi: str, labels: list[str], inputs: list[str], out_path: str
) -> None:
    series, n_scans, index = read_roi_series(entry, roi, labels, f"brain.subjects.{subject}")
    LOG.info(
        "%s: %d columns over %d runs (%s volumes)",
        roi,
        series.shape[1],
        len(n_scans),
        ", ".join(map(str, n_scans)),
    )
    write_h5(
        out_path,
        {"series": series, "n_scans": n_scans, "index": index},
        attrs={
            **provenance({"timeseries": entry["timeseries"], "labels": labels}, inputs),
            "roi": roi,
        },
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("extract_roi_series", subject="sub-01", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            dict(snakemake.params.entry),
            snakemake.wildcards.subject,
            snakemake.wildcards.roi,
            list(snakemake.params.labels),
            list(snakemake.input.runs),
            snakemake.output[0],
        )
