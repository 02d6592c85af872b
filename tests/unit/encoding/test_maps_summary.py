"""Tests of dnnmap.encoding.maps (brain maps of encoding scores, written as CIFTI) and
dnnmap.encoding.summary (tables, figure)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.cifti import read_dscalar, write_dscalar
from dnnmap.brain.simulate import driving_layers
from dnnmap.encoding.maps import encoding_maps, significance_maps, write_encoding_maps
from dnnmap.encoding.summary import (
    COLUMNS,
    FEATURE_COLUMNS,
    MASK_COLUMNS,
    best_layers,
    plot_layer_profiles,
    summarize_encoding,
)
from dnnmap.errors import InputError
from dnnmap.store import write_h5

LAYERS = ["conv1", "conv5", "fc6"]
ROIS = {"V1": np.array([2, 3, 4, 10]), "V4": np.array([20, 21, 25])}
N_GRAY = 30


def _encoding_file(path, index, score, r2=None):
    r2 = score**2 if r2 is None else r2
    write_h5(path, {"index": index, "score": score.astype(np.float32), "r2": r2})
    return str(path)


@pytest.fixture
def encoding_files(tmp_path):
    rng = np.random.default_rng(0)
    paths, scores = [], {}
    for layer in LAYERS:  # layer-major, as encoding_maps expects
        for roi, index in ROIS.items():
            score = rng.uniform(-0.3, 0.9, index.size).astype(np.float32)
            paths.append(_encoding_file(tmp_path / f"{layer}_{roi}.h5", index, score))
            scores[layer, roi] = score
    return paths, scores


# --- maps -------------------------------------------------------------------------------------


def test_encoding_maps(encoding_files):
    paths, scores = encoding_files
    data, names = encoding_maps(paths, LAYERS, list(ROIS), N_GRAY)
    assert names == [*LAYERS, "best_layer"]
    assert data.shape == (len(LAYERS) + 1, N_GRAY) and data.dtype == np.float32
    expected = np.zeros((len(LAYERS) + 1, N_GRAY), dtype=np.float32)
    for roi, index in ROIS.items():
        stack = np.stack([scores[layer, roi] for layer in LAYERS])  # (n_layers, n_vox)
        expected[: len(LAYERS), index] = stack
        expected[-1, index] = np.argmax(stack, axis=0) + 1
    np.testing.assert_array_equal(data, expected)
    outside = np.setdiff1d(np.arange(N_GRAY), np.concatenate(list(ROIS.values())))
    assert (data[:, outside] == 0).all()
    assert set(np.unique(data[-1, ROIS["V1"]])) <= {1, 2, 3}


def test_best_layer_with_negative_scores(tmp_path):
    index = np.array([0, 1])
    paths = [
        _encoding_file(tmp_path / "a.h5", index, np.array([-0.5, -0.2])),
        _encoding_file(tmp_path / "b.h5", index, np.array([-0.1, -0.4])),
    ]
    data, _ = encoding_maps(paths, ["a", "b"], ["roi"], 4)
    np.testing.assert_array_equal(data[-1], [2, 1, 0, 0])


def test_encoding_maps_checks(encoding_files):
    paths, _ = encoding_files
    with pytest.raises(InputError, match="5 encoding files for 3 layers x 2 ROIs"):
        encoding_maps(paths[:-1], LAYERS, list(ROIS), N_GRAY)
    with pytest.raises(InputError, match=r"conv1_V4.h5: grayordinate index 25 is beyond the 24"):
        encoding_maps(paths, LAYERS, list(ROIS), 24)


# --- summary ----------------------------------------------------------------------------------


def test_summarize_encoding(tmp_path):
    rng = np.random.default_rng(1)
    s1, s2 = rng.uniform(-1, 1, 9).astype(np.float32), rng.uniform(-1, 1, 4).astype(np.float32)
    r1, r2 = rng.uniform(-1, 1, 9), rng.uniform(-1, 1, 4)
    paths = [
        _encoding_file(tmp_path / "1.h5", np.arange(9), s1, r1),
        _encoding_file(tmp_path / "2.h5", np.arange(4), s2, r2),
    ]
    keys = [
        {"model": "m", "layer": "conv1", "subject": "sub-01", "roi": "V1", "other": 1},
        {"model": "m", "layer": "fc6", "subject": "sub-01", "roi": "V4"},
    ]
    table = summarize_encoding(paths, keys)
    assert list(table.columns) == [
        "model",
        "layer",
        "subject",
        "roi",
        *COLUMNS,
        *MASK_COLUMNS,
        *FEATURE_COLUMNS,
    ]
    assert (table["n_masked"] == 0).all() and (table["reason"] == "").all()
    assert table[["layer", "roi"]].values.tolist() == [["conv1", "V1"], ["fc6", "V4"]]
    assert table[["r_normalized", "frac_fwe_05"]].isna().all().all()
    assert (table[["n_above_ceiling", "n_ceiling"]] == 0).all().all()
    assert not table["r_normalized_above_1"].any()
    for row, s, r in zip(table.itertuples(), (s1, s2), (r1, r2), strict=True):
        assert row.median_r == pytest.approx(float(np.median(s)), rel=1e-6)
        assert row.mean_r == pytest.approx(float(np.mean(s)), rel=1e-6)
        assert row.median_r2 == pytest.approx(float(np.median(r)), rel=1e-12)
        assert row.n_vox == s.size and row.n_nan == 0
    with pytest.raises(ValueError):
        summarize_encoding(paths, keys[:1])


def test_summary_skips_nan_voxels_and_reads_inference(tmp_path):
    score = np.array([0.5, np.nan, 0.1, 0.3], dtype=np.float32)
    path = tmp_path / "e.h5"
    write_h5(
        path,
        {
            "index": np.arange(4),
            "score": score,
            "r2": score**2,
            "pvalue_fwe": np.array([0.01, np.nan, 0.2, 0.04]),
            "noise_ceiling": np.array([0.8, 0.9, 0.5, 0.6]),
        },
    )
    key = {"model": "m", "layer": "l", "subject": "s", "roi": "r"}
    row = summarize_encoding([str(path)], [key]).iloc[0]
    assert row.median_r == pytest.approx(0.3) and row.n_nan == 1
    assert row.frac_fwe_05 == pytest.approx(0.5)
    assert row.median_noise_ceiling == pytest.approx(0.7)
    # the mean score over the mean ceiling of the voxels with a score, not a median of ratios
    assert row.r_normalized == pytest.approx(0.3 / (1.9 / 3), rel=1e-6)
    assert row.n_ceiling == 3 and row.n_above_ceiling == 0 and not row.r_normalized_above_1


def _ceiling_file(path, score, ceiling, metric="r"):
    write_h5(
        path,
        {"index": np.arange(score.size), "score": score, "r2": score, "noise_ceiling": ceiling},
        attrs={"score_metric": metric},
    )
    return str(path)


def test_summary_normalized_score_min_ceiling_cap_and_metric(tmp_path):
    key = {"model": "m", "layer": "l", "subject": "s", "roi": "r"}
    score = np.array([0.3, 0.02, 0.5, 0.45])
    ceiling = np.array([0.6, 0.05, 0.4, 0.5])  # voxel 1 is under the floor, voxel 2 above it
    row = summarize_encoding([_ceiling_file(tmp_path / "a.h5", score, ceiling)], [key]).iloc[0]
    assert row.r_normalized == pytest.approx(1.25 / 1.5)  # voxels 0, 2, 3
    assert row.n_ceiling == 3 and row.n_above_ceiling == 1 and not row.r_normalized_above_1
    row = summarize_encoding([str(tmp_path / "a.h5")], [key], min_ceiling=0.45).iloc[0]
    assert row.r_normalized == pytest.approx(0.75 / 1.1) and row.n_ceiling == 2
    assert row.n_above_ceiling == 0
    # a score above the ceiling in aggregate: capped at 1 and flagged
    path = _ceiling_file(tmp_path / "b.h5", np.array([0.5, 0.6]), np.array([0.4, 0.5]))
    row = summarize_encoding([path], [key]).iloc[0]
    assert row.r_normalized == 1.0 and row.r_normalized_above_1 and row.n_above_ceiling == 2
    # an R² score is normalized by the squared ceiling of r (the explainable variance)
    path = _ceiling_file(tmp_path / "c.h5", np.array([0.09, 0.16]), np.array([0.5, 0.8]), "r2")
    row = summarize_encoding([path], [key]).iloc[0]
    assert row.r_normalized == pytest.approx(0.125 / 0.445)


def test_summary_normalized_score_recovers_the_model_correlation(tmp_path):
    """Simulation: a prediction correlating rho with every voxel's signal, voxels of very
    different reliability, a third of them almost pure noise: above the floor, the ROI's
    normalized score is rho. (Noise voxels whose ceiling is overestimated dilute it: 0.57
    with a floor of 0.2 at 1,500 stimuli and 2 repeats.)"""
    from dnnmap.brain.noise_ceiling import response_noise_ceiling

    rng = np.random.default_rng(2)
    n_stim, n_vox, n_rep, rho = 1500, 120, 2, 0.6
    signal_sd = np.concatenate([rng.uniform(0.4, 1.5, 80), np.full(40, 0.05)])
    mu = rng.standard_normal((n_stim, n_vox)) * signal_sd
    repeats = mu + rng.standard_normal((n_rep, n_stim, n_vox))
    ceiling = response_noise_ceiling(repeats)
    mu_z = (mu - mu.mean(0)) / mu.std(0)
    prediction = rho * mu_z + np.sqrt(1 - rho**2) * rng.standard_normal(mu.shape)
    mean = repeats.mean(axis=0)
    score = np.array([np.corrcoef(prediction[:, v], mean[:, v])[0, 1] for v in range(n_vox)])
    key = {"model": "m", "layer": "l", "subject": "s", "roi": "r"}
    path = _ceiling_file(tmp_path / "sim.h5", score, ceiling)
    row = summarize_encoding([path], [key], min_ceiling=0.3).iloc[0]
    assert row.r_normalized == pytest.approx(rho, abs=0.02)
    assert 80 <= row.n_ceiling <= 86  # the reliable voxels, and few noise voxels
    assert row.n_above_ceiling < 0.2 * row.n_ceiling


def test_significance_maps(tmp_path):
    paths = []
    for layer in LAYERS:
        for roi, index in ROIS.items():
            p = np.linspace(0.001, 0.5, index.size)
            path = tmp_path / f"{layer}_{roi}.h5"
            write_h5(
                path,
                {
                    "index": index,
                    "score": np.full(index.size, 0.4, np.float32),
                    "r2": np.zeros(index.size),
                    "pvalue": p,
                    "pvalue_fwe": p * 2,
                },
            )
            paths.append(str(path))
    logp, r_fwe, names = significance_maps(paths, LAYERS, list(ROIS), N_GRAY)
    assert names == LAYERS and logp.shape == r_fwe.shape == (3, N_GRAY)
    np.testing.assert_allclose(
        logp[0, ROIS["V1"]], -np.log10(np.linspace(0.001, 0.5, 4)), rtol=1e-6
    )
    assert r_fwe[0, ROIS["V1"][0]] == pytest.approx(0.4) and r_fwe[0, ROIS["V1"][-1]] == 0
    assert logp[:, 0].sum() == 0
    write_h5(tmp_path / "bare.h5", {"index": np.arange(2), "score": np.ones(2), "r2": np.ones(2)})
    with pytest.raises(InputError, match="no permutation p-values"):
        significance_maps([str(tmp_path / "bare.h5")], ["l"], ["r"], 5)


def test_write_encoding_maps(tmp_path):
    """write_encoding_maps: dscalars on the responses' grayordinates, equal to the arrays."""
    brain_models = BrainModelAxis.from_mask(np.ones(N_GRAY, bool))
    write_dscalar(tmp_path / "resp.dscalar.nii", np.zeros((2, N_GRAY)), ["a", "b"], brain_models)
    paths = []
    for layer in LAYERS:
        for roi, index in ROIS.items():
            p = np.linspace(0.001, 0.5, index.size)
            score = np.linspace(0.1, 0.6, index.size) * (1 + LAYERS.index(layer))
            path = tmp_path / f"{layer}_{roi}.h5"
            arrays = {"index": index, "score": score.astype(np.float32), "r2": score**2}
            write_h5(path, {**arrays, "pvalue": p, "pvalue_fwe": p * 2})
            paths.append(str(path))
    out = {k: tmp_path / "maps" / f"encoding_{k}.dscalar.nii" for k in ("r", "logp", "r_fwe")}
    written = write_encoding_maps(
        tmp_path / "resp.dscalar.nii",
        paths,
        LAYERS,
        list(ROIS),
        out["r"],
        out["logp"],
        out["r_fwe"],
    )
    assert written == [str(out[k]) for k in ("r", "logp", "r_fwe")]
    data, names = encoding_maps(paths, LAYERS, list(ROIS), N_GRAY)
    got = read_dscalar(out["r"])
    assert got.names == names == [*LAYERS, "best_layer"] and got.brain_models == brain_models
    np.testing.assert_array_equal(got.data, data)
    logp, r_fwe, _ = significance_maps(paths, LAYERS, list(ROIS), N_GRAY)
    np.testing.assert_array_equal(read_dscalar(out["logp"]).data, logp)
    np.testing.assert_array_equal(read_dscalar(out["r_fwe"]).data, r_fwe)
    only_r = tmp_path / "only" / "encoding_r.dscalar.nii"
    assert write_encoding_maps(
        tmp_path / "resp.dscalar.nii", paths, LAYERS, list(ROIS), only_r
    ) == [str(only_r)]
    assert sorted(p.name for p in only_r.parent.iterdir()) == ["encoding_r.dscalar.nii"]
    with pytest.raises(InputError, match="expected both paths"):
        write_encoding_maps(
            tmp_path / "resp.dscalar.nii", paths, LAYERS, list(ROIS), only_r, out["logp"]
        )


def _summary():
    rows = []
    medians = {  # (subject, roi) -> median r per layer
        ("sub-01", "V1"): [0.6, 0.4, 0.1],
        ("sub-01", "VTC"): [0.1, 0.3, 0.5],
        ("sub-02", "V1"): [0.2, 0.7, 0.3],
        ("sub-02", "VTC"): [0.0, 0.2, 0.1],
    }
    for (subject, roi), values in medians.items():
        for layer, value in zip(LAYERS, values, strict=True):
            rows.append(
                {"model": "net", "layer": layer, "subject": subject, "roi": roi, "median_r": value}
            )
    return pd.DataFrame(rows), medians


def test_best_layers():
    summary, medians = _summary()
    best = best_layers(summary)
    assert list(best.columns) == ["model", "subject", "roi", "layer", "median_r", "reason"]
    assert (best["reason"] == "").all()
    assert len(best) == len(medians)
    for row in best.itertuples():
        values = medians[row.subject, row.roi]
        assert row.layer == LAYERS[int(np.argmax(values))]
        assert row.median_r == max(values)


def test_plot_layer_profiles():
    summary, medians = _summary()
    truth = pd.DataFrame({"region": ["V1"], "layer": ["conv1"]})
    fig = plot_layer_profiles(summary, truth=truth, layer_order={"net": LAYERS})
    try:
        assert isinstance(fig, Figure)
        assert [ax.get_title() for ax in fig.axes] == ["V1", "VTC"]
        stars = {
            ax.get_title(): [line for line in ax.get_lines() if line.get_marker() == "*"]
            for ax in fig.axes
        }
        assert stars["VTC"] == []
        assert len(stars["V1"]) == 2  # one per subject, at conv1
        for line, subject in zip(stars["V1"], ["sub-01", "sub-02"], strict=True):
            assert list(line.get_xdata()) == [0]
            assert list(line.get_ydata()) == [medians[subject, "V1"][0]]
        profiles = [line for line in fig.axes[1].get_lines() if line.get_marker() == "o"]
        assert [list(line.get_ydata()) for line in profiles] == [
            medians["sub-01", "VTC"],
            medians["sub-02", "VTC"],
        ]
        labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        assert labels == LAYERS
    finally:
        plt.close(fig)
    fig = plot_layer_profiles(summary[summary["roi"] == "V1"])
    try:
        assert len(fig.axes) == 1
        assert not any(line.get_marker() == "*" for line in fig.axes[0].get_lines())
    finally:
        plt.close(fig)


def test_plot_layer_profiles_rows_per_model_and_stars_for_the_driving_model():
    """Two models of other layers: a row of panels each, on its own layers; the truth's
    driving layer is starred only in the panels of the model its ``model`` column names,
    even where the other model has a layer of the same name."""
    summary, medians = _summary()
    other = summary.assign(
        model="other",
        layer=summary["layer"].map(dict(zip(LAYERS, ["conv1", "b", "c"], strict=True))),
    )
    both = pd.concat([summary, other], ignore_index=True)
    truth = pd.DataFrame({"model": ["net"], "region": ["V1"], "layer": [LAYERS[0]]})
    other_truth = truth.assign(model="other")
    fig = plot_layer_profiles(both, truth=truth, layer_order={"net": LAYERS})
    try:
        titles = [ax.get_title() for ax in fig.axes]
        assert titles == ["net – V1", "net – VTC", "other – V1", "other – VTC"]
        assert [t.get_text() for t in fig.axes[2].get_xticklabels()] == ["conv1", "b", "c"]

        def stars(ax):
            return [line for line in ax.get_lines() if line.get_marker() == "*"]

        assert len(stars(fig.axes[0])) == 2 and not stars(fig.axes[2])
        profiles = [line for line in fig.axes[2].get_lines() if line.get_marker() == "o"]
        assert list(profiles[1].get_ydata()) == medians["sub-02", "V1"]
    finally:
        plt.close(fig)
    fig = plot_layer_profiles(both, truth=other_truth.assign(layer="conv1"))
    try:
        assert not any(line.get_marker() == "*" for line in fig.axes[0].get_lines())
        assert sum(line.get_marker() == "*" for line in fig.axes[2].get_lines()) == 2
    finally:
        plt.close(fig)


def test_driving_layers_of_the_named_model():
    truth = pd.DataFrame(
        {"model": ["net", "net"], "region": ["V1", "LO"], "layer": ["conv1", "conv2+fc7"]}
    )
    assert driving_layers(truth, "net") == {"V1": "conv1", "LO": "conv2+fc7"}
    assert driving_layers(truth, "other") == {}
    assert driving_layers(truth.drop(columns="model"), "other") == {
        "V1": "conv1",
        "LO": "conv2+fc7",
    }
    assert driving_layers(None, "net") == {}


# --- masked voxels: one policy (0 in maps, no best_layer label, NaN rows with a reason) ------


def test_masked_voxels_are_zero_and_unlabelled_in_maps(tmp_path):
    """A voxel masked in every layer (NaN scores) was labelled layer 1 (argmax of all -inf)."""
    index = np.array([0, 1, 2])
    paths = [
        _encoding_file(tmp_path / "a.h5", index, np.array([0.2, np.nan, -0.3])),
        _encoding_file(tmp_path / "b.h5", index, np.array([0.1, np.nan, -0.1])),
    ]
    data, _ = encoding_maps(paths, ["a", "b"], ["roi"], 5)
    assert np.isfinite(data).all()
    np.testing.assert_array_equal(data[:2, 1], [0, 0])
    np.testing.assert_array_equal(data[-1], [1, 0, 2, 0, 0])


def _masked_file(path, n_vox, masked):
    score = np.where(masked, np.nan, 0.3).astype(np.float32)
    write_h5(path, {"index": np.arange(n_vox), "score": score, "r2": score, "masked": masked})
    return str(path)


def test_fully_masked_roi_is_a_row_of_nan_with_a_reason(tmp_path):
    """An all-NaN or all-zero ROI crashed summarize_encoding's best layer (pandas idxmax)."""
    paths = [
        _masked_file(tmp_path / "v1_a.h5", 4, np.array([False, True, False, False])),
        _masked_file(tmp_path / "v1_b.h5", 4, np.array([False, True, False, False])),
        _masked_file(tmp_path / "out_a.h5", 3, np.ones(3, bool)),
        _masked_file(tmp_path / "out_b.h5", 3, np.ones(3, bool)),
    ]
    keys = [
        {"model": "m", "layer": layer, "subject": "s", "roi": roi}
        for roi in ("V1", "OUT")
        for layer in ("a", "b")
    ]
    table = summarize_encoding(paths, keys)
    assert table["n_masked"].tolist() == [1, 1, 3, 3]
    out = table[table["roi"] == "OUT"]
    assert out[["median_r", "mean_r", "median_r2"]].isna().all().all()
    assert (out["reason"] == "all 3 voxels masked (NaN, inf or constant responses)").all()
    assert (table.loc[table["roi"] == "V1", "reason"] == "").all()
    best = best_layers(table).set_index("roi")
    assert best.loc["V1", "layer"] == "a" and best.loc["V1", "median_r"] == pytest.approx(0.3)
    assert best.loc["OUT", "layer"] == "" and np.isnan(best.loc["OUT", "median_r"])
    assert best.loc["OUT", "reason"].startswith("all 3 voxels masked")


def test_masked_count_without_a_masked_dataset(tmp_path):
    path = _encoding_file(tmp_path / "e.h5", np.arange(3), np.array([np.nan, 0.1, 0.2]))
    key = {"model": "m", "layer": "l", "subject": "s", "roi": "r"}
    row = summarize_encoding([path], [key]).iloc[0]
    assert row.n_masked == 1 and row.reason == ""
