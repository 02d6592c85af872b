"""Figures of representational similarity analysis: RDM heatmaps, MDS maps, layer profiles.

:func:`classical_mds` is Torgerson's classical multidimensional scaling: double-center the
squared distances, ``B = -J D² J / 2`` with ``J = I - 11ᵀ/n``, and embed with the top
eigenvectors scaled by the square roots of their (positive) eigenvalues. For Euclidean
distances it recovers the configuration up to rotation; for other dissimilarities it is the
usual least-squares approximation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.spatial.distance import squareform

from dnnmap.brain.simulate import driving_layers
from dnnmap.errors import InputError


def category_order(categories: Sequence[str] | None, n: int) -> np.ndarray:
    """Row order that groups stimuli by category (stable within a category).

    Returns
    -------
    int array of shape (n,)
    """
    if categories is None:
        return np.arange(n)
    labels = np.asarray(categories, dtype=str)
    if labels.shape != (n,):
        raise InputError(f"categories has {labels.size} labels for {n} stimuli; expected {n}")
    return np.argsort(labels, kind="stable")


def classical_mds(rdm: np.ndarray, n_dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of a condensed RDM.

    Parameters
    ----------
    rdm : array of shape (n * (n - 1) / 2,)
        Condensed dissimilarities (scipy ``pdist`` order).
    n_dims : int
        Dimensions of the embedding.

    Returns
    -------
    coords : array of shape (n, n_dims)
        Coordinates; dimensions with non-positive eigenvalues are 0.
    """
    D = squareform(np.asarray(rdm, dtype=np.float64), checks=False)
    n = D.shape[0]
    J = np.eye(n) - 1.0 / n
    B = -0.5 * J @ (D**2) @ J
    evals, evecs = np.linalg.eigh(B)
    top = np.argsort(evals)[::-1][:n_dims]
    scale = np.sqrt(np.clip(evals[top], 0.0, None))
    return evecs[:, top] * scale


def _rank_transform(rdm: np.ndarray) -> np.ndarray:
    """Percentile ranks of RDM entries, so RDMs of different metrics share a color scale."""
    order = np.argsort(rdm, kind="stable")
    ranks = np.empty(rdm.size)
    ranks[order] = np.linspace(0.0, 1.0, rdm.size)
    return ranks


def plot_rdm_grid(
    rdms: Mapping[str, np.ndarray], categories: Sequence[str] | None = None, ncols: int = 4
):
    """Heatmaps of RDMs (percentile-ranked), rows and columns grouped by category.

    Parameters
    ----------
    rdms : mapping of str to array of shape (n * (n - 1) / 2,)
        Title -> condensed RDM; all over the same n stimuli.
    categories : sequence of str of length n, optional
        Category of each stimulus; category boundaries are drawn.
    ncols : int

    Returns
    -------
    matplotlib Figure
    """
    names = list(rdms)
    n = squareform(np.asarray(rdms[names[0]]), checks=False).shape[0]
    order = category_order(categories, n)
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        M = squareform(_rank_transform(np.asarray(rdms[name])), checks=False)[np.ix_(order, order)]
        ax.imshow(M, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        if categories is not None:
            sorted_labels = np.asarray(categories, dtype=str)[order]
            edges = np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 0.5
            for e in edges:
                ax.axhline(e, color="white", lw=0.4)
                ax.axvline(e, color="white", lw=0.4)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    fig.suptitle("RDMs (percentile of dissimilarity; stimuli grouped by category)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_mds_grid(
    rdms: Mapping[str, np.ndarray], categories: Sequence[str] | None = None, ncols: int = 4
):
    """Two-dimensional classical MDS of each RDM, points colored by category.

    Parameters
    ----------
    rdms : mapping of str to array of shape (n * (n - 1) / 2,)
    categories : sequence of str of length n, optional
    ncols : int

    Returns
    -------
    matplotlib Figure
    """
    names = list(rdms)
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.8 * ncols, 2.8 * nrows), squeeze=False)
    labels = None if categories is None else np.asarray(categories, dtype=str)
    uniq = [] if labels is None else list(dict.fromkeys(labels))
    cmap = plt.get_cmap("tab20")
    for ax, name in zip(axes.flat, names, strict=False):
        xy = classical_mds(rdms[name])
        if labels is None:
            ax.scatter(xy[:, 0], xy[:, 1], s=6)
        else:
            for i, cat in enumerate(uniq):
                sel = labels == cat
                ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=cmap(i % 20), label=cat)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    if uniq:
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="center right", fontsize=7)
        fig.tight_layout(rect=(0, 0, 0.86, 1))
    else:
        fig.tight_layout()
    return fig


def plot_rsa_profiles(
    table: pd.DataFrame,
    layer_order: Mapping[str, Sequence[str]],
    truth: pd.DataFrame | None = None,
):
    """RDM correlation across layers, one panel per model x ROI, subjects as lines.

    Parameters
    ----------
    table : DataFrame
        ``results/summary/rsa.tsv``: columns model, subject, roi, layer, r, ci_low, ci_high,
        nc_lower, nc_upper, q (and optionally nc_within_lower, nc_within_upper: the band
        when the between-subject ceiling is NaN). Rows of NaN (masked ROIs) draw nothing.
    layer_order : mapping of str to sequence of str
        Model -> layers in network order.
    truth : DataFrame, optional
        Ground truth of a simulated subject (columns region, layer, model): the driving
        layer of a region named like an ROI is marked in the panels of the model it names
        (:func:`dnnmap.brain.simulate.driving_layers`).

    Returns
    -------
    matplotlib Figure
    """
    models, rois = list(dict.fromkeys(table["model"])), list(dict.fromkeys(table["roi"]))
    fig, axes = plt.subplots(
        len(models), len(rois), figsize=(3.6 * len(rois), 2.9 * len(models)), squeeze=False
    )
    for i, model in enumerate(models):
        layers, driving = list(layer_order[model]), driving_layers(truth, model)
        for j, roi in enumerate(rois):
            ax = axes[i, j]
            part = table[(table["model"] == model) & (table["roi"] == roi)]
            x = np.arange(len(layers))
            for k, (subject, rows) in enumerate(part.groupby("subject", sort=False)):
                rows = rows.set_index("layer").reindex(layers)
                color = plt.get_cmap("tab10")(k % 10)
                ax.plot(x, rows["r"], marker="o", ms=3, color=color, label=subject)
                ax.fill_between(x, rows["ci_low"], rows["ci_high"], color=color, alpha=0.15)
                sig = rows["q"] < 0.05
                ax.plot(x[sig.to_numpy()], rows["r"][sig], "*", color=color, ms=6)
            lower, upper = part["nc_lower"].mean(), part["nc_upper"].mean()
            label = "noise ceiling"
            if not (np.isfinite(lower) and np.isfinite(upper)) and "nc_within_lower" in part:
                # one subject: the within-subject ceiling from its repeats
                lower, upper = part["nc_within_lower"].mean(), part["nc_within_upper"].mean()
                label = "within-subject ceiling"
            if np.isfinite(lower) and np.isfinite(upper):
                ax.axhspan(lower, upper, color="0.8", alpha=0.6, label=label)
            if roi in driving and driving[roi] in layers:
                ax.axvline(layers.index(driving[roi]), color="k", ls=":", lw=1, label="driving")
            ax.set_xticks(x, layers, rotation=45, fontsize=7)
            ax.set_title(f"{model} – {roi}", fontsize=9)
            ax.set_ylabel("RDM correlation" if j == 0 else "")
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.suptitle("RSA: model-layer RDM vs brain RDM (band: noise ceiling; *: FDR q < 0.05)")
    fig.tight_layout()
    return fig


def plot_second_level(
    model: str,
    layers: Sequence[str],
    rois: Sequence[str],
    reweighting: pd.DataFrame,
    partition: pd.DataFrame | None = None,
    truth: pd.DataFrame | None = None,
):
    """Held-out fits, reweighting weights and variance partitions of one model, per ROI.

    Parameters
    ----------
    model : str
    layers : sequence of str
        The model's layers in network order.
    rois : sequence of str
    reweighting : DataFrame
        ``results/summary/rsa_reweighting.tsv`` (subject, model, roi and
        :data:`dnnmap.rsa.tables.REWEIGHTING_COLUMNS`); values are averaged over subjects.
    partition : DataFrame, optional
        ``results/summary/rsa_partition.tsv``; the first layer set of the model is drawn.
    truth : DataFrame, optional
        Ground truth of a simulated subject (columns region, layer, model): the driving
        layer of a region named like an ROI is marked in every panel when ``model`` is the
        one it names.

    Returns
    -------
    matplotlib Figure
        Row 1: held-out RDM fit per layer (each layer RDM alone, and its reweighted principal
        components) with the reweighted combination of all layers as a line. Row 2: the
        non-negative weight of each layer in that combination. Row 3 (with ``partition``):
        unique variance of each layer of the set, the shared variance and the total R².
    """
    layers, driving = list(layers), driving_layers(truth, model)
    rw = reweighting[reweighting["model"] == model]
    part = None if partition is None else partition[partition["model"] == model]
    if part is not None and part.empty:
        part = None
    n_rows = 2 if part is None else 3
    fig, axes = plt.subplots(
        n_rows, len(rois), figsize=(3.6 * len(rois), 2.6 * n_rows), squeeze=False
    )
    x = np.arange(len(layers))

    def mean_by_layer(kind: str, column: str, rows: pd.DataFrame) -> np.ndarray:
        sel = rows[rows["kind"] == kind].groupby("layer")[column].mean()
        return sel.reindex(layers).to_numpy(dtype=np.float64)

    for j, roi in enumerate(rois):
        rows = rw[rw["roi"] == roi]
        ax = axes[0, j]
        ax.plot(x, mean_by_layer("layer", "cv_r", rows), "o-", ms=3, color="k", label="layer RDM")
        units = mean_by_layer("reweighted_units", "cv_r", rows)
        if np.isfinite(units).any():
            ax.plot(x, units, "s--", ms=3, color="tab:blue", label="reweighted units")
        combined = rows.loc[rows["kind"] == "reweighted_layers", "cv_r"].mean()
        if np.isfinite(combined):
            ax.axhline(combined, color="tab:red", lw=1.2, label="reweighted layers")
        ax.set_title(f"{model} – {roi}", fontsize=9)
        ax.set_ylabel("held-out RDM fit" if j == 0 else "")
        ax.set_xticks(x, [])
        weights = mean_by_layer("reweighted_layers", "weight", rows)
        axes[1, j].bar(x, weights, color="tab:red", alpha=0.8)
        axes[1, j].set_xticks(x, layers, rotation=45, fontsize=7)
        axes[1, j].set_ylabel("layer weight" if j == 0 else "")
        for ax in axes[:2, j]:
            if driving.get(roi) in layers:
                ax.axvline(layers.index(driving[roi]), color="k", ls=":", lw=1)
        if part is not None:
            _plot_partition(axes[2, j], part[part["roi"] == roi], j == 0)
    axes[0, -1].legend(fontsize=7, loc="best")
    method = rw["method"].iloc[0] if len(rw) else ""
    fig.suptitle(
        f"{model}: second-level RSA ({method} on held-out stimuli; dotted: driving layer)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _plot_partition(ax, rows: pd.DataFrame, first: bool) -> None:
    """Bars of the first layer set: unique variance per layer, shared variance, total R²."""
    if rows.empty:
        ax.set_axis_off()
        return
    label = rows["layers"].iloc[0]
    rows = rows[rows["layers"] == label]
    means = rows.groupby("component", sort=False)["r2"].mean()
    n_shared = rows.groupby("component", sort=False)["n_shared"].first()
    unique = means[n_shared == 1]
    names = [*unique.index, "shared", "total"]
    values = [*unique.to_numpy(), means[n_shared > 1].sum(), means.get("total", np.nan)]
    colors = ["tab:purple"] * len(unique) + ["0.6", "0.3"]
    ax.bar(np.arange(len(names)), values, color=colors)
    ax.set_xticks(np.arange(len(names)), names, rotation=45, fontsize=7)
    ax.set_ylabel("R² of brain RDM" if first else "")
    ax.set_title(f"variance partition: {label}", fontsize=8)
