"""A simulated brain with a known answer: the ground truth of dnnmap's demo.

Each simulated region is driven by one layer of a network: its grayordinates respond with
a random linear mixture of that layer's (z-scored) features plus Gaussian noise, at a
chosen signal-to-noise ratio. A mapping that works must find, for each region, its driving
layer, with a cross-validated correlation close to (at most) ``expected_r``.

For region ``i`` with driving-layer features ``X`` (n_stim, k)::

    Z = (X - mean(X)) / std(X)                 # per column, over stimuli
    W ~ N(0, 1)                                # (k, n_vox), from default_rng([seed, i])
    S = Z @ W / sqrt(k)                        # noise-free signal, (n_stim, n_vox)
    S = S / std(S)                             # per voxel: unit signal variance, exactly
    Y = S + N,  N ~ N(0, 1 / snr)              # the simulated responses

so ``snr`` is signal variance over noise variance, and the correlation between a voxel's
response and its true signal is ``expected_r = sqrt(snr / (1 + snr))``, the best a model can
reach. Grayordinates outside every region are exactly 0 (no signal, no noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import h5py
import numpy as np
import pandas as pd
from nibabel.cifti2 import BrainModelAxis

from dnnmap.brain.atlas import Atlas, atlas_for, mmp_atlas, resolve_roi
from dnnmap.checks import check_int
from dnnmap.errors import InputError
from dnnmap.store import read_aligned

_REGION_KEYS = {"labels", "layer", "snr"}


def _check_snr(snr: object, where: str) -> float:
    try:
        value = float(snr)
    except (TypeError, ValueError):
        value = math.nan
    if not value > 0:  # also catches NaN
        raise InputError(f"{where}: snr is {snr!r}; expected a number > 0 (inf for no noise)")
    return value


def _zscore(x: np.ndarray, layer: str) -> np.ndarray:
    std = x.std(axis=0)
    flat = np.flatnonzero(~(std > 0))
    if flat.size:
        raise InputError(
            f"features[{layer!r}]: column {int(flat[0])} is constant over stimuli; "
            "expected varying feature scores"
        )
    return (x - x.mean(axis=0)) / std


def read_layer_features(paths, stim_ids: list[str], table: str) -> dict[str, np.ndarray]:
    """Features files of the driving layers, keyed by the layer named in each file's attrs.

    Parameters
    ----------
    paths : sequence of str
        ``results/features/{model}/{layer}.h5`` files.
    stim_ids : list of str
        The stimulus table's ids; every file must have them in this order.
    table : str
        The stimulus table's path, named in messages.

    Returns
    -------
    dict
        Layer name -> features, shape (n_stim, k).
    """
    features = {}
    for path in paths:
        with h5py.File(path, "r") as f:
            layer = str(f.attrs["layer"])
        features[layer] = read_aligned(path, "features", stim_ids, table)
    return features


def simulate_responses(
    features: Mapping[str, np.ndarray],
    regions: Mapping[str, Mapping],
    brain_models: BrainModelAxis,
    atlas: Atlas | None = None,
    snr: float = 1.0,
    seed: int = 0,
    n_components: int | None = None,
    n_repeats: int = 1,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray | None]:
    """Simulate brain responses whose regions are linear read-outs of network layers.

    Parameters
    ----------
    features : mapping of str to ndarray, each of shape (n_stim, k_layer)
        Layer name to its feature scores (e.g. PCA scores), rows in stimulus order; every
        layer has the same n_stim.
    regions : mapping of str to mapping
        Region name to ``{"labels": [HCP-MMP areas], "layer": layer name}`` with an optional
        ``"snr"`` that overrides ``snr``. Labels follow :func:`dnnmap.brain.atlas.resolve_roi`.
        Regions must not share grayordinates.
    brain_models : nibabel.cifti2.BrainModelAxis, length n_grayordinates
        Grayordinates of the output, e.g. :func:`dnnmap.brain.cifti.fslr32k_brain_models`.
    atlas : Atlas, optional
        Parcellation defining the labels (:func:`dnnmap.brain.atlas.mmp_atlas` by default); carried
        over to ``brain_models`` with :func:`dnnmap.brain.atlas.atlas_for` if it describes other
        grayordinates.
    snr : float
        Signal variance over noise variance, per grayordinate; ``inf`` gives noise-free
        responses (the signal alone, identical to the signal of any finite-snr run with the
        same seed).
    n_components : int, optional
        Read out only the first ``n_components`` feature columns of each layer (its leading
        principal components); all columns by default. Few components make the read-out
        learnable from few stimuli; the layer still decides which directions they are.
    seed : int
        Non-negative seed. Region ``i`` (in the order of ``regions``) draws its weights, then
        its noise, from ``numpy.random.default_rng([seed, i])``.
    n_repeats : int
        Measurements of every stimulus. With ``n_repeats = R > 1`` each repeat is the signal
        plus its own noise of variance ``R / snr``, and ``data`` is their mean, so the mean
        keeps the signal-to-noise ratio ``snr`` (and ``expected_r``) while the repeats give a
        noise ceiling. ``n_repeats = 1`` draws exactly what earlier versions drew.

    Returns
    -------
    data : ndarray of float32, shape (n_stim, n_grayordinates)
        Simulated responses (the mean over repeats); 0 outside the regions.
    truth : pandas.DataFrame
        One row per region: ``region``, ``layer``, ``labels`` (joined by '+'), ``n_vox``,
        ``n_features`` (k), ``snr`` and ``expected_r`` = sqrt(snr / (1 + snr)), the
        correlation between a response and its noise-free signal.
    repeats : ndarray of float32, shape (n_repeats, n_stim, n_grayordinates), or None
        The single measurements whose mean is ``data``; None when ``n_repeats`` is 1.

    Raises
    ------
    InputError
        On an unknown layer or label, mismatched stimulus counts, a bad snr or seed, an
        unknown region key, or two regions that overlap.
    """
    if not regions:
        raise InputError("regions: none given; expected at least one region")
    check_int(seed, "seed", 0)
    snr = _check_snr(snr, "simulation")
    check_int(n_repeats, "n_repeats", 1)
    if not isinstance(brain_models, BrainModelAxis):
        raise InputError(
            f"brain_models is a {type(brain_models).__name__}; expected a BrainModelAxis"
        )
    atlas = atlas_for(brain_models, mmp_atlas() if atlas is None else atlas)

    arrays: dict[str, np.ndarray] = {}
    n_stim = None
    for layer, x in features.items():
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
            raise InputError(
                f"features[{layer!r}]: shape {x.shape}; expected (n_stim >= 2, k >= 1)"
            )
        if not np.isfinite(x).all():
            raise InputError(f"features[{layer!r}]: holds NaN or inf; expected finite scores")
        if n_stim is not None and x.shape[0] != n_stim:
            raise InputError(
                f"features[{layer!r}]: {x.shape[0]} stimuli; expected {n_stim} like the "
                "other layers"
            )
        n_stim = x.shape[0]
        arrays[layer] = x

    # Resolve every region first, so a bad config fails before any work.
    plan = []
    owner = np.full(len(brain_models), -1, dtype=np.int64)
    names = list(regions)
    for i, (region, spec) in enumerate(regions.items()):
        where = f"regions[{region!r}]"
        if not isinstance(spec, Mapping):
            raise InputError(f"{where}: is a {type(spec).__name__}; expected a mapping")
        extra = sorted(set(spec) - _REGION_KEYS)
        if extra:
            raise InputError(f"{where}: unknown keys {extra}; expected {sorted(_REGION_KEYS)}")
        for key in ("labels", "layer"):
            if key not in spec:
                raise InputError(f"{where}: no {key!r}; expected 'labels' and 'layer'")
        layer = spec["layer"]
        if layer not in arrays:
            raise InputError(
                f"{where}: layer {layer!r} not in features; expected one of {sorted(arrays)}"
            )
        region_snr = _check_snr(spec.get("snr", snr), where)
        labels = [spec["labels"]] if isinstance(spec["labels"], str) else list(spec["labels"])
        vox = resolve_roi(region, labels, atlas)
        taken = owner[vox]
        if (taken >= 0).any():
            other = names[int(taken[taken >= 0][0])]
            n = int(np.count_nonzero(taken >= 0))
            raise InputError(
                f"regions {other!r} and {region!r} share {n} grayordinates; "
                "expected non-overlapping regions"
            )
        owner[vox] = i
        plan.append((region, layer, labels, vox, region_snr))

    data = np.zeros((n_stim, len(brain_models)), dtype=np.float32)
    repeats = np.zeros((n_repeats, *data.shape), dtype=np.float32) if n_repeats > 1 else None
    rows = []
    for i, (region, layer, labels, vox, region_snr) in enumerate(plan):
        rng = np.random.default_rng([int(seed), i])
        z = _zscore(arrays[layer][:, :n_components], layer)
        k = z.shape[1]
        weights = rng.standard_normal((k, vox.size))
        signal = z @ weights / math.sqrt(k)
        signal /= signal.std(axis=0)
        if repeats is not None:
            sd = math.sqrt(n_repeats / region_snr) if math.isfinite(region_snr) else 0.0
            single = signal + rng.normal(0.0, sd, size=(n_repeats, *signal.shape))
            repeats[:, :, vox] = single
            signal = single.mean(axis=0)
        elif math.isfinite(region_snr):
            signal += rng.normal(0.0, math.sqrt(1.0 / region_snr), size=signal.shape)
        data[:, vox] = signal
        rows.append(
            {
                "region": region,
                "layer": layer,
                "labels": "+".join(labels),
                "n_vox": int(vox.size),
                "n_features": k,
                "snr": region_snr,
                "expected_r": math.sqrt(region_snr / (1.0 + region_snr))
                if math.isfinite(region_snr)
                else 1.0,
            }
        )
    return data, pd.DataFrame(rows), repeats
