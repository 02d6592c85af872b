"""A simulated brain with a known answer, built to be harder than the pipeline that judges it.

The simulation never sees what the pipeline fits (PCA features): it reads the raw
activations of the network, projects each layer's units onto its own random directions, reads
them out through a compressive nonlinearity and buries the result in spatially smooth noise
with per-session offsets and gains. A mapping that works must still find which layer drives
which region; it can at best approach, never reach, the noise ceiling (the read-out is not
linear in any layer).

Layer ``L`` with raw activations ``U_L`` (n_stim, n_units), flattened over its unit shape::

    P_L = U_L @ G_L / sqrt(n_units)     # G_L ~ N(0, 1), (n_units, k): a random projection of
                                        # the raw units, seeded by (seed, layer name)
    Z_L = (P_L - mean(P_L)) / std(P_L)  # per column, over stimuli

Region ``i`` with layers ``L1, L2, ...`` and mixing weights ``w`` (summing to 1), voxel ``v``::

    a_Lv = std1(Z_L @ B_Lv)             # B_Lv ~ N(0, 1), (k,), from default_rng([seed, 0, i]);
                                        # std1: centred, unit variance over stimuli
    s_v  = std1(f(sum_L w_L a_Lv))      # f: compressive nonlinearity, signed square root
                                        # sign(a) |a|^0.5 ("sqrt") or log1p(max(a, 0)) ("log1p")

Session (repeat) ``r`` of every grayordinate ``v`` (region or not)::

    x_rv = g_rv (s_v + sqrt(R / snr) e_rv) + o_rv

with ``e_r`` unit-variance noise smoothed over the fsLR-32k mesh
(:mod:`dnnmap.brain.surface_noise`), gains ``g_rv = exp(N(0, session_gain_sd^2))`` and offsets
``o_rv ~ N(0, session_offset_sd^2)`` (constant over stimuli, as a session's baseline is).
Grayordinates outside the driven regions carry noise only (``s_v = 0``), as do the null
regions, which are listed for their ground-truth row. The responses are the mean over the
``R`` sessions. ``snr`` is the variance of the signal over that of the noise in the mean
response, so after z-scoring each session per grayordinate (which removes ``g`` and ``o``) the
noise ceiling of r of the mean response is ``sqrt(snr / (1 + snr))`` (0 in a null region):
the ``expected_ceiling`` of the ground truth. Without z-scoring, the session offsets add to
the variance across repeats and an estimated ceiling falls below it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.atlas import Atlas, atlas_for, mmp_atlas, resolve_roi
from dnnmap.brain.surface_noise import smooth_noise
from dnnmap.checks import check_choice, check_int
from dnnmap.errors import InputError
from dnnmap.models.activation_layout import layer_as_matrix
from dnnmap.store import check_stim_ids, read_strings

NONLINEARITIES = ("sqrt", "log1p", "none")
"""Compressive nonlinearities of the read-out: signed square root, log1p of the rectified
value, or none (a linear read-out)."""
TRUTH_COLUMNS = (
    "region",
    "kind",
    "layer",
    "weights",
    "labels",
    "n_vox",
    "n_projections",
    "nonlinearity",
    "snr",
    "expected_ceiling",
)
"""Columns of the ground-truth table, in order. The ``simulate_brain`` rule puts a ``model``
column (``simulation.model``, the network the regions read) before them in the file."""


def driving_layers(truth: pd.DataFrame | None, model: str | None = None) -> dict[str, str]:
    """Region -> driving layer of a simulated subject's ground truth, for one model.

    Parameters
    ----------
    truth : DataFrame or None
        A ground-truth table (columns ``region`` and ``layer``, and ``model`` in the files
        the workflow writes); None: no simulated subject.
    model : str, optional
        The model whose layers are drawn: a table whose ``model`` column names another
        network gives no driving layers (another network's ``conv1`` is not the driver).

    Returns
    -------
    dict of str to str
        Empty without a table or for another model; a mixed region's layer is
        ``"conv2+fc7"``, a null region's ``"none"``.
    """
    if truth is None:
        return {}
    if model is not None and "model" in truth.columns:
        truth = truth[truth["model"] == model]
    return dict(zip(truth["region"], truth["layer"], strict=True))


_REGION_KEYS = {"labels", "layer", "layers", "weights", "snr"}


def _check_positive(value: object, where: str, name: str, allow_zero: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    ok = x >= 0 if allow_zero else x > 0
    if not ok:  # also catches NaN
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{where}: {name} is {value!r}; expected a number {bound}")
    return x


def _layer_seed(seed: int, layer: str) -> list[int]:
    return [int(seed), zlib.crc32(layer.encode())]


def project_layer(dset: h5py.Dataset, n_projections: int, seed: int, layer: str) -> np.ndarray:
    """Random projection of a layer's raw units, read in slabs of channels.

    Parameters
    ----------
    dset : h5py.Dataset of shape (n_stim, *unit_shape)
        Raw activations (``layers/{layer}`` of ``results/activations/{model}.h5``).
    n_projections : int
        Random directions ``k``.
    seed : int
        Channel ``c``'s rows of ``G`` come from ``default_rng([seed, crc32(layer), c])``, so
        the projection does not depend on how the file is chunked.
    layer : str
        Layer name (part of the seed).

    Returns
    -------
    ndarray of float64, shape (n_stim, k)
        ``U @ G / sqrt(n_units)`` with ``U`` the flattened activations, ``G ~ N(0, 1)``.
    """
    k = check_int(n_projections, "n_projections", 1)
    n_units, read_cols, _, bounds = layer_as_matrix(dset)
    n_stim = dset.shape[0]
    per_channel = n_units // dset.shape[1]
    out = np.zeros((n_stim, k))
    base = _layer_seed(seed, layer)
    for c0, c1 in bounds:
        block = read_cols(c0, c1).astype(np.float64)
        g = np.concatenate(
            [
                np.random.default_rng([*base, c]).standard_normal((per_channel, k))
                for c in range(c0 // per_channel, c1 // per_channel)
            ]
        )
        out += block @ g
    return out / math.sqrt(n_units)


def read_projected_layers(
    path: str,
    layers: Sequence[str],
    stim_ids: list[str],
    table: str,
    n_projections: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Random projections of the raw activations of the layers that drive simulated regions.

    Parameters
    ----------
    path : str
        ``results/activations/{model}.h5`` (group ``layers/{layer}``, dataset ``stim_id``).
    layers : sequence of str
        Layers to read.
    stim_ids : list of str
        The stimulus table's ids; the file must have them in this order.
    table : str
        The stimulus table's path, named in messages.
    n_projections : int
        Random directions per layer.
    seed : int
        Seed of the projections (see :func:`project_layer`).

    Returns
    -------
    dict
        Layer name -> projection, shape (n_stim, n_projections).
    """
    out = {}
    with h5py.File(path, "r") as f:
        check_stim_ids(stim_ids, read_strings(f["stim_id"]), table, path)
        for layer in layers:
            if layer not in f.get("layers", {}):
                raise InputError(
                    f"{path} has no activations of layer {layer!r}; expected one of "
                    f"{sorted(f.get('layers', {}))}"
                )
            out[layer] = project_layer(f["layers"][layer], n_projections, seed, layer)
    return out


def region_layers(spec: Mapping, where: str) -> tuple[list[str], list[float]]:
    """The driving layers of a region spec and their mixing weights (summing to 1).

    ``layer: conv1`` is one layer; ``layers: [conv3, conv5]`` with optional ``weights``
    (equal by default) mixes several; ``layers: []`` is a null region (noise only).

    Returns
    -------
    layers : list of str
    weights : list of float
        Same length as ``layers``.
    """
    if ("layer" in spec) == ("layers" in spec):
        raise InputError(f"{where}: expected exactly one of 'layer' (one) or 'layers' (a list)")
    if "layer" in spec:
        if "weights" in spec:
            raise InputError(f"{where}: 'weights' needs 'layers'; expected a list of layers")
        return [str(spec["layer"])], [1.0]
    layers = spec["layers"]
    if isinstance(layers, str) or not isinstance(layers, Sequence):
        raise InputError(f"{where}: layers is {layers!r}; expected a list of layer names")
    layers = [str(name) for name in layers]
    if len(set(layers)) != len(layers):
        raise InputError(f"{where}: layers {layers} repeat a name; expected distinct layers")
    weights = spec.get("weights", [1.0] * len(layers))
    if isinstance(weights, str) or not isinstance(weights, Sequence):
        raise InputError(f"{where}: weights is {weights!r}; expected a list of numbers")
    if len(weights) != len(layers):
        raise InputError(
            f"{where}: {len(weights)} weights for {len(layers)} layers; expected one per layer"
        )
    weights = [_check_positive(w, where, "a weight") for w in weights]
    total = sum(weights)
    return layers, [w / total for w in weights]


def _std1(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    return x / np.where(sd > 0, sd, 1.0)


def _compress(a: np.ndarray, nonlinearity: str) -> np.ndarray:
    if nonlinearity == "sqrt":
        return np.sign(a) * np.sqrt(np.abs(a))
    if nonlinearity == "log1p":
        return np.log1p(np.maximum(a, 0.0))
    return a


def simulate_responses(
    projections: Mapping[str, np.ndarray],
    regions: Mapping[str, Mapping],
    brain_models: BrainModelAxis,
    atlas: Atlas | None = None,
    snr: float = 1.0,
    seed: int = 0,
    n_repeats: int = 1,
    nonlinearity: str = "sqrt",
    session_offset_sd: float = 0.0,
    session_gain_sd: float = 0.0,
    smoother: sp.csr_array | None = None,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray | None]:
    """Simulate brain responses whose regions read out network layers (module docstring).

    Parameters
    ----------
    projections : mapping of str to ndarray, each of shape (n_stim, k)
        Layer name to its random projection (:func:`read_projected_layers`), rows in stimulus
        order; every layer has the same n_stim and k.
    regions : mapping of str to mapping
        Region name to ``{"labels": [HCP-MMP areas], "layer": name}``, or ``"layers": [names]``
        with optional ``"weights"`` (a mixed region), or ``"layers": []`` (a null region);
        an optional ``"snr"`` overrides ``snr``. Labels follow
        :func:`dnnmap.brain.atlas.resolve_roi`. Regions must not share grayordinates.
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates
        Grayordinates of the output, e.g. :func:`dnnmap.brain.cifti.fslr32k_brain_models`.
    atlas : Atlas, optional
        Parcellation defining the labels (HCP-MMP 1.0 by default).
    snr : float
        Signal variance over noise variance in the mean response; also sets the noise level
        outside the regions. ``inf`` gives noise-free signals.
    seed : int
        Non-negative seed of read-out weights (``[seed, 0, i]`` for region ``i``), noise
        (``[seed, 1, r]`` for session ``r``) and session effects (``[seed, 2]``).
    n_repeats : int
        Sessions ``R``, each measuring every stimulus once.
    nonlinearity : {"sqrt", "log1p", "none"}
        The compressive read-out ``f``.
    session_offset_sd, session_gain_sd : float
        Standard deviations of the per-session, per-grayordinate offsets and log gains, in
        units of the signal's standard deviation.
    smoother : scipy.sparse.csr_array of shape (n_grayordinates, n_grayordinates), optional
        Noise smoother (:func:`dnnmap.brain.surface_noise.surface_smoother`); white noise if
        None.

    Returns
    -------
    data : ndarray of float32, shape (n_stim, n_grayordinates)
        The mean response over sessions.
    truth : pandas.DataFrame
        One row per region, columns :data:`TRUTH_COLUMNS`: ``kind`` (driven, mixed or null),
        ``layer`` and ``weights`` (the driving layers and their weights joined by '+', e.g.
        "conv2+fc7"; "none" and "" for a null region), ``snr``
        (0 for a null region) and ``expected_ceiling`` (``sqrt(snr / (1 + snr))``; 0 for a
        null region).
    repeats : ndarray of float32, shape (n_repeats, n_stim, n_grayordinates), or None
        The sessions whose mean is ``data``; None when ``n_repeats`` is 1.

    Raises
    ------
    InputError
        On an unknown layer or label, mismatched projections, a bad number, an unknown
        region key or nonlinearity, or two regions that overlap.
    """
    if not isinstance(brain_models, BrainModelAxis):
        raise InputError(
            f"brain_models is a {type(brain_models).__name__}; expected a BrainModelAxis"
        )
    atlas = atlas_for(brain_models, mmp_atlas() if atlas is None else atlas)

    def columns(region, labels):
        return resolve_roi(region, labels, atlas)

    return simulate_columns(
        projections,
        regions,
        len(brain_models),
        columns,
        snr=snr,
        seed=seed,
        n_repeats=n_repeats,
        nonlinearity=nonlinearity,
        session_offset_sd=session_offset_sd,
        session_gain_sd=session_gain_sd,
        smoother=smoother,
    )


def simulate_columns(
    projections: Mapping[str, np.ndarray],
    regions: Mapping[str, Mapping],
    n_columns: int,
    region_columns: Callable[[str, list[str]], np.ndarray],
    snr: float = 1.0,
    seed: int = 0,
    n_repeats: int = 1,
    nonlinearity: str = "sqrt",
    session_offset_sd: float = 0.0,
    session_gain_sd: float = 0.0,
    smoother: sp.csr_array | None = None,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray | None]:
    """Simulate responses on any space's columns (CIFTI grayordinates, mask voxels, vertices).

    The same simulation as :func:`simulate_responses` (module docstring), with the regions'
    columns found by ``region_columns`` instead of an atlas of grayordinates: a volume
    simulation passes the voxels of a label volume's labels
    (:func:`dnnmap.brain.subjects.roi_index`).

    Parameters
    ----------
    projections, regions, snr, seed, n_repeats, nonlinearity, session_offset_sd, session_gain_sd
        As in :func:`simulate_responses`; a region's ``labels`` are passed to
        ``region_columns``.
    n_columns : int
        Columns of the output.
    region_columns : callable
        ``region_columns(region, labels) -> ndarray of int`` (column indices of the region).
    smoother : scipy.sparse.csr_array of shape (n_columns, n_columns), optional
        Noise smoother (:func:`dnnmap.brain.surface_noise.surface_smoother`,
        :func:`dnnmap.brain.surface_noise.volume_smoother`); white noise if None.

    Returns
    -------
    data : ndarray of float32, shape (n_stim, n_columns)
    truth : pandas.DataFrame
    repeats : ndarray of float32, shape (n_repeats, n_stim, n_columns), or None
        As in :func:`simulate_responses`.
    """
    if not regions:
        raise InputError("regions: none given; expected at least one region")
    check_int(seed, "seed", 0)
    snr = _check_positive(snr, "simulation", "snr")
    n_repeats = check_int(n_repeats, "n_repeats", 1)
    nonlinearity = check_choice(nonlinearity, "nonlinearity", NONLINEARITIES)
    offset_sd = _check_positive(session_offset_sd, "simulation", "session_offset_sd", True)
    gain_sd = _check_positive(session_gain_sd, "simulation", "session_gain_sd", True)
    n_gray = check_int(n_columns, "n_columns", 1)
    if smoother is not None and smoother.shape != (n_gray, n_gray):
        raise InputError(
            f"smoother has shape {smoother.shape}; expected ({n_gray}, {n_gray}) for the columns"
        )
    arrays = _check_projections(projections)
    n_stim = next(iter(arrays.values())).shape[0]

    plan = _plan_regions(regions, arrays, region_columns, snr, n_gray)
    noise_sd = np.full(n_gray, math.sqrt(n_repeats / snr) if math.isfinite(snr) else 0.0)
    signal = np.zeros((n_stim, n_gray), dtype=np.float32)
    rows = []
    for i, (region, layers, weights, labels, vox, region_snr) in enumerate(plan):
        if layers:
            rng = np.random.default_rng([int(seed), 0, i])
            mix = np.zeros((n_stim, vox.size))
            for layer, w in zip(layers, weights, strict=True):
                z = arrays[layer]
                readout = rng.standard_normal((z.shape[1], vox.size))
                mix += w * _std1(z @ readout)
            signal[:, vox] = _std1(_compress(_std1(mix), nonlinearity))
        noise_sd[vox] = math.sqrt(n_repeats / region_snr) if math.isfinite(region_snr) else 0.0
        rows.append(
            {
                "region": region,
                "kind": "null" if not layers else "mixed" if len(layers) > 1 else "driven",
                "layer": "+".join(layers) if layers else "none",
                "weights": "+".join(f"{w:.3g}" for w in weights),
                "labels": "+".join(labels),
                "n_vox": int(vox.size),
                "n_projections": next(iter(arrays.values())).shape[1],
                "nonlinearity": nonlinearity,
                "snr": region_snr if layers else 0.0,
                "expected_ceiling": (
                    math.sqrt(region_snr / (1 + region_snr)) if math.isfinite(region_snr) else 1.0
                )
                if layers
                else 0.0,
            }
        )

    session_rng = np.random.default_rng([int(seed), 2])
    offsets = session_rng.normal(0.0, offset_sd, (n_repeats, n_gray)).astype(np.float32)
    gains = np.exp(session_rng.normal(0.0, gain_sd, (n_repeats, n_gray))).astype(np.float32)
    data = np.zeros((n_stim, n_gray), dtype=np.float32)
    repeats = np.empty((n_repeats, n_stim, n_gray), dtype=np.float32) if n_repeats > 1 else None
    sd32 = noise_sd.astype(np.float32)
    for r in range(n_repeats):
        noise = smooth_noise(np.random.default_rng([int(seed), 1, r]), n_stim, smoother, n_gray)
        session = gains[r] * (signal + sd32 * noise) + offsets[r]
        data += session / n_repeats
        if repeats is not None:
            repeats[r] = session
    return data, pd.DataFrame(rows, columns=list(TRUTH_COLUMNS)), repeats


def _check_projections(projections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    shape = None
    for layer, x in projections.items():
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
            raise InputError(
                f"projections[{layer!r}]: shape {x.shape}; expected (n_stim >= 2, k >= 1)"
            )
        if not np.isfinite(x).all():
            raise InputError(f"projections[{layer!r}]: holds NaN or inf; expected finite values")
        if shape is not None and x.shape != shape:
            raise InputError(
                f"projections[{layer!r}]: shape {x.shape}; expected {shape} like the other layers"
            )
        flat = np.flatnonzero(~(x.std(axis=0) > 0))
        if flat.size:
            raise InputError(
                f"projections[{layer!r}]: column {int(flat[0])} is constant over stimuli; "
                "expected activations that vary across stimuli"
            )
        shape = x.shape
        arrays[layer] = _std1(x)
    if not arrays:
        raise InputError("projections: none given; expected the driving layers")
    return arrays


def _plan_regions(regions, arrays, region_columns, snr, n_gray):
    """Resolve every region first, so that a bad config fails before any work."""
    plan = []
    owner = np.full(n_gray, -1, dtype=np.int64)
    names = list(regions)
    for i, (region, spec) in enumerate(regions.items()):
        where = f"regions[{region!r}]"
        if not isinstance(spec, Mapping):
            raise InputError(f"{where}: is a {type(spec).__name__}; expected a mapping")
        extra = sorted(set(spec) - _REGION_KEYS)
        if extra:
            raise InputError(f"{where}: unknown keys {extra}; expected {sorted(_REGION_KEYS)}")
        if "labels" not in spec:
            raise InputError(f"{where}: no 'labels'; expected HCP-MMP area or ROI-file label names")
        layers, weights = region_layers(spec, where)
        for layer in layers:
            if layer not in arrays:
                raise InputError(
                    f"{where}: layer {layer!r} not in projections; expected one of {sorted(arrays)}"
                )
        region_snr = _check_positive(spec.get("snr", snr), where, "snr")
        labels = [spec["labels"]] if isinstance(spec["labels"], str) else list(spec["labels"])
        vox = np.asarray(region_columns(region, labels), dtype=np.int64)
        if vox.size and (vox.min() < 0 or vox.max() >= n_gray):
            raise InputError(f"{where}: columns outside the {n_gray} of the space")
        taken = owner[vox]
        if (taken >= 0).any():
            other = names[int(taken[taken >= 0][0])]
            n = int(np.count_nonzero(taken >= 0))
            raise InputError(
                f"regions {other!r} and {region!r} share {n} grayordinates; "
                "expected non-overlapping regions"
            )
        owner[vox] = i
        plan.append((region, layers, weights, labels, vox, region_snr))
    return plan
