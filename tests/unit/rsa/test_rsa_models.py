"""Reweighting, remixing, variance partitioning and unit reweighting vs scipy, cvxopt, sklearn."""

import itertools

import numpy as np
import pytest
import scipy.optimize
from cvxopt import matrix, solvers
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dnnmap.errors import InputError
from dnnmap.rsa.rdm import ColumnReader, compute_rdm
from dnnmap.rsa.reweighting import (
    RDMReweighting,
    ShrunkNNLS,
    cross_validate_reweighting,
    held_out_folds,
    nnls_fit,
    pair_index,
    remix_decision,
    remix_rdm,
    variance_partition,
)
from dnnmap.rsa.units import (
    SHRINKAGE_GRID,
    GramComponents,
    UnitReweighting,
    cross_validate_gram_reweighting,
    cross_validate_unit_reweighting,
    gram_distances,
    pattern_gram,
    unit_rdms,
)

solvers.options["show_progress"] = False
solvers.options.update(abstol=1e-12, reltol=1e-12, feastol=1e-12)


def patterns(n=15, m=3, p=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n, p))


def layer_rdms(n=15, m=3, seed=0):
    return np.array([pdist(x) for x in patterns(n, m, seed=seed)])


def qp_nnls(A, y, intercept):
    """NNLS (optionally with a free offset) as a cvxopt quadratic program."""
    X = np.column_stack([A, np.ones(len(y))]) if intercept else A
    k = A.shape[1]
    G = np.zeros((k, X.shape[1]))
    G[:, :k] = -np.eye(k)
    sol = solvers.qp(matrix(X.T @ X), matrix(-X.T @ y), matrix(G), matrix(np.zeros(k)))
    x = np.array(sol["x"]).ravel()
    return x[:k], (x[k] if intercept else 0.0)


# --- pairs and folds --------------------------------------------------------------------------


def test_pair_index_gives_the_rdm_of_a_subset():
    X = patterns(9, 1)[0]
    rdm = pdist(X)
    for subset in ([0, 3, 4, 8], [7, 2, 5], np.arange(9)):
        np.testing.assert_array_equal(rdm[pair_index(9, subset)], pdist(X[subset]))


def test_held_out_folds_are_seeded_kfold():
    splits = held_out_folds(20, 4, seed=3)
    ref = KFold(4, shuffle=True, random_state=3).split(np.zeros(20))
    for (a, b), (c, d) in zip(splits, ref, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


# --- reweighting ------------------------------------------------------------------------------


@pytest.mark.parametrize("intercept", [False, True])
def test_nnls_fit_matches_scipy_and_cvxopt(intercept):
    A = layer_rdms(12, 4).T
    y = 0.7 * A[:, 0] + 0.2 * A[:, 2] - 0.3 * A[:, 3] + 0.5
    y = y + 0.1 * np.random.default_rng(1).standard_normal(len(y))
    w, c = nnls_fit(A, y, intercept)
    if not intercept:
        np.testing.assert_array_equal(w, scipy.optimize.nnls(A, y)[0])
    w_qp, c_qp = qp_nnls(A, y, intercept)
    np.testing.assert_allclose(w, w_qp, atol=1e-6)
    assert c == pytest.approx(c_qp, abs=1e-6)
    assert (w >= 0).all() and w[3] == 0


def test_reweighting_recovers_weights_and_predicts():
    A = layer_rdms(14, 3, seed=2)
    brain = 2.0 * A[0] + 0.5 * A[2] + 1.0
    model = RDMReweighting().fit(A, brain)
    np.testing.assert_allclose(model.weights_, [2.0, 0.0, 0.5], atol=1e-10)
    assert model.intercept_ == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(model.predict(A), brain, atol=1e-10)
    cv = cross_validate_reweighting(A, brain, n_splits=3, seed=1)
    np.testing.assert_allclose(cv.fold_scores, 1.0, atol=1e-12)
    assert cv.weights.shape == (3, 3) and cv.intercepts.shape == (3,)


def test_cross_validated_reweighting_equals_manual_folds():
    P = patterns(18, 3, seed=4)
    A = np.array([pdist(x) for x in P])
    brain = pdist(P[0] + P[1] + np.random.default_rng(5).standard_normal((18, 5)))
    cv = cross_validate_reweighting(A, brain, n_splits=3, seed=2, method="spearman")
    for (train, test), score, w in zip(cv.splits, cv.fold_scores, cv.weights, strict=True):
        train_rdms = np.array([pdist(x[train]) for x in P]).T
        y_train = brain[pair_index(18, train)]
        w_ref = scipy.optimize.nnls(train_rdms - train_rdms.mean(0), y_train - y_train.mean())[0]
        np.testing.assert_allclose(w, w_ref, atol=1e-12)
        pred = w_ref @ np.array([pdist(x[test]) for x in P])
        assert score == pytest.approx(spearmanr(pred, brain[pair_index(18, test)])[0], abs=1e-12)
    assert cv.score == pytest.approx(cv.fold_scores.mean())


# --- remixing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_remix_decision_equals_cross_val_predict(n_classes):
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(n_classes), 8)
    X = rng.standard_normal((len(labels), 6)) + labels[:, None] * 0.8
    decision = remix_decision(X, labels, n_splits=4, seed=3, C=0.5)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5000))
    cv = StratifiedKFold(4, shuffle=True, random_state=3)
    ref = cross_val_predict(pipe, X, labels, cv=cv, method="decision_function")
    np.testing.assert_allclose(decision, ref.reshape(len(labels), -1), atol=1e-10)
    rdm = remix_rdm(X, labels, "euclidean", n_splits=4, seed=3, C=0.5)
    np.testing.assert_allclose(rdm, pdist(decision), atol=1e-10)


# --- variance partitioning --------------------------------------------------------------------


def orthonormal_centered(n_pairs, k, seed=0):
    """k orthonormal vectors orthogonal to the constant vector."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(np.column_stack([np.ones(n_pairs), rng.standard_normal((n_pairs, k))]))[0]
    return q[:, 1:].T


def test_variance_partition_known_answer():
    q1, q2, q3 = orthonormal_centered(45, 3)
    brain = 5.0 + q1 + 2.0 * q2 + q3  # variance shares 1 : 4 : 1
    two = variance_partition(brain, [q1, q2], names=["a", "b"])
    assert two.unique["a"] == pytest.approx(1 / 6, abs=1e-12)
    assert two.unique["b"] == pytest.approx(4 / 6, abs=1e-12)
    assert two.components[("a", "b")] == pytest.approx(0.0, abs=1e-12)
    three = variance_partition(brain, [q1, q2, 3.0 * q1 + 1.0], names=["a", "b", "a2"])
    assert three.unique["a"] == pytest.approx(0.0, abs=1e-12)
    assert three.unique["a2"] == pytest.approx(0.0, abs=1e-12)
    assert three.components[("a", "a2")] == pytest.approx(1 / 6, abs=1e-12)
    assert three.unique["b"] == pytest.approx(4 / 6, abs=1e-12)
    assert three.total == pytest.approx(5 / 6, abs=1e-12)


def test_variance_partition_matches_lstsq_inclusion_exclusion():
    rng = np.random.default_rng(7)
    M = rng.standard_normal((3, 36))
    M[1] += 0.6 * M[0]
    Y = rng.standard_normal((2, 36)) + M[0] + M[1] - M[2]

    def r2(cols, y):
        X = np.column_stack([np.ones(36), *M[list(cols)]])
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        return 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))

    res = variance_partition(Y, M, names="abc")
    for t in range(2):
        R = {s: r2(s, Y[t]) for r in (1, 2, 3) for s in itertools.combinations(range(3), r)}
        for s, value in R.items():
            assert res.r2[tuple("abc"[i] for i in s)][t] == pytest.approx(value, abs=1e-12)
        shared_abc = R[(0,)] + R[(1,)] + R[(2,)] - R[0, 1] - R[0, 2] - R[1, 2] + R[0, 1, 2]
        assert res.components[("a", "b", "c")][t] == pytest.approx(shared_abc, abs=1e-12)
        shared_ab = R[0, 2] + R[1, 2] - R[(2,)] - R[0, 1, 2]
        assert res.components[("a", "b")][t] == pytest.approx(shared_ab, abs=1e-12)
        assert res.unique["c"][t] == pytest.approx(R[0, 1, 2] - R[0, 1], abs=1e-12)
        total = sum(v[t] for v in res.components.values())
        assert total == pytest.approx(res.total[t], abs=1e-12)
        single = variance_partition(Y[t], M, names="abc")
        assert single.unique["a"] == pytest.approx(res.unique["a"][t], abs=1e-12)


# --- unit reweighting -------------------------------------------------------------------------


def test_unit_rdms_are_linear_in_squared_weights():
    X = patterns(10, 1, p=7, seed=8)[0]
    D = unit_rdms(X)
    for u in range(7):
        np.testing.assert_allclose(D[u], pdist(X[:, [u]], "sqeuclidean"), atol=1e-12)
    s = np.random.default_rng(9).uniform(0, 2, 7)
    np.testing.assert_allclose(s**2 @ D, pdist(X * s, "sqeuclidean"), atol=1e-10)
    groups = np.array([0, 1, 1, 2, 0, 2, 2])
    G = unit_rdms(X, groups)
    for g in range(3):
        np.testing.assert_allclose(G[g], pdist(X[:, groups == g], "sqeuclidean"), atol=1e-12)


def test_unit_reweighting_recovers_unit_and_group_weights():
    X = patterns(16, 1, p=6, seed=10)[0]
    s2 = np.array([1.0, 0.0, 4.0, 0.5, 0.0, 2.0])
    brain = pdist(X * np.sqrt(s2), "sqeuclidean")
    model = UnitReweighting(reduce="units", intercept=False).fit(X, brain)
    np.testing.assert_allclose(model.weights_, s2, atol=1e-10)
    ref = scipy.optimize.nnls(unit_rdms(X).T, brain)[0]
    np.testing.assert_allclose(model.weights_, ref, atol=1e-12)
    groups = np.array(["a", "b", "a", "c", "b", "c"])
    brain = pdist(X * np.sqrt(np.array([3.0, 1.0, 3.0, 0.0, 1.0, 0.0])), "sqeuclidean")
    grouped = UnitReweighting(reduce="groups", groups=groups).fit(X, brain)
    np.testing.assert_allclose(grouped.weights_, [3.0, 1.0, 0.0], atol=1e-10)
    np.testing.assert_array_equal(grouped.group_names_, ["a", "b", "c"])
    assert grouped.score(X, brain) == pytest.approx(1.0, abs=1e-12)


def test_unit_reweighting_pca_matches_sklearn_and_cross_validates():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((24, 30)) @ rng.standard_normal((30, 30))
    Z = PCA(4).fit(X).transform(X)
    brain = pdist(Z * np.sqrt([0.1, 2.0, 0.0, 1.0]), "sqeuclidean")
    model = UnitReweighting(reduce="pca", n_components=4, intercept=False).fit(X, brain)
    np.testing.assert_allclose(model.weights_, [0.1, 2.0, 0.0, 1.0], atol=1e-8)
    cv = cross_validate_unit_reweighting(X, brain, n_splits=3, seed=0, n_components=4)
    for (train, test), score in zip(cv.splits, cv.fold_scores, strict=True):
        pca = PCA(4).fit(X[train])
        D = np.array([pdist(pca.transform(X[train])[:, [k]], "sqeuclidean") for k in range(4)])
        y = brain[pair_index(24, train)]
        w = scipy.optimize.nnls((D - D.mean(1, keepdims=True)).T, y - y.mean())[0]
        Dt = np.array([pdist(pca.transform(X[test])[:, [k]], "sqeuclidean") for k in range(4)])
        assert score == pytest.approx(pearsonr(w @ Dt, brain[pair_index(24, test)])[0], abs=1e-8)
    assert cv.weights.shape == (3, 4)


# --- the workflow's unit reweighting: Gram matrices, shrinkage ----------------------------------


def test_shrunk_nnls_matches_a_bounded_least_squares_solver_and_its_limits():
    rng = np.random.default_rng(20)
    A = rng.random((300, 6)) ** 2 * rng.uniform(0.1, 10, 6)
    y = A @ np.array([2.0, 0.0, 1.0, 0.5, 0.0, 3.0]) + rng.standard_normal(300) + 4.0
    problem = ShrunkNNLS(A, y)
    Ac, yc = A - A.mean(0), y - y.mean()
    for lam in (0.1, 3.0, 100.0):  # the augmented problem by scipy's BVLS, offset free
        design = np.block(
            [[Ac, np.zeros((300, 1))], [np.sqrt(lam) * np.eye(6), -np.sqrt(lam) * np.ones((6, 1))]]
        )
        ref = scipy.optimize.lsq_linear(
            design, np.concatenate([yc, np.zeros(6)]), bounds=(0, np.inf), method="bvls"
        ).x[:6]
        w, c = problem.fit(lam)
        np.testing.assert_allclose(w, ref, rtol=1e-6, atol=1e-8)
        assert c == pytest.approx(y.mean() - A.mean(0) @ w)
    np.testing.assert_allclose(problem.fit(0.0)[0], nnls_fit(A, y)[0], rtol=1e-6, atol=1e-9)
    common = problem.fit(np.inf)[0]  # one weight: least squares on the row sums
    total = Ac.sum(axis=1)
    np.testing.assert_allclose(common, np.full(6, total @ yc / (total @ total)), rtol=1e-10)
    np.testing.assert_allclose(problem.fit(1e9 * problem.scale)[0], common, rtol=1e-4)
    with pytest.raises(InputError, match="shrinkage is -1"):
        problem.fit(-1)


@pytest.mark.parametrize(
    ("metric", "factor"), [("correlation", 2), ("cosine", 2), ("sqeuclidean", 1)]
)
@pytest.mark.parametrize(("zscore", "center"), [(False, True), (False, False), (True, False)])
def test_pattern_gram_gives_the_layer_rdm(metric, factor, zscore, center):
    rng = np.random.default_rng(21)
    X = np.abs(rng.standard_normal((14, 50))) + rng.uniform(0, 3, 50)
    G = pattern_gram(X, metric, zscore=zscore, center=center)
    ref = compute_rdm(X, metric, zscore=zscore, center=center)
    np.testing.assert_allclose(gram_distances(G, np.arange(14)), factor * ref, atol=1e-12)
    # streamed in unit chunks: the same matrix
    import dnnmap.rsa.units as units

    old, units.PATTERN_CHUNK_ELEMENTS = units.PATTERN_CHUNK_ELEMENTS, 14 * 7
    try:
        reader = ColumnReader(14, 50, lambda a, b: X[:, a:b].astype(np.float32), "layer")
        streamed = pattern_gram(reader, metric, zscore=zscore, center=center)
    finally:
        units.PATTERN_CHUNK_ELEMENTS = old
    np.testing.assert_allclose(
        streamed,
        pattern_gram(X.astype(np.float32), metric, zscore=zscore, center=center),
        atol=1e-12,
    )


def test_gram_components_are_the_pca_of_the_training_patterns():
    rng = np.random.default_rng(22)
    P = rng.standard_normal((30, 200))
    G = P @ P.T
    train, test = np.arange(20), np.arange(20, 30)
    comps = GramComponents(G, train, n_components=5)
    pca = PCA(5).fit(P[train])
    for rows in (train, test):  # scores equal up to the sign of each component
        ours, ref = comps.scores(rows), pca.transform(P[rows])
        signs = np.sign(np.sum(ours * ref, axis=0))
        np.testing.assert_allclose(ours * signs, ref, atol=1e-8)
    # the components and the residual sum to the full squared distances, also for test stimuli
    for rows in (train, test):
        np.testing.assert_allclose(
            comps.rdms(rows).sum(axis=0), pdist(P[rows], "sqeuclidean"), rtol=1e-10
        )
    every = GramComponents(G, train)
    assert every.lam.size == 19 and every.rdms(train)[-1].max() < 1e-8  # no training residual


def _layers_and_brain(rng, n=72, noise=0.4):
    """Two layers of non-negative units (a: 400, b: 300) and a brain RDM read out from layer
    a through a random projection of its units, with noise (correlation distance)."""
    a = np.maximum(rng.standard_normal((n, 400)) @ rng.standard_normal((400, 400)) / 20, 0)
    b = np.maximum(rng.standard_normal((n, 300)), 0)
    brain = a @ rng.standard_normal((400, 60)) + noise * rng.standard_normal((n, 60)) * a.std()
    return a, b, compute_rdm(brain, "correlation")


def test_shrunk_unit_reweighting_keeps_the_driving_layer_first():
    """Simulation with a known driving layer: reweighting its units never falls far below its
    own RDM (the unshrunk fit of all components lost most of it and let other layers win),
    and it beats the reweighted units of the layer that does not drive the region."""
    rng = np.random.default_rng(23)
    wins = 0
    for _ in range(3):
        a, b, y = _layers_and_brain(rng)
        n = a.shape[0]
        splits = held_out_folds(n, 4, 0)
        layer_a = np.mean(
            [
                spearmanr(
                    compute_rdm(a, "correlation", center=True)[pair_index(n, te)],
                    y[pair_index(n, te)],
                )[0]
                for _, te in splits
            ]
        )
        fits = {}
        for name, X in (("a", a), ("b", b)):
            G = pattern_gram(X, "correlation", center=True)
            fits[name], shrinkage = cross_validate_gram_reweighting(
                G, y, splits=splits, method="spearman", n_inner=4
            )
            assert set(shrinkage) <= set(SHRINKAGE_GRID)
        assert fits["a"].score > layer_a - 0.03
        wins += fits["a"].score > fits["b"].score + 0.1
        # the old reweighting of every principal component, unshrunk, overfits
        old = cross_validate_unit_reweighting(
            a, y, splits=splits, method="spearman", n_components=n - n // 4 - 1
        )
        assert old.score < layer_a - 0.2
    assert wins == 3


def test_shrunk_unit_reweighting_finds_a_reweighted_geometry():
    """A brain RDM that weighs a few principal components of the layer far more than the
    layer does: the shrunk fit moves away from the layer RDM and beats it held out."""
    rng = np.random.default_rng(24)
    n = 80
    P = (
        rng.standard_normal((n, 40))
        @ np.diag(np.linspace(3, 0.5, 40))
        @ rng.standard_normal((40, 300))
    )
    Z = PCA(40).fit_transform(P)
    weights = np.ones(40)
    weights[[3, 7, 12]] = 25.0  # three minor axes dominate the brain's geometry
    y = pdist(Z * np.sqrt(weights), "sqeuclidean") + 30 * rng.standard_normal(n * (n - 1) // 2)
    splits = held_out_folds(n, 4, 1)
    layer = np.mean(
        [
            pearsonr(pdist(P, "sqeuclidean")[pair_index(n, te)], y[pair_index(n, te)])[0]
            for _, te in splits
        ]
    )
    fit, shrinkage = cross_validate_gram_reweighting(
        pattern_gram(P, "sqeuclidean", center=True), y, splits=splits, n_inner=4
    )
    assert np.isfinite(shrinkage).all() and fit.score > layer + 0.1
    assert fit.weights.shape == (4, 41)  # the 40 components of the rank-40 layer, the residual


def test_gram_reweighting_bad_input():
    G = np.eye(10) + 1.0
    with pytest.raises(InputError, match="brain_rdm has 44 entries"):
        cross_validate_gram_reweighting(G, np.zeros(44))
    with pytest.raises(InputError, match=r"brain_rdm has shape \(36,\); expected the RDM of 10"):
        cross_validate_gram_reweighting(G, np.zeros(36))
    with pytest.raises(InputError, match="expected a finite square Gram matrix"):
        cross_validate_gram_reweighting(G[:3], np.zeros(45))
    X = np.ones((5, 4))
    with pytest.raises(InputError, match="5 stimuli have constant patterns; correlation"):
        pattern_gram(X, "correlation")
    with pytest.raises(InputError, match=r"patterns has shape \(5,\)"):
        pattern_gram(np.ones(5))


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda A, X: pair_index(5, [0, 0, 1]), "distinct indices"),
        (lambda A, X: held_out_folds(8, 3), "at least 3 test stimuli"),
        (lambda A, X: held_out_folds(20, 1), "n_splits is 1"),
        (lambda A, X: RDMReweighting().fit(A, A), "brain_rdm has shape"),
        (lambda A, X: RDMReweighting().fit(A, A[0, :-1]), "brain_rdm has 77 entries"),
        (lambda A, X: RDMReweighting().fit(A, A[0]).predict(A[:2]), "the fit had 3"),
        (
            lambda A, X: cross_validate_reweighting(A, A[0], splits=[([0, 1], [2, 3, 4])]),
            "split 0 has 2 train",
        ),
        (
            lambda A, X: cross_validate_reweighting(A, A[0], splits=[([0, 1, 2], [2, 3, 4])]),
            "shared or negative",
        ),
        (
            lambda A, X: cross_validate_reweighting(A, A[0], splits=[([0, 1, 2], [3, 4, 20])]),
            "stimulus >= 13",
        ),
        (lambda A, X: remix_decision(X, np.zeros(13)), "1 categories"),
        (lambda A, X: remix_decision(X, np.zeros(5)), "labels has shape"),
        (lambda A, X: remix_decision(X, np.arange(13) % 2, C=0), "C is 0"),
        (lambda A, X: variance_partition(A[0], A[:1]), "2 to 4 models"),
        (lambda A, X: variance_partition(A[0], A[:2], names=["a", "a"]), "distinct model names"),
        (lambda A, X: variance_partition(np.ones(78), A[:2]), "constant RDM"),
        (lambda A, X: UnitReweighting(reduce="ica").fit(X, A[0]), "reduce is 'ica'"),
        (lambda A, X: UnitReweighting(reduce="groups").fit(X, A[0]), "groups has shape None"),
        (lambda A, X: UnitReweighting().fit(X, A[0, :10]), "brain_rdm has shape \\(10,\\)"),
        (lambda A, X: UnitReweighting(n_components=0).fit(X, A[0]), "n_components is 0"),
        (lambda A, X: UnitReweighting().fit(X, A[0]).predict(X[:, :3]), "the fit had 5"),
        (lambda A, X: UnitReweighting().fit(X[:2], A[0, :1]), "n_stim >= 3"),
    ],
)
def test_bad_input(call, match):
    A = layer_rdms(13, 3)
    X = patterns(13, 1)[0]
    with pytest.raises(InputError, match=match):
        call(A, X)
