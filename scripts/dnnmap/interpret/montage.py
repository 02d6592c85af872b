"""Figures of the interpret rules: top-stimuli montages, saliency overlays, synthesized images.

Every function returns a matplotlib Figure; :func:`dnnmap.figures.save_figure` writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from dnnmap.images import read_image


def thumbnails(paths: Sequence[str], size: int, background=(0, 0, 0)) -> np.ndarray:
    """Images read as dnnmap reads stimuli, resized to a square: (n, size, size, 3) uint8."""
    out = []
    for path in paths:
        image, _ = read_image(path, background)
        out.append(np.asarray(image.resize((size, size))))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def _tile(ax, image, title: str) -> None:
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=6)


def montage_figure(
    images: np.ndarray, values: np.ndarray, stim_ids, names: Sequence[str], title: str
) -> Figure:
    """Top stimuli of each target, one row per target, highest first, with their values.

    Parameters
    ----------
    images : array of shape (t, k, H, W, 3)
    values : array of shape (t, k)
    stim_ids : array of str of shape (t, k)
    names : sequence of str
        Target names, shape (t,).
    title : str
    """
    t, k = values.shape
    fig = Figure(figsize=(1.1 * k + 1.2, 1.25 * t + 0.5), layout="constrained")
    axes = np.asarray(fig.subplots(t, k, squeeze=False))
    for i in range(t):
        for j in range(k):
            _tile(axes[i, j], images[i, j], f"{stim_ids[i][j]}\n{values[i, j]:.3g}")
        axes[i, 0].set_ylabel(names[i], fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def saliency_figure(
    images: np.ndarray, maps: np.ndarray, names: Sequence[str], stim_ids, methods, title: str
) -> Figure:
    """Each target's top stimuli beside their saliency maps, one row per target and stimulus.

    Parameters
    ----------
    images : array of shape (t, b, H, W, 3)
        The stimuli as the network saw them (RGB, uint8 or [0, 1]).
    maps : array of shape (t, n_methods, b, H, W)
        Per-pixel saliency in [0, 1] (:func:`dnnmap.interpret.saliency.pixel_map`).
    names : sequence of str
        Target names, shape (t,).
    stim_ids : array of str of shape (t, b)
    methods : sequence of str
    title : str
    """
    t, m, b = maps.shape[:3]
    rows = t * b
    fig = Figure(figsize=(1.3 * (m + 1) + 0.8, 1.35 * rows + 0.5), layout="constrained")
    axes = np.asarray(fig.subplots(rows, m + 1, squeeze=False))
    for i in range(t):
        for s in range(b):
            r = i * b + s
            _tile(axes[r, 0], images[i, s], f"{names[i]}\n{stim_ids[i][s]}")
            gray = np.asarray(images[i, s], dtype=np.float32).mean(axis=-1)
            for j, method in enumerate(methods):
                ax = axes[r, j + 1]
                ax.imshow(gray, cmap="gray", alpha=0.5)
                ax.imshow(maps[i, j, s], cmap="inferno", alpha=0.7, vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(method.replace("_", " "), fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def synthesis_figure(
    images: np.ndarray,
    trajectories: np.ndarray,
    names: Sequence[str],
    values: np.ndarray,
    natural_best: np.ndarray,
    title: str,
) -> Figure:
    """Synthesized images with their objective trajectories.

    Parameters
    ----------
    images : array of shape (t, 3, H, W)
        RGB in [0, 1].
    trajectories : array of shape (t, steps)
    names : sequence of str
    values : array of shape (t,)
        Each target's value for its synthesized image.
    natural_best : array of shape (t,)
        Each target's highest value over the stimuli (NaN: unknown).
    title : str
    """
    t = len(names)
    fig = Figure(figsize=(4.2, 1.7 * t + 0.5), layout="constrained")
    axes = np.asarray(fig.subplots(t, 2, squeeze=False))
    for i in range(t):
        _tile(
            axes[i, 0],
            np.clip(np.transpose(images[i], (1, 2, 0)), 0, 1),
            f"{names[i]}: {values[i]:.3g}",
        )
        ax = axes[i, 1]
        ax.plot(trajectories[i], lw=0.8, label="objective")
        if np.isfinite(natural_best[i]):
            ax.axhline(natural_best[i], color="k", ls="--", lw=0.8, label="best stimulus")
        ax.set_xlabel("step", fontsize=7)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return fig
