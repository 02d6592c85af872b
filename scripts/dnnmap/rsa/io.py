"""RDM files and the patterns they are computed from.

``results/rdm/{model}/{layer}.h5`` and ``results/rdm/brain/{subject}/{roi}.h5`` hold

- ``rdm (n_stim * (n_stim - 1) / 2,)``: float64, condensed upper triangle in
  ``scipy.spatial.distance.pdist`` order;
- ``stim_id (n_stim,)``: the stimulus order of the RDM's rows and columns;
- attrs ``metric``, ``zscore``, ``n_features`` (columns the RDM was computed from), ``source``
  and the provenance every dnnmap file carries.

Brain RDM files also hold, when the ROI file has repeats, ``repeat_rdms (n_rep, n_pairs)``
(the RDM of each single repeat, for the within-subject noise ceiling), and attrs ``n_vox``,
``n_masked`` and ``masked_reason`` (empty unless the RDM is all NaN because too few voxels
were left).

Model patterns (config ``rsa.model_patterns``) are, by default, a layer's activations
(``results/activations/{model}.h5``, group ``layers/{layer}``, flattened to
``(n_stim, n_units)`` and read in unit chunks by :func:`activation_reader`), or its feature
scores (``results/features/{model}/{layer}.h5``, the first ``n_components`` columns when
asked), optionally z-scored per column. Brain patterns (:func:`brain_patterns`) are an
ROI's responses (``results/brain/{subject}/{roi}.h5``) and, when present, its ``repeats``;
voxels with any non-finite response (in the mean or any repeat) and voxels constant over
stimuli are dropped, with their number logged and returned.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import h5py
import numpy as np

from dnnmap.errors import InputError
from dnnmap.rsa.rdm import ColumnReader
from dnnmap.stats.splits import groups_from_table
from dnnmap.stimuli import read_stimuli
from dnnmap.store import check_stim_ids, read_aligned, read_strings, write_h5

LOG = logging.getLogger("dnnmap")


def model_patterns(
    features_path: str | os.PathLike,
    stim_ids: list[str],
    table: str,
    n_components: int | None = None,
) -> np.ndarray:
    """A layer's feature scores aligned to the stimulus table.

    Parameters
    ----------
    features_path : path
        ``results/features/{model}/{layer}.h5`` with ``features (n_stim, k)``.
    stim_ids : list of str
        The stimulus table's order; the file must have exactly these ids.
    table : str
        The stimulus table's path (named in errors).
    n_components : int or None
        Keep the first ``n_components`` columns (PCA scores are ordered by variance).

    Returns
    -------
    ndarray of shape (n_stim, min(k, n_components)), float64
    """
    X = read_aligned(features_path, "features", stim_ids, table).astype(np.float64)
    if n_components is not None:
        if n_components < 1:
            raise InputError(f"rsa.n_components is {n_components}; expected an integer >= 1")
        if n_components > X.shape[1]:
            LOG.warning(
                "%s has %d feature columns; rsa.n_components asks for %d, using all",
                features_path,
                X.shape[1],
                n_components,
            )
        X = X[:, :n_components]
    return X


def activation_reader(
    activations_path: str | os.PathLike, layer: str, stim_ids: list[str], table: str
) -> tuple[h5py.File, ColumnReader]:
    """Open one layer of an activations file as a matrix read in unit chunks.

    Parameters
    ----------
    activations_path : path
        ``results/activations/{model}.h5`` with ``layers/{layer} (n_stim, *unit_shape)``.
    layer : str
        The layer's name.
    stim_ids : list of str
        The stimulus table's order; the file must have exactly these ids.
    table : str
        The stimulus table's path (named in errors).

    Returns
    -------
    file : h5py.File
        The open file; close it (or use it as a context manager) when done.
    reader : ColumnReader
        The layer as ``(n_stim, prod(unit_shape))``, units in C order; a column range is
        read as the channels that cover it.
    """
    f = h5py.File(activations_path, "r")
    try:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, activations_path)
        if f"layers/{layer}" not in f:
            known = ", ".join(f["layers"]) if "layers" in f else "none"
            raise InputError(f"{activations_path}: no layer {layer!r}; layers in file: {known}")
        dset = f[f"layers/{layer}"]
    except Exception:
        f.close()
        raise
    n_stim, *unit_shape = dset.shape
    unit_shape = unit_shape or [1]
    per = math.prod(unit_shape[1:])
    n_units = per * unit_shape[0]

    def read(c0: int, c1: int) -> np.ndarray:
        if dset.ndim == 1:
            return dset[()][:, None][:, c0:c1]
        a, b = c0 // per, -(-c1 // per)
        block = dset[:, a:b].reshape(n_stim, -1)
        return block[:, c0 - a * per : c1 - a * per]

    return f, ColumnReader(n_stim, n_units, read, f"{activations_path}:layers/{layer}")


@dataclass(frozen=True)
class BrainPatterns:
    """An ROI's patterns after masking.

    Attributes
    ----------
    responses : array of shape (n_stim, n_kept)
        Responses of the kept voxels, float64.
    repeats : array of shape (n_rep, n_stim, n_kept) or None
        Single repeats of the kept voxels, when the ROI file has them.
    n_vox : int
        Voxels in the ROI file.
    n_masked : int
        Voxels dropped: non-finite anywhere (mean or repeats) or constant over stimuli.
    reason : str
        Empty, or why no RDM can be computed (fewer than 2 voxels left).
    """

    responses: np.ndarray
    repeats: np.ndarray | None
    n_vox: int
    n_masked: int
    reason: str


def brain_patterns(
    brain_path: str | os.PathLike, stim_ids: list[str], table: str, with_repeats: bool = False
) -> BrainPatterns:
    """An ROI's responses (and repeats) aligned to the stimulus table, bad voxels dropped.

    A voxel is dropped when any of its responses is NaN or infinite (in ``responses`` or, with
    ``with_repeats``, in any repeat) or when its responses are constant over stimuli. Fewer
    than 2 voxels left is not an error: ``reason`` says so and the caller writes a NaN RDM.

    Parameters
    ----------
    brain_path : path
        ``results/brain/{subject}/{roi}.h5``: ``responses (n_stim, n_vox)``, optional
        ``repeats (n_rep, n_stim, n_vox)``.
    stim_ids : list of str
        The stimulus table's order; the file must have exactly these ids.
    table : str
        The stimulus table's path (named in errors).
    with_repeats : bool
        Also read ``repeats`` (None when the file has none).

    Returns
    -------
    BrainPatterns
    """
    Y = read_aligned(brain_path, "responses", stim_ids, table).astype(np.float64)
    R = None
    if with_repeats:
        with h5py.File(brain_path, "r") as f:
            if "repeats" in f:
                R = f["repeats"][()].astype(np.float64)
        if R is not None and (R.ndim != 3 or R.shape[1:] != Y.shape):
            raise InputError(
                f"{brain_path}: repeats have shape {R.shape}; expected (n_rep, {Y.shape[0]}, "
                f"{Y.shape[1]}) like responses"
            )
    finite = np.isfinite(Y).all(axis=0)
    if R is not None:
        finite &= np.isfinite(R).all(axis=(0, 1))
    varying = np.zeros_like(finite)
    varying[finite] = np.ptp(Y[:, finite], axis=0) > 0
    n_vox = Y.shape[1]
    n_bad, n_flat = int((~finite).sum()), int((finite & ~varying).sum())
    if n_bad or n_flat:
        LOG.info(
            "%s: dropped %d of %d voxels (%d with non-finite responses, %d constant)",
            brain_path,
            n_bad + n_flat,
            n_vox,
            n_bad,
            n_flat,
        )
    reason = ""
    if varying.sum() < 2:
        reason = (
            f"{int(varying.sum())} of {n_vox} voxels left after dropping {n_bad} non-finite "
            f"and {n_flat} constant ones; an RDM needs at least 2"
        )
        LOG.warning("%s: %s", brain_path, reason)
    return BrainPatterns(
        Y[:, varying],
        None if R is None else R[:, :, varying],
        n_vox,
        n_bad + n_flat,
        reason,
    )


def category_labels(table, column: str, table_path: str, key: str = "rsa.categories"):
    """The labels of a stimulus-table column, as strings in stimulus order.

    Parameters
    ----------
    table : pandas.DataFrame
        The stimulus table (:func:`dnnmap.stimuli.read_stimuli`).
    column : str
        The column (config ``key``).
    table_path, key : str
        Named in the error.

    Returns
    -------
    ndarray of str, shape (n_stim,)
    """
    if column not in table.columns:
        raise InputError(
            f"{key} is {column!r}; the stimulus table {table_path} has no such column "
            f"(columns: {', '.join(table.columns)})"
        )
    return table[column].astype(str).to_numpy()


def zscore_columns(X: np.ndarray) -> np.ndarray:
    """Z-score each column over stimuli; constant columns become 0.

    Parameters
    ----------
    X : array of shape (n_stim, p)

    Returns
    -------
    array of shape (n_stim, p)
    """
    sd = X.std(axis=0)
    return np.divide(X - X.mean(axis=0), sd, out=np.zeros_like(X), where=sd > 0)


def write_rdm(
    path, rdm: np.ndarray, stim_ids: list[str], attrs: dict, repeat_rdms: np.ndarray | None = None
) -> None:
    """Write a condensed RDM (and single-repeat RDMs) with its stimulus order and attrs."""
    n = len(stim_ids)
    if rdm.shape != (n * (n - 1) // 2,):
        raise InputError(
            f"{path}: RDM has shape {rdm.shape} for {n} stimuli; expected ({n * (n - 1) // 2},)"
        )
    arrays = {"rdm": np.asarray(rdm, dtype=np.float64)}
    if repeat_rdms is not None:
        R = np.asarray(repeat_rdms, dtype=np.float64)
        if R.ndim != 2 or R.shape[1] != rdm.shape[0]:
            raise InputError(
                f"{path}: repeat_rdms have shape {R.shape}; expected (n_rep, {rdm.shape[0]})"
            )
        arrays["repeat_rdms"] = R
    write_h5(path, arrays, attrs=attrs, stim_id=stim_ids)


def read_rdm(path, stim_ids: list[str], table: str) -> np.ndarray:
    """Read a condensed RDM, stopping unless its stimulus order equals the table's.

    Returns
    -------
    ndarray of shape (n_stim * (n_stim - 1) / 2,)
    """
    with h5py.File(path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, path)
        return f["rdm"][()]


def read_rdms(paths, stim_ids: list[str], table: str) -> np.ndarray:
    """Read condensed RDMs of the same stimuli, each checked like :func:`read_rdm`.

    Returns
    -------
    ndarray of shape (len(paths), n_stim * (n_stim - 1) / 2)
    """
    return np.stack([read_rdm(path, stim_ids, table) for path in paths])


def read_layer_and_brain_rdms(
    stimuli_path: str, model_paths, brain_paths
) -> tuple[np.ndarray, np.ndarray]:
    """The layer RDMs and brain RDMs of one RSA job, both aligned to the stimulus table.

    Parameters
    ----------
    stimuli_path : str
        ``results/stimuli.tsv``, whose ``stim_id`` order every RDM file must have.
    model_paths, brain_paths : sequence of str
        RDM files of the layers and of the brains (regions or subjects).

    Returns
    -------
    models : ndarray of shape (len(model_paths), n_pairs)
    brains : ndarray of shape (len(brain_paths), n_pairs)
    """
    stim_ids = list(read_stimuli(stimuli_path)["stim_id"])
    models = read_rdms(model_paths, stim_ids, stimuli_path)
    return models, read_rdms(brain_paths, stim_ids, stimuli_path)


def read_repeat_rdms(path, stim_ids: list[str], table: str) -> np.ndarray | None:
    """The single-repeat RDMs of a brain RDM file, ``(n_rep, n_pairs)``, or None."""
    with h5py.File(path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, path)
        return f["repeat_rdms"][()] if "repeat_rdms" in f else None


def read_masking(path) -> tuple[int, str]:
    """``n_masked`` and ``masked_reason`` of a brain RDM file (0 and "" for older files)."""
    with h5py.File(path, "r") as f:
        return int(f.attrs.get("n_masked", 0)), str(f.attrs.get("masked_reason", ""))


def rsa_groups(stimuli, settings: dict, table_path: str) -> np.ndarray | None:
    """Stimulus groups of the RSA inference (config ``rsa.groups``), or None.

    Parameters
    ----------
    stimuli : pandas.DataFrame
        The stimulus table.
    settings : dict
        The config's ``rsa`` section; ``groups`` names a stimulus-table column or is None.
    table_path : str
        The table's file, named in messages.

    Returns
    -------
    str array of shape (n_stim,) or None
        Labels from :func:`dnnmap.stats.splits.groups_from_table` (at least 2 groups, none
        missing).
    """
    column = settings.get("groups")
    if column is None:
        return None
    return groups_from_table(
        stimuli, {"scheme": "group", "column": column}, table_path, key="rsa.groups"
    )


def read_rdm_attrs(path) -> dict:
    """The attrs of an RDM file (metric, zscore, n_features, source, provenance)."""
    with h5py.File(path, "r") as f:
        return dict(f.attrs)
