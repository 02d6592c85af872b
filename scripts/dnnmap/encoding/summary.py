"""Summaries of encoding results: one table row per model, layer, subject and ROI; figures."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dnnmap.brain.noise_ceiling import MIN_CEILING, count_above_ceiling, roi_normalized_score
from dnnmap.brain.simulate import driving_layers
from dnnmap.encoding.io import (
    metric_ceiling,
    read_features_meta,
    read_permutation_meta,
    read_scores,
)
from dnnmap.stats.inference import family_fwe

KEYS = ("model", "layer", "subject", "roi")
COLUMNS = (
    "median_r",
    "mean_r",
    "median_r2",
    "r_normalized",
    "r_normalized_above_1",
    "n_above_ceiling",
    "n_ceiling",
    "median_noise_ceiling",
    "frac_fwe_05",
    "n_vox",
    "n_nan",
    "median_r_pooled",
    "n_alpha_edge",
    "frac_fwe_family_05",
)
FAMILY = ("model", "subject")
"""The family of the family-wise correction across jobs: all layers x ROIs of a model and
subject."""
MASK_COLUMNS = ("n_masked", "reason")
"""Columns of :func:`summarize_encoding` after :data:`COLUMNS`: masked voxels (constant or
not finite responses: :func:`dnnmap.brain.summary.masked_voxels`) and why a row has no
scores ("" when it has)."""
FEATURE_COLUMNS = (
    "features_method",
    "features_fit",
    "features_n_components",
    "features_seed",
    "features_fitted_on",
)
"""Last columns of :func:`summarize_encoding`: how the layer's features were made
(``features.method``, ``features.fit``, components, seed, the stimuli they were fitted on)."""


def summarize_encoding(
    paths: Sequence[str], keys: Sequence[dict], min_ceiling: float = MIN_CEILING
) -> pd.DataFrame:
    """Table of encoding accuracy, one row per encoding file.

    Parameters
    ----------
    paths : sequence of str
        Encoding result files.
    keys : sequence of dict
        For each path, its ``model``, ``layer``, ``subject`` and ``roi``.
    min_ceiling : float
        Voxels whose noise ceiling (of the score's metric) is at or below it stay out of the
        normalized score (config ``encoding.min_ceiling``).

    Returns
    -------
    DataFrame
        Columns model, layer, subject, roi, then :data:`COLUMNS`: median and mean r and median
        R² over the ROI's voxels (NaN voxels left out); the ROI's normalized score
        ``r_normalized``, its mean score over its mean noise ceiling (of the score's metric;
        :func:`dnnmap.brain.noise_ceiling.roi_normalized_score`, not a median of voxel
        ratios, which are noisy and skewed where ceilings are small) over the ``n_ceiling``
        voxels with a ceiling above ``min_ceiling``, capped at 1 with
        ``r_normalized_above_1`` flagging a ratio above 1 (the ceiling is underestimated);
        ``n_above_ceiling`` voxels whose score exceeds their ceiling
        (:func:`~dnnmap.brain.noise_ceiling.count_above_ceiling`); the median noise ceiling
        of r (NaN and 0 counts without repeats); the fraction of voxels with a
        max-statistic FWE p < 0.05 (NaN without permutations), the voxel count and how many
        voxels have a NaN score (masked: constant or not finite); the median pooled r
        (``score_pooled``, biased downward, for comparison), the number of voxels whose
        chosen alpha sits on an edge of the grid in some outer split, and the fraction of
        voxels significant at FWE 0.05 over the whole family of a model and subject (all
        its layers x ROIs, :func:`dnnmap.stats.inference.family_fwe`; NaN without permutations);
        then :data:`MASK_COLUMNS` (:func:`mask_columns`) and :data:`FEATURE_COLUMNS`. A fully
        masked ROI (all its responses NaN, or constant such as the zeros outside an
        acquisition's coverage) gives a row of NaN scores with its reason, never an error.
    """
    rows = []
    for path, key in zip(paths, keys, strict=True):
        scores = read_scores(path)
        score = scores["score"]
        nan = np.full(score.shape, np.nan)
        rows.append(
            {
                **{k: key[k] for k in KEYS},
                "median_r": _nanmedian(score),
                "mean_r": float(np.nanmean(score)) if np.isfinite(score).any() else np.nan,
                "median_r2": _nanmedian(scores["r2"]),
                **ceiling_columns(path, scores, min_ceiling),
                "median_noise_ceiling": _nanmedian(scores.get("noise_ceiling", nan)),
                "frac_fwe_05": float(np.mean(scores["pvalue_fwe"] < 0.05))
                if "pvalue_fwe" in scores
                else np.nan,
                "n_vox": int(score.size),
                "n_nan": int(np.isnan(score).sum()),
                "median_r_pooled": _nanmedian(scores.get("score_pooled", nan)),
                "n_alpha_edge": int(np.sum(scores["alpha_edge"])) if "alpha_edge" in scores else 0,
                **mask_columns(path, score),
                **read_features_meta(path),
            }
        )
    table = pd.DataFrame(rows, columns=[*KEYS, *COLUMNS, *MASK_COLUMNS, *FEATURE_COLUMNS])
    table["frac_fwe_family_05"] = family_fraction_significant(paths, keys)
    return table


def ceiling_columns(path: str, scores: dict, min_ceiling: float = MIN_CEILING) -> dict:
    """``r_normalized``, ``r_normalized_above_1``, ``n_above_ceiling`` and ``n_ceiling`` of
    one encoding file's summary row (:func:`summarize_encoding`).

    Parameters
    ----------
    path : str
        The encoding file (its attr ``score_metric`` says which ceiling applies).
    scores : dict
        Its :func:`dnnmap.encoding.io.read_scores`: ``score`` and, with repeats,
        ``noise_ceiling`` (of r), both (n_vox,).
    min_ceiling : float

    Returns
    -------
    dict
        NaN, False, 0 and 0 without a noise ceiling.
    """
    if "noise_ceiling" not in scores:
        return {
            "r_normalized": np.nan,
            "r_normalized_above_1": False,
            "n_above_ceiling": 0,
            "n_ceiling": 0,
        }
    with h5py.File(path, "r") as f:
        metric = str(f.attrs.get("score_metric", "r"))
    score = np.asarray(scores["score"], dtype=np.float64)
    ceiling = metric_ceiling(scores["noise_ceiling"], metric)
    ratio = roi_normalized_score(score, ceiling, min_ceiling)
    return {
        "r_normalized": min(ratio, 1.0) if np.isfinite(ratio) else np.nan,
        "r_normalized_above_1": bool(ratio > 1.0),
        "n_above_ceiling": count_above_ceiling(score, ceiling, min_ceiling),
        "n_ceiling": int(np.count_nonzero(np.isfinite(score) & (ceiling > min_ceiling))),
    }


def family_fraction_significant(
    paths: Sequence[str], keys: Sequence[dict], alpha: float = 0.05
) -> np.ndarray:
    """Per encoding file, the fraction of its voxels with a family-wise p-value
    (:func:`dnnmap.stats.inference.family_fwe` over the files of its model and subject)
    below ``alpha``.

    Returns
    -------
    array of shape (n_files,)
        NaN for files without permutations, and for families whose files differ in
        ``n_perm``, ``seed``, ``kind`` or ``tail`` (their permutations are not shared).
    """
    out = np.full(len(paths), np.nan)
    families: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        families.setdefault(tuple(key[k] for k in FAMILY), []).append(i)
    for members in families.values():
        metas = [read_permutation_meta(paths[i]) for i in members]
        shared = {(m.get("n_perm"), m.get("seed"), m.get("kind"), m.get("tail")) for m in metas}
        if len(shared) != 1 or not metas[0].get("n_perm"):
            continue
        scores = [read_scores(paths[i]) for i in members]
        pvals = family_fwe(
            [s["score"] for s in scores],
            [s["null_max"] for s in scores],
            metas[0].get("tail", "greater"),
        )
        for i, p in zip(members, pvals, strict=True):
            out[i] = float(np.mean(p < alpha)) if p.size else np.nan
    return out


def mask_columns(path: str, score: np.ndarray) -> dict:
    """``n_masked`` and ``reason`` of one encoding file's summary row.

    Parameters
    ----------
    path : str
        The encoding file; its ``masked (n_vox,)`` dataset counts the masked voxels (without
        it, the voxels with a NaN score do).
    score : array of shape (n_vox,)
        Its scores.

    Returns
    -------
    dict
        ``n_masked`` (int) and ``reason``: ``""`` when some voxel has a finite score, else
        why none has (no voxels, every voxel masked, or no finite score).
    """
    with h5py.File(path, "r") as f:
        masked = f["masked"][()].astype(bool) if "masked" in f else np.isnan(score)
    n_masked = int(masked.sum())
    if score.size == 0:
        reason = "no voxels in the ROI"
    elif n_masked == score.size:
        reason = f"all {score.size} voxels masked (NaN, inf or constant responses)"
    elif not np.isfinite(score).any():
        reason = "no finite score"
    else:
        reason = ""
    return {"n_masked": n_masked, "reason": reason}


def _nanmedian(values: np.ndarray) -> float:
    """Median over finite values; NaN when there are none (no warning)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else np.nan


def best_layers(summary: pd.DataFrame) -> pd.DataFrame:
    """The layer with the highest median r per model, subject and ROI.

    Returns
    -------
    DataFrame
        Columns model, subject, roi, layer, median_r, reason. An ROI without a finite median
        r in any layer (fully masked) gets layer ``""``, median_r NaN and its reason.
    """
    rows = []
    for (model, subject, roi), part in summary.groupby(["model", "subject", "roi"], sort=True):
        valid = part["median_r"].dropna()
        key = {"model": model, "subject": subject, "roi": roi}
        if valid.empty:
            reasons = part["reason"] if "reason" in part else pd.Series(dtype=str)
            given = [r for r in reasons.fillna("").astype(str) if r]
            reason = given[0] if given else "no layer has a finite median r"
            rows.append({**key, "layer": "", "median_r": np.nan, "reason": reason})
        else:
            best = part.loc[valid.idxmax()]
            rows.append({**key, "layer": best["layer"], "median_r": best["median_r"], "reason": ""})
    return pd.DataFrame(rows, columns=["model", "subject", "roi", "layer", "median_r", "reason"])


def plot_layer_profiles(
    summary: pd.DataFrame, truth: pd.DataFrame | None = None, layer_order=None
) -> plt.Figure:
    """Median encoding r across layers: a row of panels per model, one panel per ROI, one
    line per subject.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`summarize_encoding`.
    truth : DataFrame, optional
        Simulation ground truth with columns ``region``, ``layer`` (and ``model``): the
        driving layer of each ROI of the same name is marked with a star in the panels of
        the model that drives it (:func:`dnnmap.brain.simulate.driving_layers`).
    layer_order : dict, optional
        Model -> layer names in network order (default: order of first appearance).

    Returns
    -------
    matplotlib Figure
        ``len(models)`` rows x ``len(rois)`` panels sharing the y axis; each row's x axis
        is its model's layers.
    """
    models = list(dict.fromkeys(summary["model"]))
    rois = list(dict.fromkeys(summary["roi"]))
    fig, axes = plt.subplots(
        len(models),
        len(rois),
        figsize=(3.6 * len(rois), 3.0 * len(models) + 0.4),
        sharey=True,
        squeeze=False,
    )
    for i, model in enumerate(models):
        driving = driving_layers(truth, model)
        for ax, roi in zip(axes[i], rois, strict=True):
            part = summary[(summary["model"] == model) & (summary["roi"] == roi)]
            present = list(dict.fromkeys(part["layer"]))
            layers = [lay for lay in (layer_order or {}).get(model) or present if lay in present]
            for subject, rows in part.groupby("subject", sort=False):
                rows = rows.set_index("layer").reindex(layers)
                ax.plot(range(len(layers)), rows["median_r"], marker="o", label=subject)
                if driving.get(roi) in layers:
                    x = layers.index(driving[roi])
                    ax.plot(x, rows["median_r"].iloc[x], marker="*", ms=16, color="gold", mec="k")
            ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
            ax.set_title(f"{model} – {roi}" if len(models) > 1 else roi)
            ax.axhline(0, color="0.7", lw=0.8)
            ax.grid(alpha=0.3)
        axes[i, 0].set_ylabel("median cross-validated r")
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
