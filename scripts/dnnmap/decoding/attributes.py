"""Stimulus attributes to decode, read from the stimulus table and checked.

:func:`attribute_values` reads one attribute column (str labels for a categorical attribute,
float64 values for a continuous one) and stops on missing, constant or non-numeric values with
the table's rows named; :func:`attribute_kind` says which kind the ``decoding`` settings give
an attribute; :func:`check_stratified_folds` (before the folds are built) and
:func:`check_class_counts` stop unless every class can be split by the outer and inner folds.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from dnnmap.errors import InputError
from dnnmap.stats.splits import Splits

MISSING = frozenset({"", "nan", "na", "n/a", "null"})
"""Table cells (case-insensitive, stripped) read as a missing attribute value."""


def _rows_text(table: pd.DataFrame, rows: np.ndarray, limit: int = 10) -> str:
    """'rows 3, 7 (stim_id a, b)' for row positions (line = position + 2, after the header)."""
    shown = rows[:limit]
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    lines = ", ".join(str(int(r) + 2) for r in shown)
    ids = ""
    if "stim_id" in table.columns:
        ids = f" (stim_id {', '.join(str(table['stim_id'].iloc[r]) for r in shown)})"
    return f"row{'s' if rows.size > 1 else ''} {lines}{more}{ids}"


def attribute_values(
    table: pd.DataFrame, column: str, kind: str, source: str | os.PathLike = "stimulus table"
) -> np.ndarray:
    """One attribute column of a stimulus table, checked for decoding.

    Parameters
    ----------
    table : DataFrame
        Stimulus table, one row per stimulus (values as strings, as
        :func:`dnnmap.stimuli.read_stimuli` gives them, or numbers).
    column : str
        The attribute column.
    kind : {"categorical", "continuous"}
    source : path or str
        The table's file, named in messages (rows are named by line number, header = 1).

    Returns
    -------
    values : array of shape (n_stim,)
        str labels (categorical) or float64 values (continuous).

    Raises
    ------
    InputError
        The column is missing, has missing values (empty, NaN, NA, N/A, null), has a single
        class (categorical), is not numeric or is constant (continuous).
    """
    if kind not in ("categorical", "continuous"):
        raise InputError(f"kind is {kind!r}; expected 'categorical' or 'continuous'")
    if column not in table.columns:
        found = ", ".join(map(str, table.columns))
        raise InputError(
            f"{source}: no column {column!r} (columns: {found}); expected the decoding "
            "attribute as a stimulus-table column"
        )
    raw = table[column]
    missing = raw.isna().to_numpy() | raw.astype(str).str.strip().str.lower().isin(MISSING)
    if missing.any():
        rows = _rows_text(table, np.flatnonzero(missing))
        raise InputError(
            f"{source}: column {column!r} has no value in {rows}; "
            "expected a value for every stimulus"
        )
    if kind == "categorical":
        values = raw.astype(str).str.strip().to_numpy(dtype=object).astype(str)
        classes = np.unique(values)
        if classes.size < 2:
            raise InputError(
                f"{source}: column {column!r} has one class ({str(classes[0])!r}) for all "
                f"{values.size} stimuli; expected at least 2 classes to decode"
            )
        return values
    numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        first = raw.iloc[int(np.flatnonzero(bad)[0])]
        rows = _rows_text(table, np.flatnonzero(bad))
        raise InputError(
            f"{source}: column {column!r} is not numeric in {rows} "
            f"(e.g. {first!r}); expected finite numbers for a continuous attribute"
        )
    if np.ptp(numbers) == 0:
        raise InputError(
            f"{source}: column {column!r} is {numbers[0]:g} for all stimuli; expected a "
            "varying continuous attribute"
        )
    return numbers


def check_class_counts(
    y,
    splits: Splits,
    inner_folds: int,
    column: str = "attribute",
    source: str = "stimuli",
    *,
    grouped: bool = False,
) -> None:
    """Stop unless every class can be split by the outer and the inner folds.

    Parameters
    ----------
    y : array of shape (n_stim,)
        Class labels.
    splits : Splits
        Outer splits.
    inner_folds : int
        Inner folds on each outer training set.
    column, source : str
        Attribute and table named in messages.
    grouped : bool
        Inner folds are grouped (not stratified): only the presence of every class in every
        outer training set is checked.

    Raises
    ------
    InputError
        A class has fewer stimuli than the outer folds (stratified k-fold schemes), is
        absent from an outer training set, or (stratified inner folds) has fewer members in
        an outer training set than ``inner_folds``.
    """
    y = np.asarray(y)
    classes = np.unique(y)
    if splits.scheme.startswith("stratified"):
        check_stratified_folds(y, splits.params["n_folds"], column, source)
    least = 1 if grouped else inner_folds
    for k, train in enumerate(splits.train):
        cls, cnt = np.unique(y[train], return_counts=True)
        absent = np.setdiff1d(classes, cls)
        if absent.size or cnt.min() < least:
            name = str(absent[0] if absent.size else cls[int(np.argmin(cnt))])
            have = 0 if absent.size else int(cnt.min())
            raise InputError(
                f"{source}: column {column!r} class {name!r} has {have} stimuli in the "
                f"training set of outer split {k + 1}; expected at least {least}"
                + ("" if grouped else " (decoding.inner_folds)")
                + " per class"
            )


def check_stratified_folds(y, n_folds: int, column: str = "attribute", source: str = "stimuli"):
    """Stop unless every class has at least ``n_folds`` stimuli (stratified k-fold).

    Called before the folds are built, so that scikit-learn's ``StratifiedKFold`` never
    raises its own error about the least populated class.

    Parameters
    ----------
    y : array of shape (n_stim,)
        Class labels.
    n_folds : int
        Outer folds.
    column, source : str
        Attribute and table named in messages.

    Raises
    ------
    InputError
        Naming the smallest class, its count and the folds.
    """
    classes, counts = np.unique(np.asarray(y), return_counts=True)
    if counts.size and counts.min() < n_folds:
        c = int(np.argmin(counts))
        raise InputError(
            f"{source}: column {column!r} class {str(classes[c])!r} has {counts[c]} stimuli, "
            f"fewer than the {n_folds} outer folds; expected at least {n_folds} per class "
            "(drop the class or lower decoding.n_folds)"
        )


def attribute_kind(attribute: str, settings: dict) -> str:
    """``continuous`` if ``attribute`` is listed under ``settings["continuous"]``, else
    ``categorical``."""
    return "continuous" if attribute in (settings.get("continuous") or []) else "categorical"
