"""Cross-validation schemes against scikit-learn's splitters."""

from functools import partial

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    LeaveOneOut,
    RepeatedKFold,
    StratifiedKFold,
)

from dnnmap.encoding.ridge import cross_validated_encoding, outer_folds
from dnnmap.errors import InputError
from dnnmap.stats.splits import (
    Splits,
    check_splits,
    check_stimulus_folds,
    first_repeat_folds,
    inner_splits,
    kfold_assignment,
    make_splits,
    splits_from_table,
    stimulus_folds,
    stratified_pairs,
)
from dnnmap.stimuli import LINES_ATTR


def _pairs(splits):
    return [
        (set(tr.tolist()), set(te.tolist()))
        for tr, te in zip(splits.train, splits.test, strict=True)
    ]


def _check_partition(splits, n, repeat=0):
    """Test sets of one repeat partition the rows; train is the complement."""
    idx = np.flatnonzero(splits.repeat == repeat)
    tested = np.concatenate([splits.test[i] for i in idx])
    np.testing.assert_array_equal(np.sort(tested), np.arange(n))
    for i in idx:
        assert not set(splits.train[i]) & set(splits.test[i])
        assert len(splits.train[i]) + len(splits.test[i]) == n


def test_kfold_matches_ridge_outer_folds_and_sklearn_structure():
    n, k = 23, 5
    s = make_splits(n, "kfold", n_folds=k, seed=3)
    folds = outer_folds(n, k, 3)
    for f in range(k):
        np.testing.assert_array_equal(s.test[f], np.flatnonzero(folds == f))
        np.testing.assert_array_equal(s.train[f], np.flatnonzero(folds != f))
    np.testing.assert_array_equal(first_repeat_folds(s), folds)
    np.testing.assert_array_equal(kfold_assignment(n, k, 3), folds)
    _check_partition(s, n)
    ref = [te.size for _, te in KFold(k, shuffle=True, random_state=0).split(np.zeros(n))]
    assert [t.size for t in s.test] == ref
    assert s.scheme == "kfold" and s.params == {"n_folds": k, "seed": 3} and s.n_repeats == 1


def test_repeated_kfold_structure_and_seed_derivation():
    n, k, r = 17, 4, 3
    s = make_splits(n, "repeated_kfold", n_folds=k, n_repeats=r, seed=5)
    ref = list(RepeatedKFold(n_splits=k, n_repeats=r, random_state=0).split(np.zeros(n)))
    assert len(s) == len(ref) == k * r
    np.testing.assert_array_equal(s.repeat, np.repeat(np.arange(r), k))
    assert [t.size for t in s.test] == [te.size for _, te in ref]
    for rep in range(r):
        _check_partition(s, n, rep)
        one = make_splits(n, "kfold", n_folds=k, seed=5 + rep)
        for f in range(k):
            np.testing.assert_array_equal(s.test[rep * k + f], one.test[f])
    assert s.n_repeats == r


def test_loo_equals_sklearn():
    s = make_splits(6, "loo")
    ref = list(LeaveOneOut().split(np.zeros(6)))
    assert _pairs(s) == [(set(tr), set(te)) for tr, te in ref]
    _check_partition(s, 6)


def test_group_leave_one_group_out_equals_sklearn():
    groups = np.array(["b", "a", "c", "a", "b", "c", "c", "a"])
    s = make_splits(8, "group", n_folds=5, groups=groups)
    ref = list(LeaveOneGroupOut().split(np.zeros(8), groups=groups))
    assert _pairs(s) == [(set(tr), set(te)) for tr, te in ref]
    assert s.params["leave_one_group_out"] and s.params["n_groups"] == 3
    _check_partition(s, 8)


def test_group_kfold_equals_sklearn_and_no_group_crosses():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 7, size=40)
    s = make_splits(40, "group", n_folds=3, groups=groups)
    ref = list(GroupKFold(n_splits=3).split(np.zeros(40), groups=groups))
    assert _pairs(s) == [(set(tr), set(te)) for tr, te in ref]
    for tr, te in zip(s.train, s.test, strict=True):
        assert not set(groups[tr]) & set(groups[te])
    _check_partition(s, 40)
    assert s.params == {"n_folds": 3, "n_groups": 7, "leave_one_group_out": False}


def test_split_scheme():
    split = ["train", "TEST ", "train", "test", "train"]
    s = make_splits(5, "split", split=split)
    np.testing.assert_array_equal(s.train[0], [0, 2, 4])
    np.testing.assert_array_equal(s.test[0], [1, 3])
    np.testing.assert_array_equal(first_repeat_folds(s), [-1, 0, -1, 0, -1])


def test_inner_splits_kfold_matches_sklearn_and_ridge():
    train = np.array([0, 2, 3, 5, 7, 8, 9, 11, 12, 14])
    pairs = inner_splits(train, "kfold", n_folds=3, seed=4)
    ref = list(KFold(3, shuffle=True, random_state=4).split(np.zeros(train.size)))
    for (tr, te), (rtr, rte) in zip(pairs, ref, strict=True):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(te, rte)
    # identical to ridge's int inner_cv when passed as a callable
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((30, 3))
    a = cross_validated_encoding(X, Y, [0.1, 10, 1000], 3, 2, inner_cv=4)
    b = cross_validated_encoding(
        X,
        Y,
        [0.1, 10, 1000],
        3,
        2,
        inner_cv=partial(inner_splits, scheme="kfold", n_folds=4, seed=2),
    )
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=0, atol=1e-12)


def test_inner_splits_grouped_stay_in_training_groups():
    groups = np.repeat(np.arange(6), 4)
    outer = make_splits(24, "group", n_folds=3, groups=groups)
    for tr in outer.train:
        pairs = inner_splits(tr, "group", n_folds=3, groups=groups)
        sub = groups[tr]
        ref = list(GroupKFold(n_splits=3).split(np.zeros(tr.size), groups=sub))
        assert [(set(a), set(b)) for a, b in pairs] == [(set(a), set(b)) for a, b in ref]
        for a, b in pairs:
            assert not set(sub[a]) & set(sub[b])
    # more folds than groups in a training set: leave one group out
    pairs = inner_splits(outer.train[0], "group", n_folds=10, groups=groups)
    assert len(pairs) == 4


def _table(**cols):
    t = pd.DataFrame({"stim_id": [f"s{i}" for i in range(len(next(iter(cols.values()))))]})
    for k, v in cols.items():
        t[k] = v
    t.attrs[LINES_ATTR] = [2 * i + 2 for i in range(len(t))]  # as if blank lines were skipped
    return t


def test_splits_from_table_group_and_split_columns():
    t = _table(session=["1", "1", "2", "2", "3", "3"], part=["train"] * 4 + ["test"] * 2)
    s = splits_from_table(t, {"scheme": "group", "column": "session", "n_folds": 5}, "st.tsv")
    ref = list(LeaveOneGroupOut().split(np.zeros(6), groups=t["session"]))
    assert _pairs(s) == [(set(tr), set(te)) for tr, te in ref]
    assert s.params["column"] == "session"
    s = splits_from_table(t, {"scheme": "split", "column": "part"}, "st.tsv")
    np.testing.assert_array_equal(s.test[0], [4, 5])
    s = splits_from_table(t, {"scheme": "kfold", "n_folds": 3, "seed": 1}, "st.tsv")
    np.testing.assert_array_equal(first_repeat_folds(s), outer_folds(6, 3, 1))


def test_splits_from_table_needs_a_dataframe():
    with pytest.raises(InputError, match="table is list; expected the stimulus table"):
        splits_from_table([1, 2], {}, "st.tsv")


def test_check_splits():
    s = make_splits(10, "kfold", n_folds=2)
    assert len(check_splits(s, 10)) == 2
    with pytest.raises(InputError, match="splits are for 10 stimuli but the data have 9"):
        check_splits(s, 9)
    bad = Splits(10, [np.array([0, 1])], [np.array([2, 11])], np.zeros(1, int), "kfold")
    with pytest.raises(InputError, match=r"split 0 has test rows .* in \[0, 10\)"):
        check_splits(bad, 10)
    with pytest.raises(InputError, match="split 0 trains on 2 rows; expected at least 3"):
        check_splits(
            Splits(3, [np.array([0, 1])], [np.array([2])], np.zeros(1, int), "x"), 3, min_train=3
        )
    with pytest.raises(InputError, match=r"expected a dnnmap\.stats\.splits\.Splits"):
        check_splits([(0, 1)], 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"n": 4, "scheme": "kfold", "n_folds": 5},
            "n_folds is 5 for 4 stimuli; expected at most 4",
        ),
        ({"n": 4, "scheme": "bogus"}, "scheme is 'bogus'; expected one of kfold"),
        ({"n": 4, "scheme": "kfold", "n_repeats": 2}, "n_repeats is 2 with scheme 'kfold'"),
        ({"n": 4, "scheme": "group"}, "groups are missing"),
        ({"n": 4, "scheme": "group", "groups": ["a"] * 4}, "single group"),
        ({"n": 4, "scheme": "group", "groups": ["a", "b"]}, r"groups has shape \(2,\)"),
        ({"n": 3, "scheme": "group", "groups": ["a", "", "b"]}, r"groups\[1\] is empty"),
        ({"n": 3, "scheme": "split", "split": ["train", "val", "test"]}, r"split\[1\] is 'val'"),
        ({"n": 3, "scheme": "split", "split": ["train"] * 3}, "split has no test rows"),
        ({"n": 3, "scheme": "split", "split": ["test"] * 3}, "split has no train rows"),
        ({"n": 3, "scheme": "split"}, "split is missing"),
        ({"n": 3, "scheme": "kfold", "n_folds": 2, "groups": [1, 2, 3]}, "groups are given"),
        ({"n": 1, "scheme": "loo"}, "n is 1; expected an int >= 2"),
        ({"n": 4, "scheme": "kfold", "n_folds": True}, "n_folds is True"),
    ],
)
def test_make_splits_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_splits(**kwargs)


def test_inner_splits_errors():
    with pytest.raises(InputError, match="n_folds is 5 inner folds for a training set of 3 rows"):
        inner_splits(np.arange(3), "kfold", n_folds=5)
    with pytest.raises(InputError, match="training set of 2 rows holds a single group"):
        inner_splits(np.array([0, 1]), "group", groups=np.array([1, 1, 2]))
    with pytest.raises(InputError, match="groups are missing"):
        inner_splits(np.arange(3), "group")
    with pytest.raises(InputError, match="train_rows are"):
        inner_splits(np.array([]), "kfold")


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (
            {"scheme": "group", "column": "run"},
            "encoding.cv.column is 'run' but stimulus table st.tsv has no such column",
        ),
        ({"scheme": "group"}, "encoding.cv.column is 'group' but"),
        (
            {"scheme": "group", "column": "one"},
            "'one' of stimulus table st.tsv holds a single group",
        ),
        ({"scheme": "group", "column": "gap"}, "st.tsv row 4: column 'gap' is empty"),
        (
            {"scheme": "split", "column": "bad"},
            "st.tsv row 4: column 'bad' is 'valid'; expected train or test",
        ),
        (
            {"scheme": "split", "column": "notest"},
            "'notest' of stimulus table st.tsv has no test rows",
        ),
        (
            {"scheme": "kfold", "n_folds": 5},
            "encoding.cv.n_folds is 5 but stimulus table st.tsv has 3 stimuli",
        ),
        ({"scheme": "kfold", "folds": 5}, "encoding.cv.folds is not a setting"),
        ({"scheme": "loo", "n_repeats": 2}, "encoding.cv.n_repeats is 2 with scheme 'loo'"),
        ({"scheme": "kfold", "seed": "x"}, "encoding.cv.seed is 'x'"),
        ({"scheme": "shuffle"}, "encoding.cv.scheme is 'shuffle'"),
    ],
)
def test_splits_from_table_errors(settings, match):
    t = _table(
        one=["a", "a", "a"],
        gap=["a", "", "b"],
        bad=["train", "valid", "test"],
        notest=["train", "train", "train"],
    )
    with pytest.raises(InputError, match=match):
        splits_from_table(t, settings, "st.tsv")


def test_stimulus_folds_without_groups_are_shuffled_kfold():
    ref = KFold(4, shuffle=True, random_state=2).split(np.zeros(17))
    for (tr, te), (rtr, rte) in zip(stimulus_folds(17, 4, 2), ref, strict=True):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(te, rte)


def test_stimulus_folds_hold_out_whole_groups():
    groups = np.repeat(["s1", "s2", "s3", "s4", "s5", "s6"], [4, 3, 5, 4, 3, 5])
    folds = stimulus_folds(groups.size, 3, 0, groups=groups)
    assert len(folds) == 3
    tested = np.concatenate([te for _, te in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(groups.size))
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
    loo = stimulus_folds(groups.size, 10, 0, groups=groups)  # more folds than groups
    assert [sorted(set(groups[te])) for _, te in loo] == [[g] for g in sorted(set(groups))]
    with pytest.raises(InputError, match="groups give a fold of 3 test stimuli; expected at"):
        stimulus_folds(groups.size, 10, 0, groups=groups, min_test=4)
    with pytest.raises(InputError, match="labels and groups are both given"):
        stimulus_folds(groups.size, 3, groups=groups, labels=groups)


def test_check_stimulus_folds():
    assert len(check_stimulus_folds([([0, 1, 2], [3, 4, 5])], 6, 3)) == 1
    with pytest.raises(InputError, match="split 0 has 2 train and 3 test stimuli"):
        check_stimulus_folds([([0, 1], [3, 4, 5])], 6, 3)
    with pytest.raises(InputError, match="shared or negative"):
        check_stimulus_folds([([0, 1, 3], [3, 4, 5])], 6, 3)
    with pytest.raises(InputError, match="indexes stimulus >= 6"):
        check_stimulus_folds([([0, 1, 2], [3, 4, 6])], 6, 3)


def test_stratified_pairs_match_sklearn():
    y = np.repeat([0, 1, 2], [4, 5, 6])
    ref = StratifiedKFold(3, shuffle=True, random_state=1).split(np.zeros(15), y)
    for (tr, te), (rtr, rte) in zip(stratified_pairs(3, y, 1), ref, strict=True):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(te, rte)
    with pytest.raises(InputError, match="inner_folds is 16; expected an int from 2 to 15"):
        stratified_pairs(16, y)
