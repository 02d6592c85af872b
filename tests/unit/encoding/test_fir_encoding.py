"""Time-series encoding with folds grouped by run (dnnmap.encoding.fir): scikit-learn's Ridge
on each leave-one-run-out split as the reference, recovery of an HRF-convolved read-out, and
the circular-shift null's type-I error on autocorrelated noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.linear_model import Ridge

from dnnmap.brain.fir import delay_within_runs, zscore_within_runs
from dnnmap.encoding.fir import (
    circular_shift_null,
    encode_timeseries,
    inner_groups,
    run_splits,
    shifted_order,
)
from dnnmap.errors import InputError

ALPHAS = [0.1, 1.0, 10.0, 100.0, 1000.0]


def _ar1(rng, n, v, phi=0.8):
    """(n, v) AR(1) noise: slow, autocorrelated like BOLD noise."""
    e = rng.standard_normal((n, v))
    out = np.empty_like(e)
    out[0] = e[0]
    for t in range(1, n):
        out[t] = phi * out[t - 1] + e[t]
    return out


def _hrf_data(rng, n_runs=4, n_tr=100, p=6, v_signal=20, v_noise=20):
    """Smooth stimulus features, a response that is their HRF-convolved read-out plus AR(1)
    noise in the first ``v_signal`` voxels, and AR(1) noise alone in the rest."""
    from nilearn.glm.first_level import glover_hrf

    runs = np.repeat(np.arange(n_runs), n_tr)
    F = np.repeat(rng.standard_normal((runs.size // 4, p)), 4, axis=0)  # 4-TR stimuli
    hrf = glover_hrf(t_r=2.0, oversampling=1, time_length=20.0)
    W = rng.standard_normal((p, v_signal))
    Y = _ar1(rng, runs.size, v_signal + v_noise)
    for r in range(n_runs):
        rows = runs == r
        drive = np.apply_along_axis(lambda x: np.convolve(x, hrf)[: x.size], 0, F[rows] @ W)
        drive /= drive.std(axis=0)
        Y[rows, :v_signal] = 2.0 * drive + Y[rows, :v_signal] / Y[rows, :v_signal].std(0)
    X = delay_within_runs(zscore_within_runs(F, runs), runs, [1, 2, 3, 4])
    return X, Y, runs


def test_run_splits_leave_one_run_out_and_grouped_folds():
    runs = np.repeat([0, 1, 2], 10)
    splits = run_splits(runs, n_folds=5)
    assert len(splits) == 3 and splits.params["leave_one_group_out"]
    for test in splits.test:
        assert np.unique(runs[test]).size == 1 and test.size == 10
    splits = run_splits(np.repeat(np.arange(6), 5), n_folds=3)
    assert len(splits) == 3
    for test in splits.test:
        assert set(np.unique(np.repeat(np.arange(6), 5)[test])).__len__() == 2
    with pytest.raises(InputError, match="expected at least 2 runs"):
        run_splits(np.zeros(10))


def test_predictions_equal_sklearn_ridge_per_held_out_run():
    """One alpha: each held-out run's predictions are sklearn's Ridge fitted on the other
    runs' TRs (data z-scored within run), and each fold score is scipy's pearsonr."""
    rng = np.random.default_rng(0)
    X, Y, runs = _hrf_data(rng, n_runs=3, n_tr=60, v_signal=5, v_noise=3)
    result, splits = encode_timeseries(
        X, Y, runs, alphas=[7.0], alpha_scale="absolute", inner_folds=2
    )
    Yz = zscore_within_runs(Y, runs)
    for s, (train, test) in enumerate(zip(splits.train, splits.test, strict=True)):
        ref = Ridge(alpha=7.0).fit(X[train], Yz[train]).predict(X[test])
        np.testing.assert_allclose(result.predictions[test], ref, atol=2e-4)
        for j in range(Y.shape[1]):
            r = pearsonr(Yz[test, j], ref[:, j])[0]
            assert result.fold_scores[s, j] == pytest.approx(r, abs=1e-4)
    np.testing.assert_allclose(result.score, result.fold_scores.mean(0), atol=1e-6)


def test_recovers_the_read_out_and_gives_zero_on_noise():
    rng = np.random.default_rng(1)
    X, Y, runs = _hrf_data(rng)
    result, splits = encode_timeseries(X, Y, runs, alphas=ALPHAS, inner_folds=3)
    assert len(splits) == 4
    assert np.median(result.score[:20]) > 0.6
    assert abs(np.median(result.score[20:])) < 0.1


def test_two_runs_use_contiguous_blocks_inside_the_training_run():
    runs = np.repeat([0, 1], 12)
    train = np.arange(12, 24)
    groups = inner_groups(runs, train, 3)
    assert groups[train].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert (
        inner_groups(np.repeat([0, 1, 2], 4), np.arange(8), 3).tolist()
        == [0] * 4 + [1] * 4 + [2] * 4
    )
    rng = np.random.default_rng(4)
    X, Y, runs = _hrf_data(rng, n_runs=2, n_tr=120)
    result, splits = encode_timeseries(X, Y, runs, alphas=ALPHAS, inner_folds=3)
    assert len(splits) == 2 and np.median(result.score[:20]) > 0.5


def test_shifted_order_stays_in_each_run():
    runs = np.repeat([0, 1, 2], [20, 30, 25])
    order = shifted_order(runs, np.random.default_rng(0), 3)
    assert (runs[order] == runs).all() and sorted(order) == list(range(runs.size))
    for r in range(3):
        rows = np.flatnonzero(runs == r)
        shift = (order[rows][0] - rows[0]) % rows.size
        assert 3 <= shift <= rows.size - 3
        np.testing.assert_array_equal(order[rows], rows[(np.arange(rows.size) + shift) % rows.size])


def test_circular_shift_null_type_one_error_on_autocorrelated_noise():
    """Pure AR(1) noise (phi 0.8) against smooth features: the fraction of voxels with
    p < 0.05 stays inside the binomial 99.9% interval of 0.05 over 200 voxels (shifting
    only the held-out predictions, without refits, gave 0.16 on 300 voxels; with refits
    four other seeds gave 0.040-0.057 at 0.05 and 0.09-0.12 at 0.10, 100 shifts each); the
    signal voxels are all significant."""
    from scipy.stats import binom

    rng = np.random.default_rng(2)
    X, Y, runs = _hrf_data(rng, v_signal=10, v_noise=200)
    result, _ = encode_timeseries(X, Y, runs, alphas=ALPHAS, inner_folds=3)
    null = circular_shift_null(
        X, Y, runs, result.score, n_perm=100, seed=0, alphas=ALPHAS, inner_folds=3
    )
    assert null.null.shape == (100, 210) and null.null_max.shape == (100,)
    rate = np.mean(null.pvalue[10:] < 0.05)
    low, high = binom.interval(0.999, 200, 0.05)
    assert low / 200 <= rate <= high / 200, rate
    assert (null.pvalue[:10] < 0.01).all() and (null.pvalue_fwe[:10] < 0.05).all()


def test_stimulus_features_of_a_per_fold_file_are_the_pca_of_all_stimuli(tmp_path):
    """A features file fitted per split (fit: train, its lossless basis) gives the first
    n_components columns of the basis: sklearn's PCA of every stimulus, up to signs; a file
    of fixed features gives them as stored."""
    from sklearn.decomposition import PCA

    from dnnmap.encoding.fir import stimulus_features
    from dnnmap.features.folds import lossless_basis
    from dnnmap.store import write_h5

    rng = np.random.default_rng(5)
    acts = rng.standard_normal((12, 40)) @ np.diag(np.linspace(3, 0.1, 40))
    ids = [f"s{i}" for i in range(12)]
    attrs = {"method": "pca", "fit": "train", "n_components": 3, "fitted_on": "training rows"}
    basis = lossless_basis(acts)
    write_h5(tmp_path / "f.h5", {"basis": basis, "features": basis[:, :3]}, attrs, stim_id=ids)
    got, summary = stimulus_features(str(tmp_path / "f.h5"), ids, "table")
    ref = PCA(3).fit_transform(acts)
    np.testing.assert_allclose(np.abs(got), np.abs(ref), atol=1e-8)
    assert summary["features_fit"] == "all" and summary["features_n_components"] == 3
    fixed = {"method": "none", "fit": "all"}
    write_h5(tmp_path / "g.h5", {"features": acts}, fixed, stim_id=ids)
    got, summary = stimulus_features(str(tmp_path / "g.h5"), ids, "table")
    np.testing.assert_array_equal(got, acts)
    with pytest.raises(InputError):
        stimulus_features(str(tmp_path / "g.h5"), ids[::-1], "table")


def test_circular_shift_null_equals_one_encoding_per_shift(ridge_plans):
    """The shifted copies ride in one pass over the folds (one decomposition plan per fold for
    every shift), and each shift's null score equals encode_timeseries run on the data in that
    shift's row order; a masked (constant) voxel stays NaN."""
    rng = np.random.default_rng(6)
    X, Y, runs = _hrf_data(rng, n_runs=3, n_tr=60, v_signal=4, v_noise=4)
    Y[:, 5] = 1.0
    result, splits = encode_timeseries(X, Y, runs, alphas=ALPHAS, inner_folds=2)
    n_plans = len(ridge_plans)
    null = circular_shift_null(
        X, Y, runs, result.score, n_perm=6, seed=3, chunk=10, alphas=ALPHAS, inner_folds=2
    )
    assert len(ridge_plans) - n_plans == len(splits) == 3
    draw = np.random.default_rng(3)
    min_shift = 6  # a tenth of the shortest run
    for b in range(6):
        order = shifted_order(runs, draw, min_shift)
        ref, _ = encode_timeseries(X, Y[order], runs, alphas=ALPHAS, inner_folds=2)
        np.testing.assert_allclose(null.null[b], ref.score, rtol=1e-6, atol=1e-7)
    assert np.isnan(null.null[:, 5]).all() and np.isnan(null.pvalue[5])
