"""Similarity of condensed RDMs: correlations, rank correlations and whitened cosines.

:func:`compare` compares one RDM ``a`` with one or many RDMs ``b`` (rows of an array), all
condensed in ``pdist`` order (:mod:`dnnmap.rsa.rdm`), and matches
``rsatoolbox.rdm.compare(a, b, method)`` (row ``0``) for every method:

``pearson`` (rsatoolbox "corr")
    Pearson correlation of the entries.
``spearman``
    Pearson correlation of the average ranks (ties share their mean rank), as
    ``scipy.stats.spearmanr``.
``kendall`` (alias "tau-b")
    Kendall's tau-b, as ``scipy.stats.kendalltau``.
``tau-a``
    Kendall's tau-a, ``(concordant - discordant) / (N (N - 1) / 2)`` over the ``N`` entries
    (ties count as neither), as rsatoolbox's ``compare_kendall_tau_a``.
``rho-a``
    rsatoolbox's "rho-a": ``12 sum (ra - mean)(rb - mean) / (N^3 - N)`` of the average ranks
    (Spearman's rho without tie correction of the denominator).
``cosine``
    Cosine of the angle between the RDM vectors.
``cosine_cov``, ``corr_cov``
    Cosine (``corr_cov``: of the mean-removed vectors) after whitening with the covariance
    ``V`` of the distance estimates implied by the pattern covariance ``sigma_k`` of the
    ``n`` conditions (rsatoolbox's ``_get_v``: ``V = Xi o Xi``, ``Xi = C sigma_k C'`` with
    ``C`` the pairwise contrasts; Diedrichsen et al. 2021, whitened unbiased RDM cosine).
    It is computed without ``V``: with ``D`` the square RDM, the whitened inner product is
    the Frobenius inner product of the second-moment matrices ``G = -P D P' / 2``:

    - ``sigma_k=None`` (identity, rsatoolbox's default): ``P = I - 11'/n`` (double
      centering), ``<Ga, Gb> = (2 a.b - 2 ra.rb / n + Ta Tb / n^2) / 4`` with ``r`` the row
      sums of ``D`` and ``T`` their total: O(N) per RDM, equal to ``a' V^-1 b``;
    - ``sigma_k`` of shape ``(n,)``: double centering, then ``G_ij / sqrt(s_i s_j)``. This is
      what rsatoolbox computes for a vector ``sigma_k`` (its fast path); note that it is
      *not* the exact ``a' V^-1 b`` of ``diag(sigma_k)`` -- pass the ``(n, n)`` matrix for that;
    - ``sigma_k`` of shape ``(n, n)``: the exact ``a' V^-1 b`` (rsatoolbox solves it by
      conjugate gradients, to about 1e-5): ``P = I - 1 w' / (1'w)`` with ``w = sigma_k^-1 1``
      and the inner product ``tr(sigma_k^-1 Ga sigma_k^-1 Gb)`` -- the minimum-norm second
      moment consistent with each RDM.

All methods are vectorized over the rows of ``b`` (Kendall's tau by a bottom-up merge count of
discordant pairs, batched over rows). An RDM without variance (constant for the
correlations, all zeros for the cosines) has similarity 0 with every RDM (as in rsatoolbox,
except for tau-b, where scipy and rsatoolbox give NaN).

Missing values: RDMs must be finite. A NaN entry raises an
:class:`~dnnmap.errors.InputError` naming the RDM row and pair (no pairwise exclusion:
excluding pairs would change the whitening of the ``*_cov`` methods and the rank
normalization, so missing pairs must be dealt with before comparing).

:func:`rank_rdm` (tie-aware average ranks, vectorized over rows) and :func:`standardize_rdm`
(rows with mean 0 and norm 1) are the building blocks of permutation tests: permuting the
stimuli permutes the entries of a condensed RDM, so ranks and standardization are computed
once and each permutation is an index gather and a dot product.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from dnnmap.errors import InputError
from dnnmap.rsa.checks import ALIASES, as_rdms
from dnnmap.rsa.rdm import pair_offset, rdm_sizes_match, square_rdm

METHODS = (
    "pearson",
    "spearman",
    "kendall",
    "tau-a",
    "rho-a",
    "cosine",
    "corr_cov",
    "cosine_cov",
)
"""Comparison methods of :func:`compare` (rsatoolbox's names in ``dnnmap.rsa.checks.ALIASES``)."""

BATCH_BYTES = 256 * 2**20
"""Memory of the temporaries of one batch of RDMs (Kendall's tau, whitened methods)."""


# --- checks ----------------------------------------------------------------------------------


def _method(method: str) -> str:
    method = ALIASES.get(method, method) if isinstance(method, str) else method
    if method not in METHODS:
        raise InputError(
            f"method is {method!r}; expected one of {', '.join(METHODS)} (or {', '.join(ALIASES)})"
        )
    return method


# --- ranks and standardization ---------------------------------------------------------------


def rank_rdm(rdm: np.ndarray) -> np.ndarray:
    """Average ranks of the entries of each RDM (ties share their mean rank).

    Equal to ``scipy.stats.rankdata(rdm, axis=-1)`` ("average" method), vectorized over rows.

    Parameters
    ----------
    rdm : array of shape (n_pairs,) or (m, n_pairs)
        Condensed RDM(s), finite.

    Returns
    -------
    array of shape (n_pairs,) or (m, n_pairs)
        Ranks from 1 to ``n_pairs``, float64.
    """
    V, vector = as_rdms(rdm, "rdm")
    m, N = V.shape
    order = np.argsort(V, axis=1)  # order within ties does not change their mean rank
    s = np.take_along_axis(V, order, axis=1)
    idx = np.broadcast_to(np.arange(N), (m, N))
    first = np.ones((m, N), dtype=bool)
    first[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones((m, N), dtype=bool)
    last[:, :-1] = first[:, 1:]
    start = np.maximum.accumulate(np.where(first, idx, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, idx, N)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((m, N))
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=1)
    return ranks[0] if vector else ranks


def standardize_rdm(rdm: np.ndarray, center: bool = True) -> np.ndarray:
    """RDM rows centered (``center``) and scaled to unit norm; rows without variance become 0.

    The Pearson correlation (cosine without centering) of two RDMs is the dot product of
    their standardized rows.

    Parameters
    ----------
    rdm : array of shape (n_pairs,) or (m, n_pairs)
    center : bool
        Subtract the mean of each row first.

    Returns
    -------
    array of the shape of ``rdm``, float64
    """
    V, vector = as_rdms(rdm, "rdm")
    Z = _unit_rows(V - V.mean(axis=1, keepdims=True) if center else V)
    return Z[0] if vector else Z


def _unit_rows(V: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.einsum("ij,ij->i", V, V))
    # A row that is constant up to rounding (after centering) has no direction.
    scale = np.abs(V).max(axis=1)
    ok = norm > 1e-13 * np.sqrt(V.shape[1]) * np.maximum(scale, 1e-300)
    return np.divide(V, norm[:, None], out=np.zeros_like(V), where=ok[:, None])


# --- Kendall's tau ---------------------------------------------------------------------------


def _dense_ranks(V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense ranks ``0..k-1`` of every row (equal values share a rank, int64), the sorting
    order of each row, and the number of tied pairs of each row (m,)."""
    order = np.argsort(V, axis=1)
    s = np.take_along_axis(V, order, axis=1)
    new = np.zeros(V.shape, dtype=np.int64)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    dense = np.empty(V.shape, dtype=np.int64)
    np.put_along_axis(dense, order, np.cumsum(new, axis=1), axis=1)
    return dense, order, _tie_pairs(s)


def _tie_pairs(sorted_rows: np.ndarray) -> np.ndarray:
    """``sum c (c - 1) / 2`` over the runs of equal values of each sorted row, int64 (m,)."""
    m, N = sorted_rows.shape
    idx = np.broadcast_to(np.arange(N, dtype=np.int64), (m, N))
    first = np.ones((m, N), dtype=bool)
    first[:, 1:] = sorted_rows[:, 1:] != sorted_rows[:, :-1]
    start = np.maximum.accumulate(np.where(first, idx, 0), axis=1)
    return (idx - start).sum(axis=1)


def _discordant(y: np.ndarray) -> np.ndarray:
    """Pairs ``i < j`` with ``y_i > y_j`` in each row of ``y (m, N)`` (ints in [0, N)), (m,).

    Bottom-up merge count, all rows and blocks at once. At width ``w`` every block holds two
    sorted runs; keys ``2 y + (1 for the right run)`` are merged by a stable sort (timsort:
    linear on two sorted runs), which puts equal left values first. A right element at
    merged position ``pos`` with index ``k`` in its run has ``pos - k`` left elements ``<=``
    it, hence ``w - pos + k`` inversions: a block adds ``w^2 - sum(pos) + w (w - 1) / 2``.
    """
    m, N = y.shape
    size = 1 << max(0, (N - 1).bit_length())
    dtype = np.int32 if N < 2**29 else np.int64
    y = y.astype(dtype)
    if size > N:  # pad with a value above all others: it adds no inversion
        y = np.concatenate([y, np.full((m, size - N), N, dtype=dtype)], axis=1)
    total = np.zeros(m, dtype=np.int64)
    w = 1
    while w < size:
        keys = y.reshape(m, size // (2 * w), 2, w) * 2
        keys[:, :, 1] += 1
        keys = np.sort(keys.reshape(m, size // (2 * w), 2 * w), axis=2, kind="stable")
        pos = ((keys & 1) * np.arange(2 * w, dtype=dtype)).sum(axis=2, dtype=np.int64)
        total += (w * w - pos + w * (w - 1) // 2).sum(axis=1)
        y = keys >> 1
        w *= 2
    return total


def _kendall(a: np.ndarray, B: np.ndarray, variant: str) -> np.ndarray:
    """Kendall's tau-b or tau-a between ``a (N,)`` and every row of ``B (m, N)``."""
    m, N = B.shape
    ra, order_a, xtie = (x[0] for x in _dense_ranks(a[None]))
    tot = N * (N - 1) // 2
    out = np.empty(m)
    step = max(1, BATCH_BYTES // (8 * 8 * 2 * N))
    for r0 in range(0, m, step):
        rb, _, ytie = _dense_ranks(B[r0 : r0 + step])
        if xtie == 0:  # the order of a alone sorts the pairs; no joint ties
            ntie = 0
            dis = _discordant(rb[:, order_a])
        else:  # sort by (a, b)
            key = ra[None] * N + rb
            order = np.argsort(key, axis=1)
            ntie = _tie_pairs(np.take_along_axis(key, order, axis=1))
            dis = _discordant(np.take_along_axis(rb, order, axis=1))
        con_minus_dis = (tot - xtie - ytie + ntie - 2 * dis).astype(np.float64)
        if variant == "tau-a":
            out[r0 : r0 + step] = con_minus_dis / tot
        else:
            den = np.sqrt(float(tot - xtie)) * np.sqrt((tot - ytie).astype(np.float64))
            out[r0 : r0 + step] = np.divide(
                con_minus_dis, den, out=np.zeros_like(den), where=den > 0
            )
    return np.clip(out, -1.0, 1.0)


# --- whitened cosines ------------------------------------------------------------------------


def _row_sums(V: np.ndarray, n: int) -> np.ndarray:
    """Row sums ``(m, n)`` of the square forms of condensed RDMs ``V (m, n_pairs)``."""
    m = V.shape[0]
    r = np.zeros((m, n))
    step = max(1, BATCH_BYTES // (8 * m * n))
    for a in range(0, n - 1, step):
        b = min(a + step, n)
        mask = np.triu(np.ones((b - a, n - a), dtype=bool), 1)
        M = np.zeros((m, b - a, n - a))
        M[:, mask] = V[:, pair_offset(a, n) : pair_offset(b, n)]
        r[:, a:b] += M.sum(axis=2)
        r[:, a:] += M.sum(axis=1)
    return r


def _check_sigma(sigma_k, n: int) -> np.ndarray | None:
    if sigma_k is None:
        return None
    S = np.asarray(sigma_k, dtype=np.float64)
    if S.shape not in ((n,), (n, n)):
        raise InputError(
            f"sigma_k has shape {S.shape}; expected ({n},) or ({n}, {n}) for RDMs of {n} conditions"
        )
    if not np.isfinite(S).all():
        raise InputError("sigma_k holds NaN or inf; expected a finite covariance")
    if S.ndim == 1 and np.any(S <= 0):
        raise InputError("sigma_k has entries <= 0; expected positive variances")
    return S


class _Whitener:
    """Maps condensed RDMs ``(m, N)`` to whitened second moments; inner products between them."""

    def __init__(self, n: int, sigma_k: np.ndarray | None):
        self.n = n
        self.S = sigma_k
        if sigma_k is not None and sigma_k.ndim == 2:
            try:
                C = scipy.linalg.cholesky(sigma_k, lower=True)
            except np.linalg.LinAlgError:
                raise InputError(
                    "sigma_k is not positive definite; expected a full-rank covariance"
                ) from None
            self.L = scipy.linalg.solve_triangular(C, np.eye(n), lower=True)  # C^-1
            w = self.L.T @ (self.L @ np.ones(n))  # sigma_k^-1 1
            self.w = w / w.sum()

    def transform(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Condensed RDMs ``(m, N)`` -> ``(plus, minus)``: the whitened inner product of two
        RDMs is ``plus_a . plus_b - minus_a . minus_b`` (``minus`` is None when ``sigma_k`` is
        given; ``plus`` then holds the ``n * n`` whitened second moments)."""
        n = self.n
        if self.S is None:
            r = _row_sums(V, n)
            T = r.sum(axis=1, keepdims=True)
            # <HDaH, HDbH> = 2 a.b - 2 ra.rb / n + Ta Tb / n^2
            return np.hstack([np.sqrt(2.0) * V, T / n]), np.sqrt(2.0 / n) * r
        D = square_rdm(V)
        if self.S.ndim == 1:
            G = D - D.mean(axis=1, keepdims=True) - D.mean(axis=2, keepdims=True)
            G += D.mean(axis=(1, 2), keepdims=True)
            s = 1.0 / np.sqrt(self.S)
            G *= s[None, :, None] * s[None, None, :]
        else:
            Dw = D @ self.w  # (m, n)
            G = D - Dw[:, :, None] - Dw[:, None, :]
            G += (Dw @ self.w)[:, None, None]
            G = self.L @ G @ self.L.T
        return G.reshape(len(V), n * n), None


def _whitened_cosine(a: np.ndarray, B: np.ndarray, n: int, sigma_k, center: bool) -> np.ndarray:
    white = _Whitener(n, _check_sigma(sigma_k, n))
    if center:
        a = a - a.mean()
    pa, ma = (x if x is None else x[0] for x in white.transform(a[None]))
    aa = pa @ pa - (0.0 if ma is None else ma @ ma)
    out = np.empty(len(B))
    per_rdm = 8 * (3 * n * n if sigma_k is not None else 4 * (B.shape[1] + n))
    step = max(1, BATCH_BYTES // per_rdm)
    for r0 in range(0, len(B), step):
        Vb = B[r0 : r0 + step]
        if center:
            Vb = Vb - Vb.mean(axis=1, keepdims=True)
        pb, mb = white.transform(Vb)
        ab = pb @ pa
        bb = np.einsum("ij,ij->i", pb, pb)
        if mb is not None:
            ab -= mb @ ma
            bb -= np.einsum("ij,ij->i", mb, mb)
        den = np.sqrt(np.maximum(aa, 0.0) * np.maximum(bb, 0.0))
        ok = den > 1e-13 * np.maximum(np.abs(aa) + bb, 1e-300)
        out[r0 : r0 + step] = np.divide(ab, den, out=np.zeros_like(den), where=ok)
    return out


# --- public API ------------------------------------------------------------------------------


def compare(a: np.ndarray, b: np.ndarray, method: str = "spearman", *, sigma_k=None):
    """Similarity of RDM ``a`` with RDM ``b`` or with each row of ``b``.

    Parameters
    ----------
    a : array of shape (n_pairs,)
        Condensed RDM (``pdist`` order), finite.
    b : array of shape (n_pairs,) or (m, n_pairs)
        One or ``m`` condensed RDMs of the same stimuli.
    method : str
        One of :data:`METHODS` or their rsatoolbox names in :data:`ALIASES` (module docstring).
    sigma_k : array of shape (n,) or (n, n), optional
        Covariance of the ``n`` condition patterns, for ``corr_cov`` and ``cosine_cov``
        (identity when None, rsatoolbox's default).

    Returns
    -------
    float, or array of shape (m,)
        Similarity for 1-D ``b``, one per row for 2-D ``b``.

    Raises
    ------
    InputError
        For an unknown method, RDMs of different sizes, non-finite entries, fewer than 3
        stimuli, or a ``sigma_k`` of the wrong shape or not positive definite.
    """
    method = _method(method)
    A, a_vector = as_rdms(a, "a")
    if not a_vector:
        raise InputError(f"a has shape {A.shape}; expected one condensed RDM (n_pairs,)")
    B, b_vector = as_rdms(b, "b")
    n = rdm_sizes_match(A, B)
    if sigma_k is not None and method not in ("corr_cov", "cosine_cov"):
        raise InputError(f"sigma_k is given for method {method!r}; it is for corr_cov, cosine_cov")
    a1 = A[0]
    if method in ("pearson", "cosine"):
        center = method == "pearson"
        za = _unit_rows((a1 - a1.mean() if center else a1)[None])[0]
        zb = _unit_rows(B - B.mean(axis=1, keepdims=True) if center else B)
        out = np.clip(zb @ za, -1.0, 1.0)
    elif method == "spearman":
        za = _unit_rows(_centered(rank_rdm(A)))[0]
        out = np.clip(_unit_rows(_centered(rank_rdm(B))) @ za, -1.0, 1.0)
    elif method == "rho-a":
        N = A.shape[1]
        out = _centered(rank_rdm(B)) @ _centered(rank_rdm(A))[0] * 12.0 / (N**3 - N)
    elif method in ("kendall", "tau-a"):
        out = _kendall(a1, B, method)
    else:
        out = _whitened_cosine(a1, B, n, sigma_k, center=method == "corr_cov")
    return float(out[0]) if b_vector else out


def _centered(V: np.ndarray) -> np.ndarray:
    return V - V.mean(axis=1, keepdims=True)
