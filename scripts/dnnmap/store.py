"""Write and read dnnmap's HDF5 files: atomic writes, provenance, stimulus-id alignment.

Every HDF5 file dnnmap writes goes through :func:`h5_writer` (or :func:`write_h5`), which
writes to a temporary name beside the target and renames it into place only when the
writer closes without error, so a killed job never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from dnnmap import __version__
from dnnmap.errors import InputError

_STR = h5py.string_dtype(encoding="utf-8")


def config_digest(subtree: object) -> str:
    """Return the sha256 hex digest of a JSON-serialisable config subtree (key order ignored)."""
    text = json.dumps(subtree, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


FULL_DIGEST_BYTES = 256 << 20


def file_digest(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Return a sha256 digest of a file: of all its bytes, or sampled for large files.

    Files up to :data:`FULL_DIGEST_BYTES` are hashed whole (``sha256:<hex>``). Larger ones
    (activations of big stimulus sets) are hashed from their size and 16 evenly spaced
    blocks (``sha256-sampled:<hex>``), so provenance never costs a full read of a large input.
    """
    size = os.path.getsize(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= FULL_DIGEST_BYTES:
            while block := f.read(chunk):
                h.update(block)
            return f"sha256:{h.hexdigest()}"
        h.update(str(size).encode())
        for i in range(16):
            f.seek((size - chunk) * i // 15)
            h.update(f.read(chunk))
    return f"sha256-sampled:{h.hexdigest()}"


def provenance(config: object = None, inputs: Sequence[str | os.PathLike] = ()) -> dict:
    """Build the provenance attributes every dnnmap HDF5 file carries.

    Parameters
    ----------
    config : object
        The config subtree that produced the file (hashed into ``config_digest``).
    inputs : sequence of path
        Input files; each is recorded with its sha256 digest.

    Returns
    -------
    dict
        ``dnnmap_version``, ``created`` (UTC ISO 8601), ``config_digest`` and ``inputs`` (JSON).
    """
    return {
        "dnnmap_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "config_digest": config_digest(config),
        "inputs": json.dumps({str(p): file_digest(p) for p in inputs}),
    }


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched. The
    temporary name (``.{name}.partial``) is fixed, so a rerun after a killed job overwrites
    what the killed job left instead of leaving it behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(path: str | os.PathLike, table, float_format: str = "%.6g") -> None:
    """Write a DataFrame as a TSV file (no index), atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format)


@contextlib.contextmanager
def h5_writer(path: str | os.PathLike, attrs: Mapping | None = None) -> Iterator[h5py.File]:
    """Open an HDF5 file for writing under a temporary name; publish it atomically on close.

    Parameters
    ----------
    path : path
        Final file name. It appears only after the ``with`` block ends without error.
    attrs : mapping, optional
        Root attributes (provenance and the like) written before the block runs.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in (attrs or {}).items():
            f.attrs[key] = _attr(value)
        yield f


def _attr(value):
    """An HDF5-storable attribute: str subclasses as str, dicts and lists as JSON."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value)
    return value


def write_h5(
    path: str | os.PathLike,
    datasets: Mapping[str, np.ndarray],
    attrs: Mapping | None = None,
    stim_id: Sequence[str] | None = None,
) -> None:
    """Write arrays (and optionally the ``stim_id`` axis) to ``path`` atomically.

    Parameters
    ----------
    path : path
        Target HDF5 file.
    datasets : mapping of str to ndarray
        Dataset name (``/`` makes groups) to array. String arrays are stored as UTF-8.
    attrs : mapping, optional
        Root attributes.
    stim_id : sequence of str, optional
        Stimulus ids of the rows of the stimulus-indexed datasets, shape (n_stim,).
    """
    with h5_writer(path, attrs) as f:
        if stim_id is not None:
            write_strings(f, "stim_id", stim_id)
        for name, value in datasets.items():
            value = np.asarray(value)
            if value.dtype.kind in "UO":
                write_strings(f, name, value)
            else:
                f.create_dataset(name, data=value)


def write_strings(group: h5py.Group, name: str, values: Sequence[str]) -> None:
    """Store a sequence of str as a UTF-8 string dataset."""
    group.create_dataset(name, data=np.asarray(values, dtype=object), dtype=_STR)


def read_strings(dataset: h5py.Dataset) -> list[str]:
    """Read a UTF-8 string dataset as a list of str."""
    return [s.decode() if isinstance(s, bytes) else str(s) for s in dataset[()]]


def read_stim_ids(path: str | os.PathLike) -> list[str]:
    """Read the ``stim_id`` dataset of an HDF5 file written by dnnmap."""
    with h5py.File(path, "r") as f:
        if "stim_id" not in f:
            raise InputError(f"{path}: no 'stim_id' dataset; expected one id per stimulus row")
        return read_strings(f["stim_id"])


def check_stim_ids(
    expected: Sequence[str],
    got: Sequence[str],
    expected_source: str | os.PathLike,
    got_source: str | os.PathLike,
) -> None:
    """Stop unless two stimulus-id lists are identical, naming both files and the first mismatch.

    Raises
    ------
    InputError
        If the counts differ or any position holds a different id.
    """
    expected, got = list(expected), list(got)
    if len(expected) != len(got):
        raise InputError(
            f"{got_source} has {len(got)} stimuli but {expected_source} has {len(expected)}; "
            "expected the same stimuli in the same order"
        )
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        if a != b:
            raise InputError(
                f"{got_source} has stim_id {b!r} at position {i + 1} where {expected_source} "
                f"has {a!r}; "
                "expected the same stimuli in the same order"
            )


def read_aligned(path: str | os.PathLike, dataset: str, stim_ids: list[str], table: str):
    """Read a stimulus-indexed dataset, stopping unless its ``stim_id`` equals the table's.

    Returns
    -------
    ndarray of shape (n_stim, ...)
    """
    with h5py.File(path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, path)
        return f[dataset][()]
