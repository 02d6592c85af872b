"""Job sizes estimated from the data: memory and runtime for the scheduler.

The workflow asks these functions for each job's ``mem_mb`` and ``runtime`` so that a
cluster job requests what it needs, not a constant. Nothing here imports torch: layer
shapes, parameter counts and forward-pass times come from each architecture's
:class:`~dnnmap.models.registry.ModelFamily`, whose shape formulas the tests check against
real forward passes. Memory grows with the retry ``attempt``, so a job killed for memory is
resubmitted with more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dnnmap.features.randomized_pca import resolve_solver
from dnnmap.models.activation_layout import CHUNK_BYTES
from dnnmap.models.batch_writer import WRITE_DEPTH
from dnnmap.models.masks import masked_units, model_masks
from dnnmap.models.registry import get_family

#: Resident memory of a Python process with torch imported, MB.
TORCH_BASE_MB = 1500
#: Resident memory of a Python process with numpy, scipy and h5py imported, MB.
PYTHON_BASE_MB = 350
MB = 1e6


def layer_shapes(architecture: str | Mapping, resize: int) -> dict[str, tuple[int, ...]]:
    """Output shape of every friendly layer for a square input of side ``resize``.

    Returns
    -------
    dict
        Layer name -> unit shape, e.g. ``{"conv1": (64, 55, 55), ..., "fc8": (1000,)}``.

    Raises
    ------
    InputError
        For an unregistered architecture (the message lists the known ones).
    """
    return get_family(architecture).unit_shapes(resize)


def layer_units(architecture: str | Mapping, layers: Sequence[str], resize: int) -> dict[str, int]:
    """Number of units of each requested layer (as written: after the model's unit masks).

    Parameters
    ----------
    architecture : str or mapping
        An architecture name, or a config model entry (then its ``source``, ``module``,
        ``kwargs``, ``units`` and ``dmask`` count too, and for a video network the frames of
        its ``clip``, for an audio network the examples its ``audio`` keeps).
    layers : sequence of str
        Friendly names, module paths or graph nodes (the latter two measured by a forward
        pass on the meta device, see :meth:`~dnnmap.models.registry.ModelFamily.layer_shapes`).
    resize : int
        Side of the square network input.
    """
    family = get_family(architecture)
    shapes = family.layer_shapes(list(layers), resize)
    masks = {}
    stored = 1
    if isinstance(architecture, Mapping):
        if architecture.get("units") or architecture.get("dmask"):
            masks = model_masks("model", architecture)
        if family.modality == "video":
            # friendly layers at the clip's frames (module paths keep the default frames')
            shapes = {**shapes, **_clip_shapes(architecture, family, resize, layers)}
        stored = media_load(architecture, resize).stored
    return {layer: stored * masked_units(shapes[layer], masks.get(layer)) for layer in layers}


def _clip_shapes(entry: Mapping, family, resize: int, layers: Sequence[str]) -> dict:
    """Unit shapes of a video network's friendly layers for clips of its ``clip.frames``."""
    from dnnmap.media.options import media_options
    from dnnmap.models.families.video import video_unit_shapes

    frames = media_options("model", entry, family).frames
    closed = video_unit_shapes(family.name, resize, frames)
    return {layer: closed[layer] for layer in layers if layer in closed}


@dataclass(frozen=True)
class MediaLoad:
    """What one stimulus costs an extraction job, by the network's modality.

    Attributes
    ----------
    inputs : int
        Network inputs per stimulus in a forward pass: 1 for an image, ``clip.clips`` for a
        video, the 0.96 s examples of the longest sound for audio (``audio.n_examples``
        with ``examples: keep``).
    input_values : int
        Values of one input: 3 x side x side (image), 3 x frames x side x side (clip),
        96 x 64 (log-mel example).
    stored : int
        Rows of a layer's per-input units written per stimulus: ``audio.n_examples`` with
        ``examples: keep``, else 1 (clips and examples averaged).
    compute : float
        Forward-pass work per stimulus in units of the family's ``cpu_seconds_per_image``
        (one image, one clip of the family's default frames, one example): ``clips x
        frames / default frames`` for video, the mean examples per sound for audio.
    """

    inputs: int
    input_values: int
    stored: int
    compute: float


def media_load(
    architecture: str | Mapping, resize: int, examples: tuple[int, float] | None = None
) -> MediaLoad:
    """The per-stimulus load of a model entry's stimuli (see :class:`MediaLoad`).

    Parameters
    ----------
    architecture : str or mapping
        An architecture name (then its family's default clip or audio options) or a
        config model entry (its ``clip`` or ``audio``).
    resize : int
        Side of the square network input (frames of a clip).
    examples : (int, float), optional
        The most and the mean 0.96 s examples per sound of the stimulus table (audio with
        ``examples: mean``); one each when not given.
    """
    family = get_family(architecture)
    if family.modality == "image":
        return MediaLoad(1, 3 * resize * resize, 1, 1.0)
    from dnnmap.media.options import media_options

    entry = architecture if isinstance(architecture, Mapping) else {}
    options = media_options("model", entry, family)
    if family.modality == "video":
        from dnnmap.models.families.video import DEFAULT_FRAMES, FIXED_INPUT

        default = FIXED_INPUT.get(family.name, (DEFAULT_FRAMES,))[0]
        work = options.clips * options.frames / default
        return MediaLoad(options.clips, 3 * options.frames * resize * resize, 1, work)
    from dnnmap.models.families.vggish import EXAMPLE_SHAPE

    values = math.prod(EXAMPLE_SHAPE)
    if options.examples == "keep":
        n = options.n_examples
        return MediaLoad(n, values, n, float(n))
    most, mean = examples or (1, 1.0)
    return MediaLoad(max(1, int(most)), values, 1, max(1.0, float(mean)))


def sound_examples(infos: Mapping) -> tuple[int, float] | None:
    """The most and the mean 0.96 s VGGish examples per sound, from the files' headers.

    Parameters
    ----------
    infos : mapping
        Row -> media header (:class:`~dnnmap.media.audio.AudioInfo` for a sound), as the
        checked stimulus table holds them (``attrs[dnnmap.stimuli.MEDIA_ATTR]``).

    Returns
    -------
    (int, float) or None
        None when there is no sound.
    """
    from dnnmap.media.audio import AudioInfo
    from dnnmap.media.vggish_frontend import n_examples

    counts = [
        n_examples(info.n_samples, info.samplerate)
        for info in infos.values()
        if isinstance(info, AudioInfo)
    ]
    return (max(counts), sum(counts) / len(counts)) if counts else None


def extraction_mem_mb(
    architecture: str | Mapping,
    layers: Sequence[str],
    resize: int,
    batch_size: int,
    attempt: int = 1,
    examples: tuple[int, float] | None = None,
) -> int:
    """Memory of an activation-extraction job, MB.

    The torch process, the weights (twice: model and digest), one batch of inputs, and per
    recorded unit ``4 + WRITE_DEPTH`` copies per stimulus of the batch: the hook and float32
    host copies of the batch being computed, the host copies of the
    :data:`~dnnmap.models.batch_writer.WRITE_DEPTH` batches waiting for the writer thread,
    and the float32 and storage-typed copies of the batch it writes. The stimulus count does
    not matter, since batches are streamed. Video and audio networks (:func:`media_load`) see
    ``inputs`` clips or examples per stimulus: their inputs, and the hook and float32 host
    copies of the per-input units, count ``inputs`` times per stimulus; the reduced rows count
    the written units (``stored`` examples with ``audio.examples: keep``), ``3 +
    WRITE_DEPTH`` times (the batch computed, those waiting, and the two copies written).

    Parameters
    ----------
    examples : (int, float), optional
        The most and the mean 0.96 s examples per sound (audio, ``examples: mean``).
    """
    units = sum(layer_units(architecture, layers, resize).values())
    weights = 2 * 4 * get_family(architecture).n_parameters
    load = media_load(architecture, resize, examples)
    if get_family(architecture).modality == "image":
        per_stim = load.input_values * 4 + (4 + WRITE_DEPTH) * units * 4
    else:
        per_input = units / load.stored
        per_stim = (
            load.inputs * (load.input_values + 2 * per_input) * 4 + (3 + WRITE_DEPTH) * units * 4
        )
    batch = batch_size * per_stim
    return math.ceil((TORCH_BASE_MB + (weights + batch) / MB) * 1.2) * attempt


def slab_columns(n_units: int, itemsize: int = 4, batch_size: int = 32) -> int:
    """Columns of one slab a features job reads: the units of one HDF5 chunk's channels
    (:func:`dnnmap.models.activation_layout.chunk_shape`: chunks of about 1 MB over
    ``batch_size`` stimuli), at most the layer's units."""
    return max(1, min(n_units, CHUNK_BYTES // (batch_size * itemsize)))


def pca_mem_mb(
    n_stim: int,
    n_units: int,
    attempt: int = 1,
    n_fit: int | None = None,
    itemsize: int = 4,
    batch_size: int = 32,
) -> int:
    """Memory of a PCA job, MB.

    The Gram (or covariance) matrix of the fitted rows three times, and one column slab of
    every stimulus (:func:`slab_columns`) as stored and in float64; fitted on a subset
    (``n_fit`` below ``n_stim``), every stimulus is then projected, a second float64 copy of
    the slab. Checked against measured jobs (tests/benchmarks/test_sizing_measured.py).
    """
    n_fit = n_stim if n_fit is None else min(n_fit, n_stim)
    side = min(n_fit, n_units)
    gram = 3 * 8 * side * side
    per_value = itemsize + 8 + (8 if n_fit < n_stim else 0)
    slab = per_value * n_stim * slab_columns(n_units, itemsize, batch_size)
    return math.ceil((PYTHON_BASE_MB + (gram + slab) / MB) * 1.2) * attempt


#: Bytes a refit permutation test (or the FIR circular shifts) holds per voxel and
#: permutation, by ``encoding.pooling``: running sums, scores and the temporaries of the p-value
#: counts (measured about 50 with per-fold scores and 195 with pooled ones).
REFIT_BYTES_PER_COLUMN = {"folds": 64, "pooled": 240}


def encoding_mem_mb(
    n_stim: int,
    n_features: int,
    n_vox: int,
    voxel_batch: int,
    attempt: int = 1,
    n_refits: int = 0,
    pooling: str = "folds",
) -> int:
    """Memory of an encoding job, MB.

    Whole-ROI arrays: responses and out-of-fold predictions (float32, n_stim x n_vox) and
    their float64 reads; per batch of target columns about five float64 (n_stim x batch)
    work arrays; and the per-fold SVDs (n_stim x n_features). Refit permutations fit the
    permuted copies of the ROI as further target columns, batch by batch, in one pass over
    the splits: their batches can be wider than the ROI (up to ``voxel_batch`` columns of
    all copies) but hold about three float64 values per value (each batch's predictions are
    scored and dropped), and they add the permutations (int32, n_refits x n_stim) and
    :data:`REFIT_BYTES_PER_COLUMN` per voxel and copy (``pooling``: ``encoding.pooling``).

    Checked against measured jobs (tests/benchmarks/test_sizing_measured.py): 1.75x the peak
    at 1,000 stimuli with 10,000 voxels, 1.73x with 2,000 voxels and 20 refit permutations.
    """
    columns = n_vox * (n_refits + 1)
    whole = 4 * n_stim * n_vox * 4
    # n_features: :func:`feature_width` (all units with features.method: none)
    batch = 5 * 8 * n_stim * min(n_vox, voxel_batch)
    if n_refits:  # a refit batch keeps no predictions: about three float64 values per value
        batch = max(batch, 3 * 8 * n_stim * min(columns, voxel_batch))
    svd = 8 * 8 * n_stim * max(n_features, 1)
    refit = 0
    if n_refits:
        refit = 8 * n_stim * n_refits + REFIT_BYTES_PER_COLUMN[pooling] * columns
    return math.ceil((PYTHON_BASE_MB + (whole + batch + svd + refit) / MB) * 1.2) * attempt


def extraction_runtime_min(
    n_stim: int, architecture: str | Mapping, gpu: bool, per_stimulus: float = 1.0
) -> int:
    """Runtime hint of an extraction job, minutes: three times the family's CPU time per
    stimulus (generous), a twentieth of it on a GPU. ``per_stimulus`` scales the family's
    time per image (or default clip, or example) to one stimulus: :attr:`MediaLoad.compute`
    (clips x frames of a video, examples of a sound)."""
    per_image_s = get_family(architecture).cpu_seconds_per_image / (20 if gpu else 1)
    return 10 + math.ceil(3 * n_stim * per_image_s * per_stimulus / 60)


def merge_shards_mem_mb(max_units: int, batch_size: int, attempt: int = 1) -> int:
    """Memory of a merge of extraction shards, MB.

    The merge copies one block of ``batch_size`` stimuli of one layer at a time
    (:func:`dnnmap.models.shards.merge_shards`): the block read from the shards, their
    concatenation and the compression buffer, three float32 copies of the largest layer's
    ``batch_size`` rows, plus HDF5's chunk caches (1 MB per open dataset, taken as 64 MB).

    Parameters
    ----------
    max_units : int
        Units per stimulus of the largest recorded layer.
    batch_size : int
        ``compute.batch_size`` (rows per chunk of the merged file).
    attempt : int
        Retry number; memory grows linearly with it.
    """
    block = 3 * 4 * batch_size * max_units + 64 * MB
    return math.ceil((PYTHON_BASE_MB + block / MB) * 1.2) * attempt


def merge_shards_runtime_min(n_stim: int, n_units: int) -> int:
    """Runtime hint of a merge of extraction shards, minutes: every float32 value read,
    decompressed, compressed and written once, at 20 MB/s (generous), plus 5 minutes."""
    return 5 + math.ceil(4 * n_stim * n_units / 20e6 / 60)


def encoding_runtime_min(n_stim: int, n_vox: int, n_refits: int = 0) -> int:
    """Runtime hint of an encoding job, minutes.

    ``n_refits`` counts the refit permutations (``encoding.permutation.kind: refit``); each
    is taken to cost as much as the fit itself, an upper bound (the refits share the fit's
    decompositions: only the per-target work is repeated).
    """
    return 5 + math.ceil(n_stim * n_vox * (1 + n_refits) / 2e7)


def stacking_mem_mb(
    n_stim: int, n_features: int, n_vox: int, n_spaces: int, attempt: int = 1
) -> int:
    """Memory of a stacking job, MB.

    float64 responses, out-of-fold predictions of every space and their residuals
    (``2 k + 2`` arrays of n_stim x n_vox), the per-voxel residual covariances and the
    simplex solver's work arrays (about six k x k matrices per voxel), every space's
    features, and one ridge fit's work (as an encoding job's, all voxels in one batch).
    """
    whole = 8 * n_stim * n_vox * (2 * n_spaces + 2)
    solver = 6 * 8 * n_vox * n_spaces * n_spaces
    features = 8 * n_stim * max(n_features, 1) * n_spaces
    ridge = 10 * 8 * n_stim * n_vox + 8 * 8 * n_stim * max(n_features, 1)
    return math.ceil((PYTHON_BASE_MB + (whole + solver + features + ridge) / MB) * 1.2) * attempt


def stacking_runtime_min(n_stim: int, n_vox: int, n_spaces: int, inner_folds: int) -> int:
    """Runtime hint of a stacking job, minutes: every space is fitted ``inner_folds + 1``
    times per outer split, each fit costed like an encoding job (generous)."""
    return 5 + math.ceil(n_stim * n_vox * n_spaces * (inner_folds + 1) / 2e7)


def rdm_mem_mb(n_stim: int, attempt: int = 1, perm_batch: int = 64) -> int:
    """Memory of an RDM or RSA job, MB.

    About six float64 n_stim x n_stim matrices (Gram matrix, square RDMs, ranks) and a batch
    of ``perm_batch`` permuted condensed RDMs (float64) for permutation tests.
    """
    pairs = n_stim * (n_stim - 1) // 2
    work = 6 * 8 * n_stim * n_stim + perm_batch * 8 * pairs
    return math.ceil((PYTHON_BASE_MB + work / MB) * 1.2) * attempt


def searchlight_mem_mb(n_stim: int, n_columns: int, attempt: int = 1) -> int:
    """Memory of a searchlight shard, MB: three float32 copies of the responses, the
    neighborhoods (CSR) and a batch of neighborhood RDMs (the searchlight caps it at 256 MB)."""
    work = 3 * 4 * n_stim * n_columns + 64 * MB + 256 * MB
    return math.ceil((PYTHON_BASE_MB + work / MB) * 1.2) * attempt


def searchlight_runtime_min(n_stim: int, n_columns: int, n_shards: int) -> int:
    """Runtime hint of a searchlight shard, minutes: about 2.2 ms per center at 150 stimuli,
    growing with the square of the number of stimuli (generous by a factor of 3)."""
    per_center_s = 2.2e-3 * (n_stim / 150) ** 2
    return 5 + math.ceil(3 * per_center_s * n_columns / max(n_shards, 1) / 60)


# Sizes of the remaining workflow jobs, from plain values. The rules' resource callables
# (workflow/rules/resources.smk) only read the config and pass it here.

#: Side of the square model input when ``models.<name>.preprocessing.resize`` is not set (the
#: default of :class:`dnnmap.models.build.Preprocessing`, which imports torch).
DEFAULT_RESIZE = 224
#: Seconds of one classifier fit of the nested decoding CV at 150 stimuli (the demo's size).
DECODING_FIT_S = 0.05


def feature_width(
    method: str, fit: str, n_components: int, n_stim: int, n_units: int, compact: bool = False
) -> int:
    """Columns of the matrix a cross-validated job reads from a features file.

    ``none``: every unit of the layer, or with ``compact`` (ridge-type jobs: encoding with
    ridge, stacking, banded ridge) a wide layer's lossless basis, ``n_stim - 1``;
    ``random_projection``: ``n_components``; ``pca``: ``min(n_components, n_stim - 1,
    n_units)``, or with ``fit: train`` the lossless basis each fold's PCA is fitted on,
    ``min(n_stim - 1, n_units)``.
    """
    if method == "none":
        return max(1, n_stim - 1) if compact and n_units >= n_stim else n_units
    if method == "random_projection":
        return n_components
    if fit == "train":
        return max(1, min(n_stim - 1, n_units))
    return max(1, min(n_components, n_stim - 1, n_units))


def randomized_pca_mem_mb(n_stim: int, n_units: int, n_components: int, attempt: int = 1) -> int:
    """Memory of a randomized PCA job, MB: the range finder's ``(units, l)`` iterate and
    ``(l, units)`` sketch, the components, ``(n, l)`` sketches and one column slab of every
    stimulus (at most 4,096 columns), float64, ``l = n_components + 10``."""
    l = n_components + 10  # noqa: E741
    total = 8 * (2 * n_units * l + n_components * n_units + 3 * n_stim * l)
    total += 8 * 2 * n_stim * min(n_units, 4096)
    return math.ceil((PYTHON_BASE_MB + total / MB) * 1.2) * attempt


def features_mem_mb(
    n_stim: int,
    architecture: str,
    layer: str,
    resize: int,
    attempt: int = 1,
    method: str = "pca",
    fit: str = "all",
    n_components: int = 100,
    solver: str = "auto",
    max_fit: int | None = None,
    itemsize: int = 4,
    batch_size: int = 32,
) -> int:
    """Memory of the features job of one layer, MB.

    ``pca``: :func:`pca_mem_mb` at the layer's unit count on the rows fitted (with ``fit:
    external``, also the components, twice ``n_components x n_units`` float64), or
    :func:`randomized_pca_mem_mb` when the solver is randomized; ``none``:
    the whole layer read and written in float32, and for a layer with at least as many units
    as stimuli, read once, its float64 copy and the Gram matrix of its lossless basis;
    ``random_projection``: the output, a
    slab of the layer and of the projection matrix.

    Parameters
    ----------
    n_stim : int
        Number of stimuli.
    architecture : str
        A key of :data:`PARAMETERS` (e.g. ``"alexnet"``).
    layer : str
        Friendly layer name of that architecture.
    resize : int
        Side of the square model input, pixels.
    attempt : int
        Retry number (1 for the first run); memory grows linearly with it.
    method, fit : str
        ``features.method`` and ``features.fit``.
    n_components : int
        ``features.n_components``.
    solver : str
        ``features.solver``.
    max_fit : int or None
        ``features.max_fit_stimuli``.
    itemsize, batch_size : int
        Bytes of a stored activation (``compute.dtype``) and ``compute.batch_size``, which
        set the activations' HDF5 chunks and so the slabs read (:func:`slab_columns`).
    """
    units = layer_units(architecture, [layer], resize)[layer]
    if method == "none":
        work = 2 * 4 * n_stim * units  # the layer read and written (float32)
        if units >= n_stim:  # its lossless basis: a float64 copy and the Gram matrix
            work = 4 * n_stim * units + 8 * n_stim * units + 3 * 8 * n_stim * n_stim
        return math.ceil((PYTHON_BASE_MB + work / MB) * 1.2) * attempt
    if method == "random_projection":
        slab = 8 * (n_stim + 2 * n_components) * min(units, 16384) + 8 * n_stim * n_components
        return math.ceil((PYTHON_BASE_MB + slab / MB) * 1.2) * attempt
    n_fit = n_stim if max_fit is None or fit == "train" else min(n_stim, int(max_fit))
    if resolve_solver(solver, n_fit, units) == "randomized":
        return randomized_pca_mem_mb(n_stim, units, n_components, attempt)
    extra = 2 * 8 * n_components * units if fit == "external" or n_fit < n_stim else 0
    pca = pca_mem_mb(n_stim, units, attempt, n_fit, itemsize, batch_size)
    return pca + math.ceil(1.2 * extra / MB) * attempt


def features_runtime_min(
    n_stim: int, n_units: int, n_components: int, solver: str, power_iterations: int = 4
) -> int:
    """Runtime hint of a PCA features job, minutes, at 5 GFLOP/s (a conservative core).

    Exact: the Gram (or covariance) matrix, ``2 * n * p * min(n, p)`` flops; randomized:
    ``2 * n * p * l`` per pass over the layer, ``3 + 2 * power_iterations`` passes.
    """
    if resolve_solver(solver, n_stim, n_units) == "randomized":
        flops = 2.0 * n_stim * n_units * (n_components + 10) * (3 + 2 * power_iterations)
    else:
        flops = 2.0 * n_stim * n_units * min(n_stim, n_units)
    return 10 + math.ceil(flops / 5e9 / 60)


def decoding_mem_mb(n_stim: int, n_columns: int, attempt: int = 1) -> int:
    """Memory of a decoding job, MB.

    The patterns in float64, ``(n_stim, n_columns)`` (PCA features of a layer, or an ROI's
    grayordinates), six times over for the standardized copies and the classifier's, plus
    the Python process.

    Parameters
    ----------
    n_stim : int
        Number of stimuli.
    n_columns : int
        Columns of the decoded patterns: features of a layer or grayordinates of an ROI.
    attempt : int
        Retry number (1 for the first run); memory grows linearly with it.
    """
    return math.ceil(PYTHON_BASE_MB + 6 * 8 * n_stim * n_columns / MB) * attempt


def decoding_runtime_min(
    n_stim: int, n_perm: int, n_folds: int, n_penalties: int, inner_folds: int
) -> int:
    """Runtime hint of a decoding job, minutes.

    Every permutation refits the nested CV: ``(n_perm + 1) * n_folds * n_penalties *
    inner_folds`` fits of :data:`DECODING_FIT_S` seconds each at up to 150 stimuli, growing
    linearly with the stimuli beyond that, plus 10 minutes.

    Parameters
    ----------
    n_stim : int
        Number of stimuli.
    n_perm : int
        Label permutations (0 for none).
    n_folds, inner_folds : int
        Outer and inner cross-validation folds.
    n_penalties : int
        Candidate penalties (``decoding.Cs``) searched by the inner CV.
    """
    fits = (n_perm + 1) * n_folds * n_penalties * inner_folds
    return 10 + math.ceil(fits * DECODING_FIT_S * max(n_stim / 150, 1) / 60)


def brain_mem_mb(n_stim: int, n_columns: int, attempt: int = 1) -> int:
    """Memory of a job that reads a subject's whole CIFTI file, MB.

    The responses ``(n_stim, n_columns)`` in float32, twice, plus the Python process.

    Parameters
    ----------
    n_stim : int
        Number of stimuli (maps of the file).
    n_columns : int
        Grayordinates of the file, e.g.
        :data:`dnnmap.brain.cifti.FSLR32K_GRAYORDINATES` as an upper bound.
    attempt : int
        Retry number (1 for the first run); memory grows linearly with it.
    """
    return math.ceil(PYTHON_BASE_MB + 2 * 4 * n_stim * n_columns / MB) * attempt
