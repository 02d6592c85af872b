"""RDM files and the patterns they are computed from.

``results/rdm/{model}/{layer}.h5`` and ``results/rdm/brain/{subject}/{roi}.h5`` hold

- ``rdm (n_stim * (n_stim - 1) / 2,)``: float64, condensed upper triangle in
  ``scipy.spatial.distance.pdist`` order;
- ``stim_id (n_stim,)``: the stimulus order of the RDM's rows and columns;
- attrs ``metric``, ``zscore``, ``n_features`` (columns the RDM was computed from), ``source``
  and the provenance every dnnmap file carries.

Model patterns are a layer's feature scores (``results/features/{model}/{layer}.h5``), the
first ``n_components`` columns when asked, optionally z-scored per column. Brain patterns are
an ROI's responses (``results/brain/{subject}/{roi}.h5``); columns that are constant over
stimuli (no signal) are dropped, with their number logged.
"""

from __future__ import annotations

import logging
import os

import h5py
import numpy as np

from dnnmap.errors import InputError
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


def brain_patterns(brain_path: str | os.PathLike, stim_ids: list[str], table: str) -> np.ndarray:
    """An ROI's responses aligned to the stimulus table, constant columns dropped.

    Returns
    -------
    ndarray of shape (n_stim, n_vox_varying), float64
    """
    Y = read_aligned(brain_path, "responses", stim_ids, table).astype(np.float64)
    if not np.isfinite(Y).all():
        bad = int((~np.isfinite(Y)).any(axis=0).sum())
        raise InputError(
            f"{brain_path}: {bad} voxels have NaN or inf responses; expected finite responses"
        )
    varying = np.ptp(Y, axis=0) > 0
    if not varying.all():
        LOG.info("%s: dropped %d constant voxels", brain_path, int((~varying).sum()))
    if varying.sum() < 2:
        raise InputError(
            f"{brain_path}: {int(varying.sum())} voxels vary over stimuli; expected at least 2"
        )
    return Y[:, varying]


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


def write_rdm(path, rdm: np.ndarray, stim_ids: list[str], attrs: dict) -> None:
    """Write a condensed RDM with its stimulus order and attrs, atomically."""
    n = len(stim_ids)
    if rdm.shape != (n * (n - 1) // 2,):
        raise InputError(
            f"{path}: RDM has shape {rdm.shape} for {n} stimuli; expected ({n * (n - 1) // 2},)"
        )
    write_h5(path, {"rdm": np.asarray(rdm, dtype=np.float64)}, attrs=attrs, stim_id=stim_ids)


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


def read_rdm_attrs(path) -> dict:
    """The attrs of an RDM file (metric, zscore, n_features, source, provenance)."""
    with h5py.File(path, "r") as f:
        return dict(f.attrs)
