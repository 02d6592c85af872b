"""P-values from permutation nulls and their correction for many tests (voxels, layers).

Permutation p-value (Phipson & Smyth 2010; the ``+1`` counts the observed labelling as one
of the permutations, so a p-value is never 0)::

    greater:    p = (1 + #{null >= observed}) / (1 + n_perm)
    less:       p = (1 + #{null <= observed}) / (1 + n_perm)
    two-sided:  p = min(1, 2 * min(p_greater, p_less))

The two-sided rule is ``scipy.stats.permutation_test``'s: it does not assume a null centered
at 0. Non-finite null values are not counted (``n_perm`` is then the number of finite null
values of that test); a NaN observation gives a NaN p-value.

Max-statistic family-wise correction (Nichols & Holmes 2002): with the maximum over tests
``null_max[i] = max_v null[i, v]`` of each permutation, ``p_fwe[v] = (1 + #{null_max >=
observed[v]}) / (1 + n_perm)``; it controls the family-wise error rate across all tests.

Benjamini–Hochberg false discovery rate: the adjusted p-value (q-value) of the ``i``-th
smallest of ``m`` p-values is ``min_{j >= i} min(1, p_(j) * m / j)``, as
``scipy.stats.false_discovery_control(p, method="bh")``. NaN p-values (masked voxels) stay
NaN and are not counted in ``m``.
"""

from __future__ import annotations

import numpy as np

from dnnmap.errors import InputError

TAILS = ("greater", "less", "two-sided")


def _check_tail(tail) -> str:
    if tail not in TAILS:
        raise InputError(f"tail is {tail!r}; expected one of {', '.join(TAILS)}")
    return tail


def fdr_bh(pvalues, axis: int | None = None) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), NaN-aware.

    Parameters
    ----------
    pvalues : array of any shape
        P-values in [0, 1]; NaN marks a test that was not run (it stays NaN and does not
        count in the number of tests).
    axis : int or None
        Axis along which the tests form one family; None (default): all values together.

    Returns
    -------
    qvalues : float64 array of the same shape as ``pvalues``
        Equal to ``scipy.stats.false_discovery_control(p, axis=axis, method="bh")`` when no
        value is NaN.
    """
    p = np.array(pvalues, dtype=np.float64)
    shape = p.shape
    finite = np.isfinite(p)
    if np.isinf(p).any() or (p[finite] < 0).any() or (p[finite] > 1).any():
        raise InputError("pvalues are outside [0, 1]; expected p-values in [0, 1] or NaN")
    if p.size == 0:
        return p
    if axis is None:
        p = p.reshape(-1, 1)
        ax = 0
    else:
        if not isinstance(axis, int | np.integer) or not -p.ndim <= axis < p.ndim:
            raise InputError(f"axis is {axis!r} for {p.ndim}-D pvalues; expected None or an axis")
        ax = int(axis) % p.ndim
    p = np.moveaxis(p, ax, 0)
    n = p.shape[0]
    order = np.argsort(p, axis=0, kind="stable")  # NaNs sort last
    ps = np.take_along_axis(p, order, axis=0)
    m = np.isfinite(ps).sum(axis=0)  # tests per family
    rank = np.arange(1, n + 1, dtype=np.float64).reshape((n,) + (1,) * (p.ndim - 1))
    q = ps * m / rank
    q = np.where(np.isnan(q), np.inf, q)
    q = np.minimum.accumulate(q[::-1], axis=0)[::-1]
    q = np.minimum(q, 1.0)
    q[np.isnan(ps)] = np.nan
    out = np.empty_like(q)
    np.put_along_axis(out, order, q, axis=0)
    return np.moveaxis(out, 0, ax).reshape(shape)


def permutation_pvalue(observed, null, tail: str = "greater") -> np.ndarray:
    """Permutation p-value of each observed statistic against its null distribution.

    Parameters
    ----------
    observed : array of shape (...)
        Observed statistics (e.g. one encoding score per voxel, shape (v,)).
    null : array of shape (n_perm, ...)
        Statistics of ``n_perm`` permutations; ``null.shape[1:]`` must broadcast against
        ``observed.shape`` (e.g. ``null_max[:, None]`` (n_perm, 1) against (v,)).
    tail : {"greater", "less", "two-sided"}
        Direction of the alternative (see the module docstring).

    Returns
    -------
    p : float64 array of the broadcast shape of ``observed`` and ``null.shape[1:]``, or float
        ``(1 + #{null >= observed}) / (1 + n_perm)`` for ``"greater"``; NaN where
        ``observed`` is NaN or no null value is finite.
    """
    tail = _check_tail(tail)
    obs = np.asarray(observed, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    if null.ndim < 1 or null.shape[0] < 1:
        raise InputError(f"null has shape {null.shape}; expected (n_perm, ...) with n_perm >= 1")
    try:
        shape = np.broadcast_shapes(obs.shape, null.shape[1:])
    except ValueError:
        raise InputError(
            f"observed has shape {obs.shape} and null has shape {null.shape}; expected null "
            "of shape (n_perm, *observed.shape)"
        ) from None
    valid = np.isfinite(null).sum(axis=0)
    with np.errstate(invalid="ignore"):
        n_ge = (null >= obs).sum(axis=0)
        n_le = (null <= obs).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = 1.0 + valid
        greater = (1.0 + n_ge) / denom
        less = (1.0 + n_le) / denom
    if tail == "greater":
        p = greater
    elif tail == "less":
        p = less
    else:
        p = np.minimum(1.0, 2.0 * np.minimum(greater, less))
    p = np.broadcast_to(p, shape).copy()
    p[np.broadcast_to(np.isnan(obs) | (valid == 0), shape)] = np.nan
    return float(p) if p.ndim == 0 else p


def max_statistic(null, tail: str = "greater", axis: int = -1) -> np.ndarray:
    """The per-permutation extreme over tests, for family-wise correction.

    Parameters
    ----------
    null : array of shape (n_perm, v)
        Null statistics (more generally, tests along ``axis``).
    tail : {"greater", "less", "two-sided"}
        ``"greater"``: maximum; ``"less"``: minimum; ``"two-sided"``: maximum of ``|null|``.
    axis : int
        Axis of the tests (the family).

    Returns
    -------
    null_max : array of shape (n_perm,)
        NaN-ignoring extreme of each permutation (NaN when all tests are NaN).
    """
    tail = _check_tail(tail)
    null = np.asarray(null, dtype=np.float64)
    with np.errstate(all="ignore"):
        finite = np.isfinite(null).any(axis=axis)
        filled = np.where(np.isfinite(null), null, -np.inf if tail != "less" else np.inf)
        if tail == "greater":
            out = filled.max(axis=axis)
        elif tail == "less":
            out = filled.min(axis=axis)
        else:
            out = np.abs(np.where(np.isfinite(null), null, 0.0)).max(axis=axis)
    return np.where(finite, out, np.nan)


def fwe_pvalue(observed, null_max, tail: str = "greater") -> np.ndarray:
    """Max-statistic family-wise corrected p-values.

    Parameters
    ----------
    observed : array of shape (v,)
        Observed statistic per test.
    null_max : array of shape (n_perm,)
        :func:`max_statistic` of the null with the same ``tail``.
    tail : {"greater", "less", "two-sided"}
        ``"two-sided"`` compares ``|observed|`` with the null maximum of ``|null|``.

    Returns
    -------
    p_fwe : float64 array of shape (v,)
        ``(1 + #{null_max >= observed}) / (1 + n_perm)`` (``<=`` for ``"less"``); NaN where
        ``observed`` is NaN.
    """
    tail = _check_tail(tail)
    obs = np.asarray(observed, dtype=np.float64)
    null_max = np.asarray(null_max, dtype=np.float64)
    if null_max.ndim != 1 or null_max.size < 1:
        raise InputError(f"null_max has shape {null_max.shape}; expected (n_perm,), n_perm >= 1")
    finite = np.sort(null_max[np.isfinite(null_max)])
    if tail == "two-sided":
        obs = np.abs(obs)
    if tail == "less":
        count = np.searchsorted(finite, obs, side="right")  # null_max <= observed
    else:
        count = finite.size - np.searchsorted(finite, obs, side="left")  # null_max >= observed
    p = (1.0 + count) / (1.0 + finite.size)
    p = np.where(np.isnan(obs) | (finite.size == 0), np.nan, p)
    return float(p) if p.ndim == 0 else p


def family_fwe(observed, null_max, tail: str = "greater") -> list[np.ndarray]:
    """Max-statistic family-wise p-values across several permutation tests (jobs).

    Every job of the family must have used the same permutations (same seed, stimuli, folds
    and blocks: then ``null_max[j][b]`` is the extreme of permutation ``b`` in job ``j``).
    The family's null extreme of permutation ``b`` is the maximum over jobs of
    ``null_max[j][b]`` (``tail="less"``: the minimum; ``"two-sided"``: ``null_max`` already
    holds maxima of ``|score|``, and ``|observed|`` is tested), and::

        p_family[j][v] = (1 + #{family_max >= observed[j][v]}) / (1 + n_perm)

    which controls the family-wise error over all voxels of all jobs (Nichols & Holmes
    2002), as the max-statistic correction does within one job.

    Parameters
    ----------
    observed : sequence of arrays of shape (v_j,)
        The observed scores of each job (NaN: untested).
    null_max : sequence of arrays of shape (n_perm,)
        The per-permutation extreme of each job (NaN: no finite null value).
    tail : {"greater", "less", "two-sided"}

    Returns
    -------
    list of arrays of shape (v_j,)
        Family-wise p-values (NaN where ``observed`` is NaN).
    """
    tail = _check_tail(tail)
    nulls = [np.asarray(m, dtype=np.float64) for m in null_max]
    if len({m.shape for m in nulls}) != 1 or nulls[0].ndim != 1:
        shapes = sorted({m.shape for m in nulls})
        raise InputError(
            f"null_max arrays have shapes {shapes}; expected one shape (n_perm,) across the family"
        )
    stacked = np.stack(nulls)
    with np.errstate(invalid="ignore"):
        if tail == "less":
            ext = np.where(np.isfinite(stacked), stacked, np.inf).min(axis=0)
        else:
            ext = np.where(np.isfinite(stacked), stacked, -np.inf).max(axis=0)
    ext = np.sort(ext[np.isfinite(ext)])
    out = []
    for obs in observed:
        o = np.asarray(obs, dtype=np.float64)
        o = np.abs(o) if tail == "two-sided" else o
        if tail == "less":
            count = np.searchsorted(ext, o, side="right")
        else:
            count = ext.size - np.searchsorted(ext, o, side="left")
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (1.0 + count) / (1.0 + ext.size)
        p[np.isnan(o) | (ext.size == 0)] = np.nan
        out.append(p)
    return out
