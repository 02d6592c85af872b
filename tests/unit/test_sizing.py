"""Tests of the workflow job sizes in dnnmap.sizing: closed forms, growth with the retry
attempt, and the demo's sizes (150 stimuli, AlexNet, 100 PCA components) as the workflow
requested them before the formulas moved out of the rules."""

from __future__ import annotations

import math

import pytest

from dnnmap.brain.cifti import FSLR32K_CORTEX, FSLR32K_GRAYORDINATES
from dnnmap.sizing import (
    DEFAULT_RESIZE,
    PYTHON_BASE_MB,
    brain_mem_mb,
    decoding_mem_mb,
    decoding_runtime_min,
    encoding_runtime_min,
    feature_width,
    features_mem_mb,
    features_runtime_min,
    layer_units,
    pca_mem_mb,
    randomized_pca_mem_mb,
)

N_STIM = 150  # the demo's stimuli


def test_grayordinates_are_cortex_and_subcortex():
    assert sum(FSLR32K_CORTEX.values()) == 59412
    assert FSLR32K_GRAYORDINATES == 59412 + 31870 == 91282


def test_default_resize_is_the_preprocessing_default():
    from dnnmap.models.build import Preprocessing

    assert Preprocessing().resize == DEFAULT_RESIZE == 224


@pytest.mark.parametrize("layer", ["conv1", "conv5", "fc6"])
def test_features_mem_mb_is_pca_mem_at_the_layer_size(layer):
    units = layer_units("alexnet", [layer], DEFAULT_RESIZE)[layer]
    for attempt in (1, 2, 3):
        assert features_mem_mb(N_STIM, "alexnet", layer, DEFAULT_RESIZE, attempt) == pca_mem_mb(
            N_STIM, units, attempt=attempt
        )
    # layer1 of a ResNet-18 at 128 pixels (65,536 units), 150 stimuli, by hand: the Gram
    # matrix three times and a float32 slab of 8,192 columns (1 MB chunks of 32 stimuli)
    # as stored and in float64.
    work = 3 * 8 * 150**2 + (4 + 8) * 150 * 8192
    want = math.ceil((PYTHON_BASE_MB + work / 1e6) * 1.2)
    assert features_mem_mb(N_STIM, "resnet18", "layer1", 128) == want


def test_features_at_nsd_scale_stay_within_a_32_gb_job():
    """Issue 15: 73,000 stimuli, ResNet-18 layer1 of 802,816 units (448 px input). The exact
    route asked for 163 GB; auto now takes the randomized solver, or an exact PCA of a
    subset."""
    n, units = 73000, layer_units("resnet18", ["layer1"], 448)["layer1"]
    assert units == 802816
    exact = pca_mem_mb(n, units)
    assert exact > 100_000
    auto = features_mem_mb(n, "resnet18", "layer1", 448, method="pca", fit="all")
    assert auto == randomized_pca_mem_mb(n, units, 100) and auto < 32_000
    subset = features_mem_mb(
        n, "resnet18", "layer1", 448, method="pca", fit="all", solver="exact", max_fit=10000
    )
    assert subset < 32_000
    assert features_runtime_min(n, units, 100, "auto") < features_runtime_min(
        n, units, 100, "exact"
    )


def test_decoding_mem_mb_closed_form_and_demo():
    for n_stim, n_columns, attempt in [(150, 100, 1), (1000, 5000, 2), (40, 3, 3)]:
        expected = math.ceil(PYTHON_BASE_MB + 6 * 8 * n_stim * n_columns / 1e6) * attempt
        assert decoding_mem_mb(n_stim, n_columns, attempt) == expected
    assert decoding_mem_mb(N_STIM, 100) == PYTHON_BASE_MB + 1  # decode: 100 PCA components
    assert decoding_mem_mb(N_STIM, 10_000) < decoding_mem_mb(N_STIM, 10_000, attempt=2)


def test_decoding_runtime_min_closed_form_and_demo():
    # The demo: 20 permutations, 5 outer folds, 3 penalties, 3 inner folds.
    fits = 21 * 5 * 3 * 3
    assert decoding_runtime_min(N_STIM, 20, 5, 3, 3) == 10 + math.ceil(fits * 0.05 / 60) == 11
    # Below 150 stimuli a fit takes no less; above, time grows linearly with the stimuli.
    assert decoding_runtime_min(50, 999, 5, 3, 3) == decoding_runtime_min(150, 999, 5, 3, 3)
    many = decoding_runtime_min(600, 999, 5, 3, 3) - 10
    assert many == math.ceil(1000 * 45 * 0.05 * 4 / 60)
    assert decoding_runtime_min(N_STIM, 0, 5, 3, 3) <= decoding_runtime_min(N_STIM, 20, 5, 3, 3)


def test_brain_mem_mb_closed_form_and_demo():
    # simulate_brain, extract_roi: 110 MB of responses (150 x 91,282, float32, twice)
    assert brain_mem_mb(N_STIM, FSLR32K_GRAYORDINATES) == PYTHON_BASE_MB + 110
    for attempt in (1, 2, 3):
        expected = math.ceil(PYTHON_BASE_MB + 2 * 4 * N_STIM * 91282 / 1e6) * attempt
        assert brain_mem_mb(N_STIM, FSLR32K_GRAYORDINATES, attempt) == expected
    assert brain_mem_mb(2000, 59412) < brain_mem_mb(2000, 91282)


def test_encoding_runtime_grows_with_refit_permutations():
    base = encoding_runtime_min(150, 1618)
    assert base == 5 + math.ceil(150 * 1618 / 2e7)
    assert encoding_runtime_min(150, 1618, 100) == 5 + math.ceil(150 * 1618 * 101 / 2e7)
    assert encoding_runtime_min(150, 1618, 100) > base


def test_features_mem_mb_of_every_unit_adds_the_lossless_basis_of_a_wide_layer():
    """``none``: the layer read and written in float32; a layer at least as wide as the
    stimuli is read once and its lossless basis needs a float64 copy and the Gram matrix."""
    n, units = 150, 64 * 55 * 55  # AlexNet conv1 at 224 pixels
    work = 4 * n * units + 8 * n * units + 3 * 8 * n * n
    want = math.ceil((PYTHON_BASE_MB + work / 1e6) * 1.2)
    assert features_mem_mb(n, "alexnet", "conv1", 224, method="none") == want
    narrow = math.ceil((PYTHON_BASE_MB + 2 * 4 * 5000 * 1000 / 1e6) * 1.2)  # fc8: 1,000 units
    assert features_mem_mb(5000, "alexnet", "fc8", 224, method="none") == narrow


def test_feature_width_of_ridge_type_jobs_is_the_lossless_basis_of_a_wide_layer():
    """Ridge-type jobs (compact) read n - 1 columns of a layer of every unit wider than the
    stimuli; other jobs read every unit; PCA widths do not depend on compact."""
    assert feature_width("none", "none", 100, 1000, 193_600) == 193_600
    assert feature_width("none", "none", 100, 1000, 193_600, compact=True) == 999
    assert feature_width("none", "none", 100, 5000, 1000, compact=True) == 1000
    for compact in (False, True):
        assert feature_width("pca", "all", 100, 1000, 193_600, compact) == 100
        assert feature_width("pca", "train", 100, 1000, 193_600, compact) == 999


def test_encoding_mem_mb_counts_refit_permutations_as_batches_of_permuted_copies():
    """Refit permutations fit the permuted copies of the ROI batch by batch: a batch may be
    wider than the ROI (but keeps no predictions), and the permutations and the running sums
    per copy are added; the whole-ROI arrays stay those of the ROI (by hand)."""
    from dnnmap.sizing import REFIT_BYTES_PER_COLUMN, encoding_mem_mb

    n, v, width, batch = 1000, 2000, 999, 10000
    refit = 8 * n * 20 + REFIT_BYTES_PER_COLUMN["folds"] * v * 21
    want = 4 * n * v * 4 + 3 * 8 * n * batch + 8 * 8 * n * width + refit
    assert encoding_mem_mb(n, width, v, batch, n_refits=20) == math.ceil(
        (PYTHON_BASE_MB + want / 1e6) * 1.2
    )
    pooled = want + (REFIT_BYTES_PER_COLUMN["pooled"] - REFIT_BYTES_PER_COLUMN["folds"]) * v * 21
    assert encoding_mem_mb(n, width, v, batch, n_refits=20, pooling="pooled") == math.ceil(
        (PYTHON_BASE_MB + pooled / 1e6) * 1.2
    )
    plain = 4 * n * v * 4 + 5 * 8 * n * v + 8 * 8 * n * width
    assert encoding_mem_mb(n, width, v, batch) == math.ceil((PYTHON_BASE_MB + plain / 1e6) * 1.2)
