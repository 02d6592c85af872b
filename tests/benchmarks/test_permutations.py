"""Benchmarks of permutation tests of encoding accuracy (``make bench``, not CI).

``label_permutations``: 1,000 test-label permutations of out-of-fold predictions
(:func:`dnnmap.encoding.permutation.label_permutation_test`) against one cross-validated fit of the
same data (:func:`dnnmap.encoding.ridge.cross_validated_encoding`, 5 outer folds, default inner CV):
a permutation test should cost about as much as the fit it tests (target ratio <= 2).

``full_refit_permutations``: 100 full-refit permutations of a 500-voxel ROI, dnnmap's extra
target columns (:func:`dnnmap.encoding.permutation.refit_permutation_test`) against refitting
scikit-learn's ``RidgeCV(alphas, alpha_per_target=True)`` per outer fold and permutation.
scikit-learn allows one alpha per target only with its efficient leave-one-out (``cv=None``;
``cv=KFold`` raises "cv!=None and alpha_per_target=True are incompatible"), so both sides
select alphas by exact leave-one-out (``inner_cv="loo"`` in dnnmap) and pick the same alphas.
The peer is timed on a few permutations and scaled linearly (its permutations are
independent fits of equal cost). The peer reports the pooled out-of-fold r, so dnnmap's
refits use ``pooling="pooled"`` here.

``refit_permutations_decompose_once``: 20 full-refit permutations where the decompositions
dominate (2,000 stimuli, 2,000 features, so every training set is decomposed in the dual,
500 voxels, 5 outer folds, a shuffled 5-fold inner splitter given to both sides). dnnmap
fits every permuted copy in one pass over the outer splits, each split decomposed once; the
peer is himalaya's ``RidgeCV`` (numpy backend, per-target alphas from the same inner folds)
refit per outer fold and permutation, and, as an ablation, dnnmap's own
``cross_validated_encoding`` called once per permutation (how refit permutations ran before
they shared the decompositions). Both are timed on 2 permutations and scaled to 20.
Agreement: the per-fold-mean r of each permutation against himalaya's on the voxels whose
alphas are equal in every fold, and against the per-permutation calls on all voxels.

BLAS runs on one thread in both benchmarks (threadpoolctl): on a shared machine, several
BLAS threads per process oversubscribe the cores and slow the fits unpredictably.
"""

from __future__ import annotations

import time

import numpy as np
from bench_helpers import write_result
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from dnnmap.encoding.permutation import label_permutation_test, refit_permutation_test
from dnnmap.encoding.ridge import DEFAULT_ALPHAS, cross_validated_encoding, outer_folds
from dnnmap.stats.metrics import pearson_r
from dnnmap.stats.permutations import permutations
from dnnmap.stats.splits import make_splits

N, P = 1000, 500
INNER = KFold(5, shuffle=True, random_state=0)


def _data(n_vox: int, seed: int = 0, n: int = N, p: int = P):
    """Features (n, p) and float32 responses (n, v): a sparse linear read-out plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, n_vox)) * (rng.random((p, 1)) < 0.1)
    signal = X @ W
    signal /= signal.std(axis=0)
    snr = rng.uniform(0.0, 0.5, n_vox)
    Y = signal * np.sqrt(snr) + rng.standard_normal((n, n_vox))
    return X, Y.astype(np.float32)


def test_label_permutations():
    n_vox, n_perm = 20000, 1000
    X, Y = _data(n_vox)
    with threadpool_limits(1):
        t0 = time.perf_counter()
        fit = cross_validated_encoding(X, Y, DEFAULT_ALPHAS, n_folds=5, seed=0, inner_cv=5)
        peer_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = label_permutation_test(fit.predictions, Y, n_perm, seed=0)
        dnnmap_s = time.perf_counter() - t0
    # agreement: observed scores against the fit's scores, and the null of the first
    # permutations of 200 voxels against a per-permutation pearson_r
    check = np.arange(0, n_vox, n_vox // 200)
    small = label_permutation_test(fit.predictions[:, check], Y[:, check], 3, 0, keep_null=True)
    perms = permutations(N, 3, 0)
    loop = np.stack([pearson_r(Y[perm][:, check], fit.predictions[:, check]) for perm in perms])
    null_diff = float(np.max(np.abs(small.null - loop)))
    observed_diff = float(np.nanmax(np.abs(res.observed - fit.score)))
    assert null_diff < 1e-5 and observed_diff < 1e-5
    write_result(
        "label_permutations",
        {
            "peer": "one cross-validated encoding fit of the same data "
            "(dnnmap.encoding.ridge.cross_validated_encoding, 5 outer folds, inner 5-fold, "
            "17 alphas)",
            "params": {
                "n_stimuli": N,
                "n_features": P,
                "n_voxels": n_vox,
                "n_perm": n_perm,
                "dtype": "float32",
                "blas_threads": 1,
                "batch": 8,
            },
            "dnnmap_s": round(dnnmap_s, 2),
            "peer_s": round(peer_s, 2),
            "ratio": round(dnnmap_s / peer_s, 3),
            "target": "<= 2 (permutations time / one CV fit time)",
            "agreement": {
                "null_vs_pearson_r_loop_max_abs": null_diff,
                "observed_vs_fit_score_max_abs": observed_diff,
            },
            "median_pvalue": float(np.nanmedian(res.pvalue)),
            "n_fwe_significant_005": int(np.sum(res.pvalue_fwe < 0.05)),
            "n_fdr_significant_005": int(np.sum(res.qvalue < 0.05)),
        },
    )


def _sklearn_null(X, Y, perm, folds, alphas):
    """Pooled out-of-fold r per voxel after permuting Y, RidgeCV refit per outer fold."""
    Yp = Y[perm]
    pred = np.empty(Yp.shape, dtype=np.float64)
    chosen = []
    for f in range(folds.max() + 1):
        train, test = folds != f, folds == f
        model = RidgeCV(alphas=alphas, alpha_per_target=True).fit(X[train], Yp[train])
        pred[test] = model.predict(X[test])
        chosen.append(model.alpha_)
    return pearson_r(Yp, pred), np.stack(chosen)


def _refit_vs_peer(X, Y, n_perm, n_timed, alphas):
    """Time dnnmap's refit null (n_perm) and the peer (n_timed, scaled); compare them."""
    t0 = time.perf_counter()
    res = refit_permutation_test(
        X,
        Y,
        n_perm,
        seed=0,
        keep_null=True,
        alphas=alphas,
        n_folds=5,
        cv_seed=0,
        inner_cv="loo",
        pooling="pooled",
    )
    dnnmap_s = time.perf_counter() - t0
    folds = outer_folds(N, 5, 0)
    perms = permutations(N, n_timed, 0)
    t0 = time.perf_counter()
    peer = [_sklearn_null(X, Y, perm, folds, alphas) for perm in perms]
    peer_timed_s = time.perf_counter() - t0
    same_alpha, diff_same = [], 0.0
    for b, (score, alpha) in enumerate(peer):
        fit = cross_validated_encoding(X, Y[perms[b]], alphas, 5, 0, "loo")
        same = np.isclose(fit.alpha, alpha, rtol=1e-12).all(axis=0)
        same_alpha.append(same.mean())
        diff_same = max(diff_same, float(np.max(np.abs(res.null[b, same] - score[same]))))
    diff = float(np.max(np.abs(res.null[:n_timed] - np.stack([s for s, _ in peer]))))
    return {
        "dnnmap_s": round(dnnmap_s, 2),
        "peer_timed_s": round(peer_timed_s, 2),
        "peer_s": round(peer_timed_s / n_timed * n_perm, 2),
        "ratio": round(peer_timed_s / n_timed * n_perm / dnnmap_s, 2),
        "null_score_max_abs_diff": diff,
        "null_score_max_abs_diff_same_alphas": diff_same,
        "fraction_voxels_same_alphas": float(np.mean(same_alpha)),
    }


def test_full_refit_permutations():
    n_vox, n_perm, n_timed = 500, 100, 3
    alphas = DEFAULT_ALPHAS
    X, Y = _data(n_vox, seed=1)
    with threadpool_limits(1):
        main = _refit_vs_peer(X, Y.astype(np.float64), n_perm, n_timed, alphas)
        single = _refit_vs_peer(X, Y, n_perm, n_timed, alphas)
        small = _refit_vs_peer(X, Y[:, :50].astype(np.float64), n_perm, n_timed, alphas)
    assert main["null_score_max_abs_diff"] < 1e-4
    assert single["null_score_max_abs_diff_same_alphas"] < 1e-4
    write_result(
        "full_refit_permutations",
        {
            "peer": "scikit-learn RidgeCV(alphas, alpha_per_target=True) (exact leave-one-out) "
            "refit per outer fold and permutation; "
            f"{n_timed} permutations timed, scaled linearly to {n_perm}",
            "params": {
                "n_stimuli": N,
                "n_features": P,
                "n_voxels": n_vox,
                "n_perm": n_perm,
                "n_outer_folds": 5,
                "inner_cv": "loo (scikit-learn allows alpha_per_target only with cv=None)",
                "n_alphas": int(alphas.size),
                "dtype": "float64 responses (as scikit-learn computes)",
                "blas_threads": 1,
                "peer_timed_permutations": n_timed,
                "peer_timed_s": main["peer_timed_s"],
            },
            "dnnmap_s": main["dnnmap_s"],
            "peer_s": main["peer_s"],
            "ratio": main["ratio"],
            "target": ">= 10 (peer time / dnnmap time)",
            "agreement": {
                "null_score_max_abs_diff": main["null_score_max_abs_diff"],
                "fraction_voxels_same_alphas": main["fraction_voxels_same_alphas"],
            },
            "float32_responses": single,
            "roi_50_voxels_float64": small,
        },
    )


def _himalaya_null(X, Y, perm, splits, alphas):
    """Mean over outer folds of the per-fold r after permuting Y, himalaya's RidgeCV refit per
    outer fold; and the alphas it chose (n_splits, v)."""
    import himalaya.ridge

    Yp = Y[perm]
    scores, chosen = [], []
    for train, test in zip(splits.train, splits.test, strict=True):
        est = himalaya.ridge.RidgeCV(
            alphas=alphas.astype(np.float32),
            cv=INNER,
            fit_intercept=True,
            solver_params={"warn": False},
        ).fit(X[train], Yp[train])
        scores.append(pearson_r(Yp[test], est.predict(X[test])))
        chosen.append(est.best_alphas_)
    return np.mean(scores, axis=0), np.stack(chosen)


def test_refit_permutations_decompose_once():
    import himalaya.backend

    himalaya.backend.set_backend("numpy")
    n, p, n_vox, n_perm, n_timed = 2000, 2000, 500, 20, 2
    alphas = DEFAULT_ALPHAS
    X, Y = _data(n_vox, seed=2, n=n, p=p)
    X = X.astype(np.float32)
    splits = make_splits(n, "kfold", n_folds=5, seed=0)
    kwargs = {"splits": splits, "inner_cv": INNER, "device": "numpy"}
    perms = permutations(n, n_timed, 0)
    with threadpool_limits(1):
        t0 = time.perf_counter()
        res = refit_permutation_test(X, Y, n_perm, 0, keep_null=True, alphas=alphas, **kwargs)
        dnnmap_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        calls = [cross_validated_encoding(X, Y[perm], alphas, **kwargs) for perm in perms]
        calls_s = (time.perf_counter() - t0) / n_timed * n_perm
        t0 = time.perf_counter()
        peer = [_himalaya_null(X, Y, perm, splits, alphas) for perm in perms]
        peer_s = (time.perf_counter() - t0) / n_timed * n_perm
    calls_diff = max(float(np.max(np.abs(res.null[b] - fit.score))) for b, fit in enumerate(calls))
    same, peer_diff = [], 0.0
    for b, (score, chosen) in enumerate(peer):
        equal = np.isclose(calls[b].alpha, chosen, rtol=1e-5).all(axis=0)
        same.append(float(equal.mean()))
        peer_diff = max(peer_diff, float(np.max(np.abs(res.null[b, equal] - score[equal]))))
    assert calls_diff < 1e-5 and peer_diff < 1e-3
    write_result(
        "refit_permutations_decompose_once",
        {
            "peer": "himalaya RidgeCV (numpy backend, float32, the same shuffled 5-fold inner "
            "splitter) refit per outer fold and permutation; ablation: dnnmap's "
            "cross_validated_encoding called once per permutation; both timed on "
            f"{n_timed} permutations and scaled to {n_perm}",
            "params": {
                "n_stimuli": n,
                "n_features": p,
                "n_voxels": n_vox,
                "n_perm": n_perm,
                "n_outer_folds": 5,
                "inner_cv": "KFold(5, shuffle=True, random_state=0)",
                "n_alphas": int(alphas.size),
                "dtype": "float32",
                "blas_threads": 1,
            },
            "dnnmap_s": round(dnnmap_s, 2),
            "peer_s": round(peer_s, 2),
            "ratio": round(peer_s / dnnmap_s, 2),
            "one_call_per_permutation_s": round(calls_s, 2),
            "ratio_one_call_per_permutation": round(calls_s / dnnmap_s, 2),
            "target": "> 1 (peer time / dnnmap time): the decompositions are shared",
            "agreement": {
                "null_vs_one_call_per_permutation_max_abs": calls_diff,
                "null_vs_himalaya_max_abs_same_alphas": peer_diff,
                "fraction_voxels_same_alphas_every_fold": float(np.mean(same)),
            },
        },
    )
