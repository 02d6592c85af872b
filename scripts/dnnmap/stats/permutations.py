"""Row permutations of permutation tests: one generator for encoding, decoding and RSA.

A permutation test shuffles which stimulus a response (or label, or RDM row) belongs to.
:func:`permutations` draws ``n_perm`` permutations of ``range(n)`` from
``np.random.default_rng(seed)``; row ``b`` of the result is one permutation, and permuted
values are ``y[perms[b]]``. Two draws are offered, because the analyses that use them have
always drawn differently and their seeded nulls are kept as they were:

``"keys"`` (encoding permutation tests)
    Row ``b`` is ``np.argsort(rng.random(n))``, the keys of all rows drawn in one call
    ``rng.random((n_perm, n))`` (so drawing in batches, :func:`permutation_batches`, gives
    the same rows as one call).
``"shuffle"`` (decoding label permutations, RSA stimulus-label permutations)
    Each row of ``np.tile(np.arange(n), (n_perm, 1))`` shuffled independently by
    ``rng.permuted(..., axis=1)``.

Both are uniform over the ``n!`` orders. With ``groups`` (exchangeability blocks) a row is
only exchanged with rows of the same label: the rows of a group, in increasing order, receive
that group's rows in the order of their keys (``"keys"``: the uniform keys; ``"shuffle"``: the
shuffled row, whose distinct values serve as keys). Drawing in batches gives the same
permutations as one call for both draws, with or without groups. :func:`exact_permutations`
enumerates all ``n!`` permutations of a few stimuli instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from dnnmap.checks import check_choice, check_count, check_labels
from dnnmap.errors import InputError

DRAWS = ("keys", "shuffle")
"""Ways of drawing random permutations (see the module docstring)."""

MAX_EXACT_N = 8
"""Most rows whose ``n!`` permutations :func:`exact_permutations` enumerates."""


def check_groups(groups, n: int) -> np.ndarray | None:
    """Exchangeability blocks as a label array of shape (n,), or None when not given."""
    if groups is None:
        return None
    try:
        return check_labels(groups, n, "groups")
    except InputError:
        shape = np.shape(groups)
        raise InputError(
            f"groups have shape {shape}; expected one label per row, ({n},), none missing"
        ) from None


def _draw(rng: np.random.Generator, n_perm: int, n: int, groups, draw: str) -> np.ndarray:
    """``n_perm`` permutations (n_perm, n) from ``rng``, in the way ``draw`` names."""
    if draw == "keys":
        keys = rng.random((n_perm, n))
        if groups is None:
            return np.argsort(keys, axis=1)
    else:
        keys = rng.permuted(np.broadcast_to(np.arange(n, dtype=np.int64), (n_perm, n)), axis=1)
        if groups is None:
            return keys
    # blocks: the rows of each group, in increasing order, get that group's rows by key order
    order = np.lexsort((keys, np.broadcast_to(groups, keys.shape)), axis=-1)
    perms = np.empty_like(order)
    perms[:, np.argsort(groups, kind="stable")] = order
    return perms


def permutations(
    n: int, n_perm: int, seed: int = 0, *, groups=None, draw: str = "keys"
) -> np.ndarray:
    """Seeded random row permutations.

    Parameters
    ----------
    n : int
        Rows (stimuli), at least 1.
    n_perm : int
        Permutations, at least 0.
    seed : int
        Seed of ``np.random.default_rng``, at least 0.
    groups : array of shape (n,), optional
        Exchangeability blocks: a row is only exchanged with rows of the same label.
    draw : {"keys", "shuffle"}
        How the permutations are drawn (see the module docstring); the same seed gives
        different permutations with each.

    Returns
    -------
    perms : int64 array of shape (n_perm, n)
        Row ``b`` is a permutation of ``range(n)``: permuted values are ``y[perms[b]]``.
    """
    n = check_count(n, "n", 1)
    n_perm = check_count(n_perm, "n_perm", 0)
    seed = check_count(seed, "seed", 0)
    draw = check_choice(draw, "draw", DRAWS)
    groups = check_groups(groups, n)
    return _draw(np.random.default_rng(seed), n_perm, n, groups, draw)


def permutation_batches(
    n: int, n_perm: int, seed: int, batch: int, *, groups=None, draw: str = "keys"
) -> Iterator[tuple[int, np.ndarray]]:
    """The permutations of :func:`permutations` in batches of at most ``batch`` rows.

    Yields
    ------
    start : int
        Index of the batch's first permutation.
    perms : int64 array of shape (b, n)
        ``permutations(n, n_perm, seed, groups=groups, draw=draw)[start : start + b]``.
    """
    n = check_count(n, "n", 1)
    n_perm = check_count(n_perm, "n_perm", 0)
    seed = check_count(seed, "seed", 0)
    batch = check_count(batch, "batch", 1)
    draw = check_choice(draw, "draw", DRAWS)
    groups = check_groups(groups, n)
    rng = np.random.default_rng(seed)
    for start in range(0, n_perm, batch):
        yield start, _draw(rng, min(batch, n_perm - start), n, groups, draw)


def exact_permutations(n: int) -> np.ndarray:
    """All ``n!`` permutations of ``n <= 8`` rows, the identity first.

    Returns
    -------
    perms : int64 array of shape (n!, n), in lexicographic order
    """
    n = check_count(n, "n", 2)
    if n > MAX_EXACT_N:
        raise InputError(f"n is {n}; exact permutations are enumerated for n <= {MAX_EXACT_N}")
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64)


def swap_masks(n: int, n_perm: int, seed: int = 0, *, groups=None) -> np.ndarray:
    """Seeded random swaps (sign flips) of paired values, for paired permutation tests.

    Row ``b`` says, for each of ``n`` rows, whether the two members of its pair trade places
    (a sign flip of the row's difference). Drawn as ``rng.random((n_perm, n)) < 0.5`` (per
    group, the draw of the group's first row, so a block flips as a whole) from
    ``np.random.default_rng(seed)``.

    Parameters
    ----------
    n : int
        Rows (stimuli), at least 1.
    n_perm : int
        Draws, at least 0.
    seed : int
        Seed of ``np.random.default_rng``, at least 0.
    groups : array of shape (n,), optional
        Blocks: the rows of a group are swapped together.

    Returns
    -------
    swaps : bool array of shape (n_perm, n)
    """
    n = check_count(n, "n", 1)
    n_perm = check_count(n_perm, "n_perm", 0)
    seed = check_count(seed, "seed", 0)
    groups = check_groups(groups, n)
    flips = np.random.default_rng(seed).random((n_perm, n)) < 0.5
    if groups is None:
        return flips
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    return flips[:, first][:, inverse]
