"""Cross-validation splits of stimuli: the outer loop of encoding and decoding models.

The one home of cross-validation folds in dnnmap. A :class:`Splits` holds explicit (train,
test) index pairs, so every estimator, every permutation and every peer library can be run on
identical folds. :func:`make_splits` builds them for one of five schemes;
:func:`splits_from_table` reads the group or split column of the stimulus table;
:func:`inner_splits` gives the nested folds inside one training set; :func:`as_pairs` turns an
estimator's ``cv`` argument into pairs. For decoding, :func:`stratified_kfold` (outer) and
:func:`stratified_pairs` (inner) keep every class in every fold; for second-level RSA,
:func:`stimulus_folds` holds out stimuli (whole groups when a group label is given) and
:func:`check_stimulus_folds` validates such folds.

Schemes (``n`` stimuli, rows ``0 .. n-1``):

``kfold``
    Shuffled, seeded k-fold: ``np.random.default_rng(seed).permutation(n)`` cut into
    ``n_folds`` consecutive parts by ``np.array_split`` (the first ``n % n_folds`` folds one
    row larger), the assignment of :func:`dnnmap.encoding.ridge.outer_folds`. Split ``f`` tests fold
    ``f``. Same partition structure as ``sklearn.model_selection.KFold(n_folds,
    shuffle=True)`` (fold sizes equal), though not the same rows (a different generator).
``repeated_kfold``
    ``n_repeats`` k-fold partitions; repeat ``r`` is the ``kfold`` assignment with seed
    ``seed + r`` (repeat 0 is the plain ``kfold`` split). Splits are ordered by repeat, then
    fold, like ``RepeatedKFold``.
``loo``
    Leave-one-out: split ``i`` tests row ``i`` (``LeaveOneOut``).
``group``
    Leave-groups-out by a label per stimulus (a stimulus-table column such as session or
    run); no group is ever on both sides of a split. With ``n_folds >= n_groups``: one split
    per group, in sorted label order (``LeaveOneGroupOut``). Otherwise ``n_folds`` folds of
    whole groups balanced by size, as ``GroupKFold(n_folds)`` (no shuffle) assigns them:
    groups sorted by size, largest first (ties: the later label first), each to the fold
    with the fewest rows so far (ties: the lowest fold). Deterministic: ``seed`` is unused.
``split``
    A fixed train/test partition from a column whose values are ``train`` or ``test``
    (case and surrounding spaces ignored): one split.

Within a repeat the test sets are disjoint; every row is tested exactly once per repeat
except in ``split`` (training rows are never tested). Index arrays are sorted ``intp``.

Nested CV (:func:`inner_splits`) follows the outer scheme, so hyperparameters are chosen
inside each outer training set only: grouped folds over the training rows' groups when the
outer scheme is ``group``, otherwise shuffled k-fold ``KFold(n_folds, shuffle=True,
random_state=seed)`` over the training rows (the int ``inner_cv`` of
:func:`dnnmap.encoding.ridge.cross_validated_encoding`, so both give identical inner folds).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from dnnmap.checks import check_choice, check_count, is_int
from dnnmap.errors import InputError

SCHEMES = ("kfold", "repeated_kfold", "loo", "group", "split")
"""Outer cross-validation schemes of :func:`make_splits`."""

SETTINGS = ("scheme", "n_folds", "n_repeats", "seed", "column")
"""Keys of the settings mapping read by :func:`splits_from_table`."""

DEFAULT_COLUMN = {"group": "group", "split": "split"}
"""Stimulus-table column of each scheme that reads one, when ``column`` is not given."""


@dataclass(frozen=True)
class Splits:
    """Outer cross-validation splits over ``n`` stimuli.

    Attributes
    ----------
    n : int
        Number of stimuli (rows).
    train : list of int arrays
        Training row indices of each split.
    test : list of int arrays
        Test row indices of each split.
    repeat : int array of shape (n_splits,)
        Repeat of each split; the test sets within one repeat are disjoint.
    scheme : str
        ``kfold``, ``repeated_kfold``, ``loo``, ``group`` or ``split``.
    params : dict
        The scheme's settings (JSON-able), stored in output attrs.
    """

    n: int
    train: list[np.ndarray]
    test: list[np.ndarray]
    repeat: np.ndarray
    scheme: str
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.train)

    @property
    def n_repeats(self) -> int:
        return int(self.repeat.max()) + 1 if len(self.repeat) else 0


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _valid_rows(rows: np.ndarray, n: int) -> bool:
    """Whether ``rows`` is a non-empty 1-D integer array of row indices in ``[0, n)``."""
    return (
        rows.ndim == 1
        and rows.size > 0
        and np.issubdtype(rows.dtype, np.integer)
        and rows.min() >= 0
        and rows.max() < n
    )


def _check_scheme(scheme, name: str = "scheme") -> str:
    return check_choice(scheme, name, SCHEMES)


def _show(value) -> str:
    """``repr`` of a label, numpy scalars shown as Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _labels(values, n: int, name: str, where=None) -> np.ndarray:
    """1-D array of ``n`` labels with no missing value; ``where(i)`` names row ``i``.

    Strings are stripped; all-string labels come back as a str array.
    """
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InputError(f"{name} has shape {arr.shape}; expected ({n},), one per stimulus")
    missing = pd.Series(arr).map(_missing).to_numpy(dtype=bool)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError(f"{where(i) if where else f'{name}[{i}]'} is empty; expected a label")
    if all(isinstance(v, str) for v in arr):
        return np.char.strip(arr.astype(str))
    out = np.asarray(arr.tolist())
    try:
        np.unique(out)
    except TypeError:
        raise InputError(f"{name} mixes label types; expected comparable labels") from None
    return out


# ---------------------------------------------------------------------------------------------
# Fold assignments
# ---------------------------------------------------------------------------------------------


def kfold_assignment(n: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold index per row of shuffled, seeded k-fold.

    Parameters
    ----------
    n : int
        Number of rows.
    n_folds : int
        Number of folds, ``2 <= n_folds <= n``.
    seed : int
        Seed of ``np.random.default_rng``.

    Returns
    -------
    folds : int64 array of shape (n,)
        ``default_rng(seed).permutation(n)`` cut by ``np.array_split`` into ``n_folds``
        parts; row ``i`` is in fold ``folds[i]`` (as :func:`dnnmap.encoding.ridge.outer_folds`).
    """
    n = check_count(n, "n", 2)
    n_folds = check_count(n_folds, "n_folds", 2)
    if n_folds > n:
        raise InputError(
            f"n_folds is {n_folds} for {n} stimuli; expected at most {n} (fewer folds than stimuli)"
        )
    folds = np.empty(n, dtype=np.int64)
    for f, rows in enumerate(np.array_split(np.random.default_rng(seed).permutation(n), n_folds)):
        folds[rows] = f
    return folds


def group_assignment(groups, n_folds: int) -> tuple[np.ndarray, int]:
    """Fold index per row of leave-groups-out folds.

    Parameters
    ----------
    groups : array of shape (n,)
        Group label per row (at least two distinct labels).
    n_folds : int
        Requested folds; ``>= n_groups`` gives one fold per group (leave-one-group-out).

    Returns
    -------
    folds : int64 array of shape (n,)
        Fold of each row; all rows of a group share a fold.
    n_splits : int
        Number of folds, ``min(n_folds, n_groups)``.
    """
    unique, idx = np.unique(groups, return_inverse=True)
    if unique.size < 2:
        raise InputError(
            f"groups hold a single group ({_show(unique[0])}); expected at least 2 groups"
        )
    if n_folds >= unique.size:
        return idx.astype(np.int64), int(unique.size)
    size = np.bincount(idx)
    order = np.argsort(size, kind="stable")[::-1]
    load = np.zeros(n_folds, dtype=np.int64)
    group_fold = np.empty(unique.size, dtype=np.int64)
    for g in order:  # a loop over groups (a few sessions or runs), not rows
        f = int(np.argmin(load))
        load[f] += size[g]
        group_fold[g] = f
    return group_fold[idx], int(n_folds)


def _from_folds(folds: np.ndarray, n_splits: int, offset: int = 0):
    """(train, test) lists of the splits testing each fold ``0 .. n_splits-1``."""
    order = np.argsort(folds, kind="stable")
    bounds = np.searchsorted(folds[order], np.arange(n_splits + 1))
    test = [np.sort(order[bounds[f] : bounds[f + 1]]).astype(np.intp) for f in range(n_splits)]
    train = [np.flatnonzero(folds != f).astype(np.intp) for f in range(n_splits)]
    return train, test


def _split_values(split, n: int, where=None, name: str = "split") -> np.ndarray:
    """Boolean (n,): True for test rows, from train/test labels."""
    values = _labels(split, n, name, where)
    norm = np.char.lower(np.char.strip(values.astype(str)))
    bad = ~np.isin(norm, ("train", "test"))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where(i) if where else f'split[{i}]'} is {_show(values[i])}; expected train or test"
        )
    is_test = norm == "test"
    if not is_test.any():
        raise InputError(f"{name} has no test rows; expected at least one row marked test")
    if is_test.all():
        raise InputError(f"{name} has no train rows; expected at least one row marked train")
    return is_test


# ---------------------------------------------------------------------------------------------
# Outer splits
# ---------------------------------------------------------------------------------------------


def make_splits(
    n: int,
    scheme: str,
    *,
    n_folds: int = 5,
    n_repeats: int = 1,
    seed: int = 0,
    groups=None,
    split=None,
) -> Splits:
    """Outer cross-validation splits of ``n`` stimuli (see the module docstring).

    Parameters
    ----------
    n : int
        Number of stimuli.
    scheme : {"kfold", "repeated_kfold", "loo", "group", "split"}
        Splitting scheme.
    n_folds : int
        Folds of ``kfold``/``repeated_kfold`` (``2 <= n_folds <= n``) and ``group`` (at most
        one per group: ``n_folds >= n_groups`` means leave-one-group-out).
    n_repeats : int
        Repeats of ``repeated_kfold``; the other schemes take 1.
    seed : int
        Seed of the k-fold shuffles (repeat ``r`` uses ``seed + r``).
    groups : array of shape (n,), optional
        Group label per stimulus (``group`` scheme).
    split : array of shape (n,), optional
        ``"train"``/``"test"`` per stimulus (``split`` scheme).

    Returns
    -------
    Splits
        ``train``/``test`` lists of sorted int arrays, ``repeat`` (n_splits,), ``scheme`` and
        ``params`` (JSON-able settings).
    """
    scheme = _check_scheme(scheme)
    n = check_count(n, "n", 2)
    n_folds = check_count(n_folds, "n_folds", 2)
    n_repeats = check_count(n_repeats, "n_repeats", 1)
    if not is_int(seed):
        raise InputError(f"seed is {seed!r}; expected an int")
    seed = int(seed)
    if scheme != "repeated_kfold" and n_repeats != 1:
        raise InputError(
            f"n_repeats is {n_repeats} with scheme {scheme!r}; expected 1 "
            "(repeats need scheme repeated_kfold)"
        )
    if scheme != "group" and groups is not None:
        raise InputError(f"groups are given with scheme {scheme!r}; expected scheme group")
    if scheme != "split" and split is not None:
        raise InputError(f"split is given with scheme {scheme!r}; expected scheme split")
    train, test, repeat = [], [], []
    if scheme in ("kfold", "repeated_kfold"):
        for r in range(n_repeats):
            tr, te = _from_folds(kfold_assignment(n, n_folds, seed + r), n_folds)
            train += tr
            test += te
            repeat += [r] * n_folds
        params = {"n_folds": n_folds, "seed": seed}
        if scheme == "repeated_kfold":
            params["n_repeats"] = n_repeats
    elif scheme == "loo":
        rows = np.arange(n)
        train = [np.delete(rows, i).astype(np.intp) for i in range(n)]
        test = [np.array([i], dtype=np.intp) for i in range(n)]
        repeat = [0] * n
        params = {}
    elif scheme == "group":
        if groups is None:
            raise InputError("groups are missing; expected a label per stimulus for scheme group")
        labels = _labels(groups, n, "groups")
        folds, n_splits = group_assignment(labels, n_folds)
        train, test = _from_folds(folds, n_splits)
        repeat = [0] * n_splits
        params = {
            "n_folds": n_splits,
            "n_groups": int(np.unique(labels).size),
            "leave_one_group_out": bool(n_folds >= np.unique(labels).size),
        }
    else:
        if split is None:
            raise InputError("split is missing; expected train/test per stimulus for scheme split")
        is_test = _split_values(split, n)
        train = [np.flatnonzero(~is_test).astype(np.intp)]
        test = [np.flatnonzero(is_test).astype(np.intp)]
        repeat = [0]
        params = {"n_train": int(train[0].size), "n_test": int(test[0].size)}
    return Splits(n, train, test, np.asarray(repeat, dtype=np.int64), scheme, params)


def check_splits(splits, n: int, *, min_train: int = 2) -> Splits:
    """Validate outer splits against ``n`` rows.

    Parameters
    ----------
    splits : Splits
        Splits to check.
    n : int
        Number of rows of the data they are applied to.
    min_train : int
        Fewest training rows a split may have.

    Returns
    -------
    Splits
        The same splits with ``intp`` index arrays and an ``int64`` repeat array.
    """
    if not isinstance(splits, Splits):
        raise InputError(
            f"splits is {type(splits).__name__}; expected a dnnmap.stats.splits.Splits"
        )
    if splits.n != n:
        raise InputError(f"splits are for {splits.n} stimuli but the data have {n}; expected equal")
    repeat = np.asarray(splits.repeat)
    if len(splits.train) != len(splits.test) or repeat.shape != (len(splits.train),):
        raise InputError(
            f"splits have {len(splits.train)} training sets, {len(splits.test)} test sets and "
            f"{repeat.size} repeat labels; expected one of each per split"
        )
    if len(splits) == 0:
        raise InputError("splits are empty; expected at least one (train, test) split")
    if not np.issubdtype(repeat.dtype, np.integer) or repeat.min() < 0:
        raise InputError(f"splits have repeats {repeat!r}; expected ints >= 0")
    train, test = [], []
    for i, (tr, te) in enumerate(zip(splits.train, splits.test, strict=True)):
        pair = []
        for what, rows in (("training", tr), ("test", te)):
            rows = np.asarray(rows)
            if not _valid_rows(rows, n):
                raise InputError(
                    f"splits: split {i} has {what} rows {rows!r}; expected non-empty row "
                    f"indices in [0, {n})"
                )
            pair.append(rows.astype(np.intp, copy=False))
        if pair[0].size < min_train:
            raise InputError(
                f"splits: split {i} trains on {pair[0].size} rows; expected at least {min_train}"
            )
        train.append(pair[0])
        test.append(pair[1])
    return Splits(n, train, test, repeat.astype(np.int64), splits.scheme, dict(splits.params))


def first_repeat_folds(splits: Splits) -> np.ndarray:
    """Split of the first repeat that tests each row.

    Parameters
    ----------
    splits : Splits

    Returns
    -------
    folds : int64 array of shape (n,)
        Index (0-based, among the first repeat's splits) of the split testing each row; -1
        for rows that no test set of the first repeat holds (``split`` training rows).
    """
    folds = np.full(splits.n, -1, dtype=np.int64)
    repeat = np.asarray(splits.repeat)
    for f, i in enumerate(np.flatnonzero(repeat == repeat.min())):
        folds[np.asarray(splits.test[i])] = f
    return folds


# ---------------------------------------------------------------------------------------------
# Inner (nested) splits
# ---------------------------------------------------------------------------------------------


def inner_splits(
    train_rows, scheme: str, *, n_folds: int = 5, seed: int = 0, groups=None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Nested CV folds inside one outer training set.

    Parameters
    ----------
    train_rows : int array of shape (n_train,)
        Row indices (into the full data) of the outer training set.
    scheme : str
        The outer scheme (:data:`SCHEMES`): ``group`` gives grouped inner folds, every
        other scheme shuffled k-fold.
    n_folds : int
        Inner folds; for ``group`` at most one per group present in the training rows
        (``n_folds >=`` that count gives leave-one-group-out).
    seed : int
        ``random_state`` of the shuffled ``KFold`` (unused for ``group``).
    groups : array of shape (n,), optional
        Group label of every row of the full data (``group`` scheme); indexed by
        ``train_rows``.

    Returns
    -------
    pairs : list of (train, test) int arrays
        Positions relative to ``train_rows`` (``train_rows[tr]`` are full-data rows), the
        form that ``inner_cv`` of :func:`dnnmap.encoding.ridge.cross_validated_encoding` and of the
        estimators in :mod:`dnnmap.encoding.estimators` takes.
    """
    scheme = _check_scheme(scheme)
    rows = np.asarray(train_rows)
    if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
        raise InputError(f"train_rows are {rows!r}; expected a non-empty 1-D int array")
    n_folds = check_count(n_folds, "n_folds", 2)
    if scheme == "group":
        if groups is None:
            raise InputError("groups are missing; expected a label per stimulus for scheme group")
        groups = np.asarray(groups)
        if groups.ndim != 1 or rows.max() >= groups.shape[0] or rows.min() < 0:
            raise InputError(
                f"groups have shape {groups.shape}; expected one label per row of the data"
            )
        sub = groups[rows]
        if np.unique(sub).size < 2:
            raise InputError(
                f"the training set of {rows.size} rows holds a single group ({_show(sub[0])}); "
                "expected at least 2 groups for grouped inner CV"
            )
        folds, n_splits = group_assignment(sub, n_folds)
        train, test = _from_folds(folds, n_splits)
        return list(zip(train, test, strict=True))
    if n_folds > rows.size:
        raise InputError(
            f"n_folds is {n_folds} inner folds for a training set of {rows.size} rows; "
            f"expected at most {rows.size}"
        )
    pairs = KFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(rows.size))
    return [(tr.astype(np.intp), te.astype(np.intp)) for tr, te in pairs]


# ---------------------------------------------------------------------------------------------
# Stratified folds (decoding) and held-out stimuli (second-level RSA)
# ---------------------------------------------------------------------------------------------


def _check_n_folds(n_folds, n: int, name: str = "n_folds") -> int:
    n_folds = check_count(n_folds, name, 2)
    if n_folds > n:
        raise InputError(f"{name} is {n_folds} for {n} stimuli; expected at most {n}")
    return n_folds


def stratified_kfold(y, n_folds: int = 5, seed: int = 0, n_repeats: int = 1) -> Splits:
    """Shuffled, seeded, stratified k-fold splits of labels ``y`` (n,): every fold holds
    every class in proportion.

    Repeat ``r`` is ``StratifiedKFold(n_folds, shuffle=True, random_state=seed + r)
    .split(y, y)`` (seeds as in :func:`make_splits`).

    Parameters
    ----------
    y : array of shape (n,)
        Class label per stimulus.
    n_folds : int
        Folds, ``2 <= n_folds <= n``.
    seed : int
        ``random_state`` of the first repeat.
    n_repeats : int
        Repeats, at least 1.

    Returns
    -------
    Splits
        Scheme ``stratified_kfold`` (``stratified_repeated_kfold`` when ``n_repeats > 1``);
        ``params`` holds ``n_folds``, ``seed`` (and ``n_repeats`` when > 1).
    """
    y = np.asarray(y)
    n_folds = _check_n_folds(n_folds, y.size)
    n_repeats = check_count(n_repeats, "n_repeats", 1)
    train, test, repeat = [], [], []
    for r in range(n_repeats):
        cv = StratifiedKFold(n_folds, shuffle=True, random_state=seed + r)
        for tr, te in cv.split(y, y):
            train.append(tr.astype(np.intp))
            test.append(te.astype(np.intp))
            repeat.append(r)
    params = {"n_folds": n_folds, "seed": seed}
    scheme = "stratified_kfold"
    if n_repeats > 1:
        params["n_repeats"] = n_repeats
        scheme = "stratified_repeated_kfold"
    return Splits(y.size, train, test, np.asarray(repeat, np.int64), scheme, params)


def stratified_pairs(
    cv, y, seed=0, *, X=None, name: str = "inner_folds"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner (train, test) pairs of the rows of one training set, stratified on ``y``.

    Parameters
    ----------
    cv : int, splitter or list of (train, test) pairs
        An int gives ``StratifiedKFold(cv, shuffle=True, random_state=seed)`` on ``y``; a
        splitter gives ``cv.split(X, y)``; a list of pairs is used as it is.
    y : array of shape (n,)
        Labels of the training rows.
    seed : int or None
        ``random_state`` of the stratified folds.
    X : array of shape (n, p), optional
        Passed to a splitter's ``split`` (a placeholder of ``n`` rows when omitted).
    name : str
        Argument name used in messages.

    Returns
    -------
    pairs : list of (train, test) intp arrays
        Positions in ``[0, n)``.
    """
    y = np.asarray(y)
    if is_int(cv):
        if not 2 <= cv <= len(y):
            raise InputError(f"{name} is {cv}; expected an int from 2 to {len(y)}")
        cv = StratifiedKFold(int(cv), shuffle=True, random_state=seed)
    if hasattr(cv, "split"):
        with warnings.catch_warnings():  # permuted labels may leave a class small
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            pairs = list(cv.split(np.zeros((len(y), 1)) if X is None else X, y))
    elif isinstance(cv, list | tuple):
        pairs = list(cv)
    else:
        raise InputError(f"{name} is {cv!r}; expected an int, a splitter or (train, test) pairs")
    return [(np.asarray(tr, np.intp), np.asarray(te, np.intp)) for tr, te in pairs]


def stimulus_folds(
    n: int, n_folds: int = 5, seed: int = 0, *, labels=None, groups=None, min_test: int = 1
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out stimulus folds of a stimulus-level cross-validation (second-level RSA).

    Parameters
    ----------
    n : int
        Number of stimuli.
    n_folds : int
        Folds, at least 2 (with ``groups``: at most one per group, ``n_folds >= n_groups``
        giving leave-one-group-out, as the ``group`` scheme of :func:`make_splits`).
    seed : int
        ``random_state`` of the shuffled folds (unused with ``groups``).
    labels : array of shape (n,), optional
        Categories to stratify on: ``StratifiedKFold(n_folds, shuffle=True,
        random_state=seed)``.
    groups : array of shape (n,), optional
        Group label per stimulus (a stimulus-table column such as session or object): whole
        groups are held out (:func:`group_assignment`), so no group is on both sides of a
        fold. Exclusive with ``labels``.
    min_test : int
        Fewest test stimuli a fold may have (checked on the fold sizes ``n / n_folds``
        without groups, on the folds themselves with groups).

    Returns
    -------
    pairs : list of (train, test) int arrays
        Without ``labels`` and ``groups``: ``KFold(n_folds, shuffle=True,
        random_state=seed)`` (the folds of :func:`as_pairs` with an int).
    """
    n_folds = check_count(n_folds, "n_splits", 2)
    if labels is not None and groups is not None:
        raise InputError("labels and groups are both given; expected at most one of them")
    if groups is not None:
        labels_ = _labels(groups, n, "groups")
        folds, n_splits = group_assignment(labels_, n_folds)
        train, test = _from_folds(folds, n_splits)
        small = [t.size for t in test if t.size < min_test]
        if small:
            raise InputError(
                f"groups give a fold of {small[0]} test stimuli; expected at least {min_test} "
                "test stimuli per fold (fewer folds or larger groups)"
            )
        pairs = zip(train, test, strict=True)
        return [(tr.astype(np.int64), te.astype(np.int64)) for tr, te in pairs]
    if n < min_test * n_folds:
        raise InputError(
            f"n_splits is {n_folds} for {n} stimuli; expected at least "
            f"{min_test} test stimuli per fold"
        )
    if labels is None:
        return list(KFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(n)))
    cv = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(n), labels))


def check_stimulus_folds(pairs, n: int, min_size: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate held-out stimulus folds against ``n`` stimuli.

    Parameters
    ----------
    pairs : iterable of (train, test) int arrays
    n : int
        Number of stimuli.
    min_size : int
        Fewest stimuli a training or test set may have.

    Returns
    -------
    pairs : list of (train, test) int64 arrays
        Disjoint sets of indices in ``[0, n)``.
    """
    out = []
    for k, (train, test) in enumerate(pairs):
        train, test = np.asarray(train, np.int64), np.asarray(test, np.int64)
        if len(train) < min_size or len(test) < min_size:
            raise InputError(
                f"split {k} has {len(train)} train and {len(test)} test stimuli; expected at "
                f"least {min_size} each"
            )
        if np.intersect1d(train, test).size or min(train.min(), test.min()) < 0:
            raise InputError(f"split {k} has shared or negative stimuli; expected disjoint sets")
        if max(train.max(), test.max()) >= n:
            raise InputError(
                f"split {k} indexes stimulus >= {n}; expected indices of the {n} stimuli"
            )
        out.append((train, test))
    return out


# ---------------------------------------------------------------------------------------------
# From the stimulus table
# ---------------------------------------------------------------------------------------------


def _row_namer(table: pd.DataFrame, table_path: str, column: str):
    from dnnmap.stimuli import LINES_ATTR

    lines = table.attrs.get(LINES_ATTR)

    def where(i: int) -> str:
        line = lines[i] if lines is not None and i < len(lines) else i + 2
        return f"{table_path} row {line}: column {column!r}"

    return where


def _settings(settings, key: str) -> dict:
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise InputError(f"{key} is {settings!r}; expected a mapping of {', '.join(SETTINGS)}")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise InputError(
            f"{key}.{unknown[0]} is not a setting; expected keys among {', '.join(SETTINGS)}"
        )
    out = {"scheme": "kfold", "n_folds": 5, "n_repeats": 1, "seed": 0, **settings}
    if out.get("column", "") is None:  # the config's null: the scheme's default column
        del out["column"]
    _check_scheme(out["scheme"], f"{key}.scheme")
    for name, minimum in (("n_folds", 2), ("n_repeats", 1)):
        check_count(out[name], f"{key}.{name}", minimum)
    if not is_int(out["seed"]):
        raise InputError(f"{key}.seed is {out['seed']!r}; expected an int")
    return out


def _table_column(table: pd.DataFrame, column, table_path: str, key: str) -> pd.Series:
    if not isinstance(column, str) or not column:
        raise InputError(f"{key}.column is {column!r}; expected a stimulus-table column name")
    if column not in table.columns:
        raise InputError(
            f"{key}.column is {column!r} but stimulus table {table_path} has no such column; "
            f"columns are {', '.join(map(str, table.columns))}"
        )
    return table[column]


def groups_from_table(
    table: pd.DataFrame, settings: dict, table_path: str, *, key: str = "encoding.cv"
) -> np.ndarray | None:
    """Group label per stimulus for the ``group`` scheme, else None.

    Parameters
    ----------
    table : pandas.DataFrame
        The stimulus table (:func:`dnnmap.stimuli.read_table`), one row per stimulus.
    settings : dict
        Keys among :data:`SETTINGS`; ``column`` defaults to ``group``.
    table_path : str
        The table's file, named in messages.
    key : str
        Config key of ``settings``, named in messages.

    Returns
    -------
    groups : str array of shape (n,) or None
        Stripped labels; None unless ``settings["scheme"]`` is ``group``.
    """
    s = _settings(settings, key)
    if s["scheme"] != "group":
        return None
    column = s.get("column", DEFAULT_COLUMN["group"])
    values = _table_column(table, column, table_path, key)
    where = _row_namer(table, table_path, column)
    labels = _labels(values.to_numpy(dtype=object), len(table), column, where)
    unique = np.unique(labels)
    if unique.size < 2:
        raise InputError(
            f"{key}.column {column!r} of stimulus table {table_path} holds a single group "
            f"({_show(unique[0])}); expected at least 2 groups"
        )
    return labels


def splits_from_table(
    table: pd.DataFrame, settings: dict, table_path: str, *, key: str = "encoding.cv"
) -> Splits:
    """Outer splits of the stimuli of a stimulus table.

    Parameters
    ----------
    table : pandas.DataFrame
        The stimulus table (:func:`dnnmap.stimuli.read_table`), one row per stimulus, in
        stimulus order.
    settings : dict
        ``scheme`` (default ``kfold``), ``n_folds`` (5), ``n_repeats`` (1), ``seed`` (0),
        ``column``: the table column of the ``group`` scheme (default ``group``) or of the
        ``split`` scheme (default ``split``); ignored by the other schemes.
    table_path : str
        The table's file, named in messages (with each row's line number).
    key : str
        Config key of ``settings``, named in messages.

    Returns
    -------
    Splits
        As :func:`make_splits`; ``params`` also holds ``column`` for ``group``/``split``.
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table is {type(table).__name__}; expected the stimulus table DataFrame")
    s = _settings(settings, key)
    scheme, n = s["scheme"], len(table)
    if n < 2:
        raise InputError(f"stimulus table {table_path} has {n} rows; expected at least 2")
    if scheme in ("kfold", "repeated_kfold") and s["n_folds"] > n:
        raise InputError(
            f"{key}.n_folds is {s['n_folds']} but stimulus table {table_path} has {n} stimuli; "
            f"expected at most {n} folds"
        )
    if scheme != "repeated_kfold" and s["n_repeats"] != 1:
        raise InputError(
            f"{key}.n_repeats is {s['n_repeats']} with scheme {scheme!r}; expected 1 "
            "(repeats need scheme repeated_kfold)"
        )
    common = {"n_folds": s["n_folds"], "n_repeats": s["n_repeats"], "seed": s["seed"]}
    if scheme == "group":
        groups = groups_from_table(table, s, table_path, key=key)
        out = make_splits(n, scheme, groups=groups, **common)
    elif scheme == "split":
        column = s.get("column", DEFAULT_COLUMN["split"])
        values = _table_column(table, column, table_path, key).to_numpy(dtype=object)
        where = _row_namer(table, table_path, column)
        name = f"{key}.column {column!r} of stimulus table {table_path}"
        is_test = _split_values(values, n, where, name)
        out = make_splits(n, scheme, split=np.where(is_test, "test", "train"), **common)
    else:
        out = make_splits(n, scheme, **common)
    params = dict(out.params)
    if scheme in DEFAULT_COLUMN:
        params["column"] = s.get("column", DEFAULT_COLUMN[scheme])
    return Splits(out.n, out.train, out.test, out.repeat, out.scheme, params)


def as_pairs(cv, n: int, *, seed=0, name: str = "cv") -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner CV of an estimator as explicit (train, test) pairs over ``n`` rows.

    Parameters
    ----------
    cv : int, splitter or list of (train, test) pairs
        An int means shuffled k-fold, ``KFold(cv, shuffle=True, random_state=seed)`` (as
        the int ``cv`` of :class:`dnnmap.encoding.ridge.RidgeCV`); a splitter's ``split`` gets an
        ``(n, 1)`` placeholder; pairs (e.g. from :func:`inner_splits`) are checked.
    n : int
        Number of rows of the training set.
    seed : int or None
        ``random_state`` of the shuffled k-fold.
    name : str
        Argument name used in messages.

    Returns
    -------
    pairs : list of (train, test) intp arrays
        Row positions in ``[0, n)``; every training set has at least 2 rows.
    """
    if is_int(cv):
        if not 2 <= cv <= n:
            raise InputError(f"{name} is {cv} folds for {n} samples; expected 2 <= {name} <= {n}")
        pairs = KFold(int(cv), shuffle=True, random_state=seed).split(np.zeros((n, 1)))
    elif hasattr(cv, "split"):
        pairs = cv.split(np.zeros((n, 1)))
    elif isinstance(cv, list | tuple):
        pairs = cv
    else:
        raise InputError(f"{name} is {cv!r}; expected an int, a splitter or (train, test) pairs")
    out = []
    for pair in pairs:
        try:
            tr, te = (np.asarray(x) for x in pair)
        except (TypeError, ValueError):
            raise InputError(f"{name} has an element {pair!r}; expected (train, test)") from None
        for rows in (tr, te):
            if not _valid_rows(rows, n):
                raise InputError(
                    f"{name} has a split with rows {rows!r}; expected non-empty row "
                    f"positions in [0, {n})"
                )
        if tr.size < 2:
            raise InputError(f"{name} has a training set of {tr.size} row; expected at least 2")
        out.append((tr.astype(np.intp), te.astype(np.intp)))
    if not out:
        raise InputError(f"{name} gave no splits; expected at least one (train, test) pair")
    return out
