"""Channel ablation measured by cross-validated accuracy: the change in an ROI's (and its
voxels') held-out encoding score when each channel of the encoding layer is zeroed or set to
its training mean in the test stimuli of every outer split (lesion reading), ranked
(dnnmap.interpret.ablation).

Rule ``interpret_ablation``.
Inputs: ``stimuli`` (results/stimuli.tsv), ``activations`` (results/activations/{model}.h5),
``features`` (results/features/{model}/{layer}.h5: the encode rule's design),
``brain`` (results/brain/{subject}/{roi}.h5: the measured responses), ``encoding``
(results/encoding/{subject}/{model}/{layer}/{roi}.h5: the outer folds and each split's alpha,
read by stimulus id and grayordinate), ``readout``
(results/interpret/{model}/{layer}/brain/{subject}/{roi}/readout.h5: the targets, their
voxels and weights).
Outputs: ``table`` (ablation.tsv: one row per target and channel, ``channel`` -2 for every
channel at once (r undefined, NaN; its importance the drop to r = 0), with the
cross-validated ``r_full``/``r`` and ``r2_full``/``r2`` intact and
ablated, ``importance`` (drop in the encoding's score: r, or R² for ``encoding.score`` r2 or
signed_sqrt_r2), ``rank`` (1: most important), ``mode``), ``figure`` (the most important
channels per target, PNG).
Params: ``mode`` (config ``interpret.ablation.mode``), ``reading`` (config
``interpret.ablation.reading``: ``lesion``, or ``drop``: each split refitted without the
channel, ``mode`` then "drop"), ``n_show`` (channels drawn).
Wildcards: ``model``, ``layer``, ``subject``, ``roi``.
"""

import logging

import h5py
import numpy as np
import pandas as pd

from dnnmap.encoding.io import read_layer_units, read_roi
from dnnmap.errors import InputError
from dnnmap.features.folds import load_features
from dnnmap.figures import save_figure
from dnnmap.interpret.ablation import (
    cv_channel_ablation,
    cv_channel_drop,
    read_encoding_splits,
    split_readouts,
)
from dnnmap.interpret.ablation_figure import ablation_figure
from dnnmap.interpret.targets import read_targets
from dnnmap.logs import rule_log
from dnnmap.stimuli import read_stimuli
from dnnmap.store import write_table

LOG = logging.getLogger("dnnmap")


def ablation_table(ab, names, mode) -> pd.DataFrame:
    """One row per target and channel (channels in layer order, then -2: every channel)."""
    C, t = ab.r.shape
    ranks = np.empty((t, C), dtype=np.int64)
    np.put_along_axis(ranks, ab.ranking(), np.arange(1, C + 1)[None, :], axis=1)
    full = ab.r_full if ab.metric == "r" else ab.r2_full
    # every channel: r is undefined (a constant prediction); its drop is taken to chance, 0
    every = np.nan_to_num(ab.r_all, nan=0.0) if ab.metric == "r" else ab.r2_all
    frames = []
    for j, name in enumerate(names):
        frames.append(
            pd.DataFrame(
                {
                    "target": name,
                    "channel": np.r_[np.arange(C), -2],
                    "r_full": ab.r_full[j],
                    "r": np.r_[ab.r[:, j], ab.r_all[j]],
                    "r2_full": ab.r2_full[j],
                    "r2": np.r_[ab.r2[:, j], ab.r2_all[j]],
                    "importance": np.r_[ab.importance[:, j], full[j] - every[j]],
                    "rank": np.r_[ranks[j], 0],
                    "metric": ab.metric,
                    "mode": mode,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def check_against_encoding(ab, T, enc) -> None:
    """Log how closely the intact held-out score of each single-voxel target reproduces the
    encoding file's score of that voxel (same folds, alphas and score)."""
    single = [j for j in range(T.shape[1]) if np.count_nonzero(T[:, j]) == 1]
    if not single or enc.score is None or enc.n_repeats > 1:
        return
    intact = ab.r_full if enc.metric == "r" else ab.r2_full
    if enc.metric not in ("r", "r2"):
        return
    voxel = [int(np.flatnonzero(T[:, j])[0]) for j in single]
    gap = float(np.nanmax(np.abs(intact[single] - enc.score[voxel])))
    LOG.info(
        "intact held-out %s of %d voxel targets reproduces the encoding file's score to %.2g",
        enc.metric,
        len(single),
        gap,
    )


def main(paths, wildcards, mode, n_show, out_table, out_figure, reading="lesion", log=None):
    table = read_stimuli(paths["stimuli"])
    stim_ids = list(table["stim_id"])
    spec = read_targets(paths["readout"])
    A, unit_shape = read_layer_units(paths["activations"], spec.layer, stim_ids, paths["stimuli"])
    roi = read_roi(paths["brain"], stim_ids, paths["stimuli"])
    with h5py.File(paths["readout"], "r") as f:
        cols, T = f["voxel_column"][()], f["target_weights"][()]
    enc = read_encoding_splits(paths["encoding"], stim_ids, roi["index"][cols])
    if enc.n_repeats > 1:
        LOG.warning(
            "%d repeats of the outer folds: the first repeat's %d splits are ablated",
            enc.n_repeats,
            enc.alpha.shape[0],
        )
    X = load_features(paths["features"], stim_ids, paths["stimuli"])
    Y = roi["responses"][:, cols].astype(np.float64)
    if reading == "drop":
        method = X.attrs.get("method", "none")
        if method != "none":
            raise InputError(
                f"{paths['features']}: features method {method!r}; interpret.ablation.reading: "
                "drop refits ridge on the layer's units without each channel (features.method: "
                "none)"
            )
        ab = cv_channel_drop(
            A,
            unit_shape,
            Y,
            T,
            enc.alpha,
            enc.folds,
            enc.alpha_scale,
            enc.metric,
            enc.pooling,
            log,
        )
        mode = "drop"
    else:
        readouts = split_readouts(A, X, Y, T, enc.alpha, enc.folds, enc.alpha_scale)
        LOG.info(
            "%d outer splits refitted with their stored alphas; unit read-outs reproduce them "
            "to %.2g (relative)",
            len(readouts.test),
            readouts.reconstruction_error,
        )
        ab = cv_channel_ablation(readouts, A, unit_shape, Y @ T, mode, enc.metric, enc.pooling)
    check_against_encoding(ab, T, enc)
    out = ablation_table(ab, spec.names, mode)
    for j, name in enumerate(spec.names):
        top = ab.ranking()[j, :5]
        LOG.info(
            "%s: cross-validated r %.3f (R2 %.3f) intact; most important channels %s "
            "(drop in %s %s); every channel ablated: r undefined (constant prediction), R2 %.3f",
            name,
            ab.r_full[j],
            ab.r2_full[j],
            top.tolist(),
            ab.metric,
            np.round(ab.importance[top, j], 4).tolist(),
            ab.r2_all[j],
        )
    write_table(out_table, out)
    what = (
        "each channel dropped (refit)" if reading == "drop" else f"{mode}-ablation of each channel"
    )
    title = " ".join(wildcards.values()) + f": {what} (held-out)"
    save_figure(ablation_figure(out, n_show, title), out_figure)


if __name__ == "__main__":
    if "snakemake" not in globals():
        from dnnmap_harness import mock_snakemake

        snakemake = mock_snakemake(
            "interpret_ablation", model="alexnet", layer="fc6", subject="sub-01", roi="VTC"
        )
    with rule_log(snakemake.log[0]) as log:
        main(
            {
                k: snakemake.input[k]
                for k in ("stimuli", "activations", "features", "brain", "encoding", "readout")
            },
            dict(snakemake.wildcards),
            snakemake.params.mode,
            snakemake.params.n_show,
            snakemake.output.table,
            snakemake.output.figure,
            snakemake.params.reading,
            log,
        )
