"""Reported score (per-fold mean, pooled, metric), scale-aware alphas, test-label permutations
of the reported score, summary and maps of the family-wise correction."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from dnnmap.encoding.cross_validation import fold_mean
from dnnmap.encoding.kernel_ridge import KernelRidgeCV
from dnnmap.encoding.maps import encoding_maps
from dnnmap.encoding.permutation import label_permutation_test
from dnnmap.encoding.ridge import RidgeCV, cross_validated_encoding
from dnnmap.encoding.summary import summarize_encoding
from dnnmap.stats.metrics import pearson_r, r2_score, signed_sqrt_r2
from dnnmap.stats.permutations import permutations
from dnnmap.store import write_h5

ALPHAS = np.logspace(-3, 3, 7)


def _problem(n=60, p=8, v=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * 7.0
    Y = X @ rng.standard_normal((p, v)) * [0.0, 0.05, 0.1, 0.2, 0.5][:v] + rng.standard_normal(
        (n, v)
    )
    return X, Y


@pytest.mark.parametrize("score", ["r", "r2", "signed_sqrt_r2"])
def test_score_is_the_mean_of_per_fold_scores(score):
    X, Y = _problem()
    res = cross_validated_encoding(X, Y, ALPHAS, n_folds=4, seed=1, inner_cv=3, score=score)
    f = {"r": pearson_r, "r2": r2_score, "signed_sqrt_r2": signed_sqrt_r2}[score]
    for k in range(4):
        te = res.folds == k
        np.testing.assert_allclose(res.fold_scores[k], f(Y[te], res.predictions[te]), rtol=1e-6)
    np.testing.assert_allclose(res.score, res.fold_scores.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(res.score_pooled, pearson_r(Y, res.predictions), rtol=1e-6)
    pooled = cross_validated_encoding(
        X, Y, ALPHAS, n_folds=4, seed=1, inner_cv=3, score=score, pooling="pooled"
    )
    np.testing.assert_allclose(pooled.score, f(Y, pooled.predictions), rtol=1e-6)
    assert np.isnan(fold_mean(np.full((3, 2), np.nan))).all()


def test_relative_alphas_equal_absolute_alphas_times_the_gram_scale():
    X, Y = _problem(seed=2)
    Xc = X - X.mean(axis=0)
    scale = (Xc**2).sum() / X.shape[0]  # mean eigenvalue of the centered Gram matrix
    rel = RidgeCV(ALPHAS, cv=4, alpha_scale="relative", device="numpy").fit(X, Y)
    ab = RidgeCV(ALPHAS * scale, cv=4, alpha_scale="absolute", device="numpy").fit(X, Y)
    np.testing.assert_allclose(rel.coef_, ab.coef_, rtol=1e-10)
    np.testing.assert_allclose(rel.alpha_ * scale, ab.alpha_, rtol=1e-12)
    for j in range(Y.shape[1]):  # scikit-learn with the same penalty
        sk = Ridge(alpha=rel.alpha_[j] * scale).fit(X, Y[:, j])
        np.testing.assert_allclose(rel.coef_[:, j], sk.coef_, rtol=1e-8, atol=1e-10)
    # the relative grid does not depend on the units of the features
    big = RidgeCV(ALPHAS, cv=4, alpha_scale="relative", device="numpy").fit(X * 1000.0, Y)
    np.testing.assert_array_equal(big.alpha_, rel.alpha_)
    np.testing.assert_allclose(big.predict(X * 1000.0), rel.predict(X), rtol=1e-8, atol=1e-10)
    kr = KernelRidgeCV(ALPHAS, cv=4, alpha_scale="relative", device="numpy").fit(X, Y)
    np.testing.assert_array_equal(kr.alpha_, rel.alpha_)
    np.testing.assert_allclose(kr.predict(X), rel.predict(X), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("pooling", ["folds", "pooled"])
@pytest.mark.parametrize("metric", ["r", "r2", "signed_sqrt_r2"])
def test_test_label_null_is_the_reported_score_of_permuted_responses(metric, pooling):
    X, Y = _problem(n=40, seed=3)
    res = cross_validated_encoding(
        X, Y, ALPHAS, n_folds=4, seed=0, inner_cv=3, score=metric, pooling=pooling
    )
    blocks = np.tile([0, 1], 20)
    perm = label_permutation_test(
        res.predictions,
        Y,
        6,
        3,
        folds=res.folds,
        groups=blocks,
        metric=metric,
        pooling=pooling,
        dtype=np.float64,
        keep_null=True,
    )
    np.testing.assert_allclose(perm.observed, res.score, rtol=1e-9, atol=1e-12)
    cells = res.folds * 2 + blocks
    f = {"r": pearson_r, "r2": r2_score, "signed_sqrt_r2": signed_sqrt_r2}[metric]
    for b, order in enumerate(permutations(40, 6, 3, groups=cells)):
        assert (cells[order] == cells).all()  # within test folds and blocks
        Yp = Y[order]
        if pooling == "pooled":
            expected = f(Yp, res.predictions)
        else:
            expected = np.mean(
                [f(Yp[res.folds == k], res.predictions[res.folds == k]) for k in range(4)], 0
            )
        np.testing.assert_allclose(perm.null[b], expected, rtol=1e-9, atol=1e-12)


def _file(path, index, score, null_max, alpha_edge):
    write_h5(
        path,
        {
            "index": np.asarray(index),
            "score": np.asarray(score, dtype=np.float32),
            "r2": np.asarray(score, dtype=np.float32),
            "score_pooled": np.asarray(score, dtype=np.float32) - 0.1,
            "pvalue_fwe": np.full(len(index), 0.5),
            "null_max": np.asarray(null_max),
            "alpha_edge": np.asarray(alpha_edge),
        },
        attrs={"permutation": '{"n_perm": 4, "seed": 0, "kind": "refit", "tail": "greater"}'},
    )
    with h5py.File(path, "r") as f:
        assert "null_max" in f


def test_summary_and_best_layer_maps_use_the_family(tmp_path):
    # two layers x one ROI of grayordinates 0..2; family null maxima 0.3, 0.2, 0.6, 0.1
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    _file(a, [0, 1, 2], [0.7, 0.5, 0.2], [0.3, 0.2, 0.1, 0.1], [True, False, False])
    _file(b, [0, 1, 2], [0.8, 0.1, 0.3], [0.1, 0.1, 0.6, 0.0], [False, False, False])
    keys = [
        {"model": "m", "layer": "l1", "subject": "s", "roi": "R"},
        {"model": "m", "layer": "l2", "subject": "s", "roi": "R"},
    ]
    table = summarize_encoding([str(a), str(b)], keys)
    # p_family = (1 + #{family max >= score}) / 5: 0.7 -> 0.2, 0.8 -> 0.2, 0.5 -> 0.4 ...
    assert list(table["n_alpha_edge"]) == [1, 0]
    np.testing.assert_allclose(table["median_r_pooled"], [0.4, 0.2], atol=1e-6)
    assert table["frac_fwe_family_05"].isna().sum() == 0
    np.testing.assert_allclose(table["frac_fwe_family_05"], [0.0, 0.0])
    data, _ = encoding_maps([str(a), str(b)], ["l1", "l2"], ["R"], 4, best_layer_fwe=0.25)
    # family p <= 0.2 for 0.7 (l1) and 0.8 (l2) at grayordinate 0 only
    np.testing.assert_array_equal(data[-1], [2, 0, 0, 0])
    data, _ = encoding_maps([str(a), str(b)], ["l1", "l2"], ["R"], 4)
    np.testing.assert_array_equal(data[-1], [2, 1, 2, 0])
