"""Ablation through an upstream layer: each channel of an earlier layer is lesioned inside the
network (zero or its mean over the stimuli), the network is run again on the stimuli, and the
change in a downstream recorded layer's cross-validated encoding score is measured per channel
and ranked (dnnmap.interpret.upstream, dnnmap.interpret.ablation).

Rule ``interpret_upstream_ablation``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``activations`` (results/activations/{model}.h5: the
downstream layer, for the encoding models), ``features`` (results/features/{model}/{layer}.h5),
``brain`` (results/brain/{subject}/{roi}.h5), ``encoding``
(results/encoding/{subject}/{model}/{layer}/{roi}.h5: folds and per-split alphas), ``readout``
(results/interpret/{model}/{layer}/brain/{subject}/{roi}/readout.h5: the targets), ``weights``
(a local weights file, if the model has one).
Outputs: ``table`` (upstream_{upstream}.tsv: one row per target and upstream channel, -1 the
intact network re-run, -2 every channel at once, with the cross-validated ``r``, ``r2``, their
intact values, ``importance`` (drop in r; to 0 where r is undefined), ``rank`` (1: most
important), ``constant`` (the downstream activations are the same for every stimulus),
``mode``), ``figure`` (the most important channels per target, PNG).
Params: ``model`` (config ``models.{model}``), ``mode`` (config ``interpret.ablation.mode``),
``device`` (config ``compute.device``), ``tf32`` (config ``compute.tf32``: TF32 in CUDA
convolutions), ``background`` (config ``stimuli.background``),
``batch_size`` (config ``compute.batch_size``), ``max_channels`` (config
``interpret.ablation.max_channels``: only the first channels ablated one at a time; 0 all),
``n_show``.
Wildcards: ``model``, ``layer`` (downstream), ``upstream``, ``subject``, ``roi``.
"""

import logging

import h5py
import numpy as np
import pandas as pd
import torch

from dnnmap.encoding.io import read_layer_units, read_roi
from dnnmap.features.folds import load_features
from dnnmap.figures import save_figure
from dnnmap.interpret.ablation import read_encoding_splits, split_readouts
from dnnmap.interpret.ablation_figure import ablation_figure
from dnnmap.interpret.network import stimulus_inputs
from dnnmap.interpret.targets import read_targets
from dnnmap.interpret.upstream import ALL, lesion_scores, upstream_lesions
from dnnmap.logs import rule_log
from dnnmap.models.build import ModelSpec, build_model, torch_device
from dnnmap.models.precision import cuda_precision
from dnnmap.models.registry import get_family
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def upstream_table(rows, names, mode) -> pd.DataFrame:
    """One row per target and lesion from ``rows`` ``[(channel, scores)]`` (-1 first)."""
    intact = rows[0][1]
    frames = []
    for j, name in enumerate(names):
        r = np.array([s["r"][j] for _, s in rows])
        drop = intact["r"][j] - np.nan_to_num(r, nan=0.0)
        channel = np.array([c for c, _ in rows])
        single = channel >= 0
        order = np.argsort(-np.where(single, drop, -np.inf), kind="stable")
        rank = np.zeros(len(rows), dtype=np.int64)
        rank[order[: int(single.sum())]] = np.arange(1, int(single.sum()) + 1)
        frames.append(
            pd.DataFrame(
                {
                    "target": name,
                    "channel": channel,
                    "r_full": intact["r"][j],
                    "r": r,
                    "r2_full": intact["r2"][j],
                    "r2": [s["r2"][j] for _, s in rows],
                    "importance": drop,
                    "rank": rank,
                    "constant": [s["constant"] for _, s in rows],
                    "metric": "r",
                    "mode": mode,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main(
    paths,
    wildcards,
    model_entry,
    mode,
    device,
    background,
    batch_size,
    n_show,
    outs,
    log,
    max_channels=0,
):
    table = read_stimuli(paths["stimuli"])
    stim_ids = list(table["stim_id"])
    spec = read_targets(paths["readout"])
    A, _ = read_layer_units(paths["activations"], spec.layer, stim_ids, paths["stimuli"])
    roi = read_roi(paths["brain"], stim_ids, paths["stimuli"])
    with h5py.File(paths["readout"], "r") as f:
        cols, T = f["voxel_column"][()], f["target_weights"][()]
    enc = read_encoding_splits(paths["encoding"], stim_ids, roi["index"][cols])
    X = load_features(paths["features"], stim_ids, paths["stimuli"])
    Y = roi["responses"][:, cols].astype(np.float64)
    readouts = split_readouts(A, X, Y, T, enc.alpha, enc.folds, enc.alpha_scale)
    model_spec = ModelSpec.from_config(wildcards["model"], model_entry)
    modules = get_family(model_spec.architecture).layer_modules(
        [wildcards["upstream"], wildcards["layer"]], f"models.{wildcards['model']}"
    )
    model, _ = build_model(model_spec, paths.get("weights") or None)
    device = torch_device(device)
    x, _ = stimulus_inputs(table["path"].to_numpy(), model_spec, background)
    lesions = upstream_lesions(
        model.to(device),
        modules[wildcards["upstream"]],
        modules[wildcards["layer"]],
        x.to(device),
        mode=mode,
        batch_size=batch_size,
        progress=log,
        max_channels=max_channels,
    )
    Yt = Y @ T
    rows = []
    for channel, acts in lesions:
        if channel == -1:
            LOG.info(
                "intact network re-run: %s activations within %.2g of the recorded ones",
                wildcards["layer"],
                float(np.abs(acts - A).max()),
            )
        rows.append((channel, lesion_scores(readouts, acts, Yt, enc.pooling)))
    out = upstream_table(rows, spec.names, mode)
    every = dict(rows)[ALL]
    for j, name in enumerate(spec.names):
        sub = out[(out["target"] == name) & (out["rank"] > 0)].nsmallest(5, "rank")
        LOG.info(
            "%s: cross-validated r %.3f intact; most important %s channels %s (drop in r %s); "
            "every channel ablated: downstream constant %s, r %s",
            name,
            rows[0][1]["r"][j],
            wildcards["upstream"],
            sub["channel"].tolist(),
            np.round(sub["importance"], 4).tolist(),
            every["constant"],
            "undefined" if np.isnan(every["r"][j]) else f"{every['r'][j]:.3f}",
        )
    write_table(outs["table"], out)
    title = (
        f"{wildcards['subject']} {wildcards['roi']}: {mode}-ablation of {wildcards['model']} "
        f"{wildcards['upstream']} channels, read at {wildcards['layer']} (held-out r)"
    )
    save_figure(ablation_figure(out, n_show, title), outs["figure"])


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "interpret_upstream_ablation",
            model="alexnet",
            layer="fc6",
            upstream="conv3",
            subject="sub-01",
            roi="VTC",
        )
    with cuda_precision(snakemake.params.tf32), rule_log(snakemake.log[0]) as log:
        torch.set_num_threads(snakemake.threads)
        main(
            {
                k: snakemake.input.get(k)
                for k in (
                    "stimuli",
                    "activations",
                    "features",
                    "brain",
                    "encoding",
                    "readout",
                    "weights",
                )
            },
            dict(snakemake.wildcards),
            snakemake.params.model,
            snakemake.params.mode,
            snakemake.params.device,
            snakemake.params.background,
            snakemake.params.batch_size,
            snakemake.params.n_show,
            {"table": snakemake.output.table, "figure": snakemake.output.figure},
            log,
            snakemake.params.max_channels,
        )
