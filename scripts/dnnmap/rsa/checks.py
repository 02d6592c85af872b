"""Argument checks shared by the RSA modules: condensed RDM stacks and comparison methods.

Integer, choice and label checks are :mod:`dnnmap.checks`; these are the RSA-specific ones
that :mod:`dnnmap.rsa.inference`, :mod:`dnnmap.rsa.bootstrap`, :mod:`dnnmap.rsa.reweighting`
and :mod:`dnnmap.rsa.units` share. Each raises :class:`dnnmap.errors.InputError` naming the
argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dnnmap.errors import InputError
from dnnmap.rsa.rdm import n_stimuli

ALIASES = {"corr": "pearson", "tau-b": "kendall"}
"""rsatoolbox's names of comparison methods -> dnnmap's."""


def check_method(method, allowed: Sequence[str]) -> str:
    """The canonical name of an RDM comparison ``method`` (rsatoolbox aliases accepted).

    Parameters
    ----------
    method : str
        A name in ``allowed`` or an alias of one (:data:`ALIASES`).
    allowed : sequence of str
        Canonical names accepted here.
    """
    method = ALIASES.get(method, method) if isinstance(method, str) else method
    if method not in allowed:
        raise InputError(f"method is {method!r}; expected one of {', '.join(allowed)}")
    return method


def as_rdms(x, name: str) -> tuple[np.ndarray, bool]:
    """``x`` as a finite float64 stack of condensed RDMs, and whether it was one RDM.

    Parameters
    ----------
    x : array of shape (n_pairs,) or (k, n_pairs)
        ``n_pairs = n (n - 1) / 2`` for some ``n >= 3`` stimuli.
    name : str
        Argument name used in messages.

    Returns
    -------
    rdms : float64 array of shape (k, n_pairs)
        ``k = 1`` for a 1-D ``x``.
    vector : bool
        ``x`` was 1-D.
    """
    V = np.asarray(x)
    if not (np.issubdtype(V.dtype, np.number) or V.dtype == bool):
        raise InputError(f"{name} has dtype {V.dtype}; expected numbers")
    V = V.astype(np.float64, copy=False)
    if V.ndim not in (1, 2) or V.shape[-1] == 0:
        raise InputError(f"{name} has shape {V.shape}; expected (n_pairs,) or (k, n_pairs)")
    vector = V.ndim == 1
    V = V[None] if vector else V
    if V.shape[1] < 3:
        raise InputError(
            f"{name} has {V.shape[1]} entries; expected a condensed RDM of at least 3 stimuli"
        )
    n_stimuli(V.shape[1], name)
    bad = ~np.isfinite(V)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        row = "" if vector else f" row {i}"
        raise InputError(
            f"{name}{row} holds {V[i, j]} at pair {j}; expected finite dissimilarities "
            "(missing pairs are not excluded)"
        )
    return V, vector


def check_same_pairs(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Stop unless RDM stacks ``a`` (..., P) and ``b`` (..., P) have as many pairs."""
    if a.shape[-1] != b.shape[-1]:
        raise InputError(
            f"{names[0]} has {a.shape[-1]} pairs and {names[1]} has {b.shape[-1]}; "
            "expected RDMs of the same stimuli"
        )
