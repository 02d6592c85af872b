"""Layer probing: decoding accuracy across a network's layers (or across brain regions).

A probing profile collects the decoding files of one attribute (:mod:`dnnmap.decoding.io`), one
per layer of a model, into a table with one row per layer and estimator, and plots it as in
DNNBrain's animate-versus-inanimate figure: cross-validated accuracy per layer (mean over
outer folds, error bars one standard deviation over folds), the chance level, the 95th
percentile of the permutation null, and a star over every layer whose permutation p is
at most 0.05 (uncorrected; the table holds the p-values for any correction).

Table columns (:data:`COLUMNS`, after the key columns such as ``layer``):

``attribute``, ``estimator``, ``metric`` (``accuracy`` or ``pearson_r``),
``score``
    Mean over outer folds of the fold accuracy (or Pearson r), the permutation statistic.
``score_sd``
    Standard deviation of the fold scores over folds (``ddof=1``; 0 for one fold).
``balanced_accuracy``
    Mean over folds of the fold balanced accuracy (NaN for continuous attributes).
``r2``
    Mean over folds of the fold R² (NaN for categorical attributes).
``chance``
    Accuracy of always guessing the most frequent class (1 / n_classes for balanced
    classes); 0 for Pearson r.
``null_mean``, ``null_95``
    Mean and 95th percentile of the permutation null (NaN without permutations).
``p``, ``n_perm``, ``n_folds``, ``n_classes`` (0 for continuous attributes).
``n_masked``, ``reason``
    Voxels left out as masked (brain responses, :func:`dnnmap.brain.summary.masked_voxels`)
    and why a row's scores are NaN (every voxel masked; ``""`` otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dnnmap.decoding.io import read_decoding
from dnnmap.errors import InputError

COLUMNS = (
    "attribute",
    "estimator",
    "metric",
    "score",
    "score_sd",
    "balanced_accuracy",
    "r2",
    "chance",
    "null_mean",
    "null_95",
    "p",
    "n_perm",
    "n_folds",
    "n_classes",
    "n_masked",
    "reason",
)
"""Columns of a decoding table after the key columns."""

ALPHA = 0.05
"""Permutation p at or below which a layer is starred in the figure."""


def _row(decoding: dict, est: str) -> dict:
    values = decoding["estimators"][est]
    folds = np.asarray(values["fold_scores"], dtype=np.float64)
    null = np.asarray(values["null"], dtype=np.float64)
    return {
        "attribute": decoding["attribute"],
        "estimator": est,
        "metric": decoding["metric"],
        "score": float(values["score"]),
        "score_sd": float(np.std(folds, ddof=1)) if folds.size > 1 else 0.0,
        "balanced_accuracy": float(np.mean(values["fold_balanced_accuracy"]))
        if "fold_balanced_accuracy" in values
        else np.nan,
        "r2": float(np.mean(values["fold_r2"])) if "fold_r2" in values else np.nan,
        "chance": float(values["chance"]),
        "null_mean": float(null.mean()) if null.size else np.nan,
        "null_95": float(np.quantile(null, 0.95)) if null.size else np.nan,
        "p": float(values["pvalue"]),
        "n_perm": int(null.size),
        "n_folds": int(folds.size),
        "n_classes": len(decoding["classes"] or []),
        "n_masked": decoding["n_masked"],
        "reason": decoding["reason"],
    }


def decoding_table(paths: Sequence[str], keys: Sequence[dict]) -> pd.DataFrame:
    """Table of decoding results, one row per file and estimator.

    Parameters
    ----------
    paths : sequence of str
        Decoding files (:func:`dnnmap.decoding.io.write_decoding`).
    keys : sequence of dict
        For each path, its key columns (e.g. ``{"layer": "conv1"}`` or ``{"subject": ...,
        "roi": ...}``); every dict has the same keys.

    Returns
    -------
    DataFrame
        Key columns, then :data:`COLUMNS`; rows in the order of ``paths``.
    """
    if len(paths) != len(keys):
        raise InputError(f"{len(paths)} decoding files but {len(keys)} keys; expected one each")
    names = list(keys[0]) if keys else []
    rows = []
    for path, key in zip(paths, keys, strict=True):
        if list(key) != names:
            raise InputError(f"keys of {path} are {list(key)}; expected {names} as for the first")
        decoding = read_decoding(path)
        rows += [{**key, **_row(decoding, est)} for est in decoding["estimators"]]
    return pd.DataFrame(rows, columns=[*names, *COLUMNS])


def probing_profile(paths: Sequence[str], layers: Sequence[str], model: str) -> pd.DataFrame:
    """Probing table of one model and attribute: :func:`decoding_table` keyed by layer.

    Parameters
    ----------
    paths : sequence of str
        ``results/decoding/{model}/{layer}/{attribute}.h5``, one per layer, in network order.
    layers : sequence of str
        Layer of each path.
    model : str

    Returns
    -------
    DataFrame
        Columns ``model``, ``layer``, then :data:`COLUMNS`; one row per layer and estimator.
    """
    table = decoding_table(paths, [{"layer": layer} for layer in layers])
    attributes = set(table["attribute"])
    if len(attributes) > 1:
        raise InputError(f"files decode attributes {sorted(attributes)}; expected one attribute")
    table.insert(0, "model", model)
    return table


_YLABEL = {"accuracy": "accuracy (mean over folds)", "pearson_r": "Pearson r (mean over folds)"}


def plot_probing_profile(
    table: pd.DataFrame, x: str = "layer", series: Sequence[str] = (), title: str = ""
) -> plt.Figure:
    """Decoding score across layers (or regions), as in DNNBrain's probing figure.

    Parameters
    ----------
    table : DataFrame
        From :func:`probing_profile` or :func:`decoding_table`; rows in x order.
    x : str
        Column on the x axis (``layer``; ``roi`` for brain regions).
    series : sequence of str
        Further columns that split the lines (e.g. ``("subject",)``); the estimator always
        does.
    title : str

    Returns
    -------
    Figure
        One line per series and estimator: mean score with error bars of one SD over folds,
        the chance level (dashed), the permutation null's 95th percentile (dotted) and a
        star over each point with p <= 0.05.
    """
    if table.empty:
        raise InputError("decoding table is empty; expected at least one row")
    order = list(dict.fromkeys(table[x]))
    position = {name: i for i, name in enumerate(order)}
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(order) + 2.5), 3.4))
    groups = table.groupby([*series, "estimator"], sort=False)
    offset = np.linspace(-0.12, 0.12, groups.ngroups) if groups.ngroups > 1 else [0.0]
    top = 0.0
    for shift, (name, rows) in zip(offset, groups, strict=True):
        xs = np.array([position[v] for v in rows[x]]) + shift
        label = " ".join(map(str, name if isinstance(name, tuple) else (name,)))
        line = ax.errorbar(
            xs, rows["score"], yerr=rows["score_sd"], marker="o", capsize=3, label=label
        )
        color = line[0].get_color()
        if rows["null_95"].notna().any():
            ax.plot(xs, rows["null_95"], ls=":", color=color, lw=1)
        high = (rows["score"] + rows["score_sd"]).to_numpy()
        for xi, hi, p in zip(xs, high, rows["p"], strict=True):
            if p <= ALPHA:
                ax.text(xi, hi, "*", ha="center", va="bottom", color=color, fontsize=13)
        if np.isfinite(high).any():  # a fully masked region has no score
            top = max(top, float(np.nanmax(high)))
    chance = table["chance"].to_numpy()
    if np.allclose(chance, chance[0]):
        ax.axhline(chance[0], color="0.4", ls="--", lw=1, label=f"chance ({chance[0]:.2f})")
    else:
        for value in np.unique(chance):
            ax.axhline(value, color="0.4", ls="--", lw=0.8)
    ax.plot([], [], ls=":", color="0.4", lw=1, label="null 95th percentile")
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
    ax.set_xlabel(x)
    metrics = list(dict.fromkeys(table["metric"]))
    ax.set_ylabel(_YLABEL.get(metrics[0], metrics[0]) if len(metrics) == 1 else "score")
    if metrics == ["accuracy"]:
        ax.set_ylim(0, min(1.12, max(top, float(chance.max())) * 1.12))
    ax.set_title(title or f"decoding {table['attribute'].iloc[0]} (* p ≤ {ALPHA})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
