"""Summaries of encoding results: one table row per model, layer, subject and ROI; figures."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dnnmap.encoding.io import read_permutation_meta, read_scores
from dnnmap.stats.inference import family_fwe

KEYS = ("model", "layer", "subject", "roi")
COLUMNS = (
    "median_r",
    "mean_r",
    "median_r2",
    "median_r_normalized",
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


def summarize_encoding(paths: Sequence[str], keys: Sequence[dict]) -> pd.DataFrame:
    """Table of encoding accuracy, one row per encoding file.

    Parameters
    ----------
    paths : sequence of str
        Encoding result files.
    keys : sequence of dict
        For each path, its ``model``, ``layer``, ``subject`` and ``roi``.

    Returns
    -------
    DataFrame
        Columns model, layer, subject, roi, then :data:`COLUMNS`: median and mean r and median
        R² over the ROI's voxels (NaN voxels left out), median noise-ceiling-normalized r and
        median noise ceiling (NaN without repeats), the fraction of voxels with a
        max-statistic FWE p < 0.05 (NaN without permutations), the voxel count and how many
        voxels have a NaN score (masked: constant or not finite); the median pooled r
        (``score_pooled``, biased downward, for comparison), the number of voxels whose
        chosen alpha sits on an edge of the grid in some outer split, and the fraction of
        voxels significant at FWE 0.05 over the whole family of a model and subject (all
        its layers x ROIs, :func:`dnnmap.stats.inference.family_fwe`; NaN without permutations).
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
                "median_r_normalized": _nanmedian(scores.get("score_normalized", nan)),
                "median_noise_ceiling": _nanmedian(scores.get("noise_ceiling", nan)),
                "frac_fwe_05": float(np.mean(scores["pvalue_fwe"] < 0.05))
                if "pvalue_fwe" in scores
                else np.nan,
                "n_vox": int(score.size),
                "n_nan": int(np.isnan(score).sum()),
                "median_r_pooled": _nanmedian(scores.get("score_pooled", nan)),
                "n_alpha_edge": int(np.sum(scores["alpha_edge"])) if "alpha_edge" in scores else 0,
            }
        )
    table = pd.DataFrame(rows, columns=[*KEYS, *COLUMNS])
    table["frac_fwe_family_05"] = family_fraction_significant(paths, keys)
    return table


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


def _nanmedian(values: np.ndarray) -> float:
    """Median over finite values; NaN when there are none (no warning)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else np.nan


def best_layers(summary: pd.DataFrame) -> pd.DataFrame:
    """The layer with the highest median r per model, subject and ROI."""
    best = summary.loc[summary.groupby(["model", "subject", "roi"])["median_r"].idxmax()]
    return best[["model", "subject", "roi", "layer", "median_r"]].reset_index(drop=True)


def plot_layer_profiles(
    summary: pd.DataFrame, truth: pd.DataFrame | None = None, layer_order=None
) -> plt.Figure:
    """Median encoding r across layers, one panel per ROI, one line per subject and model.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`summarize_encoding`.
    truth : DataFrame, optional
        Simulation ground truth with columns ``region`` and ``layer``; the driving layer
        of each ROI of the same name is marked with a star.
    layer_order : dict, optional
        Model -> layer names in network order (default: order of first appearance).
    """
    rois = list(dict.fromkeys(summary["roi"]))
    fig, axes = plt.subplots(
        1, len(rois), figsize=(3.6 * len(rois), 3.2), sharey=True, squeeze=False
    )
    for ax, roi in zip(axes[0], rois, strict=True):
        part = summary[summary["roi"] == roi]
        for (model, subject), rows in part.groupby(["model", "subject"], sort=False):
            order = (layer_order or {}).get(model) or list(dict.fromkeys(rows["layer"]))
            present = set(rows["layer"])
            rows = rows.set_index("layer").loc[[lay for lay in order if lay in present]]
            ax.plot(range(len(rows)), rows["median_r"], marker="o", label=f"{model} {subject}")
            ax.set_xticks(range(len(rows)), rows.index, rotation=45, ha="right")
            if truth is not None and roi in set(truth["region"]):
                driver = truth.loc[truth["region"] == roi, "layer"].iloc[0]
                if driver in rows.index:
                    x = list(rows.index).index(driver)
                    ax.plot(x, rows["median_r"].iloc[x], marker="*", ms=16, color="gold", mec="k")
        ax.set_title(roi)
        ax.axhline(0, color="0.7", lw=0.8)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("median cross-validated r")
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
