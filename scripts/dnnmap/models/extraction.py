"""Record a network's layer activations for a stimulus set, streamed to HDF5.

One forward pass per batch serves every requested layer (forward hooks on the layers'
modules, under ``torch.inference_mode``); each batch is written to disk by a background
thread (:class:`dnnmap.models.batch_writer.BatchWriter`) while the next one is computed, at
most ``WRITE_DEPTH`` batches behind, so peak memory depends on the batch size and the layer
sizes, never on the number of stimuli. The file layout is::

    stim_id                     (n_stim,) str
    layers/{layer}              (n_stim, *unit_shape) float32 or float16
    layers/{layer}.attrs        module, unit_shape, mask (JSON, when the layer has one)
    attrs                       model, source, architecture, weights_id, weights_sha256,
                                preprocessing (JSON), background (JSON), torch_version,
                                torchvision_version, layers, masks (JSON)

A layer is a friendly name, a module path (recorded by a forward hook) or a torch.fx graph
node (see :class:`dnnmap.models.layers.Recorder`). A layer's unit mask
(:mod:`dnnmap.models.masks`: channels, rows, columns, pooling, down-sampling) is applied to
each batch before it is written, so the file holds only the selected units.

Images are read by :func:`dnnmap.images.read_image` (bit depth, float range, transparency
on ``background``, EXIF orientation, first frame); the kinds of conversion it applied are
logged once each at the end. Video and audio networks read their stimuli through
:func:`dnnmap.media.loaders.media_batches` (clips or 0.96 s log-mel examples, reduced to one
row per stimulus), and record their clip or audio options in the ``media`` attribute.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import nullcontext

import numpy as np
import torch
import torchvision
from tqdm import tqdm

from dnnmap.errors import InputError
from dnnmap.images import (
    DEFAULT_BACKGROUND,
    ImageInfo,
    check_background,
    conversion_report,
    read_image,
)
from dnnmap.models.activation_layout import chunk_shape
from dnnmap.models.batch_writer import WRITE_DEPTH, BatchWriter
from dnnmap.models.build import ModelSpec, build_model, weights_digest
from dnnmap.models.layers import Recorder
from dnnmap.models.masks import check_masks
from dnnmap.models.precision import cuda_precision
from dnnmap.store import h5_writer, write_strings

LOG = logging.getLogger("dnnmap")


class _ImageFiles(torch.utils.data.Dataset):
    """The stimulus images, read and preprocessed one per item (in a DataLoader worker)."""

    def __init__(self, paths: Sequence[str], transform, background: Sequence[int]):
        self.paths, self.transform, self.background = list(paths), transform, background

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image, info = read_image(self.paths[i], self.background)
        return self.transform(image), info


def _stack(items):
    tensors, infos = zip(*items, strict=True)
    return torch.stack(tensors), list(infos)


def loader_workers(workers: int | str, threads: int, device: str | torch.device) -> int:
    """Worker processes that decode images: ``auto`` is ``threads - 1`` (at most 8) on CUDA,
    where decoding runs beside the GPU's forward pass, and 0 on the CPU, where the forward
    pass already uses every thread."""
    if workers == "auto":
        return min(8, max(0, threads - 1)) if torch.device(device).type == "cuda" else 0
    if int(workers) != workers or int(workers) < 0:
        raise InputError(f"compute.loader_workers is {workers!r}; expected 'auto' or an int >= 0")
    return int(workers)


def iter_batches(
    paths: Sequence[str],
    transform,
    batch_size: int,
    background: Sequence[int] = DEFAULT_BACKGROUND,
    infos: list[ImageInfo] | None = None,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[torch.Tensor]:
    """Yield preprocessed image batches, shape (b, 3, H, W), in the order of ``paths``.

    Each image is read by :func:`dnnmap.images.read_image` (transparency composited on
    ``background``); its :class:`~dnnmap.images.ImageInfo` is appended to ``infos`` if given.
    With ``workers > 0`` the images are decoded in that many DataLoader worker processes
    (batches still in order, the same values), and ``pin_memory`` pins each batch for a fast
    copy to the GPU.
    """
    if workers == 0:
        for start in range(0, len(paths), batch_size):
            images = []
            for path in paths[start : start + batch_size]:
                image, info = read_image(path, background)
                images.append(transform(image))
                if infos is not None:
                    infos.append(info)
            yield torch.stack(images)
        return
    loader = torch.utils.data.DataLoader(
        _ImageFiles(paths, transform, background),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_stack,
        pin_memory=pin_memory,
        prefetch_factor=2,
    )
    for batch, batch_infos in loader:
        if infos is not None:
            infos.extend(batch_infos)
        yield batch


def extract_activations(
    spec: ModelSpec,
    stim_ids: Sequence[str],
    paths: Sequence[str],
    out_path: str,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    dtype: str = "float32",
    attrs: dict | None = None,
    progress=None,
    weights_file: str | None = None,
    compression: str = "lzf",
    background: Sequence[int] = DEFAULT_BACKGROUND,
    media=None,
    workers: int = 0,
    autocast: bool = False,
    tf32: bool = False,
) -> None:
    """Run the network over all stimuli once and stream every layer to ``out_path``.

    Parameters
    ----------
    spec : ModelSpec
        Architecture, weights, layers and preprocessing.
    stim_ids : sequence of str
        Stimulus ids, shape (n_stim,), in table order.
    paths : sequence of str
        Image files in the same order as ``stim_ids``.
    out_path : str
        Target HDF5 file; written atomically.
    batch_size : int
        Stimuli per forward pass.
    device : torch.device or str
        Where the forward pass runs.
    dtype : {"float32", "float16"}
        Storage type of the activations.
    attrs : dict, optional
        Extra root attributes (provenance).
    progress : file-like, optional
        Where the progress bar is written (e.g. the rule's log file).
    weights_file : str, optional
        Local copy of torchvision's named weights (see :func:`dnnmap.models.build.build_model`).
    compression : {"none", "lzf", "gzip"}
        HDF5 compression of the layers: ``lzf`` is fast and lossless, ``gzip`` smaller and
        slower. ReLU layers are about half zeros, so either roughly halves the file.
    background : sequence of 3 int
        RGB colour (0-255) transparent pixels are composited on (``stimuli.background``).
    media : dnnmap.media.video.ClipSampling or dnnmap.media.options.AudioOptions, optional
        A video network's clip sampling or an audio network's options (the defaults when
        None); stimuli are then read by :func:`dnnmap.media.loaders.media_batches` and
        recorded in the ``media`` attribute (JSON).
    workers : int
        DataLoader worker processes that decode images (:func:`loader_workers`); 0 decodes
        in this process. On CUDA the batches are pinned.
    autocast : bool
        CUDA only: run the forward pass under ``torch.autocast`` (float16); activations are
        stored as ``dtype`` says. Ignored on the CPU.
    tf32 : bool
        CUDA only: let convolutions and matrix products use TF32
        (:func:`dnnmap.models.precision.cuda_precision`); False keeps full float32.
    """
    if len(stim_ids) != len(paths):
        raise InputError(f"{len(stim_ids)} stim_ids but {len(paths)} paths; expected one each")
    if dtype not in ("float32", "float16"):
        raise InputError(f"compute.dtype: {dtype!r}; expected float32 or float16")
    if compression not in ("none", "lzf", "gzip"):
        raise InputError(f"compute.compression: {compression!r}; expected none, lzf or gzip")
    background = check_background(background)
    family = spec.family()
    modules = family.layer_modules(spec.layers, f"models.{spec.name}.layers")
    modality = family.modality
    if modality != "image" and media is None:
        from dnnmap.media.options import media_options

        media = media_options(spec.name, {}, family)
    masks = spec.masks
    if masks:
        shapes = family.layer_shapes(list(masks), spec.preprocessing.side)
        check_masks(spec.name, masks, shapes)
    model, weights_id = build_model(spec, weights_file)
    digest = weights_digest(model)
    device = torch.device(device)
    model = model.to(device)
    recorder = Recorder(model, modules)
    amp = bool(autocast) and device.type == "cuda"
    root_attrs = {
        "model": spec.name,
        "source": spec.source,
        "architecture": spec.architecture,
        "weights_id": weights_id,
        "weights_sha256": digest,
        "preprocessing": json.dumps(spec.preprocessing.as_dict()),
        "background": json.dumps(list(background)),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "layers": json.dumps(modules),
        "masks": json.dumps({layer: mask.as_dict() for layer, mask in masks.items()}),
        "device": str(device),
        "loader_workers": int(workers),
        "autocast": amp,
        "tf32": bool(tf32) and device.type == "cuda",
        **({"media": json.dumps(media.as_dict())} if modality != "image" else {}),
        **(attrs or {}),
    }
    n_stim = len(stim_ids)
    itemsize = np.dtype(dtype).itemsize
    transform = spec.preprocessing.transform()
    infos: list[ImageInfo] = []
    if modality == "image":
        pin = device.type == "cuda"
        batches = (
            (b, None)
            for b in iter_batches(
                paths, transform, batch_size, background, infos, workers, pin_memory=pin
            )
        )
    else:
        from dnnmap.media.loaders import MediaNotes, media_batches

        notes = MediaNotes()
        batches = media_batches(modality, paths, media, spec.preprocessing, batch_size, notes)
    try:
        with (
            h5_writer(out_path, root_attrs) as f,
            torch.inference_mode(),
            cuda_precision(bool(tf32)),
        ):
            write_strings(f, "stim_id", list(stim_ids))
            group = f.create_group("layers")
            bar = tqdm(total=n_stim, desc=f"{spec.name} activations", unit="stim", file=progress)
            start = 0
            dsets = {}  # kept here: no HDF5 call of this thread waits on the writer's lock
            with BatchWriter(depth=WRITE_DEPTH) as writer:
                for batch, reduce in batches:
                    cast = torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext()
                    with cast:
                        outputs = recorder(batch.to(device, non_blocking=True))
                    writes = []
                    for layer in modules:
                        values = outputs.pop(layer)
                        if layer in masks:
                            values = masks[layer].apply(values)
                        values = values.to("cpu", torch.float32).numpy()
                        values = values if reduce is None else reduce(values)
                        stop = start + len(values)
                        if layer not in dsets:
                            shape = (n_stim, *values.shape[1:])
                            chunks = chunk_shape(n_stim, shape[1:], batch_size, itemsize)
                            dset = _create_layer(
                                group, layer, modules[layer], shape, chunks, dtype, compression
                            )
                            if layer in masks:
                                dset.attrs["mask"] = json.dumps(masks[layer].as_dict())
                            dsets[layer] = dset
                        writes.append((dsets[layer], start, stop, values, dtype))
                    writer.put(writes)  # written in the background while the next batch runs
                    bar.update(stop - start)
                    start = stop
            bar.close()
    finally:
        recorder.close()
    report = conversion_report(infos, list(stim_ids)) if modality == "image" else notes.report()
    for line in report:
        LOG.warning("%s: %s", spec.name, line)


def _create_layer(group, layer, module, shape, chunks, dtype, compression):
    dset = group.create_dataset(
        layer,
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        compression=None if compression == "none" else compression,
    )
    dset.attrs["module"] = module
    dset.attrs["unit_shape"] = np.asarray(shape[1:], dtype=np.int64)
    return dset
