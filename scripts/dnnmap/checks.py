"""Argument checks shared by the whole library: one home, one wording of each message.

Every check raises :class:`dnnmap.errors.InputError` with a message that names the argument,
shows the value it got and says what was expected, so a user's mistake reads the same
whichever analysis caught it. Checks return the value in its canonical type (``int`` for
integers, a float64 array for matrices) so callers use what they return.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dnnmap.errors import InputError


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), booleans excluded."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` within ``[minimum, maximum]`` (either bound optional).

    Raises
    ------
    InputError
        ``"{name} is {value!r}; expected an integer >= {minimum}"`` (or ``<= maximum``).
    """
    if not is_int(value):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise InputError(f"{name} is {value!r}; expected an integer{bound}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} is {value!r}; expected an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} is {value!r}; expected an integer <= {maximum}")
    return int(value)


def check_choice(value, name: str, options: Iterable[str]):
    """``value`` when it is one of ``options``; otherwise an error listing them."""
    options = tuple(options)
    if value not in options:
        raise InputError(f"{name} is {value!r}; expected one of {', '.join(map(str, options))}")
    return value


def check_matrix(X, name: str = "X", *, finite: bool = True) -> np.ndarray:
    """``X`` as a 2-D float64 array of shape (n_samples, n_features), finite by default."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(
            f"{name} has shape {X.shape}; expected a 2-D (n_samples, n_features) array"
        )
    if finite and not np.isfinite(X).all():
        raise InputError(f"{name} contains NaN or inf; expected finite values")
    return X


def check_targets(Y, n_rows: int, name: str = "Y", *, finite: bool = True):
    """``Y`` as a 2-D float64 array (n_rows, n_targets), and whether it was 1-D.

    Parameters
    ----------
    Y : array of shape (n_rows,) or (n_rows, n_targets)
    n_rows : int
        Rows the design matrix has; ``Y`` must have as many.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim not in (1, 2):
        raise InputError(
            f"{name} has shape {Y.shape}; expected (n_samples,) or (n_samples, n_targets)"
        )
    if Y.shape[0] != n_rows:
        raise InputError(f"{name} has {Y.shape[0]} rows; expected {n_rows}, as X has")
    if finite and not np.isfinite(Y).all():
        raise InputError(f"{name} contains NaN or inf; expected finite values")
    vector = Y.ndim == 1
    return (Y[:, None] if vector else Y), vector


def check_labels(values, n: int, name: str) -> np.ndarray:
    """A label per row (groups, blocks), as an array of length ``n`` without missing values."""
    labels = np.asarray(values)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise InputError(f"{name} has shape {labels.shape}; expected one label per row ({n},)")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise InputError(f"{name} has missing values; expected a label for every row")
    return labels


def check_count(value, name: str, minimum: int = 0) -> int:
    """``value`` as an ``int >= minimum``: a count of folds, repeats, permutations or rows.

    The check of :func:`check_int` with a lower bound, in the shorter wording that the
    messages of cross-validation splits and permutations have always had.

    Raises
    ------
    InputError
        ``"{name} is {value!r}; expected an int >= {minimum}"``.
    """
    if not is_int(value) or value < minimum:
        raise InputError(f"{name} is {value!r}; expected an int >= {minimum}")
    return int(value)
