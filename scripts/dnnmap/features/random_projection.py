"""Seeded random projections of a matrix read in column blocks (data-independent features).

A random projection maps the ``p`` units of a layer to ``k`` features by ``X @ R.T`` with a
fixed random ``R`` of shape ``(k, p)`` drawn before any data are seen, so it cannot leak
information from test stimuli (there is nothing to fit). By the Johnson-Lindenstrauss lemma,
pairwise distances of ``n`` points are kept within a factor ``1 +- eps`` when
``k >= 4 ln(n) / (eps**2 / 2 - eps**3 / 3)``
(:func:`sklearn.random_projection.johnson_lindenstrauss_min_dim`).

Two kinds, with the entries of scikit-learn's
:class:`~sklearn.random_projection.GaussianRandomProjection` and
:class:`~sklearn.random_projection.SparseRandomProjection` (``X @ components_.T``, no
centering):

* ``gaussian``: ``R[i, j] ~ N(0, 1 / k)``;
* ``sparse`` (Achlioptas 2003; Li, Hastie and Church 2006): ``R[i, j]`` is
  ``+-sqrt(1 / (density * k))`` with probability ``density / 2`` each and 0 otherwise;
  ``density`` defaults to ``1 / sqrt(p)`` (scikit-learn's ``"auto"``).

The random numbers differ from scikit-learn's (which draws all of ``R`` at once from a
``RandomState``): ``R`` is drawn in fixed blocks of :data:`BLOCK` columns, block ``b`` from
``numpy.random.default_rng([seed, b])``, so any column slab of ``R`` can be made alone and
the features do not depend on how the layer is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dnnmap.checks import check_int
from dnnmap.errors import InputError

KINDS = ("gaussian", "sparse")
"""Kinds of random projection (module docstring)."""

BLOCK = 4096
"""Columns of ``R`` drawn from one seeded generator."""


def check_density(density, n_features: int) -> float:
    """The density of a sparse projection: ``1 / sqrt(n_features)`` for None or ``"auto"``,
    else a number in ``(0, 1]``."""
    if density is None or density == "auto":
        return 1.0 / np.sqrt(n_features)
    try:
        d = float(density)
    except (TypeError, ValueError):
        d = float("nan")
    if not 0 < d <= 1:
        raise InputError(f"density is {density!r}; expected 'auto' or a number in (0, 1]")
    return d


def _block(kind: str, k: int, seed: int, b: int, width: int, density: float) -> np.ndarray:
    """Columns ``b * BLOCK : b * BLOCK + width`` of ``R`` (k, width), float64."""
    rng = np.random.default_rng([seed, b])
    if kind == "gaussian":
        return rng.standard_normal((k, width)) / np.sqrt(k)
    nonzero = rng.random((k, width)) < density
    sign = np.where(rng.random((k, width)) < 0.5, -1.0, 1.0)
    return np.where(nonzero, sign, 0.0) / np.sqrt(density * k)


def projection_matrix(
    kind: str,
    n_components: int,
    n_features: int,
    seed: int,
    c0: int = 0,
    c1: int | None = None,
    *,
    density=None,
) -> np.ndarray:
    """Columns ``c0:c1`` of the random projection matrix ``R``.

    Parameters
    ----------
    kind : {"gaussian", "sparse"}
    n_components : int
        ``k``, the rows of ``R``.
    n_features : int
        ``p``, the columns of the whole ``R`` (sets the sparse density's default).
    seed : int
        Seed; the same seed gives the same ``R`` whatever the slab asked for.
    c0, c1 : int
        Column range (``c1`` None: ``n_features``).
    density : float, "auto" or None
        Sparse kind only (module docstring).

    Returns
    -------
    array of shape (n_components, c1 - c0), float64
    """
    if kind not in KINDS:
        raise InputError(f"random projection kind is {kind!r}; expected one of {', '.join(KINDS)}")
    k = check_int(n_components, "n_components", 1)
    p = check_int(n_features, "n_features", 1)
    seed = check_int(seed, "seed", 0)
    c1 = p if c1 is None else c1
    if not 0 <= c0 < c1 <= p:
        raise InputError(f"columns {c0}:{c1}; expected 0 <= c0 < c1 <= {p}")
    d = check_density(density, p) if kind == "sparse" else 1.0
    first, last = c0 // BLOCK, (c1 - 1) // BLOCK
    parts = [_block(kind, k, seed, b, min(BLOCK, p - b * BLOCK), d) for b in range(first, last + 1)]
    R = np.concatenate(parts, axis=1)
    return R[:, c0 - first * BLOCK : c1 - first * BLOCK]


def random_projection(
    read_cols: Callable[[int, int], np.ndarray],
    n_rows: int,
    n_cols: int,
    n_components: int,
    seed: int,
    *,
    kind: str = "gaussian",
    density=None,
    col_bounds: Sequence[tuple[int, int]] | None = None,
    col_chunk: int = BLOCK,
) -> np.ndarray:
    """``X @ R.T`` for an ``(n_rows, n_cols)`` matrix X read in column blocks.

    Parameters
    ----------
    read_cols : callable ``(c0, c1) -> array of shape (n_rows, c1 - c0)``
        Column-block reader.
    n_rows, n_cols : int
        Shape of X.
    n_components : int
        Features wanted, ``k`` (not clipped: ``k > n_cols`` is allowed but pointless).
    seed : int
        Seed of ``R`` (:func:`projection_matrix`).
    kind : {"gaussian", "sparse"}
    density : float, "auto" or None
        Sparse kind only.
    col_bounds : sequence of (c0, c1), optional
        Consecutive column ranges covering ``0..n_cols`` (e.g. channel slices of a layer);
        default: blocks of ``col_chunk``.
    col_chunk : int

    Returns
    -------
    array of shape (n_rows, n_components), float64
    """
    from dnnmap.features.pca import chunk_bounds

    bounds = chunk_bounds(n_cols, col_chunk) if col_bounds is None else list(col_bounds)
    if not bounds or bounds[0][0] != 0 or bounds[-1][1] != n_cols:
        raise InputError(f"col_bounds {bounds[:3]}...; expected consecutive ranges over {n_cols}")
    out = np.zeros((n_rows, check_int(n_components, "n_components", 1)))
    for c0, c1 in bounds:
        block = np.asarray(read_cols(c0, c1), dtype=np.float64)
        if block.shape != (n_rows, c1 - c0):
            raise InputError(
                f"read_cols({c0}, {c1}) returned shape {block.shape}; expected ({n_rows}, "
                f"{c1 - c0})"
            )
        if not np.isfinite(block).all():
            raise InputError(f"read_cols({c0}, {c1}) returned NaN or inf; expected finite values")
        R = projection_matrix(kind, n_components, n_cols, seed, c0, c1, density=density)
        out += block @ R.T
    return out
