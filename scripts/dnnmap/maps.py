"""Encoding results as brain maps on the grayordinates of the source CIFTI file."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dnnmap.encoding import read_scores
from dnnmap.errors import InputError


def encoding_maps(
    paths: Sequence[str], layers: Sequence[str], rois: Sequence[str], n_grayordinates: int
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

    Returns
    -------
    data : ndarray of shape (n_layers + 1, n_grayordinates), float32
        Cross-validated r per layer (0 outside the ROIs), then ``best_layer``: the 1-based
        number of the layer with the highest r at each grayordinate (0 outside the ROIs).
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
    best = np.argmax(data[: len(layers)], axis=0) + 1
    data[-1] = np.where(covered, best, 0)
    return data, [*layers, "best_layer"]
