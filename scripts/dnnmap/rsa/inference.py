"""Inference on RDM comparisons: permutation tests, bootstrap intervals and noise ceilings.

All RDMs are condensed (``n (n - 1) / 2`` entries in ``scipy.spatial.distance.pdist`` order,
see :mod:`dnnmap.rsa.rdm`) and must be finite. The comparison ``method`` is one of
:data:`METHODS`, with rsatoolbox's definitions (``"pearson"`` is its ``"corr"``).

Similarity as a dot product. For the *fast* methods (:data:`FAST_METHODS`) each RDM vector is
mapped to a unit vector ``u`` such that the similarity of two RDMs is ``u_a . u_b``:
``pearson``: centered and scaled to norm 1; ``spearman``: the same on its ranks (average ranks
for ties, as ``scipy.stats.spearmanr``); ``cosine``: scaled to norm 1; ``rho-a``: centered
ranks times ``sqrt(12 / (P^3 - P))`` (rsatoolbox's ``rho-a``). The other methods (Kendall's
tau-b ``kendall`` and tau-a, whitened ``corr_cov``/``cosine_cov``) are computed by
:func:`dnnmap.rsa.compare.compare` (the slow path: each permuted or resampled RDM is built and
compared; permutations are still batched, bootstrap samples are compared one at a time).
rsatoolbox's names ``corr`` and ``tau-b`` are accepted (:data:`dnnmap.rsa.compare.ALIASES`).

Permutation test (Mantel-style stimulus-label permutation). The rows and columns of the brain
RDM are permuted together: for a permutation ``pi`` of the ``n`` stimuli, entry ``(i, j)`` of
the permuted RDM is entry ``(pi_i, pi_j)`` of the original (rsatoolbox's ``RDMs.reorder``).
A permutation only reorders the entries of an RDM, so the means, norms and ranks of the
permuted RDM are those of the original, permuted: ranks are computed once, and for a fast
method the similarity of a permutation is one gather of the brain's unit vector at the
permuted pairs ``(pi_i, pi_j)``, ``i < j`` (the condensed-index map of
:func:`permuted_pair_index`, read from the unit vector laid out as its symmetric ``n x n``
matrix so that the map is ``pi_i * n + pi_j``) and one dot product with the layers' unit
vectors. Permutations are processed in batches ``(b, n)``, and the upper triangle of each in
row blocks: a block gathers ``(b, rows, n - r0 - 1)`` values (about :data:`CPU_BLOCK`, small
enough to stay in the CPU cache; :data:`GPU_BLOCK` on CUDA) and multiplies them with the
matching block of all layers ``(rows * (n - r0 - 1), m)``, so the gathered values stay in
cache and no ``(b, n * n)`` permuted matrices are materialized (``make bench`` measures the
gain). Values are float64 by default (the null equals the direct computation to ~1e-16);
``dtype="float32"`` halves the memory traffic at errors ~3e-8 on the null values.
``device`` runs the gather on torch (CPU or CUDA, :mod:`dnnmap.backend`). The p-value is
``(1 + #{null >= observed}) / (1 + n_perm)`` (:func:`dnnmap.stats.inference.permutation_pvalue`),
where null values within ``1e-12`` of the observed value count as ties (e.g. a permutation
that maps the RDM onto itself gives the observed value up to rounding). With ``exact=True``
all ``n!`` permutations are enumerated (``n <= 8``) and ``p = #{null >= observed} / n!``
(the identity is one of them, :func:`dnnmap.stats.permutations.exact_permutations`). Random
permutations come from ``numpy.random.default_rng(seed)``
(:func:`dnnmap.stats.permutations.permutations` with ``draw="shuffle"``); the same seed gives
the same null.

Bootstrap confidence intervals: :mod:`dnnmap.rsa.bootstrap`.

Noise ceiling (rsatoolbox ``boot_noise_ceiling``'s point estimate, no resampling): with ``S``
subject (or repeat) RDMs and ``pool`` rsatoolbox's ``pool_rdm`` for the method (z-scored mean
for pearson, RMS-normalized mean for cosine, mean rank for rank methods), the lower bound is
the mean over subjects of ``compare(pool(others), rdm_s)`` (leave one subject out) and the
upper bound the mean of ``compare(pool(all), rdm_s)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from dnnmap.backend import get_backend
from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.rsa.checks import as_rdms, check_method, check_same_pairs
from dnnmap.rsa.compare import compare
from dnnmap.rsa.rdm import n_stimuli, square_rdm
from dnnmap.stats import permutations as stats_permutations
from dnnmap.stats.inference import fdr_bh, permutation_pvalue

FAST_METHODS = ("pearson", "spearman", "cosine", "rho-a")
SLOW_METHODS = ("kendall", "tau-a", "corr_cov", "cosine_cov")
METHODS = FAST_METHODS + SLOW_METHODS
RANK_METHODS = ("spearman", "rho-a", "kendall", "tau-a")
TIE_TOL = 1e-12
BATCH_ELEMENTS = 2**24  # values per batch of permuted RDMs (slow path)
CPU_BLOCK = 2**16  # gathered values per block on the CPU: the block stays in the L2 cache
GPU_BLOCK = 2**25  # gathered values per block on a GPU


# --- checks and the similarity kernel ---------------------------------------------------------


def _scale_rows(v: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.einsum("ij,ij->i", v, v))[:, None]
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def unit_vectors(rdms, method: str = "spearman") -> np.ndarray:
    """Map RDMs to vectors whose dot products are their similarities (fast methods).

    Parameters
    ----------
    rdms : array of shape (k, n_pairs)
        Condensed RDMs.
    method : {"pearson", "spearman", "cosine", "rho-a"}

    Returns
    -------
    u : float64 array of shape (k, n_pairs)
        ``u[a] @ u[b]`` is the similarity of RDMs ``a`` and ``b`` (0 when one is constant,
        or all zeros for cosine). The map commutes with permuting the entries.
    """
    method = check_method(method, FAST_METHODS)
    v = np.asarray(rdms, dtype=np.float64)
    if method in ("spearman", "rho-a"):
        v = rankdata(v, axis=-1)
    if method == "cosine":
        return _scale_rows(v)
    v = v - v.mean(axis=-1, keepdims=True)
    if method == "rho-a":
        p = float(v.shape[-1])
        return v * math.sqrt(12.0 / (p**3 - p))
    return _scale_rows(v)


def _compare_slow(a: np.ndarray, b: np.ndarray, method: str) -> np.ndarray:
    """(k, l) similarities by :func:`dnnmap.rsa.compare.compare` (vectorized over ``b``)."""
    return np.stack([np.atleast_1d(compare(row, b, method)) for row in a])


def similarity(a, b, method: str = "spearman") -> np.ndarray:
    """Similarities of all pairs of RDMs of two sets.

    Parameters
    ----------
    a : array of shape (k, n_pairs) or (n_pairs,)
    b : array of shape (l, n_pairs) or (n_pairs,)
    method : str
        One of :data:`METHODS`.

    Returns
    -------
    float64 array of shape (k, l)
    """
    method = check_method(method, METHODS)
    A, _ = as_rdms(a, "a")
    B, _ = as_rdms(b, "b")
    check_same_pairs(A, B, ("a", "b"))
    if method in FAST_METHODS:
        return unit_vectors(A, method) @ unit_vectors(B, method).T
    return _compare_slow(A, B, method)


# --- permutations ---------------------------------------------------------------------------


def permuted_pair_index(perms) -> np.ndarray:
    """The condensed-index map of permuted stimulus orders.

    Parameters
    ----------
    perms : int array of shape (k, n) or (n,)
        Permutations of ``range(n)``.

    Returns
    -------
    index : int64 array of shape (k, n_pairs) or (n_pairs,)
        ``rdm[index[c]]`` is the RDM with rows and columns permuted by ``perms[c]``: pair
        ``(i, j)`` of the permuted RDM is pair ``(pi_i, pi_j)`` of the original.
    """
    p = np.asarray(perms)
    vector = p.ndim == 1
    p = p[None] if vector else p
    n = p.shape[1]
    if p.ndim != 2 or not (np.sort(p, axis=1) == np.arange(n)).all():
        raise InputError(f"perms has shape {np.shape(perms)}; expected permutations of range(n)")
    i, j = np.triu_indices(n, 1)
    a, b = p[:, i].astype(np.int64), p[:, j].astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    index = lo * n - lo * (lo + 1) // 2 + hi - lo - 1
    return index[0] if vector else index


def permute_rdm(rdm, perm) -> np.ndarray:
    """RDM(s) with rows and columns permuted together.

    Parameters
    ----------
    rdm : array of shape (n_pairs,) or (m, n_pairs)
    perm : int array of shape (n,)

    Returns
    -------
    array of the shape of ``rdm``: entry ``(i, j)`` is entry ``(perm_i, perm_j)`` of ``rdm``
    """
    r = np.asarray(rdm)
    if np.asarray(perm).ndim != 1 or len(perm) != n_stimuli(r.shape[-1], "rdm"):
        raise InputError(f"perm has shape {np.shape(perm)}; expected one permutation of range(n)")
    return r[..., permuted_pair_index(perm)]


@dataclass(frozen=True)
class RDMPermutationResult:
    """A stimulus-label permutation test of layer RDMs against one brain RDM.

    Attributes
    ----------
    observed : array of shape (m,)
        Similarity of each layer RDM with the brain RDM.
    pvalue : array of shape (m,)
    null : array of shape (n_perm, m)
        Similarity of each layer with each permuted brain RDM.
    method, tail : str
    n_perm : int
    exact : bool
        Whether ``null`` holds all ``n!`` permutations.
    """

    observed: np.ndarray
    pvalue: np.ndarray
    null: np.ndarray
    method: str
    tail: str
    n_perm: int
    exact: bool


def _model_blocks(U: np.ndarray, rows: int, backend, dtype) -> list:
    """Row blocks ``(r0, r1, A)`` of the layers' upper triangles, ``A (rb * (n - r0 - 1), m)``.

    ``A`` holds ``U``'s entries ``(i, j)`` for ``r0 <= i < r1`` and ``j > r0``, with zeros
    where ``j <= i`` (the small triangle inside the block).
    """
    m = U.shape[0]
    upper = np.triu(square_rdm(U), 1)  # (m, n, n)
    n = upper.shape[1]
    blocks = []
    for r0 in range(0, n - 1, rows):
        r1 = min(r0 + rows, n - 1)
        A = upper[:, r0:r1, r0 + 1 :].reshape(m, -1).T
        blocks.append((r0, r1, backend.asarray(np.ascontiguousarray(A), dtype)))
    return blocks


def _null_fast(U, v, perms, device, dtype, batch_size) -> np.ndarray:
    """Null similarities (n_perm, m): blocked gather of ``v`` at ``(pi_i, pi_j)``, products."""
    backend = get_backend(device)
    n = perms.shape[1]
    block = GPU_BLOCK if backend.device.startswith("cuda") else CPU_BLOCK
    batch = batch_size or max(1, min(len(perms), max(16, block // (n * n))))
    rows = max(1, block // (batch * n))
    blocks = _model_blocks(U, rows, backend, dtype)
    S = backend.asarray(square_rdm(v).ravel(), dtype)  # (n * n,)
    null = np.empty((len(perms), U.shape[0]))
    for start in range(0, len(perms), batch):
        p = backend.index(perms[start : start + batch])
        pn, acc = p * n, 0.0
        for r0, r1, A in blocks:  # the gathered block (b, r1 - r0, n - r0 - 1) stays in cache
            gathered = S[pn[:, r0:r1, None] + p[:, None, r0 + 1 :]]
            acc = acc + gathered.reshape(p.shape[0], -1) @ A
        null[start : start + p.shape[0]] = backend.to_numpy(acc)
    return null


def _pvalue(observed, null, tail: str, exact: bool) -> np.ndarray:
    if exact:
        count = {
            "greater": (null >= observed - TIE_TOL).sum(axis=0),
            "less": (null <= observed + TIE_TOL).sum(axis=0),
        }
        if tail == "two-sided":
            return np.minimum(1.0, 2.0 * np.minimum(count["greater"], count["less"]) / len(null))
        return count[tail] / len(null)
    greater = permutation_pvalue(observed - TIE_TOL, null, "greater")
    less = permutation_pvalue(observed + TIE_TOL, null, "less")
    if tail == "greater":
        return greater
    if tail == "less":
        return less
    return np.minimum(1.0, 2.0 * np.minimum(greater, less))


def permutation_test(
    model_rdms,
    brain_rdm,
    method: str = "spearman",
    n_perm: int = 10000,
    seed: int = 0,
    tail: str = "greater",
    exact: bool = False,
    permutations=None,
    device: str = "numpy",
    dtype: str = "float64",
    batch_size: int | None = None,
) -> RDMPermutationResult:
    """Stimulus-label permutation test of the similarity of layer RDMs with a brain RDM.

    Parameters
    ----------
    model_rdms : array of shape (m, n_pairs) or (n_pairs,)
        Layer (model) RDMs; all are tested against the same permutations.
    brain_rdm : array of shape (n_pairs,)
        The RDM whose rows and columns are permuted.
    method : str
        One of :data:`METHODS`; :data:`FAST_METHODS` are batched, the others loop over
        permutations (slow path).
    n_perm : int
        Number of random permutations (ignored with ``exact`` or ``permutations``).
    seed : int
        Seed of the permutations (:func:`dnnmap.stats.permutations.permutations`,
        ``draw="shuffle"``).
    tail : {"greater", "less", "two-sided"}
    exact : bool
        Enumerate all ``n!`` permutations (``n <= 8``).
    permutations : int array of shape (n_perm, n), optional
        Explicit permutations (e.g. to run a reference on the same ones).
    device : str
        ``"numpy"`` (default), ``"cpu"``, ``"cuda"``, ``"auto"`` (see :mod:`dnnmap.backend`).
    dtype : {"float64", "float32"}
        Precision of the gathered values and their products.
    batch_size : int, optional
        Permutations per batch (default: at least 16, more for small ``n``; the row blocks
        adapt so that a gathered block keeps about :data:`CPU_BLOCK` values).

    Returns
    -------
    RDMPermutationResult
    """
    method = check_method(method, METHODS)
    if tail not in ("greater", "less", "two-sided"):
        raise InputError(f"tail is {tail!r}; expected one of greater, less, two-sided")
    if dtype not in ("float64", "float32"):
        raise InputError(f"dtype is {dtype!r}; expected float64 or float32")
    U, _ = as_rdms(model_rdms, "model_rdms")
    b = np.asarray(brain_rdm, dtype=np.float64)
    if b.ndim != 1:
        raise InputError(f"brain_rdm has shape {b.shape}; expected one RDM (n_pairs,)")
    b = as_rdms(b, "brain_rdm")[0]
    check_same_pairs(U, b, ("model_rdms", "brain_rdm"))
    n = n_stimuli(b.shape[1])
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", 1)
    if exact:
        perms = stats_permutations.exact_permutations(n)
    elif permutations is not None:
        perms = np.asarray(permutations)
        if perms.ndim != 2 or perms.shape[1] != n or not (np.sort(perms, 1) == np.arange(n)).all():
            raise InputError(
                f"permutations has shape {perms.shape}; expected (n_perm, {n}) permutations"
            )
    else:
        n_perm = check_int(n_perm, "n_perm", 1)
        perms = stats_permutations.permutations(n, n_perm, seed, draw="shuffle")
    if method in FAST_METHODS:
        Um, ub = unit_vectors(U, method), unit_vectors(b, method)[0]
        observed = Um @ ub
        null = _null_fast(Um, ub, perms, device, np.dtype(dtype), batch_size)
    else:
        observed = _compare_slow(U, b, method)[:, 0]
        null = np.empty((len(perms), U.shape[0]))
        batch = batch_size or max(1, BATCH_ELEMENTS // b.shape[1])
        for start in range(0, len(perms), batch):  # slow path: permuted RDMs, compared per layer
            permuted = b[0, permuted_pair_index(perms[start : start + batch])]
            null[start : start + len(permuted)] = _compare_slow(U, permuted, method).T
    pvalue = np.atleast_1d(_pvalue(observed, null, tail, exact))
    return RDMPermutationResult(observed, pvalue, null, method, tail, len(perms), bool(exact))


# --- noise ceiling and FDR --------------------------------------------------------------------


def _pool_transform(Y: np.ndarray, method: str) -> np.ndarray:
    """Per-RDM transform of rsatoolbox's ``pool_rdm`` before averaging."""
    if method in RANK_METHODS:
        return rankdata(Y, axis=1)
    if method in ("cosine", "cosine_cov"):
        return Y / np.sqrt(np.mean(Y**2, axis=1, keepdims=True))
    Yc = Y - Y.mean(axis=1, keepdims=True)
    return Yc / Yc.std(axis=1, keepdims=True)


def pool_rdms(rdms, method: str = "spearman") -> np.ndarray:
    """The average RDM that a comparison method favors (rsatoolbox's ``pool_rdm``).

    Parameters
    ----------
    rdms : array of shape (s, n_pairs)
    method : str
        One of :data:`METHODS`: pearson/corr_cov average z-scored RDMs (minus their minimum),
        cosine/cosine_cov RMS-normalized RDMs, rank methods the ranks.

    Returns
    -------
    pooled : array of shape (n_pairs,)
    """
    method = check_method(method, METHODS)
    Y, _ = as_rdms(rdms, "rdms")
    pooled = _pool_transform(Y, method).mean(axis=0)
    return pooled - pooled.min() if method in ("pearson", "corr_cov") else pooled


@dataclass(frozen=True)
class NoiseCeiling:
    """Lower and upper bounds of the similarity any model can reach with these subjects.

    Attributes
    ----------
    lower, upper : float
        Means over subjects of ``lower_each`` and ``upper_each``.
    lower_each, upper_each : arrays of shape (s,)
        Each subject's RDM against the pool of the others (lower) or of all (upper).
    method : str
    """

    lower: float
    upper: float
    lower_each: np.ndarray
    upper_each: np.ndarray
    method: str


def rdm_noise_ceiling(rdms, method: str = "spearman") -> NoiseCeiling:
    """Leave-one-subject-out noise ceiling (rsatoolbox ``boot_noise_ceiling`` point estimate).

    Parameters
    ----------
    rdms : array of shape (s, n_pairs), s >= 2
        One RDM per subject, or per repeat of one subject's measurements.
    method : str
        One of :data:`METHODS`.

    Returns
    -------
    NoiseCeiling
    """
    method = check_method(method, METHODS)
    Y, vector = as_rdms(rdms, "rdms")
    if vector or Y.shape[0] < 2:
        raise InputError(f"rdms has shape {np.shape(rdms)}; expected (s, n_pairs) with s >= 2")
    T = _pool_transform(Y, method)
    pooled_all = T.mean(axis=0, keepdims=True)
    others = (T.sum(axis=0) - T) / (Y.shape[0] - 1)  # (s, P): pool of all but subject s
    if method in ("pearson", "corr_cov"):
        pooled_all = pooled_all - pooled_all.min()
        others = others - others.min(axis=1, keepdims=True)
    if method in FAST_METHODS:
        u = unit_vectors(Y, method)
        lower = np.einsum("sp,sp->s", unit_vectors(others, method), u)
        upper = unit_vectors(pooled_all, method) @ u.T
    else:
        lower = np.array(
            [
                _compare_slow(others[s : s + 1], Y[s : s + 1], method)[0, 0]
                for s in range(Y.shape[0])
            ]
        )
        upper = _compare_slow(pooled_all, Y, method)
    upper = np.ravel(upper)
    return NoiseCeiling(float(lower.mean()), float(upper.mean()), lower, upper, method)


def fdr_layers_rois(pvalues) -> np.ndarray:
    """Benjamini–Hochberg q-values over all layers and ROIs together.

    Parameters
    ----------
    pvalues : array of shape (n_layers, n_rois)
        Permutation p-values (NaN for tests not run).

    Returns
    -------
    qvalues : array of shape (n_layers, n_rois)
        :func:`dnnmap.stats.inference.fdr_bh` with ``axis=None`` (one family).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 2:
        raise InputError(f"pvalues has shape {p.shape}; expected (n_layers, n_rois)")
    return fdr_bh(p, axis=None)
