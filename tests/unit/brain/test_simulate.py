"""Tests for dnnmap.brain.simulate: the simulated brain with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dnnmap.brain.atlas import mmp_atlas, resolve_roi
from dnnmap.brain.cifti import fslr32k_brain_models
from dnnmap.brain.simulate import simulate_responses
from dnnmap.errors import InputError

N_STIM = 200


@pytest.fixture(scope="module")
def bm():
    return fslr32k_brain_models()


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(123)
    # Columns with different scales and offsets, like PCA scores of different layers.
    return {
        "conv1": rng.standard_normal((N_STIM, 12)) * np.linspace(5, 1, 12) + 3.0,
        "fc": rng.standard_normal((N_STIM, 6)) * 10.0,
    }


REGIONS = {
    "early": {"labels": ["V1"], "layer": "conv1"},
    "ventral": {"labels": ["FFC", "PH"], "layer": "fc", "snr": 2.0},
}


def _noise_free(regions):
    return {name: dict(spec, snr=np.inf) for name, spec in regions.items()}


def _z(x):
    return (x - x.mean(axis=0)) / x.std(axis=0)


def test_shapes_zeros_and_truth(bm, features):
    data, truth, _ = simulate_responses(features, REGIONS, bm, mmp_atlas(), snr=4.0, seed=1)
    assert data.shape == (N_STIM, len(bm))
    assert data.dtype == np.float32
    atlas = mmp_atlas()
    early = resolve_roi("early", ["V1"], atlas)
    ventral = resolve_roi("ventral", ["FFC", "PH"], atlas)
    inside = np.zeros(len(bm), dtype=bool)
    inside[early] = inside[ventral] = True
    assert (data[:, ~inside] == 0).all()
    assert (data[:, inside].std(axis=0) > 0).all()

    assert list(truth.columns) == [
        "region",
        "layer",
        "labels",
        "n_vox",
        "n_features",
        "snr",
        "expected_r",
    ]
    assert truth["region"].tolist() == ["early", "ventral"]
    assert truth["layer"].tolist() == ["conv1", "fc"]
    assert truth["labels"].tolist() == ["V1", "FFC+PH"]
    assert truth["n_vox"].tolist() == [early.size, ventral.size]
    assert truth["n_features"].tolist() == [12, 6]
    assert truth["snr"].tolist() == [4.0, 2.0]
    np.testing.assert_allclose(truth["expected_r"], [math.sqrt(4 / 5), math.sqrt(2 / 3)])


def test_deterministic_by_seed(bm, features):
    a, _, _ = simulate_responses(features, REGIONS, bm, snr=1.0, seed=7)
    b, _, _ = simulate_responses(features, REGIONS, bm, snr=1.0, seed=7)
    c, _, _ = simulate_responses(features, REGIONS, bm, snr=1.0, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_free_signal_is_linear_in_the_driving_layer(bm, features):
    data, truth, _ = simulate_responses(features, _noise_free(REGIONS), bm, seed=3)
    assert truth["snr"].tolist() == [np.inf, np.inf]
    assert truth["expected_r"].tolist() == [1.0, 1.0]
    atlas = mmp_atlas()
    for region, spec in REGIONS.items():
        y = data[:, resolve_roi(region, spec["labels"], atlas)].astype(np.float64)
        np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(y.var(axis=0), 1, rtol=1e-5)  # unit signal variance
        for layer, x in features.items():
            z = np.column_stack([np.ones(N_STIM), _z(x)])
            coef, *_ = np.linalg.lstsq(z, y, rcond=None)
            resid = (y - z @ coef).var(axis=0)
            if layer == spec["layer"]:
                assert resid.max() < 1e-10  # exact, up to float32 rounding
            else:
                assert resid.mean() > 0.5  # the other layer does not explain it


def test_empirical_snr(bm, features):
    signal, _, _ = simulate_responses(features, _noise_free(REGIONS), bm, seed=5)
    noisy, truth, _ = simulate_responses(features, REGIONS, bm, snr=4.0, seed=5)
    atlas = mmp_atlas()
    for (region, spec), row in zip(REGIONS.items(), truth.itertuples(), strict=True):
        vox = resolve_roi(region, spec["labels"], atlas)
        s = signal[:, vox].astype(np.float64)
        n = noisy[:, vox].astype(np.float64) - s
        assert s.size > 50_000
        assert s.var() / n.var() == pytest.approx(row.snr, rel=0.03)
        # The correlation of a response with its true signal is expected_r.
        y = s + n
        r = np.mean(_z(y) * _z(s), axis=0)
        assert r.mean() == pytest.approx(row.expected_r, abs=0.01)


def test_overlapping_regions(bm, features):
    regions = {
        "a": {"labels": ["V2", "V1"], "layer": "conv1"},
        "b": {"labels": ["L_V1"], "layer": "fc"},
    }
    with pytest.raises(InputError, match="regions 'a' and 'b' share 831 grayordinates"):
        simulate_responses(features, regions, bm, seed=0)


@pytest.mark.parametrize(
    ("regions", "kwargs", "match"),
    [
        ({"r": {"labels": ["V1"], "layer": "fc8"}}, {}, "layer 'fc8' not in features"),
        ({"r": {"labels": ["V1"], "layr": "fc"}}, {}, "unknown keys \\['layr'\\]"),
        ({"r": {"layer": "fc"}}, {}, "no 'labels'"),
        ({"r": {"labels": ["V99"], "layer": "fc"}}, {}, "unknown HCP-MMP 1.0 label 'V99'"),
        ({"r": {"labels": ["V1"], "layer": "fc", "snr": 0}}, {}, "snr is 0"),
        ({"r": {"labels": ["V1"], "layer": "fc"}}, {"snr": float("nan")}, "snr is nan"),
        ({"r": {"labels": ["V1"], "layer": "fc"}}, {"seed": -1}, "seed is -1"),
        ({}, {}, "regions: none given"),
    ],
)
def test_bad_config(bm, features, regions, kwargs, match):
    with pytest.raises(InputError, match=match):
        simulate_responses(features, regions, bm, **kwargs)


def test_bad_features(bm, features):
    regions = {"r": {"labels": ["V1"], "layer": "fc"}}
    flat = dict(features, fc=np.ones((N_STIM, 3)))
    with pytest.raises(InputError, match="features\\['fc'\\]: column 0 is constant"):
        simulate_responses(flat, regions, bm)
    short = dict(features, fc=features["fc"][:10])
    with pytest.raises(InputError, match="features\\['fc'\\]: 10 stimuli; expected 200"):
        simulate_responses(short, regions, bm)
    with pytest.raises(InputError, match="expected \\(n_stim >= 2, k >= 1\\)"):
        simulate_responses(dict(features, fc=np.ones(N_STIM)), regions, bm)


def test_other_grayordinates(features):
    """Output on a cortex + subcortex axis: regions land on the right columns."""
    from nibabel.cifti2 import BrainModelAxis

    mask = np.zeros((3, 3, 3), dtype=bool)
    mask[1, 1, :] = True
    vol = BrainModelAxis.from_mask(mask, name="thalamus_right", affine=np.eye(4))
    axis = vol + fslr32k_brain_models()
    regions = {"early": REGIONS["early"]}
    data, _, _ = simulate_responses(features, regions, axis, snr=np.inf, seed=2)
    ref, _, _ = simulate_responses(features, regions, fslr32k_brain_models(), snr=np.inf, seed=2)
    assert data.shape == (N_STIM, len(axis))
    assert (data[:, :3] == 0).all()
    np.testing.assert_array_equal(data[:, 3:], ref)


def test_n_components_reads_out_the_leading_columns_only(bm, features):
    """With n_components=m the signal lies in the span of the first m z-scored columns."""
    m = 4
    data, truth, _ = simulate_responses(
        features, _noise_free(REGIONS), bm, mmp_atlas(), seed=3, n_components=m
    )
    vox = resolve_roi("early", ["V1"], mmp_atlas())
    signal = data[:, vox].astype(np.float64)
    for cols, exact in ((slice(0, m), True), (slice(m, None), False)):
        Z = np.column_stack([np.ones(N_STIM), _z(features["conv1"][:, cols])])
        coef, *_ = np.linalg.lstsq(Z, signal, rcond=None)
        residual = np.abs(signal - Z @ coef).max()
        assert (residual < 1e-4) == exact, residual
    assert list(truth["n_features"]) == [m, m]


def test_repeats_average_to_responses_at_the_same_snr(bm, features):
    signal, _, none = simulate_responses(features, _noise_free(REGIONS), bm, seed=5)
    assert none is None
    data, truth, repeats = simulate_responses(features, REGIONS, bm, snr=4.0, seed=5, n_repeats=3)
    assert repeats.shape == (3, *data.shape)
    np.testing.assert_allclose(repeats.mean(axis=0), data, atol=1e-5)
    atlas = mmp_atlas()
    for (region, spec), row in zip(REGIONS.items(), truth.itertuples(), strict=True):
        vox = resolve_roi(region, spec["labels"], atlas)
        s = signal[:, vox].astype(np.float64)
        # The mean keeps the SNR; each repeat has n_repeats times the noise variance.
        assert s.var() / (data[:, vox] - s).var() == pytest.approx(row.snr, rel=0.05)
        assert s.var() / (repeats[0][:, vox] - s).var() == pytest.approx(row.snr / 3, rel=0.05)


@pytest.mark.parametrize("n_repeats", [0, 1.5, True])
def test_bad_n_repeats(bm, features, n_repeats):
    with pytest.raises(InputError, match="n_repeats is"):
        simulate_responses(features, REGIONS, bm, n_repeats=n_repeats)
