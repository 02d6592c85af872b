"""Encode one ROI's time series from one layer's features through an FIR design.

Rule ``encode_fir``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``features`` (results/features/{model}/{layer}.h5,
per-stimulus features aligned by stim_id), ``series`` (results/brain_series/{subject}/{roi}.h5),
``events`` (each run's events TSV).
Output: ``results/encoding_fir/{subject}/{model}/{layer}/{roi}.h5``: per voxel ``score``
(Pearson r on the held-out runs, mean over folds grouped by run), ``fold_scores``, ``alpha``,
``r2``, ``score_pooled``, ``masked``, out-of-fold ``predictions (n_tr, n_vox)``, ``run``,
``index``, and with ``fir.n_perm`` the circular-shift ``pvalue``, ``pvalue_fwe`` and
``null_max`` (dnnmap.encoding.fir); read by the maps and summary as encoding files are.
Params: ``timeseries`` (config ``brain.subjects.{subject}.timeseries``: ``tr``, ``runs``,
``fir`` with ``delays``, ``n_folds``, ``n_perm``, ``seed``), ``encoding`` (config
``encoding``: ``alphas``, ``alpha_scale``, ``inner_folds``, ``voxel_batch``), ``device``
(config ``compute.device``).
"""

import logging

import numpy as np

from dnnmap.backend import resolve_device
from dnnmap.encoding.fir import run_fir_encoding
from dnnmap.logs import rule_log
from dnnmap.store import provenance, write_h5

LOG = logging.getLogger("dnnmap")


def main(
    stimuli_path: str,
    features_path: str,
    series_path: str,
    events: list[str],
    settings: dict,
    encoding: dict,
    device: str,
    subject: str,
    out_path: str,
) -> None:
    device = resolve_device(device)
    arrays, attrs = run_fir_encoding(
        stimuli_path,
        features_path,
        series_path,
        settings,
        encoding,
        device,
        f"brain.subjects.{subject}.timeseries",
    )
    score = arrays["score"]
    LOG.info(
        "%d voxels (%d masked), %s: median r %.3f, mean %.3f; %d voxels chose an alpha on an "
        "edge of the grid",
        score.size,
        int(arrays["masked"].sum()),
        attrs["cv"],
        np.nanmedian(score) if np.isfinite(score).any() else np.nan,
        np.nanmean(score) if np.isfinite(score).any() else np.nan,
        int(arrays["alpha_edge"].sum()),
    )
    if "pvalue" in arrays:
        LOG.info(
            "circular shifts %s: %d voxels with p < 0.05, %d with FWE p < 0.05",
            attrs["permutation"],
            int(np.sum(arrays["pvalue"] < 0.05)),
            int(np.sum(arrays["pvalue_fwe"] < 0.05)),
        )
    config = {"timeseries": settings, "encoding": encoding}
    attrs = {**provenance(config, [features_path, series_path, *events]), **attrs}
    write_h5(out_path, arrays, attrs=attrs)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "encode_fir", model="alexnet", layer="conv1", subject="sub-01", roi="V1"
        )
    with rule_log(snakemake.log[0]):
        main(
            snakemake.input.stimuli,
            snakemake.input.features,
            snakemake.input.series,
            list(snakemake.input.events),
            dict(snakemake.params.timeseries),
            dict(snakemake.params.encoding),
            snakemake.params.device,
            snakemake.wildcards.subject,
            snakemake.output[0],
        )
