"""Variance partitioning: the set algebra in closed form, and simulations with known unique
and shared components."""

import itertools

import numpy as np
import pytest

from dnnmap.encoding.banded_ridge import BandedRidgeCV
from dnnmap.encoding.partition import (
    partition_matrix,
    partition_r2,
    region_name,
    space_subsets,
    variance_partition,
)
from dnnmap.errors import InputError
from dnnmap.stats.splits import inner_splits, make_splits


def test_two_spaces_closed_form():
    r2 = np.array([[0.3, 0.1], [0.2, 0.4], [0.45, 0.38]])  # A, B, AB
    parts = partition_r2(r2, ["A", "B"])
    np.testing.assert_allclose(parts[0], r2[2] - r2[1])  # unique A
    np.testing.assert_allclose(parts[1], r2[2] - r2[0])  # unique B
    np.testing.assert_allclose(parts[2], r2[0] + r2[1] - r2[2])  # shared
    assert parts[0, 1] < 0  # negative parts are kept
    assert [region_name(s) for s in space_subsets("AB")] == ["unique:A", "unique:B", "shared:A+B"]


def test_three_spaces_recover_known_regions():
    names = ["A", "B", "C"]
    subsets = space_subsets(names)
    assert len(subsets) == 7 and subsets[-1] == ("A", "B", "C")
    rng = np.random.default_rng(0)
    regions = rng.uniform(-0.05, 0.3, (7, 20))  # variance in exactly each subset's circles
    # R2 of a joint model = every region touching one of its spaces
    r2 = np.array(
        [sum(regions[j] for j, s in enumerate(subsets) if set(s) & set(t)) for t in subsets]
    )
    parts = partition_r2(r2, names)
    np.testing.assert_allclose(parts, regions, atol=1e-12)
    np.testing.assert_allclose(parts.sum(0), r2[-1])
    # inclusion-exclusion of the part shared by all three
    a, b, c, ab, ac, bc, abc = r2
    np.testing.assert_allclose(parts[-1], a + b + c - ab - ac - bc + abc)
    C = partition_matrix(names)
    assert set(np.unique(C)) <= {-1.0, 0.0, 1.0}
    with pytest.raises(InputError, match="shape"):
        partition_r2(r2[:3], names)


def _factory(sizes, train, splits=None):
    inner = inner_splits(train, "kfold", n_folds=3, seed=0)
    return BandedRidgeCV(
        sizes, np.logspace(-2, 4, 7), n_iter=6, cv=inner, device="numpy", random_state=0
    )


def _simulate(B_from_A: bool, n=500, v=40, seed=0, p=5):
    """Two spaces of ``p`` features, each driving 0.3 of the response variance."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    B = A @ rng.standard_normal((p, p)) if B_from_A else rng.standard_normal((n, p))
    sa = A @ rng.standard_normal((p, v))
    sb = B @ rng.standard_normal((p, v))
    sa /= sa.std(0)
    sb /= sb.std(0)
    Y = sa * np.sqrt(0.3) + sb * np.sqrt(0.3) + rng.standard_normal((n, v)) * np.sqrt(0.4)
    return A, B, Y


def test_orthogonal_spaces_share_nothing():
    A, B, Y = _simulate(B_from_A=False)
    splits = make_splits(len(Y), "kfold", n_folds=5, seed=0)
    res = variance_partition({"A": A, "B": B}, Y, splits, _factory)
    assert res.regions == ["unique:A", "unique:B", "shared:A+B"]
    unique_a, unique_b, shared = np.median(res.parts, axis=1)
    assert abs(shared) < 0.03
    assert 0.2 < unique_a < 0.4 and 0.2 < unique_b < 0.4  # 0.3 each by construction
    np.testing.assert_allclose(res.parts.sum(0), res.r2[-1])
    assert res.space_weights.shape == (2, Y.shape[1])
    np.testing.assert_allclose(res.space_weights.sum(0), 1.0)
    assert res.n_negative.shape == (3,) and res.n_negative[2] > 0  # noise around 0 is shown


def test_duplicated_space_has_no_unique_variance():
    A, B, Y = _simulate(B_from_A=True)  # B spans the same space as A
    splits = make_splits(len(Y), "kfold", n_folds=5, seed=0)
    res = variance_partition({"A": A, "B": B}, Y, splits, _factory)
    unique_a, unique_b, shared = np.median(res.parts, axis=1)
    assert abs(unique_a) < 0.02 and abs(unique_b) < 0.02
    assert shared > 0.5  # all explained variance (about 0.6) is shared


def test_three_spaces_and_bad_input():
    A, B, Y = _simulate(B_from_A=False, n=120, v=8)
    A, B = A[:, :4], B[:, :4]
    C = np.random.default_rng(5).standard_normal((120, 4))
    splits = make_splits(120, "kfold", n_folds=3, seed=0)
    res = variance_partition({"A": A, "B": B, "C": C}, Y, splits, _factory)
    assert res.parts.shape == (7, 8) and res.alpha.shape == (7, 8)
    assert res.regions[-1] == "shared:A+B+C"
    # C is pure noise: its unique part is about 0, never large
    assert np.median(res.parts[2]) < 0.05
    with pytest.raises(InputError, match="expected 2 to 3"):
        variance_partition({"A": A}, Y, splits, _factory)
    with pytest.raises(InputError, match="same stimuli"):
        variance_partition({"A": A, "B": B[:100]}, Y, splits, _factory)
    assert list(itertools.chain(*space_subsets("AB"))) == ["A", "B", "A", "B"]


def test_per_fold_pca_space_equals_a_manual_loop():
    """Variance partitioning through the fold seam: with features.fit: train a space's PCA is
    fitted on each outer training set; every joint model's R2 (mean over test folds) equals
    the same banded ridge fitted split by split on manually fitted PCA scores."""
    from sklearn.decomposition import PCA

    from dnnmap.features.folds import FoldFeatures
    from dnnmap.stats.metrics import r2_score

    A, B, Y = _simulate(B_from_A=False, n=90, v=6, p=6)
    basis = PCA(6, svd_solver="full").fit_transform(B)
    splits = make_splits(90, "kfold", n_folds=3, seed=0)
    per_fold = FoldFeatures(basis, per_fold=True, n_components=4)
    res = variance_partition({"A": A, "B": per_fold}, Y, splits, _factory)
    for k, subset in enumerate(res.subsets):
        fold_r2 = []
        for train, test in zip(splits.train, splits.test, strict=True):
            blocks = {"A": A, "B": PCA(4, svd_solver="full").fit(B[train]).transform(B)}
            design = np.hstack([blocks[c] for c in subset])
            est = _factory([blocks[c].shape[1] for c in subset], train)
            est.fit(design[train], Y[train])
            fold_r2.append(r2_score(Y[test], est.predict(design[test])))
        np.testing.assert_allclose(res.r2[k], np.mean(fold_r2, axis=0), atol=1e-6)
