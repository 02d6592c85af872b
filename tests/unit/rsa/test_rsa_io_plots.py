"""RDM files, the patterns they come from, and the RSA figures."""

from __future__ import annotations

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist

from dnnmap.errors import InputError
from dnnmap.figures import save_figure
from dnnmap.rsa.io import (
    brain_patterns,
    model_patterns,
    read_rdm,
    read_rdm_attrs,
    write_rdm,
    zscore_columns,
)
from dnnmap.rsa.plots import (
    category_order,
    classical_mds,
    plot_mds_grid,
    plot_rdm_grid,
    plot_rsa_profiles,
    plot_second_level,
)
from dnnmap.store import write_h5

IDS = [f"s{i}" for i in range(6)]


def test_classical_mds_recovers_euclidean_configuration():
    X = np.random.default_rng(0).normal(size=(12, 3))
    coords = classical_mds(pdist(X), n_dims=3)
    np.testing.assert_allclose(pdist(coords), pdist(X), atol=1e-10)


def test_classical_mds_pads_non_positive_dimensions_with_zero():
    X = np.random.default_rng(1).normal(size=(8, 1))
    coords = classical_mds(pdist(X), n_dims=3)
    np.testing.assert_allclose(pdist(coords[:, :1]), pdist(X), atol=1e-10)
    np.testing.assert_allclose(coords[:, 1:], 0.0, atol=1e-6)


def test_zscore_columns_matches_scipy_and_zeroes_constant_columns():
    from scipy.stats import zscore

    X = np.random.default_rng(2).normal(size=(10, 3))
    X[:, 2] = 4.0
    Z = zscore_columns(X)
    np.testing.assert_allclose(Z[:, :2], zscore(X[:, :2]), atol=1e-12)
    np.testing.assert_array_equal(Z[:, 2], 0.0)


def test_category_order_groups_stably_and_checks_length():
    np.testing.assert_array_equal(category_order(["b", "a", "b", "a"], 4), [1, 3, 0, 2])
    np.testing.assert_array_equal(category_order(None, 3), [0, 1, 2])
    with pytest.raises(InputError, match="3 labels for 4 stimuli"):
        category_order(["a", "b", "c"], 4)


def test_rdm_round_trip_and_stimulus_alignment(tmp_path):
    rdm = pdist(np.random.default_rng(3).normal(size=(6, 4)))
    path = tmp_path / "layer.h5"
    write_rdm(path, rdm, IDS, {"metric": "euclidean"})
    np.testing.assert_array_equal(read_rdm(path, IDS, "stimuli.tsv"), rdm)
    assert read_rdm_attrs(path)["metric"] == "euclidean"
    with pytest.raises(InputError, match=r"stimuli\.tsv"):
        read_rdm(path, IDS[::-1], "stimuli.tsv")
    with pytest.raises(InputError, match=r"expected \(15,\)"):
        write_rdm(tmp_path / "bad.h5", rdm[:-1], IDS, {})
    assert not (tmp_path / "bad.h5").exists()


def test_model_patterns_keep_leading_columns(tmp_path):
    X = np.arange(6 * 5, dtype=np.float32).reshape(6, 5)
    path = tmp_path / "features.h5"
    write_h5(path, {"features": X}, stim_id=IDS)
    np.testing.assert_array_equal(model_patterns(path, IDS, "t.tsv", 2), X[:, :2])
    assert model_patterns(path, IDS, "t.tsv", None).shape == (6, 5)
    with pytest.raises(InputError, match="n_components is 0"):
        model_patterns(path, IDS, "t.tsv", 0)


def test_brain_patterns_drop_constant_and_nan_voxels(tmp_path):
    """Issue 10 item 5/6: NaN voxels are masked (counted), not a stop of the whole run."""
    Y = np.random.default_rng(4).normal(size=(6, 4))
    Y[:, 1] = 0.0
    path = tmp_path / "roi.h5"
    write_h5(path, {"responses": Y, "index": np.arange(4)}, stim_id=IDS)
    got = brain_patterns(path, IDS, "t.tsv")
    np.testing.assert_array_equal(got.responses, Y[:, [0, 2, 3]])
    assert (got.n_vox, got.n_masked, got.reason) == (4, 1, "")
    Y[2, 3] = np.nan
    write_h5(path, {"responses": Y, "index": np.arange(4)}, stim_id=IDS)
    got = brain_patterns(path, IDS, "t.tsv")
    np.testing.assert_array_equal(got.responses, Y[:, [0, 2]])
    assert (got.n_masked, got.reason) == (2, "")
    Y[0, 2] = np.inf
    write_h5(path, {"responses": Y, "index": np.arange(4)}, stim_id=IDS)
    got = brain_patterns(path, IDS, "t.tsv")
    assert got.responses.shape == (6, 1) and got.n_masked == 3
    assert "1 of 4 voxels left" in got.reason
    with h5py.File(path, "r") as f:
        assert f["responses"].shape == (6, 4)


def _png(path) -> np.ndarray:
    """The pixels of a PNG file written by save_figure, after checking its signature."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return plt.imread(path)


def test_figures_draw(tmp_path):
    rng = np.random.default_rng(5)
    names = ("conv1", "conv2", "V1")
    rdms = {name: pdist(rng.normal(size=(6, 3))) for name in names}
    cats = ["a", "b", "a", "b", "c", "c"]
    for kind, fig, inches in (
        ("rdm", plot_rdm_grid(rdms, cats, ncols=2), 2 * 2.6),
        ("mds", plot_mds_grid(rdms, cats, ncols=2), 2 * 2.8),
    ):
        drawn = [ax for ax in fig.axes if ax.axison]
        assert [ax.get_title() for ax in drawn] == list(names)
        assert len(fig.axes) == 4 and not fig.axes[3].axison  # 2 x 2 grid, last panel unused
        if kind == "rdm":  # one 6 x 6 heatmap per RDM
            assert [ax.images[0].get_array().shape for ax in drawn] == [(6, 6)] * 3
        else:  # one point per stimulus, one scatter per category
            assert [sum(len(c.get_offsets()) for c in ax.collections) for ax in drawn] == [6] * 3
        pixels = _png(save_figure(fig, tmp_path / f"{kind}.png", dpi=50))
        assert pixels.shape[:2] == (round(inches * 50), round(inches * 50))  # dpi honoured
        assert pixels.std() > 0  # not a blank canvas
        assert not plt.fignum_exists(fig.number)
    table = pd.DataFrame(
        {
            "model": "m",
            "subject": ["s1", "s1"],
            "roi": "V1",
            "layer": ["conv1", "conv2"],
            "r": [0.5, 0.2],
            "ci_low": [0.4, 0.1],
            "ci_high": [0.6, 0.3],
            "nc_lower": [0.7, 0.7],
            "nc_upper": [0.8, 0.8],
            "q": [0.01, 0.3],
        }
    )
    truth = pd.DataFrame({"region": ["V1"], "layer": ["conv1"]})
    fig = plot_rsa_profiles(table, {"m": ["conv1", "conv2"]}, truth)
    ax = fig.axes[0]
    assert ax.get_title() == "m – V1"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "conv2"]
    profile, stars = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(profile.get_ydata(), [0.5, 0.2])
    np.testing.assert_allclose(stars.get_ydata(), [0.5])  # only q < 0.05 is starred
    driving = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(driving) == 1 and driving[0].get_xdata()[0] == 0  # conv1 drives V1
    assert ax.patches[0].get_label() == "noise ceiling"
    assert _png(save_figure(fig, tmp_path / "p.png")).std() > 0


def test_second_level_figure_draws_the_tables():
    layers, rois, weights = ["a", "b", "c"], ["V1", "V4"], [0.0, 0.2, 0.7]
    rows = []
    for roi in rois:
        for i, layer in enumerate(layers):
            rows.append(("s1", "m", roi, layer, "layer", layer, 0.5 + 0.1 * i, np.nan))
            mixed = ("s1", "m", roi, "reweighted", "reweighted_layers", layer, 0.8, weights[i])
            rows.append(mixed)
    columns = ["subject", "model", "roi", "model_rdm", "kind", "layer", "cv_r", "weight"]
    reweighting = pd.DataFrame(rows, columns=columns).assign(method="spearman")
    partition = pd.DataFrame(
        [
            ("m", roi, "s1", "a+c", comp, n, r2)
            for roi in rois
            for comp, n, r2 in (("a", 1, 0.1), ("c", 1, 0.3), ("a&c", 2, 0.2), ("total", 0, 0.6))
        ],
        columns=["model", "roi", "subject", "layers", "component", "n_shared", "r2"],
    )
    truth = pd.DataFrame({"region": ["V1"], "layer": ["c"]})
    fig = plot_second_level("m", layers, rois, reweighting, partition, truth)
    axes = np.array(fig.axes).reshape(3, 2)
    np.testing.assert_allclose([p.get_height() for p in axes[1, 0].patches], weights)
    bars = [p.get_height() for p in axes[2, 1].patches]  # unique a, unique c, shared, total
    np.testing.assert_allclose(bars, [0.1, 0.3, 0.2, 0.6])
    assert [line.get_xdata()[0] for line in axes[0, 0].lines if line.get_linestyle() == ":"] == [2]
    without = plot_second_level("m", layers, rois, reweighting)
    assert len(without.axes) == 2 * 2
