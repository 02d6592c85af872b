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
one job (``results/searchlight/{subject}/{model}/shard-{shard}.h5``, :func:`write_shard`),
and :func:`merge_shards` checks that the shards cover every center exactly once before the
maps are written (CIFTI dscalar for CIFTI input, NIfTI for volume input).
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import nibabel as nib
import numpy as np
from nibabel.cifti2 import BrainModelAxis
from scipy.stats import rankdata

from dnnmap.brain.cifti import _quiet_nibabel, read_brain_models, read_dscalar, write_dscalar
from dnnmap.brain.neighborhoods import Neighborhoods, cifti_neighborhoods, volume_neighborhoods
from dnnmap.brain.roi import align_maps
from dnnmap.errors import InputError
from dnnmap.store import atomic_path, h5_writer, read_strings, write_strings

LOG = logging.getLogger("dnnmap")

METRICS = ("correlation", "cosine", "euclidean", "sqeuclidean")
"""Dissimilarities of brain patterns within a neighborhood (as ``scipy.spatial.distance``)."""
COMPARISONS = ("spearman", "pearson")
"""How a neighborhood's RDM is compared with the model RDMs."""
BATCH_BYTES = 256 << 20
"""Temporary memory of one batch of centers when ``batch_size`` is not given."""

_CIFTI_SUFFIXES = (".dscalar.nii", ".dtseries.nii")
_NIFTI_SUFFIXES = (".nii", ".nii.gz")


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


def _choose(value: str, options: Sequence[str], key: str) -> str:
    if value not in options:
        raise InputError(f"{key} is {value!r}; expected one of {', '.join(options)}")
    return value


def _batch_size(batch_size: int | None, n_stim: int, k_max: int) -> int:
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise InputError(f"batch_size is {batch_size!r}; expected a positive integer")
        if batch_size < 1:
            raise InputError(f"batch_size is {batch_size}; expected a positive integer")
        return int(batch_size)
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
    batch_size : int, optional
        Centers per batch; chosen from :data:`BATCH_BYTES` by default.

    Returns
    -------
    ndarray of float64, shape (n_centers, n_stim * (n_stim - 1) / 2)
        Condensed RDMs in ``pdist`` order; NaN where undefined.
    """
    data = _check_data(data)
    _check_neighborhoods(neighborhoods, data.shape[1])
    metric = _choose(metric, METRICS, "metric")
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
    comparison = _choose(comparison, COMPARISONS, "comparison")
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
    metric = _choose(metric, METRICS, "metric")
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
    for key, value in (("n_centers", n_centers), ("n_shards", n_shards)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{key} is {value!r}; expected a positive integer")
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


# --- brain data: CIFTI or NIfTI --------------------------------------------------------------


class Volume(NamedTuple):
    """Voxel geometry of volume data: which voxel each column is."""

    ijk: np.ndarray
    """(n_vox, 3) int64 voxel indices of the columns."""
    affine: np.ndarray
    """(4, 4) voxel-to-millimetre affine."""
    shape: tuple[int, int, int]
    """Shape of the 3-D image."""


class Responses(NamedTuple):
    """Brain responses and the geometry of their columns."""

    data: np.ndarray
    """(n_stim, n_columns) float32 in stimulus-table order."""
    brain_models: BrainModelAxis | None
    """Grayordinates of the columns (CIFTI input), else ``None``."""
    volume: Volume | None
    """Voxels of the columns (NIfTI input), else ``None``."""


def is_cifti(path: str | os.PathLike) -> bool:
    """True for ``.dscalar.nii``/``.dtseries.nii``, False for other ``.nii``/``.nii.gz``."""
    name = Path(path).name
    if name.endswith(_CIFTI_SUFFIXES):
        return True
    if name.endswith(_NIFTI_SUFFIXES):
        return False
    raise InputError(
        f"{path}: unknown brain file type; expected a CIFTI-2 .dscalar.nii/.dtseries.nii or "
        "a NIfTI .nii/.nii.gz"
    )


def _load_nifti(path: str | os.PathLike, what: str):
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected a NIfTI {what}")
    try:
        with _quiet_nibabel():
            img = nib.load(path)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not readable as NIfTI ({reason}); expected a {what}") from err
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(f"{path}: is a {type(img).__name__}; expected a NIfTI {what}")
    return img


def read_volume(
    path: str | os.PathLike, mask: str | os.PathLike | None = None
) -> tuple[np.ndarray, Volume]:
    """Read a 4-D NIfTI image (one volume per stimulus) inside a mask.

    Parameters
    ----------
    path : path
        NIfTI image of shape (X, Y, Z, n_stim).
    mask : path, optional
        3-D NIfTI on the same grid; non-zero voxels are kept. By default the voxels whose
        values are finite for every stimulus and not all zero.

    Returns
    -------
    data : ndarray of float32, shape (n_stim, n_vox)
        Columns in C order of the voxel indices.
    volume : Volume
    """
    img = _load_nifti(path, "4-D image (one volume per stimulus)")
    if len(img.shape) != 4:
        raise InputError(f"{path}: image has shape {img.shape}; expected 4-D (x, y, z, stimulus)")
    values = np.asarray(img.dataobj, dtype=np.float32)
    if mask is None:
        keep = np.isfinite(values).all(axis=3) & (values != 0).any(axis=3)
    else:
        mask_img = _load_nifti(mask, "3-D mask")
        if mask_img.shape[:3] != img.shape[:3] or len(mask_img.shape) != 3:
            raise InputError(
                f"{mask}: mask has shape {mask_img.shape}; expected {img.shape[:3]} like {path}"
            )
        if not np.allclose(mask_img.affine, img.affine, atol=1e-4):
            raise InputError(f"{mask}: affine differs from {path}'s; expected the same grid")
        keep = np.asarray(mask_img.dataobj) != 0
    ijk = np.argwhere(keep).astype(np.int64)
    if len(ijk) == 0:
        raise InputError(f"{mask or path}: mask is empty; expected voxels with data")
    data = values[keep].T.copy()
    return data, Volume(ijk, np.asarray(img.affine, dtype=np.float64), tuple(img.shape[:3]))


def read_responses(
    path: str | os.PathLike,
    stim_ids: Sequence[str],
    table: str = "the stimulus table",
    mask: str | os.PathLike | None = None,
) -> Responses:
    """Read a subject's responses, rows in stimulus-table order, with their geometry.

    Parameters
    ----------
    path : path
        CIFTI-2 dscalar (maps named by stim_id) or dtseries (maps in table order), or a 4-D
        NIfTI (volumes in table order) with an optional ``mask``.
    stim_ids : sequence of str, length n_stim
    table : str
        Stimulus table name, for messages.
    mask : path, optional
        NIfTI mask (volume input only).

    Returns
    -------
    Responses
    """
    n_stim = len(stim_ids)
    if is_cifti(path):
        if mask is not None:
            raise InputError(f"mask {mask} given for CIFTI file {path}; masks apply to NIfTI only")
        data, names, brain_models = read_dscalar(path)
        if data.shape[0] != n_stim:
            raise InputError(
                f"{path} has {data.shape[0]} maps but {table} has {n_stim} stimuli; "
                "expected one map per stimulus"
            )
        order = align_maps(names, stim_ids, path, table)
        return Responses(np.ascontiguousarray(data[order]), brain_models, None)
    data, volume = read_volume(path, mask)
    if data.shape[0] != n_stim:
        raise InputError(
            f"{path} has {data.shape[0]} volumes but {table} has {n_stim} stimuli; "
            "expected one volume per stimulus, in table order"
        )
    return Responses(data, None, volume)


def read_geometry(
    path: str | os.PathLike, mask: str | os.PathLike | None = None
) -> BrainModelAxis | Volume:
    """The geometry of a responses file: its brain models (header only) or its voxels."""
    if is_cifti(path):
        return read_brain_models(path)
    return read_volume(path, mask)[1]


def neighborhoods_for(
    responses: Responses,
    radius_mm: float,
    centers: np.ndarray | None = None,
    surfaces: Mapping | None = None,
    diagonals: bool = False,
) -> Neighborhoods:
    """Neighborhoods of the columns of :class:`Responses` (CIFTI grayordinates or voxels).

    Parameters
    ----------
    responses : Responses
    radius_mm : float
    centers : ndarray of int, shape (n_centers,), optional
        Columns to center on; all by default.
    surfaces, diagonals
        As in :func:`dnnmap.brain.neighborhoods.cifti_neighborhoods` (CIFTI input only).

    Returns
    -------
    Neighborhoods
    """
    if responses.brain_models is not None:
        return cifti_neighborhoods(
            responses.brain_models, radius_mm, centers, surfaces=surfaces, diagonals=diagonals
        )
    volume = responses.volume
    return volume_neighborhoods(volume.ijk, volume.affine, radius_mm, centers)


def write_volume_maps(
    path: str | os.PathLike, maps: np.ndarray, names: Sequence[str], volume: Volume
) -> None:
    """Write maps as a 4-D NIfTI image (one volume per map), atomically.

    The map names are stored as JSON (``{"names": [...]}``) in a NIfTI comment extension;
    voxels outside ``volume.ijk`` are 0.

    Parameters
    ----------
    path : path
        ``.nii`` or ``.nii.gz`` (gzip-compressed) file.
    maps : ndarray, shape (n_maps, n_vox)
    names : sequence of str, length n_maps
    volume : Volume
    """
    path = Path(path)
    if not path.name.endswith(_NIFTI_SUFFIXES) or path.name.endswith(_CIFTI_SUFFIXES):
        raise InputError(f"{path}: a volume map file name must end with .nii or .nii.gz")
    maps = np.asarray(maps, dtype=np.float32)
    names = [str(n) for n in names]
    if maps.ndim != 2 or maps.shape != (len(names), len(volume.ijk)):
        raise InputError(
            f"{path}: maps have shape {maps.shape}; expected ({len(names)}, {len(volume.ijk)})"
        )
    image = np.zeros((*volume.shape, len(names)), dtype=np.float32)
    i, j, k = volume.ijk.T
    image[i, j, k, :] = maps.T
    img = nib.Nifti1Image(image, volume.affine)
    img.header.extensions.append(
        nib.nifti1.Nifti1Extension("comment", json.dumps({"names": names}).encode())
    )
    payload = img.to_bytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def read_volume_map_names(path: str | os.PathLike) -> list[str]:
    """The map names of a file written by :func:`write_volume_maps`."""
    img = _load_nifti(path, "map file")
    for ext in img.header.extensions:
        if ext.get_code() == 6:
            try:
                return list(json.loads(ext.get_content())["names"])
            except (ValueError, KeyError, TypeError):
                continue
    raise InputError(f"{path}: no map names; expected a file written by dnnmap")


def write_maps(
    path: str | os.PathLike,
    maps: np.ndarray,
    names: Sequence[str],
    geometry: BrainModelAxis | Volume,
) -> None:
    """Write maps (n_maps, n_columns) as a CIFTI dscalar or a NIfTI image, by geometry."""
    if isinstance(geometry, BrainModelAxis):
        if not Path(path).name.endswith(".dscalar.nii"):
            raise InputError(
                f"{path}: CIFTI responses give CIFTI maps; expected a .dscalar.nii output"
            )
        write_dscalar(path, maps, names, geometry)
    else:
        write_volume_maps(path, maps, names, geometry)
