"""Encoding results as brain maps in the space and format of the subject's responses.

:func:`encoding_maps` and :func:`significance_maps` stack the per-ROI scores of every layer
into whole-brain arrays; :func:`write_encoding_maps` writes them in the responses' own format
(CIFTI-2 dscalar with their brain model axis, NIfTI, GIFTI or MGH per hemisphere; see
:mod:`dnnmap.brain.spaces`). "Grayordinates" below are the columns of that space. Masked
voxels (NaN scores: constant or non-finite responses,
:func:`dnnmap.brain.summary.masked_voxels`) carry 0 in every map, as grayordinates outside
the ROIs do, and ``best_layer`` 0 (no label).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from dnnmap.brain.spaces import space_of, write_maps
from dnnmap.encoding.io import read_permutation_meta, read_scores
from dnnmap.errors import InputError
from dnnmap.stats.inference import family_fwe

LOG = logging.getLogger("dnnmap")


def encoding_maps(
    paths: Sequence[str],
    layers: Sequence[str],
    rois: Sequence[str],
    n_grayordinates: int,
    *,
    best_layer_fwe: float | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Stack per-ROI encoding scores into whole-brain maps, one per layer.

    Parameters
    ----------
    paths : sequence of str
        Encoding files ordered layer-major: ``paths[i * len(rois) + j]`` is layer ``i``, ROI ``j``.
    layers, rois : sequence of str
        Layer names (network order) and ROI names.
    n_grayordinates : int
        Length of the brain model axis the ``index`` of each file points into.
    best_layer_fwe : float or None
        None: ``best_layer`` over all layers. A level (e.g. 0.05): ``best_layer`` only over
        the layers whose score at that grayordinate is significant family-wise over all
        these layers x ROIs (:func:`significant_family`); 0 where none is.

    Returns
    -------
    data : ndarray of shape (n_layers + 1, n_grayordinates), float32
        Cross-validated score per layer (0 outside the ROIs and at masked grayordinates,
        whose score is NaN), then ``best_layer``: the 1-based number of the layer with the
        highest score at each grayordinate (0 outside the ROIs, where every layer's score is
        NaN: masked voxels get no label, and with ``best_layer_fwe`` where no layer is
        significant family-wise).
    names : list of str
        Map names: the layer names, then ``best_layer``.
    """
    if len(paths) != len(layers) * len(rois):
        raise InputError(
            f"{len(paths)} encoding files for {len(layers)} layers x {len(rois)} ROIs; "
            "expected one per pair"
        )
    data = np.zeros((len(layers) + 1, n_grayordinates), dtype=np.float32)
    covered = np.zeros(n_grayordinates, dtype=bool)
    for i, _layer in enumerate(layers):
        for j, _roi in enumerate(rois):
            path = paths[i * len(rois) + j]
            scores = read_scores(path)
            if scores["index"].size and scores["index"].max() >= n_grayordinates:
                raise InputError(
                    f"{path}: grayordinate index {scores['index'].max()} is beyond the "
                    f"{n_grayordinates} grayordinates of the brain model axis"
                )
            data[i, scores["index"]] = scores["score"]
            covered[scores["index"]] = True
    candidates = data[: len(layers)]
    if best_layer_fwe is not None:
        keep = significant_family(paths, len(layers), n_grayordinates, best_layer_fwe)
        candidates = np.where(keep, candidates, np.nan)
        covered &= keep.any(axis=0)
    data[-1] = _best_layer(candidates, covered)
    data[: len(layers)] = np.nan_to_num(data[: len(layers)], nan=0.0)
    return data, [*layers, "best_layer"]


def _best_layer(scores: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """1-based layer of the highest finite score per column (n_layers, n) -> (n,); 0 where
    the column is not covered or no layer has a finite score (a masked voxel)."""
    finite = np.isfinite(scores)
    best = np.argmax(np.where(finite, scores, -np.inf), axis=0) + 1
    labelled = covered & finite.any(axis=0)
    n_masked = int((covered & ~labelled).sum())
    if n_masked:
        LOG.info("%d grayordinates masked in every layer: 0 in the maps, no best_layer", n_masked)
    return np.where(labelled, best, 0)


def significant_family(
    paths: Sequence[str], n_layers: int, n_grayordinates: int, level: float = 0.05
) -> np.ndarray:
    """Grayordinates significant family-wise over all files (layers x ROIs, layer-major).

    The family-wise p-value of each voxel of each file is the max-statistic p over the
    files' shared permutations (:func:`dnnmap.stats.inference.family_fwe` on their
    ``null_max``; the encode jobs of one subject and model use the same seed, so the same
    permutations).

    Returns
    -------
    ndarray of shape (n_layers, n_grayordinates), bool
        True where that layer's score is significant at ``level``.
    """
    scores = [read_scores(path) for path in paths]
    missing = [p for p, s in zip(paths, scores, strict=True) if "null_max" not in s]
    if missing:
        raise InputError(
            f"{missing[0]}: no permutation null; best_layer restricted to significant "
            "voxels needs encoding.permutation.n_perm > 0"
        )
    tail = read_permutation_meta(paths[0]).get("tail", "greater")
    pvalues = family_fwe([s["score"] for s in scores], [s["null_max"] for s in scores], tail)
    keep = np.zeros((n_layers, n_grayordinates), dtype=bool)
    per_layer = len(paths) // max(n_layers, 1)
    for k, (s, p) in enumerate(zip(scores, pvalues, strict=True)):
        keep[k // per_layer, s["index"]] = p < level
    return keep


def significance_maps(
    paths: Sequence[str],
    layers: Sequence[str],
    rois: Sequence[str],
    n_grayordinates: int,
    fwe_alpha: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Permutation p-value maps and FWE-thresholded score maps, one per layer.

    Parameters
    ----------
    paths, layers, rois, n_grayordinates
        As in :func:`encoding_maps`; every file must hold ``pvalue`` and ``pvalue_fwe``.
    fwe_alpha : float
        Family-wise error level of the thresholded maps.

    Returns
    -------
    logp : ndarray of shape (n_layers, n_grayordinates), float32
        ``-log10`` of the uncorrected permutation p-value (0 outside the ROIs).
    r_fwe : ndarray of shape (n_layers, n_grayordinates), float32
        Cross-validated r where the max-statistic FWE p-value is below ``fwe_alpha``, else 0.
    names : list of str
        The layer names.
    """
    logp = np.zeros((len(layers), n_grayordinates), dtype=np.float32)
    r_fwe = np.zeros_like(logp)
    for i, _layer in enumerate(layers):
        for j, _roi in enumerate(rois):
            path = paths[i * len(rois) + j]
            scores = read_scores(path)
            if "pvalue" not in scores:
                raise InputError(
                    f"{path}: no permutation p-values; expected encoding.permutation.n_perm > 0"
                )
            idx = scores["index"]
            logp[i, idx] = -np.log10(scores["pvalue"])
            keep = scores["pvalue_fwe"] < fwe_alpha
            r_fwe[i, idx] = np.where(keep, scores["score"], 0.0)
    return np.nan_to_num(logp), np.nan_to_num(r_fwe), list(layers)


def write_encoding_maps(
    responses_path: str | os.PathLike,
    paths: Sequence[str],
    layers: Sequence[str],
    rois: Sequence[str],
    out_r: str | os.PathLike,
    out_logp: str | os.PathLike | None = None,
    out_r_fwe: str | os.PathLike | None = None,
    best_layer_fwe: float | None = None,
) -> list[str]:
    """Write a subject x model's encoding maps in the space and format of its responses.

    Parameters
    ----------
    responses_path : path, mapping or BrainSpace
        The subject's CIFTI file (its brain model axis is copied; header only is read), or
        anything :func:`dnnmap.brain.spaces.space_of` takes (NIfTI with mask, GIFTI/MGH per
        hemisphere). The output names' endings must be that format's; for a surface format
        each output is one hemisphere's file, named by its ending.
    paths, layers, rois
        As in :func:`encoding_maps` (files layer-major).
    out_r : path
        ``encoding_r.dscalar.nii``: the maps of :func:`encoding_maps` (one per layer, then
        ``best_layer``).
    out_logp, out_r_fwe : path, optional
        ``encoding_logp.dscalar.nii`` and ``encoding_r_fwe.dscalar.nii``: the maps of
        :func:`significance_maps`; both or neither (with permutations only).
    best_layer_fwe : float or None
        As :func:`encoding_maps`.

    Returns
    -------
    list of str
        The files written.
    """
    if (out_logp is None) != (out_r_fwe is None):
        raise InputError(
            f"out_logp is {out_logp!r} and out_r_fwe is {out_r_fwe!r}; expected both paths "
            "(with permutations) or neither"
        )
    space = space_of(responses_path)
    n_gray = space.n_columns
    data, names = encoding_maps(paths, layers, rois, n_gray, best_layer_fwe=best_layer_fwe)
    write_maps(out_r, data, names, space)
    LOG.info("wrote %d maps (%s) on %d grayordinates", len(names), ", ".join(names), n_gray)
    written = [str(out_r)]
    if out_logp is not None:
        logp, r_fwe, names = significance_maps(paths, layers, rois, n_gray)
        write_maps(out_logp, logp, names, space)
        write_maps(out_r_fwe, r_fwe, names, space)
        LOG.info("wrote p-value and FWE-thresholded maps of %d layers", len(names))
        written += [str(out_logp), str(out_r_fwe)]
    return written
