"""The seed study's figure (Wang, Lin, Tarr & Wehbe): per ROI, the best voxels as lines of
R across spaces and of stacking weights across spaces.

One column per ROI and two rows per stack set: the top row draws, for each of the ROI's
best ``n_best`` voxels (by stacked R), its single-space ``R`` (signed square root of the
cross-validated R²) across the set's spaces as a thin line; the bottom row draws its
stacking weights across the spaces the same way, with the ROI-median weight profile of those
voxels and its bootstrap interval over voxels on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dnnmap.errors import InputError
from dnnmap.stacking.io import read_stacking
from dnnmap.stacking.summary import best_voxels, median_profile


def plot_stacking_profiles(
    files: Mapping[str, Mapping[str, str]],
    n_best: int = 200,
    n_boot: int = 1000,
    seed: int = 0,
    title: str | None = None,
) -> Figure:
    """Draw the seed study's figure for one subject.

    Parameters
    ----------
    files : mapping
        ``{stack: {roi: path}}``: the stacking file of every set and ROI (same ROIs in every
        set, in column order).
    n_best : int
        Voxels per ROI (best stacked R first).
    n_boot, seed : int
        Bootstrap of the median weight profile (:func:`median_profile`).
    title : str or None
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    stacks = list(files)
    if not stacks:
        raise InputError("files has no stack set; expected {stack: {roi: path}}")
    rois = list(files[stacks[0]])
    if not rois or any(list(files[s]) != rois for s in stacks):
        raise InputError(f"files name ROIs {[list(files[s]) for s in stacks]}; expected the same")
    n_rows, n_cols = 2 * len(stacks), len(rois)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(2.6 * n_cols + 0.8, 2.2 * n_rows + 0.6),
        squeeze=False,
        sharey="row",
    )
    for s, stack in enumerate(stacks):
        for c, roi in enumerate(rois):
            res = read_stacking(files[stack][roi])
            _draw(axes[2 * s, c], axes[2 * s + 1, c], res, n_best, n_boot, seed)
            axes[2 * s, c].set_title(f"{roi} ({min(n_best, _n_ok(res))} voxels)", fontsize=9)
        axes[2 * s, 0].set_ylabel(f"{stack}\nR (single space)", fontsize=8)
        axes[2 * s + 1, 0].set_ylabel(f"{stack}\nstacking weight", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _n_ok(res: Mapping) -> int:
    return int(np.sum(~np.asarray(res["masked"], dtype=bool)))


def _draw(ax_r, ax_w, res: Mapping, n_best: int, n_boot: int, seed: int) -> None:
    spaces = list(res["spaces"])
    x = np.arange(len(spaces))
    labels = [s.split("/", 1)[1] if s.count("/") == 1 else s for s in spaces]
    if len({s.split("/", 1)[0] for s in spaces}) > 1:
        labels = spaces  # several models: keep the model in the label
    best = best_voxels(res, n_best)
    R = res["space_signed_sqrt_r2"][best]
    W = res["weights"][best]
    ax_r.plot(x, R.T, color="tab:blue", alpha=0.08, lw=0.6)
    ax_r.plot(x, np.median(R, axis=0) if best.size else x * np.nan, color="k", lw=1.5)
    ax_r.axhline(0.0, color="0.6", lw=0.6)
    ax_w.plot(x, W.T, color="tab:orange", alpha=0.08, lw=0.6)
    med, lo, hi = median_profile(W, n_boot, seed)
    ax_w.fill_between(x, lo, hi, color="k", alpha=0.2, lw=0)
    ax_w.plot(x, med, color="k", lw=1.5, marker="o", ms=3)
    ax_w.set_ylim(-0.02, 1.02)
    for ax in (ax_r, ax_w):
        ax.set_xticks(x)
        ax.tick_params(labelsize=7)
    ax_r.set_xticklabels([])
    ax_w.set_xticklabels(labels, rotation=60, ha="right")


def stacking_figure_files(
    paths: Sequence[str], jobs: Sequence[Mapping]
) -> dict[str, dict[str, str]]:
    """``{stack: {roi: path}}`` of one subject's stacking files from parallel job lists."""
    out: dict[str, dict[str, str]] = {}
    for path, job in zip(paths, jobs, strict=True):
        out.setdefault(job["stack"], {})[job["roi"]] = path
    return out
