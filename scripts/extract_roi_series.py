"""Cut one ROI's time series out of every run of a time-series subject (FIR encoding).

Rule ``extract_roi_series``.
Inputs: ``roi`` (results/brain/{subject}/{roi}.h5: its ``index``, the ROI's columns in the
runs' space), ``runs`` (every run's data, events and confounds files, and the mask).
Output: ``results/brain_series/{subject}/{roi}.h5`` with ``series (n_tr, n_vox)`` float32
(the runs one after the other, in config order), ``n_scans (n_runs,)`` and ``index
(n_vox,)``; encode_fir reads it once per layer.
Config: ``brain.subjects.{subject}.timeseries`` (``runs`` of ``data``; ``fir``),
``brain.subjects.{subject}.mask``. See dnnmap.encoding.fir.
"""

import logging

import h5py

from dnnmap.encoding.fir import read_roi_series
from dnnmap.logs import rule_log
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(roi_path: str, entry: dict, subject: str, inputs: list[str], out_path: str) -> None:
    with h5py.File(roi_path, "r") as f:
        index = f["index"][()]
    series, n_scans = read_roi_series(entry, index, f"brain.subjects.{subject}")
    LOG.info(
        "%d columns over %d runs (%s volumes)",
        series.shape[1],
        len(n_scans),
        ", ".join(map(str, n_scans)),
    )
    write_h5(
        out_path,
        {"series": series, "n_scans": n_scans, "index": index},
        attrs=provenance({"timeseries": entry["timeseries"]}, [roi_path, *inputs]),
    )


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake("extract_roi_series", subject="sub-01", roi="V1")
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.roi,
            dict(snakemake.params.entry),
            snakemake.wildcards.subject,
            list(snakemake.input.runs),
            snakemake.output[0],
        )
