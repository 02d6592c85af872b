"""Tests of dnnmap.decoding.probing: decoding tables across layers and regions, and the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dnnmap.decoding.cross_validation import DecodingResult
from dnnmap.decoding.io import write_decoding
from dnnmap.decoding.probing import COLUMNS, decoding_table, plot_probing_profile, probing_profile
from dnnmap.errors import InputError
from dnnmap.stats.inference import permutation_pvalue
from dnnmap.stats.splits import Splits

LAYERS = ["conv1", "conv3", "fc6"]
SETTINGS = {"inner_folds": 2, "seed": 0, "Cs": [1.0], "alphas": [1.0]}
SPLITS = Splits(
    4, [np.array([2, 3]), np.array([0, 1])], [np.array([0, 1]), np.array([2, 3])],
    np.zeros(2, int), "stratified_kfold", {"n_folds": 2, "seed": 0},
)  # fmt: skip


def _classification(estimator, folds, bal, null):
    folds, null = np.asarray(folds), np.asarray(null)
    return DecodingResult(
        estimator=estimator,
        metric="accuracy",
        predictions=np.array([["a", "a", "b", "b"]]),
        folds=np.array([[0, 0, 1, 1]]),
        fold_scores=folds,
        param=np.ones(2),
        null=null,
        pvalue=permutation_pvalue(folds.mean(), null) if null.size else float("nan"),
        chance=0.5,
        classes=np.array(["a", "b"]),
        fold_balanced_accuracy=np.asarray(bal),
        confusion=np.zeros((2, 2, 2), int),
    )


@pytest.fixture
def layer_files(tmp_path):
    rng = np.random.default_rng(0)
    paths, expected = [], {}
    for i, layer in enumerate(LAYERS):
        results = {}
        for est in ("logistic", "svm"):
            folds = np.clip(0.5 + 0.2 * i + rng.normal(0, 0.05, 2), 0, 1)
            null = rng.uniform(0.3, 0.7, 19)
            results[est] = _classification(est, folds, folds - 0.01, null)
            expected[layer, est] = results[est]
        path = tmp_path / layer / "category.h5"
        write_decoding(path, results, SPLITS, list("abcd"), "category", SETTINGS, {})
        paths.append(str(path))
    return paths, expected


def test_probing_profile(layer_files):
    paths, expected = layer_files
    table = probing_profile(paths, LAYERS, "alexnet")
    assert list(table.columns) == ["model", "layer", *COLUMNS]
    assert list(table["layer"]) == [layer for layer in LAYERS for _ in range(2)]
    assert list(table["estimator"]) == ["logistic", "svm"] * 3
    for row in table.itertuples():
        res = expected[row.layer, row.estimator]
        assert row.score == pytest.approx(np.mean(res.fold_scores), abs=1e-12)
        assert row.score_sd == pytest.approx(np.std(res.fold_scores, ddof=1), abs=1e-12)
        assert row.balanced_accuracy == pytest.approx(np.mean(res.fold_balanced_accuracy))
        assert row.null_mean == pytest.approx(res.null.mean())
        assert row.null_95 == pytest.approx(np.percentile(res.null, 95))
        assert row.p == res.pvalue and row.n_perm == 19 and row.n_folds == 2
        assert row.chance == 0.5 and row.n_classes == 2 and np.isnan(row.r2)
        assert row.model == "alexnet" and row.attribute == "category"


def test_table_of_brain_regions_and_continuous(tmp_path):
    ridge = DecodingResult(
        estimator="ridge",
        metric="pearson_r",
        predictions=np.array([[0.1, 0.2, 0.3, 0.4]]),
        folds=np.array([[0, 0, 1, 1]]),
        fold_scores=np.array([0.4, 0.6]),
        param=np.ones(2),
        null=np.empty(0),
        pvalue=float("nan"),
        chance=0.0,
        fold_r2=np.array([0.1, 0.3]),
    )
    keys, paths = [], []
    for subject in ("sub-01", "sub-02"):
        for roi in ("V1", "V4"):
            path = tmp_path / subject / roi / "size.h5"
            write_decoding(path, {"ridge": ridge}, SPLITS, list("abcd"), "size", SETTINGS, {})
            paths.append(str(path))
            keys.append({"subject": subject, "roi": roi})
    table = decoding_table(paths, keys)
    assert list(table.columns[:2]) == ["subject", "roi"] and len(table) == 4
    row = table.iloc[0]
    assert row["metric"] == "pearson_r" and row["score"] == pytest.approx(0.5)
    assert row["r2"] == pytest.approx(0.2) and np.isnan(row["balanced_accuracy"])
    assert np.isnan(row["null_mean"]) and np.isnan(row["p"]) and row["n_perm"] == 0
    assert row["n_classes"] == 0
    fig = plot_probing_profile(table, x="roi", series=["subject"])
    assert isinstance(fig, Figure)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "sub-01 ridge" in labels and "sub-02 ridge" in labels
    plt.close(fig)


def test_plot_probing_profile_marks_significant_layers(layer_files):
    paths, _ = layer_files
    table = probing_profile(paths, LAYERS, "alexnet")
    fig = plot_probing_profile(table, title="alexnet: category")
    ax = fig.axes[0]
    assert ax.get_title() == "alexnet: category"
    assert [t.get_text() for t in ax.get_xticklabels()] == LAYERS
    stars = [t for t in ax.texts if t.get_text() == "*"]
    assert len(stars) == int((table["p"] <= 0.05).sum()) > 0
    labels = ax.get_legend_handles_labels()[1]
    assert {"logistic", "svm", "chance (0.50)", "null 95th percentile"} <= set(labels)
    assert ax.get_ylabel() == "accuracy (mean over folds)"
    plt.close(fig)


def test_bad_input(layer_files, tmp_path):
    paths, _ = layer_files
    with pytest.raises(InputError, match="3 decoding files but 2 keys; expected one each"):
        decoding_table(paths, [{"layer": "a"}, {"layer": "b"}])
    with pytest.raises(InputError, match=r"keys of .* are \['roi'\]; expected \['layer'\]"):
        decoding_table(paths[:2], [{"layer": "a"}, {"roi": "b"}])
    other = tmp_path / "other.h5"
    res = _classification("logistic", [0.5, 0.5], [0.5, 0.5], [])
    write_decoding(other, {"logistic": res}, SPLITS, list("abcd"), "animacy", SETTINGS, {})
    with pytest.raises(InputError, match=r"attributes \['animacy', 'category'\]; expected one"):
        probing_profile([paths[0], str(other)], LAYERS[:2], "alexnet")
    with pytest.raises(InputError, match="decoding table is empty"):
        plot_probing_profile(pd.DataFrame(columns=["layer", *COLUMNS]))
