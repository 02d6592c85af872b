"""Features of one layer from its activations, out of core: none, PCA or a random projection.

``features.method`` chooses what a layer's features are:

* ``none``: the layer's flattened units, unchanged (``(n_stim, n_units)``). Nothing is
  fitted, nothing is lost; ridge works in the dual (an ``n_stim x n_stim`` Gram matrix), so
  ``n_units >> n_stim`` costs memory for the matrix, not time. A layer with at least as many
  units as stimuli also gets its ``lossless (n_stim, n_stim - 1)`` basis
  (:func:`dnnmap.features.folds.lossless_basis`: a rotation of the centered units that keeps
  every inner product), computed once here, from which the ridge-type jobs (encoding,
  stacking, banded ridge) fit exactly what they would fit on every unit, without reading the
  layer.
* ``pca``: the first ``n_components`` principal components (:mod:`dnnmap.features.pca`),
  fitted on the stimuli that ``features.fit`` names:

  - ``all``: every stimulus, test folds included (the rotation sees the test stimuli' units,
    never their responses, yet shifts null scores upward a little; kept for comparison);
  - ``train``: the training rows of each outer split only. The file then also holds a
    lossless ``basis (n_stim, r)`` (all principal components, ``r <= n_stim - 1``, a rotation
    of the centered activations that keeps every inner product), from which
    :mod:`dnnmap.features.folds` fits the PCA of each training set exactly;
  - ``external``: a second stimulus set the brain never saw (``features.external_stimuli``);
    the stimuli of the experiment are projected on its components.

* ``random_projection``: ``X @ R.T`` with a seeded random ``R`` (``n_components x n_units``,
  Gaussian or sparse; :mod:`dnnmap.features.random_projection`), drawn before any data are
  seen, so ``fit`` has nothing to fit.

The layer is read in slabs that follow its HDF5 chunks (column slabs of all stimuli, or row
slabs of all units), never whole, except for ``none``, whose output is the whole layer.

At scale (``fit: all`` or ``external``), ``features.max_fit_stimuli`` fits the PCA on a seeded
subset of the stimuli and projects every stimulus on its components, and
``features.solver`` picks the exact route (an ``(m, m)`` or ``(p, p)`` matrix) or the
randomized range finder (:mod:`dnnmap.features.randomized_pca`, memory ``O(p * l)``); ``auto``
takes the exact route while ``min(m, p)`` is at most
:data:`dnnmap.features.randomized_pca.EXACT_MAX_SIDE`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import h5py
import numpy as np

from dnnmap.errors import InputError
from dnnmap.features.folds import lossless_basis
from dnnmap.features.pca import PCAResult, fit_pca
from dnnmap.features.random_projection import check_density, random_projection
from dnnmap.features.randomized_pca import N_POWER_ITER, randomized_pca, resolve_solver
from dnnmap.models.activation_layout import layer_as_matrix
from dnnmap.store import read_strings

METHODS = ("none", "pca", "random_projection")
"""Values of ``features.method``."""

FITS = ("all", "train", "external")
"""Values of ``features.fit`` (what a PCA is fitted on)."""

FITTED = ("pca",)
"""Methods that are fitted to data (``features.fit`` matters for these only)."""

NOT_FITTED = "none"
"""The ``fit`` attribute of features that nothing was fitted for (none, random projection)."""


def fit_rows(n_stim: int, max_fit: int | None, seed: int) -> np.ndarray | None:
    """The rows a PCA is fitted on: a seeded subset of ``max_fit`` of ``n_stim`` (sorted), or
    None (every row) when ``max_fit`` is None or not smaller."""
    if max_fit is None or int(max_fit) >= n_stim:
        return None
    if int(max_fit) < 2:
        raise InputError(f"features.max_fit_stimuli is {max_fit}; expected at least 2")
    rng = np.random.default_rng([int(seed), 7])
    return np.sort(rng.choice(n_stim, int(max_fit), replace=False))


def _open_layer(f: h5py.File, path, layer: str) -> h5py.Dataset:
    if layer not in f.get("layers", {}):
        known = ", ".join(f["layers"]) if "layers" in f else "none"
        raise InputError(f"{path}: no layer {layer!r}; layers in file: {known}")
    return f["layers"][layer]


def _pca_of(
    dset: h5py.Dataset,
    n_components: int,
    components: bool = False,
    settings: Mapping | None = None,
) -> PCAResult:
    """PCA of one activation dataset as ``settings`` (``features``) say: fitted on every row,
    or on :func:`fit_rows`, by the solver :func:`resolve_solver` picks; every row scored."""
    settings = settings or {}
    n_stim = dset.shape[0]
    n_units, read_cols, read_rows, bounds = layer_as_matrix(dset)
    seed = int(settings.get("seed", 0))
    rows = fit_rows(n_stim, settings.get("max_fit_stimuli"), seed)
    n_fit = n_stim if rows is None else rows.size
    solver = resolve_solver(settings.get("solver", "auto"), n_fit, n_units)
    if solver == "randomized":
        return randomized_pca(
            read_cols,
            n_stim,
            n_units,
            n_components,
            rows=rows,
            col_bounds=bounds,
            n_power_iter=int(settings.get("power_iterations", N_POWER_ITER)),
            seed=seed,
            progress=True,
        )
    if rows is None:
        return fit_pca(
            n_stim,
            n_units,
            n_components,
            read_cols=read_cols,
            read_rows=read_rows,
            col_bounds=bounds,
            row_chunk=dset.chunks[0] if dset.chunks else 256,
            components=components,
        )
    res = fit_pca(
        n_fit,
        n_units,
        n_components,
        read_cols=lambda c0, c1: read_cols(c0, c1)[rows],
        col_bounds=bounds,
        components=True,
    )
    scores = np.zeros((n_stim, res.n_components))
    for c0, c1 in bounds:
        block = np.asarray(read_cols(c0, c1), dtype=np.float64) - res.mean[c0:c1]
        scores += block @ res.components[:, c0:c1].T
    return replace(res, scores=scores)  # the components carry the fitted rows' signs


def reduce_layer(
    activations_path: str | os.PathLike,
    layer: str,
    n_components: int,
    components: bool = False,
    settings: Mapping | None = None,
) -> tuple[list[str], PCAResult]:
    """Exact PCA of one layer of an activations file.

    Parameters
    ----------
    activations_path : path
        ``results/activations/{model}.h5``.
    layer : str
        Friendly layer name (a dataset under ``layers/``).
    n_components : int
        Components wanted; clipped to ``min(n_stim - 1, n_units)``.
    components : bool
        Also return the principal axes, shape (k, n_units).
    settings : mapping, optional
        ``features``: ``solver``, ``max_fit_stimuli``, ``power_iterations``, ``seed``
        (exact PCA of every row without).

    Returns
    -------
    stim_id : list of str
        The stimulus ids of the rows, shape (n_stim,).
    result : PCAResult
        ``scores`` (n_stim, k), explained variance and its ratio, the route used.
    """
    with h5py.File(activations_path, "r") as f:
        dset = _open_layer(f, activations_path, layer)
        result = _pca_of(dset, n_components, components, settings)
        return read_strings(f["stim_id"]), result


def project_layer(
    activations_path: str | os.PathLike, layer: str, mean: np.ndarray, components: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Scores ``(X - mean) @ components.T`` of one layer, read in column slabs.

    Parameters
    ----------
    activations_path : path
    layer : str
    mean : array of shape (n_units,)
    components : array of shape (k, n_units)

    Returns
    -------
    stim_id : list of str
    scores : array of shape (n_stim, k), float64
    """
    with h5py.File(activations_path, "r") as f:
        dset = _open_layer(f, activations_path, layer)
        n_units, read_cols, _, bounds = layer_as_matrix(dset)
        if components.shape[1] != n_units or mean.shape != (n_units,):
            raise InputError(
                f"{activations_path}: layer {layer!r} has {n_units} units; the components "
                f"fitted elsewhere have {components.shape[1]} (expected the same model and "
                "preprocessing for both stimulus sets)"
            )
        scores = np.zeros((dset.shape[0], components.shape[0]))
        for c0, c1 in bounds:
            block = np.asarray(read_cols(c0, c1), dtype=np.float64) - mean[c0:c1]
            scores += block @ components[:, c0:c1].T
        return read_strings(f["stim_id"]), scores


def raw_layer(activations_path: str | os.PathLike, layer: str) -> tuple[list[str], np.ndarray]:
    """The flattened units of one layer, ``(n_stim, n_units)`` in the stored dtype."""
    with h5py.File(activations_path, "r") as f:
        dset = _open_layer(f, activations_path, layer)
        X = dset[()].reshape(dset.shape[0], -1)
        if not np.isfinite(X).all():
            raise InputError(f"{activations_path}: layer {layer!r} holds NaN or inf")
        return read_strings(f["stim_id"]), X


def feature_attrs(
    result: PCAResult, layer: str, *, fit: str = "all", fitted_on: str = "all stimuli"
) -> dict:
    """Attributes of a PCA features file describing how the features were made."""
    return {
        "layer": layer,
        "method": "pca",
        "route": result.method,
        "fit": fit,
        "fit_partition": fit,
        "fitted_on": fitted_on,
        "n_components": result.n_components,
        "explained_variance_ratio_total": float(np.sum(result.explained_variance_ratio)),
        "explained_variance_ratio": json.dumps(result.explained_variance_ratio.tolist()),
        "solver": "randomized" if result.method == "randomized" else "exact",
    }


@dataclass(frozen=True)
class LayerFeatures:
    """What a features file holds (:func:`layer_features`).

    Attributes
    ----------
    stim_id : list of str
        Row ids, shape (n_stim,).
    features : array of shape (n_stim, k)
        The features (with ``fit: train``, the PCA of all stimuli, for analyses without
        held-out stimuli, e.g. RSA; cross-validated analyses fit per fold from ``basis``).
    attrs : dict
        ``layer``, ``method``, ``fit``, ``fitted_on``, ``n_components``, ``seed`` and
        the method's own (explained variance, projection kind and density).
    arrays : dict of str to ndarray
        Further datasets: ``basis (n_stim, r)`` with ``fit: train``,
        ``explained_variance_ratio (k,)`` for PCA, ``lossless (n_stim, n_stim - 1)`` for
        ``none`` when the layer has at least as many units as stimuli.
    """

    stim_id: list[str]
    features: np.ndarray
    attrs: dict
    arrays: dict = field(default_factory=dict)


def layer_features(
    activations_path: str | os.PathLike,
    layer: str,
    settings: Mapping,
    *,
    external_path: str | os.PathLike | None = None,
    fitted_on: str = "all stimuli",
) -> LayerFeatures:
    """Features of one layer as the config's ``features`` section asks (module docstring).

    Parameters
    ----------
    activations_path : path
        ``results/activations/{model}.h5`` (the stimuli of the experiment).
    layer : str
    settings : mapping
        ``features``: ``method``, ``fit``, ``n_components``, ``seed``, ``projection``
        (``gaussian`` or ``sparse``), ``density``, ``external_stimuli``.
    external_path : path, optional
        Activations of the external stimulus set (``fit: external`` only).
    fitted_on : str
        How the attrs name the stimulus set of ``fit: all`` (e.g. the table's path).

    Returns
    -------
    LayerFeatures
    """
    method = settings.get("method", "pca")
    fit = settings.get("fit", "train")
    k = int(settings.get("n_components", 100))
    seed = int(settings.get("seed", 0))
    if method not in METHODS:
        raise InputError(f"features.method is {method!r}; expected one of {', '.join(METHODS)}")
    if fit not in FITS:
        raise InputError(f"features.fit is {fit!r}; expected one of {', '.join(FITS)}")
    base = {"layer": layer, "method": method, "seed": seed}
    if method == "none":
        stim_id, X = raw_layer(activations_path, layer)
        attrs = {**base, "fit": NOT_FITTED, "fitted_on": "nothing (raw units)"}
        arrays = {}
        if X.shape[1] >= X.shape[0] >= 2:  # the inner products ridge needs, once per layer
            arrays["lossless"] = lossless_basis(np.asarray(X, dtype=np.float64))
        return LayerFeatures(stim_id, X, {**attrs, "n_components": X.shape[1]}, arrays)
    if method == "random_projection":
        kind = settings.get("projection", "gaussian")
        with h5py.File(activations_path, "r") as f:
            dset = _open_layer(f, activations_path, layer)
            n_units, read_cols, _, bounds = layer_as_matrix(dset)
            density = check_density(settings.get("density"), n_units) if kind == "sparse" else 1
            X = random_projection(
                read_cols,
                dset.shape[0],
                n_units,
                k,
                seed,
                kind=kind,
                density=density,
                col_bounds=bounds,
            )
            stim_id = read_strings(f["stim_id"])
        attrs = {
            **base,
            "fit": NOT_FITTED,
            "fitted_on": "nothing (data-independent)",
            "n_components": k,
            "projection": kind,
            "density": float(density),
        }
        return LayerFeatures(stim_id, X, attrs)
    if fit == "external":
        if external_path is None:
            raise InputError(
                "features.fit is 'external' but no activations of features.external_stimuli "
                "were given"
            )
        with h5py.File(external_path, "r") as f:
            n_ext = f["stim_id"].shape[0]
            result = _pca_of(_open_layer(f, external_path, layer), k, True, settings)
        stim_id, X = project_layer(activations_path, layer, result.mean, result.components)
        where = f"external: {settings.get('external_stimuli', external_path)} ({n_ext} stimuli)"
        n_fit = settings.get("max_fit_stimuli")
        if n_fit is not None and int(n_fit) < n_ext:
            where += f", a seeded subset of {int(n_fit)}"
        attrs = {**base, **feature_attrs(result, layer, fit="external", fitted_on=where)}
        ratio = result.explained_variance_ratio
        return LayerFeatures(stim_id, X, attrs, {"explained_variance_ratio": ratio})
    if fit == "train":
        with h5py.File(activations_path, "r") as f:
            dset = _open_layer(f, activations_path, layer)
            full = _pca_of(dset, min(dset.shape[0] - 1, int(np.prod(dset.shape[1:]))))
            stim_id = read_strings(f["stim_id"])
        kk = min(k, full.n_components)
        where = "the training stimuli of each outer split"
        attrs = {**base, **feature_attrs(full, layer, fit="train", fitted_on=where)}
        ratio = full.explained_variance_ratio[:kk]
        attrs.update(
            n_components=kk,
            explained_variance_ratio=json.dumps(ratio.tolist()),
            explained_variance_ratio_total=float(ratio.sum()),
            basis_components=full.n_components,
        )
        arrays = {"basis": full.scores, "explained_variance_ratio": ratio}
        return LayerFeatures(stim_id, full.scores[:, :kk], attrs, arrays)
    stim_id, result = reduce_layer(activations_path, layer, k, settings=settings)
    n_fit = settings.get("max_fit_stimuli")
    if n_fit is not None and int(n_fit) < len(stim_id):
        fitted_on = f"{fitted_on}: a seeded subset of {int(n_fit)} of {len(stim_id)} stimuli"
    attrs = {**base, **feature_attrs(result, layer, fit="all", fitted_on=fitted_on)}
    ratio = result.explained_variance_ratio
    return LayerFeatures(stim_id, result.scores, attrs, {"explained_variance_ratio": ratio})
