"""Permutation tests of encoding accuracy, per voxel, with family-wise and FDR correction.

Two nulls of the reported score (``r``, ``r2`` or ``signed_sqrt_r2``, per fold then averaged
or on pooled predictions, :mod:`dnnmap.encoding.cross_validation`) of a voxelwise encoding
model. In both, the permuted statistic is exactly the reported score.

**Test-label permutation** (:func:`label_permutation_test`). The out-of-fold predictions are
kept and the measured responses are shuffled within each test fold (and exchangeability
block): permutation ``b`` scores ``predictions[i]`` against ``Y[perm_b[i]]``. It refits
nothing, so it is cheap, but it is exact only for one held-out test set (``cv.scheme:
split``): with k folds the fold models share training responses, the fold scores of noise are
positively correlated, and the test is anti-conservative (:func:`label_permutation_test`).
Within one test set, with each column centered and scaled to unit norm (``Pz``, ``Yz``, in
float64, then cast to the compute ``dtype``) Pearson r is a dot product, so a permutation is
a row gather and a row-wise dot::

    r[b, v] = sum_i Pz[i, v] * Yz[perm_b[i], v]

computed for ``batch`` permutations and ``voxel_batch`` voxels at a time: the rows of ``Yz``
are gathered into one cache-sized ``(batch, n, voxel_batch)`` buffer, multiplied by ``Pz`` in
place and summed over rows by a BLAS product with a row of ones (numpy), or by ``einsum``
(torch). The cost is memory traffic (``n_perm * n * v`` gathered values), so each voxel chunk
serves a whole sweep of permutations (a ``(sweep, v)`` block of null scores, at most 2**22
values) while it is in cache. R² needs no other sum: with ``SST = ||Y - mean(Y)||^2``,
``SSP = ||P - mean(P)||^2`` and the means ``y_bar``, ``p_bar``
(all invariant under permutation)::

    R²[b, v] = 1 - (SST + SSP + n (y_bar - p_bar)^2 - 2 r[b, v] sqrt(SST SSP)) / SST

R² is increasing in r within a voxel, so the uncorrected p-values of the two metrics are
equal; their maxima over voxels, hence the family-wise p-values, differ. The observed score
is computed by the same kernel with the identity permutation, so ties are counted
consistently.

**Full-refit permutation** (:func:`refit_permutation_test`). The responses are shuffled
before the model is fitted, so training and test labels are permuted and everything (inner
CV, alpha per voxel, outer CV) is redone. The permuted copies ``Y[perm_b]`` are extra target
columns (:class:`PermutedResponses`, gathered batch by batch, never held together) of one
pass over the outer splits of the model of
:func:`dnnmap.encoding.ridge.cross_validated_encoding` (built by
:func:`~dnnmap.encoding.ridge.ridge_cv_setup`), so each split's decompositions (its Gram
matrix, the outer training set and every inner fold) are computed once and serve every
permutation; the unpermuted ``Y`` rides along and gives the
observed score under identical folds. Only scores are kept
(:func:`dnnmap.encoding.cross_validation.cross_validated_scores`).

Permutations (:func:`dnnmap.stats.permutations.permutations`, ``draw="keys"``): permutation
``b`` is the argsort of ``rng.random(n)``, drawn in sequence from
``np.random.default_rng(seed)`` (uniform over all orders of the rows); with ``groups``
(exchangeability blocks) the rows of each group are shuffled only among themselves. The
same permutation is applied to every voxel, which keeps the spatial correlation of the
responses and makes the max-statistic correction valid.
Test-label permutations always stay within the test folds given (``folds``), so offsets
between the folds' models stay in the null; refit permutations permute all rows, or within
``groups``.

P-values (``tail="greater"``: a better score than chance), as :mod:`dnnmap.stats.inference`::

    pvalue[v]     = (1 + #{null[:, v] >= observed[v]}) / (1 + n_perm)
    null_max[b]   = max_v null[b, v]
    pvalue_fwe[v] = (1 + #{null_max >= observed[v]}) / (1 + n_perm)
    qvalue        = Benjamini–Hochberg of pvalue over voxels

``tail="less"`` counts ``<=`` and takes the minimum over voxels; ``tail="two-sided"`` tests
``|score|`` with ``tail="greater"`` (null maximum of ``|null|``), so that ``pvalue_fwe >=
pvalue`` holds for every tail. (:func:`dnnmap.stats.inference.permutation_pvalue`'s two-sided rule,
scipy's ``2 * min(p_greater, p_less)``, has no max-statistic counterpart.)

They are accumulated batch by batch, so the full ``(n_perm, v)`` null is kept only on request
(``keep_null``). Undefined voxels (any NaN/inf response or prediction, or a constant column)
get NaN everywhere and do not count in the FDR or the maximum; prediction rows that are NaN
in every column (stimuli no test set held) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnnmap.backend import get_backend
from dnnmap.brain.summary import masked_voxels
from dnnmap.checks import check_choice, check_int
from dnnmap.encoding.base import warn_masked
from dnnmap.encoding.cross_validation import POOLINGS, cross_validated_scores
from dnnmap.encoding.ridge import DEFAULT_ALPHAS, DEFAULT_BATCH, ridge_cv_setup
from dnnmap.errors import InputError
from dnnmap.features.folds import FoldFeatures
from dnnmap.stats.inference import TAILS, fdr_bh
from dnnmap.stats.metrics import SCORE_MIN_ROWS
from dnnmap.stats.permutations import check_groups, permutation_batches, permutations

SCORE_METRICS = ("r", "r2", "signed_sqrt_r2")
"""Scores whose permutation null :func:`label_permutation_test` and
:func:`refit_permutation_test` build."""
GATHER_ELEMENTS = 1 << 18  # gather buffer of the label permutations: 1 MB of float32 (cache)
NULL_ELEMENTS = 1 << 22  # null scores held per sweep over the voxels: 32 MB of float64


@dataclass(frozen=True)
class PermutationResult:
    """A permutation test of one score per voxel.

    Attributes
    ----------
    observed : array of shape (v,)
        Observed score per voxel (NaN for undefined voxels).
    pvalue : array of shape (v,)
        Uncorrected permutation p-value per voxel.
    pvalue_fwe : array of shape (v,)
        Max-statistic family-wise corrected p-value across voxels.
    qvalue : array of shape (v,)
        Benjamini–Hochberg adjusted p-value across voxels.
    null_max : array of shape (n_perm,)
        Extreme score over voxels of each permutation (max; for ``"less"`` the min; for
        ``"two-sided"`` the max of ``|score|``).
    n_perm : int
    seed : int
        Seed of the permutations.
    kind : str
        ``"test_labels"`` or ``"refit"``.
    metric : str
        ``"pearson_r"`` or ``"r2"``.
    tail : str
        ``"greater"``, ``"less"`` or ``"two-sided"``.
    null : array of shape (n_perm, v) or None
        The null scores when asked for (``keep_null``).
    """

    observed: np.ndarray
    pvalue: np.ndarray
    pvalue_fwe: np.ndarray
    qvalue: np.ndarray
    null_max: np.ndarray
    n_perm: int
    seed: int
    kind: str
    metric: str
    tail: str
    null: np.ndarray | None = None


def _check_dtype(dtype):
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"dtype is {dtype!r}; expected float32 or float64")
    return np.dtype(dtype).type


# ---------------------------------------------------------------------------------------------
# Streaming p-value accumulation
# ---------------------------------------------------------------------------------------------


class _Tally:
    """Counts of null >= / <= observed, finite null values and per-permutation extremes."""

    def __init__(self, observed: np.ndarray, n_perm: int, tail: str, keep_null: bool):
        v = observed.size
        self.observed = observed
        self.tail = tail
        self.ge = np.zeros(v, dtype=np.int64)
        self.le = np.zeros(v, dtype=np.int64)
        self.valid = np.zeros(v, dtype=np.int64)
        self.null_max = np.full(n_perm, np.nan)
        self.null = np.full((n_perm, v), np.nan, dtype=np.float64) if keep_null else None

    def add(self, b0: int, null: np.ndarray) -> None:
        """Add the null scores (b, v) of permutations b0 .. b0 + b - 1 (NaN: undefined)."""
        with np.errstate(invalid="ignore"):
            if self.tail == "two-sided":
                self.ge += (np.abs(null) >= np.abs(self.observed)).sum(axis=0)
            else:
                self.ge += (null >= self.observed).sum(axis=0)
                self.le += (null <= self.observed).sum(axis=0)
        finite = np.isfinite(null)
        self.valid += finite.sum(axis=0)
        any_finite = finite.any(axis=1)
        if self.tail == "greater":
            ext = np.where(finite, null, -np.inf).max(axis=1)
        elif self.tail == "less":
            ext = np.where(finite, null, np.inf).min(axis=1)
        else:
            ext = np.where(finite, np.abs(null), -np.inf).max(axis=1)
        self.null_max[b0 : b0 + null.shape[0]] = np.where(any_finite, ext, np.nan)
        if self.null is not None:
            self.null[b0 : b0 + null.shape[0]] = null

    def result(self, n_perm: int, seed: int, kind: str, metric: str) -> PermutationResult:
        obs = self.observed
        with np.errstate(invalid="ignore", divide="ignore"):
            greater = (1.0 + self.ge) / (1.0 + self.valid)
            less = (1.0 + self.le) / (1.0 + self.valid)
        p = less if self.tail == "less" else greater  # two-sided: counts of |null| >= |obs|
        p[np.isnan(obs) | (self.valid == 0)] = np.nan
        finite_max = np.sort(self.null_max[np.isfinite(self.null_max)])
        o = np.abs(obs) if self.tail == "two-sided" else obs
        if self.tail == "less":
            count = np.searchsorted(finite_max, o, side="right")
        else:
            count = finite_max.size - np.searchsorted(finite_max, o, side="left")
        with np.errstate(invalid="ignore", divide="ignore"):
            p_fwe = (1.0 + count) / (1.0 + finite_max.size)
        p_fwe[np.isnan(obs) | (finite_max.size == 0)] = np.nan
        return PermutationResult(
            observed=obs,
            pvalue=p,
            pvalue_fwe=p_fwe,
            qvalue=fdr_bh(p),
            null_max=self.null_max,
            n_perm=n_perm,
            seed=seed,
            kind=kind,
            metric=metric,
            tail=self.tail,
            null=self.null,
        )


# ---------------------------------------------------------------------------------------------
# Test-label permutations
# ---------------------------------------------------------------------------------------------


def _prepare(predictions, Y):
    """Float64 2-D (P, Y), the rows kept and the undefined columns."""
    P = np.asarray(predictions)
    Yn = np.asarray(Y)
    if P.ndim == 1 and Yn.ndim == 1:
        P, Yn = P[:, None], Yn[:, None]
    if P.shape != Yn.shape or P.ndim != 2:
        raise InputError(
            f"predictions have shape {P.shape} and Y has shape {Yn.shape}; expected equal "
            "shapes (n, v) or (n,)"
        )
    tested = ~np.isnan(P).all(axis=1) if P.shape[1] else np.ones(P.shape[0], dtype=bool)
    if tested.sum() < 3:
        raise InputError(
            f"predictions have {int(tested.sum())} rows with values; expected at least 3"
        )
    return P, Yn, tested


def _standardize(A: np.ndarray):
    """Centered columns scaled to unit norm (float64; 0 in constant columns), with their means
    and sums of squares."""
    A = A.astype(np.float64)
    mean = A.mean(axis=0)
    A -= mean
    ss = np.einsum("ij,ij->j", A, A)
    A /= np.where(ss > 0, np.sqrt(np.where(ss > 0, ss, 1.0)), 1.0)
    return A, mean, ss


def _label_null_chunk(bk, Yz, Pz, perms, buf=None):
    """r (b, vc) of the permutations ``perms`` (b, n) for one voxel chunk (backend arrays).

    numpy: the gather goes into ``buf``, a contiguous (b, n, vc) array; torch: ``perms`` are
    backend indices.
    """
    if buf is not None:
        np.take(Yz, perms, axis=0, out=buf)
        np.multiply(buf, Pz, out=buf)
        # the sum over rows as a BLAS product with a row of ones: faster than einsum or sum
        return np.matmul(np.ones((1, buf.shape[1]), dtype=buf.dtype), buf)[:, 0, :]
    return bk._torch.einsum("bnv,nv->bv", Yz[perms], Pz)


class _SetScorer:
    """The metric (s, v) of one set of test rows under permutations of its own rows.

    ``P`` and ``Y`` (m, v) are the set's predictions and responses; columns that are not
    finite or whose responses are constant are NaN (and, for r, columns with a constant
    prediction), as :mod:`dnnmap.stats.metrics` scores them.
    """

    def __init__(self, bk, P, Y, metric, dtype, batch, voxel_batch):
        m, v = P.shape
        self.bk, self.metric, self.batch, self.m, self.v = bk, metric, batch, m, v
        bad = ~(np.isfinite(P).all(axis=0) & np.isfinite(Y).all(axis=0))
        with np.errstate(invalid="ignore"):
            bad |= ~(np.ptp(Y, axis=0) > 0)
            if metric == "r":
                bad |= ~(np.ptp(P, axis=0) > 0)
        if m < SCORE_MIN_ROWS[metric]:
            bad[:] = True
        cols = np.flatnonzero(~bad)
        vb = voxel_batch or max(1, GATHER_ELEMENTS // (batch * max(m, 1)))
        self.chunks = []  # (columns, Pz, Yz on the backend, means and sums of squares)
        for c0 in range(0, cols.size, vb):
            c = cols[c0 : c0 + vb]
            Pz, p_mean, ssp = _standardize(P[:, c])
            Yz, y_mean, sst = _standardize(Y[:, c])
            stats = (p_mean, ssp, y_mean, sst)
            self.chunks.append((c, bk.asarray(Pz, dtype), bk.asarray(Yz, dtype), stats))
        self.flat = np.empty(batch * m * vb, dtype=dtype) if bk.name == "numpy" else None

    def __call__(self, perms: np.ndarray) -> np.ndarray:
        """The metric (s, v) of row permutations ``perms`` (s, m), NaN in undefined columns.

        Voxel chunks outside, ``batch`` permutations inside: a chunk is read from memory once
        per call and stays in cache for all ``s`` permutations.
        """
        bk, m, batch = self.bk, self.m, self.batch
        out = np.full((perms.shape[0], self.v), np.nan)
        for c, Pb, Yb, (p_mean, ssp, y_mean, sst) in self.chunks:
            for b0 in range(0, perms.shape[0], batch):
                pb = perms[b0 : b0 + batch]
                b = pb.shape[0]
                idx = pb if self.flat is not None else bk.index(pb)
                g = None
                if self.flat is not None:
                    g = self.flat[: b * m * c.size].reshape(b, m, c.size)
                r = bk.to_numpy(_label_null_chunk(bk, Yb, Pb, idx, g)).astype(np.float64)
                r = np.clip(r, -1.0, 1.0)
                if self.metric == "r":
                    out[b0 : b0 + b, c] = r
                    continue
                sse = sst + ssp + m * (y_mean - p_mean) ** 2 - 2.0 * r * np.sqrt(sst * ssp)
                r2 = 1.0 - sse / sst
                if self.metric == "signed_sqrt_r2":
                    r2 = np.sign(r2) * np.sqrt(np.abs(r2))
                out[b0 : b0 + b, c] = r2
        return out


def _check_metric(metric) -> str:
    """``metric`` among :data:`SCORE_METRICS` (``"pearson_r"`` is ``"r"``)."""
    metric = check_choice(metric, "metric", (*SCORE_METRICS, "pearson_r"))
    return "r" if metric == "pearson_r" else metric


def _permutation_labels(folds, groups) -> np.ndarray:
    """One label per row for the cells of test fold x exchangeability block (n,)."""
    if groups is None:
        return folds
    pairs = np.stack([folds.astype(str), groups.astype(str)], axis=1)
    return np.unique(pairs, axis=0, return_inverse=True)[1].ravel()


def label_permutation_test(
    predictions,
    Y,
    n_perm: int = 1000,
    seed: int = 0,
    *,
    folds=None,
    groups=None,
    metric: str = "r",
    pooling: str = "folds",
    tail: str = "greater",
    batch: int = 8,
    voxel_batch: int | None = None,
    keep_null: bool = False,
    dtype=np.float32,
    device: str = "numpy",
) -> PermutationResult:
    """Test-label permutation test of out-of-fold encoding accuracy, per voxel.

    The responses are permuted within each test fold (and within each exchangeability block
    of ``groups``), and the permuted statistic is the reported score: the mean over test
    folds of the per-fold metric (``pooling="folds"``, as
    :func:`dnnmap.encoding.cross_validation.cross_validated_predictions`), or the metric of
    the pooled predictions (``"pooled"``).

    Validity: exact when each test row's prediction depends on no other test row's response,
    i.e. one held-out test set (``cv.scheme: split``, ``folds`` None or one fold). With k
    folds, each fold's model was trained on the other folds' test responses, so the fold
    scores of pure noise are positively correlated (about ``1 / (k - 1)`` when the fit is
    weakly penalized) while the permuted fold scores are independent: the null is too narrow
    and the test is anti-conservative (per-voxel type-I error about 0.11 at 0.05 for 5 folds,
    n=120, 30 features). Use :func:`refit_permutation_test` there.

    Parameters
    ----------
    predictions : array of shape (n, v) or (n,)
        Out-of-fold predictions (e.g. ``EncodingResult.predictions``); rows that are NaN in
        every column (never tested) are left out.
    Y : array of shape (n, v) or (n,)
        Measured responses, rows aligned with ``predictions``.
    n_perm : int
        Permutations (>= 1).
    seed : int
        Seed of the permutations (:func:`dnnmap.stats.permutations.permutations`); the same
        seed, rows, folds and blocks give the same permutations in every job.
    folds : array of shape (n,) or None
        Test set of each row (``EncodingResult.folds``; -1: never tested); None: the tested
        rows form one test set.
    groups : array of shape (n,) or None
        Exchangeability blocks within the folds (e.g. a session column); None: all rows of a
        fold are exchangeable.
    metric : {"r", "r2", "signed_sqrt_r2"}
        Score whose null is built (``"pearson_r"`` is ``"r"``).
    pooling : {"folds", "pooled"}
        As the reported score (see above).
    tail : {"greater", "less", "two-sided"}
        Alternative (see :mod:`dnnmap.stats.inference`); "greater": better than chance.
    batch : int
        Permutations per gather.
    voxel_batch : int or None
        Voxels per gather; None: as many as keep the ``(batch, m, voxel_batch)`` buffer
        within 2**18 elements.
    keep_null : bool
        Return the null scores (n_perm, v) in ``null``.
    dtype : float32 or float64
        Compute dtype of the gather and dot products (float32: 7 significant digits).
    device : str
        ``"numpy"`` (default), or a torch device (``"cpu"``, ``"cuda"``, ``"auto"``; see
        :func:`dnnmap.backend.get_backend`).

    Returns
    -------
    PermutationResult
        ``observed`` (the score, computed by the same kernel with the identity permutation),
        ``pvalue``, ``pvalue_fwe``, ``qvalue`` (v,), ``null_max`` (n_perm,),
        ``kind="test_labels"``.
    """
    n_perm = check_int(n_perm, "n_perm", 1)
    seed = check_int(seed, "seed", 0)
    metric = _check_metric(metric)
    pooling = check_choice(pooling, "pooling", POOLINGS)
    tail = check_choice(tail, "tail", TAILS)
    batch = check_int(batch, "batch", 1)
    dtype = _check_dtype(dtype)
    P, Yn, tested = _prepare(predictions, Y)
    groups = check_groups(groups, P.shape[0])
    if folds is not None:
        folds = check_groups(folds, P.shape[0])
        tested &= np.asarray(folds).astype(str) != "-1"
    if voxel_batch is not None:
        voxel_batch = check_int(voxel_batch, "voxel_batch", 1)
    bk = get_backend(device)
    P, Yn = P[tested], Yn[tested]
    n, v = P.shape
    fold_of = np.zeros(n, dtype=np.int64)
    if folds is not None:
        fold_of = np.unique(np.asarray(folds)[tested].astype(str), return_inverse=True)[1]
    labels = _permutation_labels(fold_of, None if groups is None else groups[tested])
    if pooling == "pooled":
        sets = [np.arange(n)]
    else:
        sets = [np.flatnonzero(fold_of == k) for k in np.unique(fold_of)]
    local = np.empty(n, dtype=np.int64)
    scorers = []
    for rows in sets:
        local[rows] = np.arange(rows.size)
        scorers.append((rows, _SetScorer(bk, P[rows], Yn[rows], metric, dtype, batch, voxel_batch)))

    def scores(perms: np.ndarray) -> np.ndarray:
        """The statistic (s, v) of permutations (s, n) that keep rows within their sets."""
        per_set = np.stack([scorer(local[perms[:, rows]]) for rows, scorer in scorers])
        if pooling == "pooled":
            return per_set[0]
        finite = np.isfinite(per_set)
        count = finite.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, np.where(finite, per_set, 0.0).sum(axis=0) / count, np.nan)

    # the observed scores: the same kernel with the identity permutation
    tally = _Tally(scores(np.arange(n)[None, :])[0], n_perm, tail, keep_null)
    # permutations per sweep over the voxels: a (sweep, v) float64 block of at most 2**22
    sweep = batch * max(1, min(-(-n_perm // batch), NULL_ELEMENTS // (batch * max(v, 1))))
    for b0, perms in permutation_batches(n, n_perm, seed, sweep, groups=labels):
        tally.add(b0, scores(perms))
    return tally.result(n_perm, seed, "test_labels", metric)


# ---------------------------------------------------------------------------------------------
# Full-refit permutations
# ---------------------------------------------------------------------------------------------


class PermutedResponses:
    """The responses and their row-permuted copies side by side, made on demand.

    A read-only matrix of shape ``(n, (1 + n_perm) * v)``: columns ``0 .. v - 1`` are ``Y``,
    and columns ``(b + 1) * v .. (b + 2) * v - 1`` are ``Y[perms[b]]``, the responses of
    permutation ``b``. Only the rows and columns asked for are gathered, so a refit
    permutation test scores every permutation in one cross-validation
    (:func:`dnnmap.encoding.cross_validation.cross_validated_scores`) without holding the
    copies.

    Parameters
    ----------
    Y : array of shape (n, v)
        Responses (float32 or float64; kept in their dtype).
    perms : int array of shape (n_perm, n)
        Row permutations (:func:`dnnmap.stats.permutations.permutations`).
    """

    def __init__(self, Y: np.ndarray, perms: np.ndarray):
        self.Y = Y
        self.perms = perms
        self.v = Y.shape[1]
        self.shape = (Y.shape[0], (1 + perms.shape[0]) * self.v)
        self.dtype = Y.dtype
        self.ndim = 2

    def masked(self, masked: np.ndarray) -> np.ndarray:
        """The mask (V,) of every copy, from the mask (v,) of ``Y``: a permutation keeps a
        column constant or not finite."""
        return np.tile(masked, 1 + self.perms.shape[0])

    def __getitem__(self, key) -> np.ndarray:
        """``M[rows, columns]`` as a new array: rows an index array, a slice or the rows of
        ``np.ix_``; columns a slice or a sorted index array (the batches of
        :func:`dnnmap.encoding.base.batches`) of shape (b,) or (1, b)."""
        rows, cols = key
        rows = np.arange(self.shape[0])[rows] if isinstance(rows, slice) else np.ravel(rows)
        cols = np.arange(self.shape[1])[cols] if isinstance(cols, slice) else np.ravel(cols)
        out = np.empty((rows.size, cols.size), dtype=self.dtype)
        if not cols.size:
            return out
        if cols[0] < 0 or cols[-1] >= self.shape[1] or (np.diff(cols) <= 0).any():
            raise IndexError(
                f"columns must be increasing indices in 0 .. {self.shape[1] - 1} (the batches "
                "of dnnmap.encoding.base.batches)"
            )
        copy = cols // self.v
        # one gather per run of columns of the same copy
        edges = np.flatnonzero(np.diff(copy)) + 1
        for lo, hi in zip(np.r_[0, edges], np.r_[edges, cols.size], strict=True):
            b = int(copy[lo])
            src = rows if b == 0 else self.perms[b - 1][rows]
            vox = cols[lo:hi] - b * self.v
            if vox[-1] - vox[0] + 1 == vox.size:
                out[:, lo:hi] = self.Y[src, vox[0] : vox[-1] + 1]
            else:
                out[:, lo:hi] = self.Y[np.ix_(src, vox)]
        return out


def refit_permutation_test(
    X,
    Y,
    n_perm: int = 100,
    seed: int = 0,
    *,
    groups=None,
    metric: str = "r",
    pooling: str = "folds",
    tail: str = "greater",
    keep_null: bool = False,
    alphas=DEFAULT_ALPHAS,
    n_folds: int = 5,
    cv_seed: int = 0,
    inner_cv=5,
    **encoding_kwargs,
) -> PermutationResult:
    """Full-refit permutation test: the responses are permuted, then the whole
    cross-validated encoding model is fitted again.

    One pass over the outer splits of :func:`dnnmap.encoding.ridge.cross_validated_encoding`
    (the folds fixed by ``cv_seed`` or ``splits``, as in the observed fit) fits ``Y`` and
    every permuted copy ``Y[perm_b]`` as target columns (:class:`PermutedResponses`, made
    batch by batch), so each split's decompositions are computed once for all permutations;
    only the scores are kept (:func:`dnnmap.encoding.cross_validation.cross_validated_scores`).

    Memory: the permutations (``n_perm x n``: int64 while drawn, then int32); per voxel and
    permutation, running sums and scores of about 50 bytes (``pooling="folds"``) or 200
    (``"pooled"``), measured; and the work arrays of one batch of ``batch_size`` target
    columns, as in the observed fit. Unlike a fit per batch of permutations, the per-column
    state grows with ``n_perm x v`` (100 permutations of 20,000 voxels: 100 or 400 MB).

    Parameters
    ----------
    X : array of shape (n, p), or FoldFeatures
        Features; a :class:`dnnmap.features.folds.FoldFeatures` with ``fit: train`` refits
        the PCA on each outer training set (once per split).
    Y : array of shape (n, v) or (n,)
        Responses (float32 is kept, as in the encoding workflow).
    n_perm : int
        Permutations (>= 1).
    seed : int
        Seed of the permutations (:func:`dnnmap.stats.permutations.permutations`).
    groups : array of shape (n,) or None
        Exchangeability blocks (e.g. sessions, or the outer folds); None: all rows.
    metric : {"r", "r2", "signed_sqrt_r2"}
        The score (``"pearson_r"`` is ``"r"``); the permuted statistic is
        ``EncodingResult.score`` of the refit with ``score=metric`` and ``pooling``, i.e. the
        reported score. Valid by construction for every CV scheme: under the null, the
        responses permuted within blocks have the distribution of the observed ones, and
        every step (inner CV, alphas, outer CV, score) is redone on them.
    pooling : {"folds", "pooled"}
        As :func:`~dnnmap.encoding.ridge.cross_validated_encoding`.
    tail : {"greater", "less", "two-sided"}
        Alternative (see :mod:`dnnmap.stats.inference`).
    keep_null : bool
        Return the null scores (n_perm, v) in ``null``.
    alphas, n_folds, cv_seed, inner_cv
        ``alphas``, ``n_folds``, ``seed`` and ``inner_cv`` of
        :func:`~dnnmap.encoding.ridge.cross_validated_encoding`.
    **encoding_kwargs
        Other keyword arguments of :func:`~dnnmap.encoding.ridge.cross_validated_encoding`
        (``splits``, ``batch_size``, ``solver``, ``device``, ``dtype``, ...); ``batch_size``
        counts target columns of all copies (None: the ROI's width).

    Returns
    -------
    PermutationResult
        ``observed`` (the unpermuted fit's score), ``pvalue``, ``pvalue_fwe``, ``qvalue``
        (v,), ``null_max`` (n_perm,), ``kind="refit"``.
    """
    n_perm = check_int(n_perm, "n_perm", 1)
    seed = check_int(seed, "seed", 0)
    metric = _check_metric(metric)
    pooling = check_choice(pooling, "pooling", POOLINGS)
    tail = check_choice(tail, "tail", TAILS)
    Yn = np.asarray(Y)
    if Yn.ndim == 1:
        Yn = Yn[:, None]
    if Yn.ndim != 2:
        raise InputError(f"Y has shape {Yn.shape}; expected (n, v) or (n,)")
    if Yn.dtype != np.float32:
        Yn = Yn.astype(np.float64, copy=False)
    n, v = Yn.shape
    shape = X.shape if isinstance(X, FoldFeatures) else np.shape(X)
    if len(shape) != 2 or shape[0] != n:
        raise InputError(f"X has shape {shape} and Y has shape {Yn.shape}; expected (n, p)")
    groups = check_groups(groups, n)
    batch_size = encoding_kwargs.pop("batch_size", DEFAULT_BATCH)
    batch_size = max(v, 1) if batch_size is None else batch_size
    factory, X, splits = ridge_cv_setup(
        X, Yn, alphas, n_folds, cv_seed, inner_cv, batch_size=batch_size, **encoding_kwargs
    )
    masked = masked_voxels(Yn, batch_size=batch_size)
    warn_masked(int(masked.sum()), v, "constant or not finite (NaN or inf)")
    perms = permutations(n, n_perm, seed, groups=groups).astype(np.int32)
    responses = PermutedResponses(Yn, perms)
    scores = cross_validated_scores(
        factory,
        X,
        responses,
        splits,
        masked=responses.masked(masked),
        batch_size=batch_size,
        score=metric,
        pooling=pooling,
        progress=f"refit permutations ({n_perm})",
    )
    tally = _Tally(scores[:v], n_perm, tail, keep_null)
    tally.add(0, scores[v:].reshape(n_perm, v))
    return tally.result(n_perm, seed, "refit", metric)
