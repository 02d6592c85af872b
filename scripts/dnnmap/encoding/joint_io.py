"""Jobs of the joint models: variance partitioning of a set of spaces and paired comparisons.

A *space* is one layer of one model (its features file); a *set* (config ``joint.sets``,
``{set: {model: [layers]}}``) names 2-3 spaces. :func:`run_partition` fits banded ridge
(:class:`dnnmap.encoding.banded_ridge.BandedRidgeCV`) on every subset of a set's spaces for
one subject's ROI, over the outer splits of ``encoding.cv`` with nested inner folds
(``encoding.inner_folds``), and partitions the cross-validated R²
(:func:`dnnmap.encoding.partition.variance_partition`). :func:`run_comparison` tests two
encoding results of the same ROI against each other
(:func:`dnnmap.encoding.compare.paired_comparison`).

Partition file (``results/joint/{subject}/{set}/{roi}.h5``): ``index (v,)``, ``spaces (s,)``
(``model/layer``), ``subsets (k,)`` (spaces joined by ``+``), ``regions (k,)``
(``unique:A`` / ``shared:A+B``), ``r2 (k, v)``, ``parts (k, v)``, ``n_negative (k,)``,
``alpha (k, v)``, ``space_weights (s, v)``, ``masked (v,)``, ``predictions (n, v)`` and
``folds (n,)`` of the joint model of all spaces, and ``stim_id``.
Comparison file (``results/joint/compare/{subject}/{pair}/{roi}.h5``): ``index``,
``statistic``, ``score_a``, ``score_b``, ``pvalue``, ``p_fwe``, ``q_fdr`` (v,), ``null_max``
(n_perm,); attrs ``a``, ``b``, ``metric``, ``n_perm``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from dnnmap.encoding.banded_ridge import BandedRidgeCV
from dnnmap.encoding.compare import ComparisonResult, paired_comparison
from dnnmap.encoding.io import read_roi
from dnnmap.encoding.partition import PartitionResult, variance_partition
from dnnmap.errors import InputError
from dnnmap.features.folds import load_features
from dnnmap.stats.splits import groups_from_table, inner_splits, splits_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_strings, write_h5

LOG = logging.getLogger("dnnmap")


def set_spaces(spaces: Mapping[str, Sequence[str]]) -> list[str]:
    """Space names ``model/layer`` of a set ``{model: [layers]}``, in config order."""
    return [f"{model}/{layer}" for model, layers in spaces.items() for layer in layers]


def _cv(encoding: Mapping) -> dict:
    cv = dict(encoding.get("cv") or {})
    if cv.get("column") is None:
        cv.pop("column", None)
    return cv


def run_partition(
    stimuli_path: str,
    feature_paths: Sequence[str],
    spaces: Sequence[str],
    brain_path: str,
    joint: Mapping,
    encoding: Mapping,
    device: str = "numpy",
) -> tuple[PartitionResult, np.ndarray, list[str]]:
    """Variance partitioning of one ROI by a set of 2-3 spaces.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv`` (stimulus order, group or split column).
    feature_paths : sequence of str
        ``results/features/{model}/{layer}.h5`` of each space, in the order of ``spaces``.
    spaces : sequence of str
        Space names (``model/layer``).
    brain_path : str
        ``results/brain/{subject}/{roi}.h5``.
    joint : mapping
        Config ``joint``: ``alphas``, ``n_iter``, ``concentration``, ``seed``.
    encoding : mapping
        Config ``encoding``: ``cv``, ``inner_folds``, ``voxel_batch``, ``pooling``.
    device : str
        Compute backend.

    Returns
    -------
    result : PartitionResult
    index : int array of shape (v,)
        Grayordinates of the ROI's voxels.
    stim_ids : list of str
    """
    if len(feature_paths) != len(spaces):
        raise InputError(f"{len(feature_paths)} features files for {len(spaces)} spaces")
    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    features = {
        # through the fold seam: a wide layer's units as their lossless basis (the same
        # kernels from n - 1 columns), a PCA with fit: train fitted on each training set
        name: load_features(path, stim_ids, stimuli_path, compact=True)
        for name, path in zip(spaces, feature_paths, strict=True)
    }
    roi = read_roi(brain_path, stim_ids, stimuli_path)
    cv = _cv(encoding)
    splits = splits_from_table(table, cv, stimuli_path, key="encoding.cv")
    groups = groups_from_table(table, cv, stimuli_path, key="encoding.cv")
    seed = int(cv.get("seed", 0))

    def factory(sizes, train):
        inner = inner_splits(
            train, splits.scheme, n_folds=encoding["inner_folds"], seed=seed, groups=groups
        )
        return BandedRidgeCV(
            sizes,
            alphas=joint["alphas"],
            n_iter=joint["n_iter"],
            concentration=joint["concentration"],
            cv=inner,
            space_scale="trace",
            device=device,
            random_state=joint["seed"],
        )

    result = variance_partition(
        features,
        roi["responses"].astype(np.float64),
        splits,
        factory,
        batch_size=encoding.get("voxel_batch"),
        pooling=encoding.get("pooling", "folds"),
        log=LOG.info,
    )
    return result, roi["index"], stim_ids


def write_partition(path, result: PartitionResult, index, stim_ids, attrs: Mapping) -> None:
    """Write a partition file (layout in the module docstring), atomically."""
    write_h5(
        path,
        {
            "index": np.asarray(index),
            "spaces": np.asarray(result.names, dtype=object),
            "subsets": np.asarray(["+".join(s) for s in result.subsets], dtype=object),
            "regions": np.asarray(result.regions, dtype=object),
            "r2": result.r2.astype(np.float32),
            "parts": result.parts.astype(np.float32),
            "n_negative": result.n_negative,
            "alpha": result.alpha,
            "space_weights": result.space_weights.astype(np.float32),
            "masked": result.masked,
            "predictions": result.predictions.astype(np.float32),
            "folds": result.folds,
        },
        attrs=dict(attrs),
        stim_id=stim_ids,
    )


def read_partition(path: str | os.PathLike) -> dict:
    """A partition file's arrays (``index``, ``r2``, ``parts``, ``n_negative``,
    ``space_weights``, ``masked``) and names (``spaces``, ``subsets``, ``regions``)."""
    with h5py.File(path, "r") as f:
        out = {k: f[k][()] for k in ("index", "r2", "parts", "n_negative", "space_weights")}
        out["masked"] = f["masked"][()]
        for k in ("spaces", "subsets", "regions"):
            out[k] = read_strings(f[k])
    return out


PARTITION_COLUMNS = [
    "subject",
    "set",
    "roi",
    "region",
    "kind",
    "n_voxels",
    "median",
    "mean",
    "n_negative",
    "median_r2_subset",
]
"""Columns of :func:`partition_table`."""


def partition_table(paths: Sequence[str], keys: Sequence[Mapping]) -> pd.DataFrame:
    """One row per partition file and region: median and mean part over the ROI's voxels.

    Parameters
    ----------
    paths : sequence of str
        Partition files.
    keys : sequence of mapping
        ``subject``, ``set``, ``roi`` of each file.

    Returns
    -------
    DataFrame
        :data:`PARTITION_COLUMNS`; ``kind`` is ``unique``, ``shared`` or ``total`` (the R²
        of the joint model of all spaces); ``median_r2_subset`` the median R² of the joint
        model of the region's spaces; ``n_negative`` the voxels whose part is below 0.
    """
    rows = []
    for path, key in zip(paths, keys, strict=True):
        part = read_partition(path)
        keep = ~part["masked"]
        for j, region in enumerate(part["regions"]):
            values = part["parts"][j, keep]
            rows.append(
                {
                    **{k: key[k] for k in ("subject", "set", "roi")},
                    "region": region,
                    "kind": region.split(":")[0],
                    "n_voxels": int(keep.sum()),
                    "median": _stat(np.median, values),
                    "mean": _stat(np.mean, values),
                    "n_negative": int(part["n_negative"][j]),
                    "median_r2_subset": _stat(np.median, part["r2"][j, keep]),
                }
            )
        total = part["r2"][-1, keep]
        rows.append(
            {
                **{k: key[k] for k in ("subject", "set", "roi")},
                "region": "total:" + part["subsets"][-1],
                "kind": "total",
                "n_voxels": int(keep.sum()),
                "median": _stat(np.median, total),
                "mean": _stat(np.mean, total),
                "n_negative": int((total < 0).sum()),
                "median_r2_subset": _stat(np.median, total),
            }
        )
    return pd.DataFrame(rows, columns=PARTITION_COLUMNS)


def _stat(fn, values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(fn(values)) if values.size else float("nan")


def partition_maps(paths: Sequence[str], n_grayordinates: int) -> tuple[np.ndarray, list[str]]:
    """Whole-brain maps of a subject and set: each region's part, then the total R².

    Parameters
    ----------
    paths : sequence of str
        The set's partition files of every ROI of one subject.
    n_grayordinates : int
        Length of the brain model axis the files' ``index`` points into.

    Returns
    -------
    data : float32 array of shape (n_regions + 1, n_grayordinates)
        0 outside the ROIs and at masked voxels; negative parts kept.
    names : list of str
        Region names, then ``total_r2``.
    """
    data, names = None, None
    for path in paths:
        part = read_partition(path)
        if names is None:
            names = [*part["regions"], "total_r2"]
            data = np.zeros((len(names), n_grayordinates), dtype=np.float32)
        elif [*part["regions"], "total_r2"] != names:
            raise InputError(f"{path} has regions {part['regions']}; expected {names[:-1]}")
        idx = part["index"]
        if idx.size and idx.max() >= n_grayordinates:
            raise InputError(
                f"{path}: grayordinate index {idx.max()} is beyond the {n_grayordinates} "
                "grayordinates of the brain model axis"
            )
        values = np.vstack([part["parts"], part["r2"][-1:]])
        data[:, idx] = np.nan_to_num(values, nan=0.0)
    if data is None:
        raise InputError("no partition files; expected one per ROI")
    return data, names


def plot_partition(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Venn-style bars, one row of panels per set: left, per ROI, each unique and shared
    part's median over voxels (subjects averaged), stacked to the joint model's R² (negative
    parts below 0); right, the unique parts alone side by side, on their own scale.

    Parameters
    ----------
    table : DataFrame
        :func:`partition_table`.
    path : path
        PNG written with :func:`dnnmap.figures.save_figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dnnmap.figures import save_figure

    sets = list(dict.fromkeys(table["set"]))
    fig, axes = plt.subplots(
        len(sets), 2, figsize=(13, 3.4 * len(sets)), squeeze=False, width_ratios=[3, 2]
    )
    for (ax, zoom), name in zip(axes, sets, strict=True):
        sub = table[(table["set"] == name) & (table["kind"] != "total")]
        regions = list(dict.fromkeys(sub["region"]))
        mean = sub.groupby(["roi", "region"], sort=False)["median"].mean().unstack("region")
        mean = mean[regions]
        palette = plt.get_cmap("tab10")(np.arange(len(regions)) % 10)
        colors = dict(zip(regions, palette, strict=True))
        x = np.arange(len(mean))
        pos, neg = np.zeros(len(mean)), np.zeros(len(mean))
        for region in regions:
            values = np.nan_to_num(mean[region].to_numpy(dtype=float))
            bottom = np.where(values >= 0, pos, neg)
            hatch = None if region.startswith("unique") else "//"
            ax.bar(x, values, bottom=bottom, color=colors[region], hatch=hatch, label=region)
            pos += np.where(values >= 0, values, 0)
            neg += np.where(values < 0, values, 0)
        totals = (
            table[(table["set"] == name) & (table["kind"] == "total")]
            .groupby("roi", sort=False)["median"]
            .mean()
            .reindex(mean.index)
        )
        ax.scatter(x, totals.to_numpy(), color="k", marker="_", s=400, zorder=3, label="joint R²")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(x, list(mean.index))
        ax.set_ylabel("median cross-validated R²")
        ax.set_title(f"variance partitioning: {name}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        unique = [r for r in regions if r.startswith("unique")]
        width = 0.8 / max(len(unique), 1)
        for k, region in enumerate(unique):
            values = np.nan_to_num(mean[region].to_numpy(dtype=float))
            offset = (k - (len(unique) - 1) / 2) * width
            zoom.bar(x + offset, values, width=width, color=colors[region], label=region)
        zoom.axhline(0, color="k", lw=0.5)
        zoom.set_xticks(x, list(mean.index))
        zoom.set_title("unique parts")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def run_comparison(
    stimuli_path: str,
    path_a: str,
    path_b: str,
    brain_path: str,
    settings: Mapping,
    encoding: Mapping,
) -> tuple[ComparisonResult, np.ndarray]:
    """Paired swap test of two encoding results of one ROI (same stimuli, same folds).

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``.
    path_a, path_b : str
        Encoding files (``results/encoding/{subject}/{model}/{layer}/{roi}.h5``) with
        ``predictions`` and ``folds``.
    brain_path : str
        The ROI's responses.
    settings : mapping
        Config ``joint.compare``: ``metric``, ``n_perm``, ``seed``.
    encoding : mapping
        Config ``encoding`` (``cv`` for the group column that blocks the swaps).

    Returns
    -------
    ComparisonResult, and the ROI's grayordinate index (v,)
    """
    table = read_stimuli(stimuli_path)
    stim_ids = list(table["stim_id"])
    roi = read_roi(brain_path, stim_ids, stimuli_path)
    loaded = []
    for path in (path_a, path_b):
        with h5py.File(path, "r") as f:
            check_stim_ids(stim_ids, read_strings(f["stim_id"]), stimuli_path, path)
            loaded.append((f["predictions"][()], f["folds"][()], f["index"][()]))
    (pa, folds_a, ia), (pb, folds_b, ib) = loaded
    if not (np.array_equal(folds_a, folds_b) and np.array_equal(ia, ib)):
        raise InputError(
            f"{path_a} and {path_b} have different folds or voxels; expected two encoding "
            "results of the same ROI with the same encoding.cv"
        )
    groups = groups_from_table(table, _cv(encoding), stimuli_path, key="encoding.cv")
    result = paired_comparison(
        roi["responses"],
        pa,
        pb,
        folds=folds_a,
        metric=settings["metric"],
        n_perm=settings["n_perm"],
        seed=settings["seed"],
        groups=groups,
    )
    return result, roi["index"]


def write_comparison(path, result: ComparisonResult, index, attrs: Mapping) -> None:
    """Write a comparison file (layout in the module docstring), atomically."""
    arrays = {
        "index": np.asarray(index),
        **{
            k: np.asarray(getattr(result, k), dtype=np.float32)
            for k in ("statistic", "score_a", "score_b")
        },
        **{k: getattr(result, k) for k in ("pvalue", "p_fwe", "q_fdr", "null_max")},
    }
    write_h5(path, arrays, attrs={**attrs, "metric": result.metric, "n_perm": result.n_perm})


COMPARE_COLUMNS = [
    "subject",
    "pair",
    "a",
    "b",
    "roi",
    "metric",
    "n_voxels",
    "median_score_a",
    "median_score_b",
    "median_difference",
    "n_a_better_p05",
    "n_b_better_p05",
    "n_fdr05",
    "n_fwe05",
]
"""Columns of :func:`comparison_table`."""


def comparison_table(paths: Sequence[str], keys: Sequence[Mapping]) -> pd.DataFrame:
    """One row per comparison file: median scores and counts of significant voxels.

    Parameters
    ----------
    paths : sequence of str
    keys : sequence of mapping
        ``subject``, ``pair``, ``a``, ``b``, ``roi`` of each file.

    Returns
    -------
    DataFrame with :data:`COMPARE_COLUMNS`
    """
    rows = []
    for path, key in zip(paths, keys, strict=True):
        with h5py.File(path, "r") as f:
            d = {k: f[k][()] for k in ("statistic", "score_a", "score_b", "pvalue")}
            d.update(p_fwe=f["p_fwe"][()], q_fdr=f["q_fdr"][()])
            metric = str(f.attrs["metric"])
        ok = np.isfinite(d["statistic"])
        sig = d["pvalue"] <= 0.05
        rows.append(
            {
                **{k: key[k] for k in ("subject", "pair", "a", "b", "roi")},
                "metric": metric,
                "n_voxels": int(ok.sum()),
                "median_score_a": _stat(np.median, d["score_a"]),
                "median_score_b": _stat(np.median, d["score_b"]),
                "median_difference": _stat(np.median, d["statistic"]),
                "n_a_better_p05": int((sig & (d["statistic"] > 0)).sum()),
                "n_b_better_p05": int((sig & (d["statistic"] < 0)).sum()),
                "n_fdr05": int((d["q_fdr"] <= 0.05).sum()),
                "n_fwe05": int((d["p_fwe"] <= 0.05).sum()),
            }
        )
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)
