"""The ablation figure: the most important channels of each target as bars (the tables of
``interpret_ablation`` and ``interpret_upstream_ablation``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def ablation_figure(table: pd.DataFrame, n_show: int, title: str) -> Figure:
    """The ``n_show`` most important channels of each target, as bars.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per target and channel with ``target``, ``channel``, ``importance``,
        ``rank`` (0: not a single channel), ``metric`` and ``<metric>_full``.
    n_show : int
    title : str
    """
    names = list(dict.fromkeys(table["target"]))
    fig = Figure(figsize=(6, 1.8 * len(names) + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(names), 1, squeeze=False)[:, 0])
    for ax, name in zip(axes, names, strict=True):
        rows = table[(table["target"] == name) & (table["rank"] > 0)].nsmallest(n_show, "rank")
        ax.bar(range(len(rows)), rows["importance"], color="tab:blue")
        ax.set_xticks(range(len(rows)), [str(c) for c in rows["channel"]], fontsize=6)
        metric = rows["metric"].iloc[0]
        ax.set_ylabel(f"drop in cv {metric}", fontsize=7)
        intact = rows[f"{metric}_full"].iloc[0]
        ax.set_title(f"{name} (cross-validated {metric} {intact:.3f} intact)", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[-1].set_xlabel("channel", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig
