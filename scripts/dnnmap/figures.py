"""Saving figures: one helper that every rule script and library module uses.

:func:`save_figure` writes a matplotlib figure the way :mod:`dnnmap.store` writes data files:
to a temporary name beside the target, renamed into place once complete
(:func:`dnnmap.store.atomic_path`), so a killed job never leaves a truncated image that looks
finished. The figure is closed afterwards, so a job that draws many figures does not keep
them all in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.store import atomic_path

FORMATS = ("png", "pdf", "svg")
"""File formats :func:`save_figure` writes, named by the target's suffix."""


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` atomically and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save.
    path : path
        Target file; its suffix (``.png``, ``.pdf`` or ``.svg``) gives the format.
        Missing parent folders are created.
    dpi : int
        Resolution of raster output, dots per inch.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        If ``fig`` is not a matplotlib Figure, the suffix is not one of :data:`FORMATS`, or
        ``dpi`` is not a positive integer. Nothing is written then.
    """
    if not isinstance(fig, Figure):
        raise InputError(f"fig is a {type(fig).__name__}; expected a matplotlib Figure")
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise InputError(
            f"{path}: figure file name ends in {path.suffix or 'no suffix'!r}; expected one of "
            f"{', '.join('.' + f for f in FORMATS)}"
        )
    dpi = check_int(dpi, "dpi", minimum=1)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)
    finally:
        plt.close(fig)
    return path
