"""Stimulus shards: extraction split over several jobs, merged into the usual activations file.

With ``extraction.n_shards: n`` each model's stimuli are cut into ``n`` contiguous slices of
the stimulus table's rows (:func:`shard_bounds`); each slice is extracted by its own job into
a shard file with the layout of :mod:`dnnmap.models.extraction` (its own ``stim_id`` rows and
a ``shard`` attribute), and :func:`merge_shards` copies the shards, chunk by chunk, into one
file with the same datasets, chunk shapes, compression and attributes as an unsharded run.

The merge copies rather than joining the shards by an HDF5 virtual dataset: a virtual
dataset keeps the shard files as hidden inputs of every later job, breaks when they move or
are removed (the workflow deletes them once merged), and its readers go through the HDF5
virtual-dataset layer, which not every reader of the activations was built and tested
with. Copying costs one extra write of the activations and keeps every reader unchanged.
Batch-aligned shards (all but the smallest sets) have the merged file's chunks, so their
chunks are copied as stored, compressed bytes and all: the merge reads and writes, but never
compresses again, and the shards' compression, which one process does on one core, runs in
as many jobs as there are shards.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence

import h5py
import numpy as np
from tqdm import tqdm

from dnnmap.errors import InputError
from dnnmap.models.activation_layout import chunk_shape
from dnnmap.store import h5_writer, read_strings, write_strings

LOG = logging.getLogger("dnnmap")

#: Root attributes that legitimately differ between shards (and between a merged file and an
#: unsharded one): provenance and the shard's own position.
PER_SHARD_ATTRS = ("created", "inputs", "shard", "dnnmap_version")


def check_n_shards(n_shards, n_stim: int, where: str = "extraction.n_shards") -> int:
    """Stop unless ``n_shards`` is a positive integer no larger than the number of stimuli.

    Parameters
    ----------
    n_shards : object
        The config value.
    n_stim : int
        Number of stimuli in the table.
    where : str
        The config key (and file) named in the message.

    Returns
    -------
    int
        ``n_shards``.
    """
    if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
        raise InputError(f"{where}: {n_shards!r}; expected a positive integer (1: no shards)")
    if n_shards > n_stim:
        raise InputError(
            f"{where}: {n_shards} shards for {n_stim} stimuli; expected at most one shard "
            "per stimulus"
        )
    return n_shards


def shard_bounds(n_stim: int, n_shards: int, batch_size: int = 1) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` of the stimulus table, one per shard, in table order.

    Shards are contiguous and as even as possible in whole batches of ``batch_size``
    stimuli (so every shard runs the same forward-pass batches as an unsharded job, and
    the merged file's chunks line up with the shards); with fewer batches than shards
    the rows themselves are split as evenly as possible.

    Parameters
    ----------
    n_stim : int
        Number of stimuli (rows of the stimulus table).
    n_shards : int
        Number of shards, 1 <= n_shards <= n_stim.
    batch_size : int
        Stimuli per forward pass (``compute.batch_size``).

    Returns
    -------
    list of (int, int)
        ``n_shards`` non-empty ranges that tile ``0 .. n_stim``.
    """
    check_n_shards(n_shards, n_stim)
    n_batches = math.ceil(n_stim / max(1, batch_size))
    if n_batches >= n_shards:
        unit, n_units = batch_size, n_batches
    else:
        unit, n_units = 1, n_stim
    edges = [min(n_stim, unit * (i * n_units // n_shards)) for i in range(n_shards)]
    edges.append(n_stim)
    return [(edges[i], edges[i + 1]) for i in range(n_shards)]


def shard_attr(index: int, n_shards: int, bounds: tuple[int, int]) -> str:
    """The ``shard`` root attribute of a shard file (JSON): index, count and row range."""
    return json.dumps({"index": index, "n_shards": n_shards, "start": bounds[0], "stop": bounds[1]})


def merge_shards(
    shard_paths: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    stim_ids: Sequence[str],
    *,
    batch_size: int,
    attrs: Mapping | None = None,
    where: str = "stimuli",
    progress=None,
) -> None:
    """Copy shard files, in order, into one activations file, a block of rows at a time.

    The merged file has the layout of an unsharded run over all stimuli: ``stim_id``
    (n_stim,), ``layers/{layer}`` (n_stim, *unit_shape) with the shards' dtype,
    compression and layer attributes, and chunks of :func:`chunk_shape` for ``n_stim``
    stimuli and ``batch_size``. Root attributes are the shards' (which must agree apart
    from :data:`PER_SHARD_ATTRS`), with ``attrs`` (provenance) over them, ``inputs`` the
    union of the shards' inputs and of ``attrs["inputs"]``, and ``shards`` (JSON) the row
    ranges of the shards. Memory holds one block of ``batch_size`` rows of one layer.

    Parameters
    ----------
    shard_paths : sequence of path
        Shard files in shard order (index 0 first).
    out_path : path
        The merged file, written atomically.
    stim_ids : sequence of str
        The stimulus table's ids, shape (n_stim,); the shards' ids joined must equal them.
    batch_size : int
        Stimuli per chunk (``compute.batch_size``, as the unsharded extraction uses).
    attrs : mapping, optional
        Provenance of the merge (``dnnmap_version``, ``created``, ``config_digest``,
        ``inputs``).
    where : str
        The stimulus table, named in messages.
    progress : file-like, optional
        Where the progress bar is written.

    Raises
    ------
    InputError
        If the shards' ids do not join to ``stim_ids``, or their layers, shapes, dtypes or
        (non-provenance) attributes differ.
    """
    stim_ids = list(stim_ids)
    files = [h5py.File(p, "r") for p in shard_paths]
    try:
        ranges = _check_ids(shard_paths, files, stim_ids, where)
        root = _common_attrs(shard_paths, files)
        inputs = {}
        for f in files:
            inputs.update(json.loads(f.attrs.get("inputs", "{}")))
        merged = {**root, **dict(attrs or {})}
        inputs.update(json.loads(merged.get("inputs", "{}")))
        merged["inputs"] = json.dumps(inputs)
        merged["shards"] = json.dumps([list(r) for r in ranges])
        layers = _common_layers(shard_paths, files)
        with h5_writer(out_path, merged) as out:
            write_strings(out, "stim_id", stim_ids)
            group = out.create_group("layers")
            bar = tqdm(total=len(layers) * len(stim_ids), desc="merge", unit="row", file=progress)
            for layer in layers:
                first = files[0]["layers"][layer]
                _copy_layer(files, ranges, layer, group, first, len(stim_ids), batch_size, bar)
            bar.close()
    finally:
        for f in files:
            f.close()


def _check_ids(paths, files, stim_ids, where) -> list[tuple[int, int]]:
    """The shards' row ranges, after checking that their ids join to ``stim_ids``."""
    ranges, start = [], 0
    for path, f in zip(paths, files, strict=True):
        shard_ids = read_strings(f["stim_id"])
        for k, (got, want) in enumerate(zip(shard_ids, stim_ids[start:], strict=False)):
            if got != want:
                raise InputError(
                    f"{path} has stim_id {got!r} at its row {k + 1} where {where} has "
                    f"{want!r} (row {start + k + 1}); expected the shards of this table, in order"
                )
        ranges.append((start, start + len(shard_ids)))
        start += len(shard_ids)
    if start != len(stim_ids):
        raise InputError(
            f"the {len(files)} shards ({paths[0]}, ...) hold {start} stimuli but {where} has "
            f"{len(stim_ids)}; expected the shards of this table, in order"
        )
    return ranges


def _common_attrs(paths, files) -> dict:
    """The shards' root attributes, checked equal apart from the per-shard ones."""
    first = {k: v for k, v in files[0].attrs.items() if k not in PER_SHARD_ATTRS}
    for path, f in zip(paths[1:], files[1:], strict=True):
        other = {k: v for k, v in f.attrs.items() if k not in PER_SHARD_ATTRS}
        for key in sorted(set(first) | set(other)):
            a, b = first.get(key), other.get(key)
            if not np.array_equal(np.asarray(a), np.asarray(b)):
                raise InputError(
                    f"{path}: attribute {key!r} is {b!r} but {paths[0]} has {a!r}; expected "
                    "shards of one extraction (rerun the shards)"
                )
    return first


def _common_layers(paths, files) -> list[str]:
    """The layer names of the shards, checked equal, with equal unit shapes and dtypes."""
    first = files[0]["layers"]
    for path, f in zip(paths[1:], files[1:], strict=True):
        group = f["layers"]
        if sorted(group) != sorted(first):
            raise InputError(
                f"{path}: layers {sorted(group)} but {paths[0]} has {sorted(first)}; "
                "expected shards of one extraction"
            )
        for layer in first:
            a, b = first[layer], group[layer]
            if a.shape[1:] != b.shape[1:] or a.dtype != b.dtype:
                raise InputError(
                    f"{path}: layer {layer} is {b.dtype} {b.shape[1:]} but {paths[0]} has "
                    f"{a.dtype} {a.shape[1:]}; expected shards of one extraction"
                )
    return list(first)


def _copy_layer(files, ranges, layer, group, first, n_stim, batch_size, bar) -> None:
    """Create ``layer`` in ``group`` as an unsharded run would, and copy each shard into it:
    as stored when its chunks are those of the merged file, else decoded, block by block."""
    unit_shape = first.shape[1:]
    chunks = chunk_shape(n_stim, unit_shape, batch_size, first.dtype.itemsize)
    dset = group.create_dataset(
        layer,
        shape=(n_stim, *unit_shape),
        dtype=first.dtype,
        chunks=chunks,
        compression=first.compression,
        compression_opts=first.compression_opts,
    )
    for key, value in first.attrs.items():
        dset.attrs[key] = value
    rows = chunks[0]
    for f, (a, b) in zip(files, ranges, strict=True):
        part = f["layers"][layer]
        if _stored_alike(part, dset, a, b):
            _copy_raw_chunks(part, dset, a)
        else:  # rows cut within a chunk: decode, and write chunk-aligned blocks
            cuts = [a, *range((a // rows + 1) * rows, b, rows), b]
            for r0, r1 in itertools.pairwise(cuts):
                dset[r0:r1] = part[r0 - a : r1 - a]
        bar.update(b - a)


def _stored_alike(part, dset, a: int, b: int) -> bool:
    """The shard dataset ``part`` (rows ``a:b`` of ``dset``) is stored as whole chunks of
    ``dset``: the same chunk shape, type and filters, starting on a chunk boundary and ending
    on one or at the last row (batch-aligned shards of at least one batch). Its chunks can
    then be copied as stored, never decompressed and compressed again."""
    rows = dset.chunks[0]
    return (
        part.chunks == dset.chunks
        and part.dtype == dset.dtype
        and (part.compression, part.compression_opts, part.shuffle)
        == (dset.compression, dset.compression_opts, dset.shuffle)
        and a % rows == 0
        and ((b - a) % rows == 0 or b == dset.shape[0])
    )


def _copy_raw_chunks(part, dset, row_offset: int) -> None:
    """Copy every stored chunk of the shard dataset ``part`` into ``dset``, ``row_offset`` rows
    down, as stored (compressed bytes and filter mask unchanged)."""
    source, target = part.id, dset.id
    for i in range(source.get_num_chunks()):
        info = source.get_chunk_info(i)
        mask, data = source.read_direct_chunk(info.chunk_offset)
        offset = (info.chunk_offset[0] + row_offset, *info.chunk_offset[1:])
        target.write_direct_chunk(offset, data, mask)
