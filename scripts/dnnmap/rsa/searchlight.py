"""Searchlight RSA: compare model RDMs with the RDM of every neighborhood of the brain.

For each center ``c`` with neighborhood members ``N(c)`` (:mod:`dnnmap.brain.neighborhoods`), the
brain RDM is the condensed dissimilarity matrix (``scipy.spatial.distance.pdist`` order) of
the stimulus patterns ``data[:, N(c)]`` (n_stim x |N(c)|), and the searchlight value is its
correlation with each model RDM: Spearman (Pearson correlation of average ranks, as
``scipy.stats.spearmanr``) or Pearson.

Batched computation. Centers are sorted by neighborhood size and taken in batches; a batch
gathers its patterns into one zero-padded array ``X (B, K, n_stim)`` (K = largest
neighborhood of the batch) and forms all B Gram matrices ``X_b^T X_b`` with one batched
matrix product. The metrics follow from the Gram matrix ``G`` of each neighborhood:

- correlation: patterns centered over the members (padding stays 0), then
  ``d_ij = 1 - G_ij / sqrt(G_ii G_jj)``;
- cosine: the same without centering;
- sqeuclidean: ``d_ij = G_ii + G_jj - 2 G_ij`` (clipped at 0); euclidean: its square root.

The model RDMs are ranked (Spearman) and standardized once; each brain RDM is ranked
(``scipy.stats.rankdata``, ties averaged) and standardized, and all correlations of a batch
are one matrix product ``(B, n_pairs) @ (n_pairs, n_models)``. A neighborhood whose RDM is
undefined (a stimulus pattern constant over its members, e.g. a single member, for
correlation and cosine) or constant gets NaN, as ``pdist`` + ``spearmanr`` would give.

Sharding. :func:`shard_centers` splits the centers into contiguous blocks; each block is
one job (:func:`run_searchlight_shard`, written by :func:`write_shard` to
``results/searchlight/{subject}/{model}/shard-{shard}.h5``), and :func:`merge_shards` checks
that the shards cover every center exactly once before the maps are written
(:func:`merge_searchlight`; CIFTI dscalar for CIFTI input, NIfTI for volume input, by
:func:`dnnmap.brain.responses_io.write_maps`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
from nibabel.cifti2 import BrainModelAxis
from scipy.stats import rankdata

from dnnmap.brain.neighborhoods import Neighborhoods
from dnnmap.brain.responses_io import Volume, neighborhoods_for, read_geometry, read_responses
from dnnmap.brain.spaces import SubjectData, read_data, read_data_header
from dnnmap.checks import check_choice, check_int
from dnnmap.errors import InputError
from dnnmap.rsa.io import read_rdm
from dnnmap.rsa.rdm import RDM_METRICS
from dnnmap.stimuli import read_stimuli
from dnnmap.store import h5_writer, provenance, read_strings, write_strings

LOG = logging.getLogger("dnnmap")

SEARCHLIGHT_METRICS = tuple(m for m in RDM_METRICS if m not in ("mahalanobis", "crossnobis"))
"""The metrics of :data:`dnnmap.rsa.rdm.RDM_METRICS` that follow from a neighborhood's Gram matrix
(correlation, cosine, euclidean, sqeuclidean; the noise-normalized ones need a noise estimate
per neighborhood and are not offered)."""
COMPARISONS = ("spearman", "pearson")
"""How a neighborhood's RDM is compared with the model RDMs."""
BATCH_BYTES = 256 << 20
"""Temporary memory of one batch of centers when ``batch_size`` is not given."""


# --- computation -----------------------------------------------------------------------------


def _check_data(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim != 2 or data.dtype.kind not in "biuf":
        raise InputError(
            f"data has shape {data.shape} and dtype {data.dtype}; "
            "expected a real (n_stim, n_columns) array"
        )
    if data.shape[0] < 3:
        raise InputError(f"data has {data.shape[0]} stimuli; expected at least 3")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).any(axis=0).sum())
        raise InputError(
            f"data has NaN or inf in {bad} columns; expected finite responses "
            "(drop those columns from the neighborhoods with Neighborhoods.restrict)"
        )
    return data


def _check_neighborhoods(neighborhoods: Neighborhoods, n_columns: int) -> None:
    if not isinstance(neighborhoods, Neighborhoods):
        raise InputError(
            f"neighborhoods is a {type(neighborhoods).__name__}; expected "
            "dnnmap.brain.neighborhoods.Neighborhoods"
        )
    if neighborhoods.indices.size and int(neighborhoods.indices.max()) >= n_columns:
        raise InputError(
            f"neighborhoods refer to column {int(neighborhoods.indices.max())}; "
            f"data has {n_columns} columns"
        )


def _batch_size(batch_size: int | None, n_stim: int, k_max: int) -> int:
    if batch_size is not None:
        return check_int(batch_size, "batch_size", minimum=1)
    n_pairs = n_stim * (n_stim - 1) // 2
    per_center = 8 * (2 * k_max * n_stim + 2 * n_stim * n_stim + 3 * n_pairs)
    return max(1, BATCH_BYTES // per_center)


def _rdm_batches(
    data: np.ndarray, neighborhoods: Neighborhoods, metric: str, batch_size: int | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(positions (B,), rdms (B, n_pairs))`` covering every neighborhood once."""
    n_stim = data.shape[0]
    columns = np.ascontiguousarray(data.T, dtype=np.float64)  # (n_columns, n_stim)
    sizes = neighborhoods.sizes
    order = np.argsort(sizes, kind="stable")
    step = _batch_size(batch_size, n_stim, int(sizes.max(initial=1)))
    iu = np.triu_indices(n_stim, 1)
    diag = np.arange(n_stim)
    for start in range(0, len(order), step):
        rows = order[start : start + step]
        size = sizes[rows]
        k = max(int(size.max(initial=0)), 1)
        valid = np.arange(k) < size[:, None]  # (B, K)
        index = np.zeros(valid.shape, dtype=np.int64)
        index[valid] = neighborhoods.take(rows).indices
        X = columns[index]  # (B, K, n_stim)
        X[~valid] = 0.0
        if metric == "correlation":
            mean = X.sum(axis=1) / np.maximum(size, 1)[:, None]
            X -= mean[:, None, :]
            X[~valid] = 0.0
        G = np.matmul(X.transpose(0, 2, 1), X)  # (B, n_stim, n_stim)
        sq = G[:, diag, diag]  # (B, n_stim)
        gram = G[:, iu[0], iu[1]]  # (B, n_pairs)
        if metric in ("correlation", "cosine"):
            norm = np.sqrt(sq)
            scale = norm[:, iu[0]] * norm[:, iu[1]]
            # Relative threshold: a pattern that is constant up to rounding has no direction.
            tiny = scale <= 1e-12 * np.maximum(sq.max(axis=1, keepdims=True), 1e-300)
            rdm = 1.0 - np.divide(gram, scale, out=np.zeros_like(gram), where=~tiny)
            rdm[tiny] = np.nan
        else:
            rdm = np.maximum(sq[:, iu[0]] + sq[:, iu[1]] - 2.0 * gram, 0.0)
            if metric == "euclidean":
                np.sqrt(rdm, out=rdm)
        yield rows, rdm


def searchlight_rdms(
    data: np.ndarray,
    neighborhoods: Neighborhoods,
    metric: str = "correlation",
    batch_size: int | None = None,
) -> np.ndarray:
    """The RDM of every neighborhood (for inspection and small data; memory n_centers x n_pairs).

    Parameters
    ----------
    data : ndarray, shape (n_stim, n_columns)
        Responses, one row per stimulus.
    neighborhoods : Neighborhoods
        Members of each center (column indices of ``data``).
    metric : {'correlation', 'cosine', 'euclidean', 'sqeuclidean'}
        One of :data:`SEARCHLIGHT_METRICS`.
    batch_size : int, optional
        Centers per batch; chosen from :data:`BATCH_BYTES` by default.

    Returns
    -------
    ndarray of float64, shape (n_centers, n_stim * (n_stim - 1) / 2)
        Condensed RDMs in ``pdist`` order; NaN where undefined.
    """
    data = _check_data(data)
    _check_neighborhoods(neighborhoods, data.shape[1])
    metric = check_choice(metric, "metric", SEARCHLIGHT_METRICS)
    n_stim = data.shape[0]
    out = np.empty((len(neighborhoods), n_stim * (n_stim - 1) // 2))
    for rows, rdm in _rdm_batches(data, neighborhoods, metric, batch_size):
        out[rows] = rdm
    return out


def _standardize_rows(A: np.ndarray) -> np.ndarray:
    """Rows centered and scaled to unit norm; constant (up to rounding) rows become NaN."""
    scale = np.abs(A).max(axis=1, keepdims=True)
    A = A - A.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(A, axis=1, keepdims=True)
    flat = ~(norm > 1e-12 * np.sqrt(A.shape[1]) * scale)  # NaN rows are flat too
    out = np.divide(A, norm, out=np.zeros_like(A), where=~flat)
    out[flat[:, 0]] = np.nan
    return out


def prepare_models(model_rdms: np.ndarray, n_stim: int, comparison: str) -> np.ndarray:
    """Rank (Spearman) and standardize model RDMs once, checking them.

    Parameters
    ----------
    model_rdms : ndarray, shape (n_models, n_pairs) or (n_pairs,)
        Condensed model RDMs in ``pdist`` order.
    n_stim : int
        Number of stimuli of the brain data.
    comparison : {'spearman', 'pearson'}

    Returns
    -------
    ndarray of float64, shape (n_models, n_pairs)
        Rows with mean 0 and norm 1 (of ranks for Spearman).

    Raises
    ------
    InputError
        If the pair count does not match ``n_stim``, a value is not finite, or a model RDM
        is constant.
    """
    comparison = check_choice(comparison, "comparison", COMPARISONS)
    M = np.asarray(model_rdms, dtype=np.float64)
    if M.ndim == 1:
        M = M[None]
    n_pairs = n_stim * (n_stim - 1) // 2
    if M.ndim != 2 or M.shape[0] == 0:
        raise InputError(
            f"model RDMs have shape {M.shape}; expected (n_models, {n_pairs}) condensed RDMs"
        )
    if M.shape[1] != n_pairs:
        m = (1 + math.isqrt(1 + 8 * M.shape[1])) // 2
        got = f"{m} stimuli" if m * (m - 1) // 2 == M.shape[1] else "no whole number of stimuli"
        raise InputError(
            f"model RDMs have {M.shape[1]} entries ({got}) but the brain data has {n_stim} "
            f"stimuli ({n_pairs} pairs); expected RDMs of the same stimuli"
        )
    if not np.isfinite(M).all():
        raise InputError("model RDMs hold NaN or inf; expected finite dissimilarities")
    if comparison == "spearman":
        M = rankdata(M, axis=1)
    Z = _standardize_rows(M)
    flat = np.flatnonzero(np.isnan(Z[:, 0]))
    if flat.size:
        raise InputError(
            f"model RDM {int(flat[0])} (row of model_rdms) is constant; expected RDMs that vary "
            "over stimulus pairs"
        )
    return Z


def searchlight_rsa(
    data: np.ndarray,
    neighborhoods: Neighborhoods,
    model_rdms: np.ndarray,
    metric: str = "correlation",
    comparison: str = "spearman",
    batch_size: int | None = None,
) -> np.ndarray:
    """Correlate each neighborhood's RDM with each model RDM.

    Parameters
    ----------
    data : ndarray, shape (n_stim, n_columns)
        Responses, one row per stimulus (finite).
    neighborhoods : Neighborhoods
        Members of each center (column indices of ``data``), e.g. from
        :func:`dnnmap.brain.neighborhoods.cifti_neighborhoods`.
    model_rdms : ndarray, shape (n_models, n_pairs) or (n_pairs,)
        Condensed model RDMs (``pdist`` order, same stimulus order as ``data``);
        ``n_pairs = n_stim * (n_stim - 1) / 2``.
    metric : {'correlation', 'cosine', 'euclidean', 'sqeuclidean'}
        Dissimilarity of the brain patterns.
    comparison : {'spearman', 'pearson'}
        Correlation between brain and model RDMs.
    batch_size : int, optional
        Centers per batch; chosen so a batch takes about :data:`BATCH_BYTES` by default.

    Returns
    -------
    ndarray of float64, shape (n_centers, n_models)
        r of center ``i`` (``neighborhoods.centers[i]``) with model ``m``; NaN where the
        neighborhood's RDM is undefined or constant.

    Raises
    ------
    InputError
        For data that is not a finite 2-D array with >= 3 stimuli, neighborhoods outside
        the data, an unknown metric or comparison, or model RDMs of another stimulus count.
    """
    data = _check_data(data)
    _check_neighborhoods(neighborhoods, data.shape[1])
    metric = check_choice(metric, "metric", SEARCHLIGHT_METRICS)
    models = prepare_models(model_rdms, data.shape[0], comparison)
    out = np.empty((len(neighborhoods), len(models)))
    for rows, rdm in _rdm_batches(data, neighborhoods, metric, batch_size):
        undefined = np.isnan(rdm).any(axis=1)
        rdm[undefined] = 0.0
        if comparison == "spearman":
            rdm = rankdata(rdm, axis=1)
        Z = _standardize_rows(rdm)
        Z[undefined] = np.nan
        out[rows] = Z @ models.T
    return out


# --- shards ----------------------------------------------------------------------------------


def shard_centers(n_centers: int, n_shards: int) -> list[np.ndarray]:
    """Split centers ``0..n_centers-1`` into ``n_shards`` contiguous blocks of equal size (±1).

    Parameters
    ----------
    n_centers : int
        Number of centers (e.g. grayordinates), >= 1.
    n_shards : int
        Number of jobs, >= 1; shards beyond ``n_centers`` are empty.

    Returns
    -------
    list of ndarray of int64
        ``n_shards`` arrays; their concatenation is ``arange(n_centers)``.
    """
    n_centers = check_int(n_centers, "n_centers", minimum=1)
    n_shards = check_int(n_shards, "n_shards", minimum=1)
    return [a.astype(np.int64) for a in np.array_split(np.arange(n_centers), n_shards)]


def check_shard(shard: int, n_shards: int) -> int:
    """Return ``shard`` as an int after checking it lies in ``0..n_shards-1``."""
    try:
        index = int(shard)
    except (TypeError, ValueError):
        index = -1
    if index < 0 or index >= n_shards or str(shard).strip() != str(index):
        raise InputError(f"shard is {shard!r}; expected an integer in 0..{n_shards - 1}")
    return index


def write_shard(
    path: str | os.PathLike,
    centers: np.ndarray,
    r: np.ndarray,
    names: Sequence[str],
    n_members: np.ndarray,
    shard: int,
    n_shards: int,
    n_centers: int,
    attrs: Mapping | None = None,
) -> None:
    """Write one shard's searchlight values, atomically.

    Parameters
    ----------
    path : path
        ``results/searchlight/{subject}/{model}/shard-{shard}.h5``.
    centers : ndarray of int, shape (n,)
        Center indices (columns of the data: grayordinates or mask voxels).
    r : ndarray, shape (n, n_maps)
        Searchlight value of each center and model RDM (layer).
    names : sequence of str, length n_maps
        Map names (layers).
    n_members : ndarray of int, shape (n,)
        Neighborhood size of each center.
    shard, n_shards, n_centers : int
        This shard's number, the number of shards and of all centers.
    attrs : mapping, optional
        More root attributes (provenance, radius, metric, ...).
    """
    centers = np.asarray(centers, dtype=np.int64)
    r = np.asarray(r, dtype=np.float32)
    names = [str(n) for n in names]
    if r.shape != (len(centers), len(names)):
        raise InputError(
            f"{path}: r has shape {r.shape}; expected ({len(centers)}, {len(names)}) "
            "(centers x maps)"
        )
    with h5_writer(path, attrs) as f:
        f.attrs.update(shard=int(shard), n_shards=int(n_shards), n_centers=int(n_centers))
        f.create_dataset("centers", data=centers)
        f.create_dataset("r", data=r)
        f.create_dataset("n_members", data=np.asarray(n_members, dtype=np.int64))
        write_strings(f, "names", names)


class MergedSearchlight(NamedTuple):
    """What :func:`merge_shards` returns."""

    maps: np.ndarray
    """(n_maps, n_centers) float32: one map per name, center ``c`` in column ``c``."""
    names: list[str]
    """Map names (layers), length n_maps."""
    n_members: np.ndarray
    """(n_centers,) int64 neighborhood sizes."""
    attrs: dict
    """Root attributes of the first shard (radius, metric, comparison, ...)."""


def _describe(centers: np.ndarray) -> str:
    shown = ", ".join(str(int(c)) for c in centers[:5])
    return f"{len(centers)} centers ({shown}{', ...' if len(centers) > 5 else ''})"


def merge_shards(paths: Sequence[str | os.PathLike]) -> MergedSearchlight:
    """Merge shard files into maps, checking that they cover every center exactly once.

    Parameters
    ----------
    paths : sequence of path
        Shard files written by :func:`write_shard`, in any order.

    Returns
    -------
    MergedSearchlight

    Raises
    ------
    InputError
        If no files are given, a file is unreadable, shards disagree (number of shards or
        centers, map names), a shard number is repeated or missing, or some centers are
        missing or repeated; the message names the shards and centers at fault.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no searchlight shard files; expected shard-0.h5 ... shard-{n-1}.h5")
    parts = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such file; expected a searchlight shard")
        with h5py.File(path, "r") as f:
            missing = [k for k in ("centers", "r", "names", "n_members") if k not in f]
            missing += [k for k in ("shard", "n_shards", "n_centers") if k not in f.attrs]
            if missing:
                raise InputError(f"{path}: lacks {missing}; expected a searchlight shard file")
            parts.append(
                {
                    "path": path,
                    "centers": f["centers"][()],
                    "r": f["r"][()],
                    "names": read_strings(f["names"]),
                    "n_members": f["n_members"][()],
                    "attrs": dict(f.attrs),
                }
            )
    first = parts[0]
    n_shards, n_centers = int(first["attrs"]["n_shards"]), int(first["attrs"]["n_centers"])
    for part in parts[1:]:
        got = (int(part["attrs"]["n_shards"]), int(part["attrs"]["n_centers"]))
        if got != (n_shards, n_centers):
            raise InputError(
                f"{part['path']} is one of {got[0]} shards of {got[1]} centers but "
                f"{first['path']} one of {n_shards} shards of {n_centers} centers; "
                "expected shards of one run"
            )
        if part["names"] != first["names"]:
            raise InputError(
                f"{part['path']} has maps {part['names']} but {first['path']} has "
                f"{first['names']}; expected the same layers in every shard"
            )
    by_shard: dict[int, Path] = {}
    for part in parts:
        k = int(part["attrs"]["shard"])
        if k in by_shard:
            raise InputError(
                f"{part['path']} and {by_shard[k]} are both shard {k}; expected each shard once"
            )
        by_shard[k] = part["path"]
    blocks = shard_centers(n_centers, n_shards)
    absent = [k for k in range(n_shards) if k not in by_shard]
    if absent:
        lost = np.concatenate([blocks[k] for k in absent])
        raise InputError(
            f"searchlight shards {absent} of {n_shards} are missing "
            f"({_describe(lost)} not computed); expected shard-0 ... shard-{n_shards - 1}"
        )
    count = np.zeros(n_centers, dtype=np.int64)
    maps = np.full((len(first["names"]), n_centers), np.nan, dtype=np.float32)
    n_members = np.zeros(n_centers, dtype=np.int64)
    for part in parts:
        centers = part["centers"]
        if centers.size and (centers.min() < 0 or centers.max() >= n_centers):
            raise InputError(
                f"{part['path']}: centers range over {centers.min()}..{centers.max()}; "
                f"expected 0..{n_centers - 1}"
            )
        np.add.at(count, centers, 1)
        maps[:, centers] = part["r"].T
        n_members[centers] = part["n_members"]
    for label, bad in (("missing", count == 0), ("repeated", count > 1)):
        if bad.any():
            where = np.flatnonzero(bad)
            owner = np.searchsorted(np.cumsum([len(b) for b in blocks]), where, side="right")
            shards = sorted({int(k) for k in owner})
            raise InputError(
                f"searchlight shards leave {_describe(where)} {label} (shards {shards} "
                "should hold them); expected every center exactly once"
            )
    return MergedSearchlight(maps, list(first["names"]), n_members, first["attrs"])


def merge_searchlight(
    shard_paths: Sequence[str | os.PathLike],
    responses_path: str | os.PathLike,
    mask: str | os.PathLike | None = None,
) -> tuple[MergedSearchlight, BrainModelAxis | Volume]:
    """Merge shard files and check them against the geometry of the responses they came from.

    Parameters
    ----------
    shard_paths : sequence of path
        Every shard of one subject x model (:func:`write_shard`).
    responses_path : path or SubjectData
        The subject's responses (CIFTI-2 or 4-D NIfTI) the shards were computed from, or the
        subject's data in any format (:class:`dnnmap.brain.spaces.SubjectData`).
    mask : path, optional
        The NIfTI mask of the searchlight (volume input given as a path only).

    Returns
    -------
    merged : MergedSearchlight
        ``maps`` of shape (n_maps, n_columns).
    geometry : BrainModelAxis, Volume or BrainSpace
        The columns' grayordinates or voxels, for :func:`dnnmap.brain.responses_io.write_maps`;
        for a SubjectData its space, for :func:`dnnmap.brain.spaces.write_maps`.

    Raises
    ------
    InputError
        As :func:`merge_shards`, or when the shards cover another number of centers than the
        responses have columns.
    """
    merged = merge_shards(shard_paths)
    if isinstance(responses_path, SubjectData):
        geometry = read_data_header(responses_path).space
        n_columns = geometry.n_columns
        responses_path = " + ".join(responses_path.files.values())
    else:
        geometry = read_geometry(responses_path, mask)
        n_columns = len(geometry) if isinstance(geometry, BrainModelAxis) else len(geometry.ijk)
    if merged.maps.shape[1] != n_columns:
        raise InputError(
            f"searchlight shards cover {merged.maps.shape[1]} centers but {responses_path} has "
            f"{n_columns} columns; expected shards computed from this file"
        )
    return merged, geometry


# --- one shard job -----------------------------------------------------------------------------


class SearchlightShard(NamedTuple):
    """What :func:`run_searchlight_shard` returns: the arguments of :func:`write_shard`."""

    centers: np.ndarray
    """(n,) int64 column indices of this shard's centers."""
    r: np.ndarray
    """(n, n_layers) float64 searchlight r of each center and layer; NaN where undefined."""
    names: list[str]
    """Layer names, length n_layers."""
    n_members: np.ndarray
    """(n,) int64 neighborhood sizes."""
    shard: int
    """This shard's number."""
    n_shards: int
    """Number of shards."""
    n_centers: int
    """Number of centers of all shards (columns of the responses)."""
    attrs: dict
    """Provenance and settings (radius_mm, metric, comparison, diagonals) for the file."""


def run_searchlight_shard(
    stimuli_path: str | os.PathLike,
    responses_path: str | os.PathLike,
    model_paths: Sequence[str | os.PathLike],
    layers: Sequence[str],
    settings: Mapping,
    shard: int | str,
) -> SearchlightShard:
    """One shard of a searchlight RSA: every center of the shard against every layer's RDM.

    Columns with a NaN or inf response are left out of every neighborhood (with a warning).

    Parameters
    ----------
    stimuli_path : path
        The checked stimulus table (``results/stimuli.tsv``); its order is the row order.
    responses_path : path or SubjectData
        The subject's CIFTI-2 responses, or a 4-D NIfTI with one volume per stimulus in table
        order (:func:`dnnmap.brain.responses_io.read_responses`); or the subject's data in
        any format, its maps matched to the stimuli by name or ids sidecar
        (:class:`dnnmap.brain.spaces.SubjectData`, neighborhoods from
        :func:`dnnmap.brain.space_neighborhoods.space_neighborhoods`: mask voxels in mm,
        geodesic discs on GIFTI/MGH meshes).
    model_paths : sequence of path, length n_layers
        The RDM file of every layer (``results/rdm/{model}/{layer}.h5``), in ``layers`` order.
    layers : sequence of str, length n_layers
        Layer names, the maps' names.
    settings : mapping
        Config ``rsa.searchlight``: ``radius_mm``, ``n_shards``, ``metric``, ``comparison``
        and optional ``diagonals``, ``mask``, ``surfaces``.
    shard : int or str
        This shard's number in ``0..n_shards-1`` (the ``{shard}`` wildcard).

    Returns
    -------
    SearchlightShard

    Raises
    ------
    InputError
        When the number of RDM files differs from the number of layers, the shard is out of
        range, or the inputs disagree (stimuli, metric, comparison; see :func:`searchlight_rsa`).
    """
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    model_paths = [str(p) for p in model_paths]
    layers = [str(layer) for layer in layers]
    if len(model_paths) != len(layers):
        raise InputError(
            f"{len(model_paths)} model RDM files for {len(layers)} layers ({', '.join(layers)}); "
            "expected one RDM file per layer"
        )
    if isinstance(responses_path, SubjectData):
        data, space = read_data(responses_path, stim_ids, stimuli_path)
        input_paths = responses_path.paths
    else:
        responses = read_responses(
            responses_path, stim_ids, stimuli_path, mask=settings.get("mask")
        )
        data, space, input_paths = responses.data, None, [responses_path]
    models = np.stack([read_rdm(p, stim_ids, stimuli_path) for p in model_paths])
    n_shards = int(settings["n_shards"])
    index = check_shard(shard, n_shards)
    centers = shard_centers(data.shape[1], n_shards)[index]
    diagonals = bool(settings.get("diagonals", False))
    start = time.perf_counter()
    if space is not None:
        from dnnmap.brain.space_neighborhoods import space_neighborhoods

        neighborhoods = space_neighborhoods(
            space,
            settings["radius_mm"],
            centers,
            surfaces=settings.get("surfaces"),
            diagonals=diagonals,
        )
    else:
        neighborhoods = neighborhoods_for(
            responses,
            settings["radius_mm"],
            centers,
            surfaces=settings.get("surfaces"),
            diagonals=diagonals,
        )
    sizes = neighborhoods.sizes
    LOG.info(
        "shard %d of %d: %d centers, radius %g mm, %d-%d members (mean %.1f) in %.1f s",
        index,
        n_shards,
        len(centers),
        neighborhoods.radius_mm,
        sizes.min(initial=0),
        sizes.max(initial=0),
        sizes.mean() if sizes.size else 0.0,
        time.perf_counter() - start,
    )
    finite = np.isfinite(data).all(axis=0)
    if not finite.all():
        LOG.warning(
            "%d columns have NaN or inf responses; left out of every neighborhood",
            int((~finite).sum()),
        )
        neighborhoods = neighborhoods.restrict(finite)
        data = np.where(finite, data, 0.0)
    start = time.perf_counter()
    r = searchlight_rsa(
        data, neighborhoods, models, metric=settings["metric"], comparison=settings["comparison"]
    )
    LOG.info(
        "%d stimuli x %d layers: %s RDMs, %s r in %.1f s (%d undefined centers)",
        len(stim_ids),
        len(layers),
        settings["metric"],
        settings["comparison"],
        time.perf_counter() - start,
        int(np.isnan(r).any(axis=1).sum()),
    )
    attrs = provenance(settings, [*input_paths, *model_paths])
    attrs.update(
        radius_mm=float(neighborhoods.radius_mm),
        metric=settings["metric"],
        comparison=settings["comparison"],
        diagonals=diagonals,
    )
    return SearchlightShard(
        centers, r, layers, neighborhoods.sizes, index, n_shards, data.shape[1], attrs
    )
