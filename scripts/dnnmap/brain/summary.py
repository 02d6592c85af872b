"""A table of the brain data each analysis starts from: one row per subject and ROI.

Before reading an encoding or RSA result, a reviewer asks how many voxels a region had, how
many could not be used (missing or constant responses) and how reliable the responses were.
:func:`summarize_rois` answers from the ROI files (``results/brain/{subject}/{roi}.h5``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from dnnmap.errors import InputError

COLUMNS = (
    "subject",
    "roi",
    "n_stim",
    "n_vox",
    "n_masked",
    "n_repeats",
    "median_noise_ceiling",
)
"""Columns of :func:`summarize_rois`, in order."""


def masked_voxels(
    responses: np.ndarray, *, constant: bool = True, batch_size: int | None = None
) -> np.ndarray:
    """Voxels no analysis can use: any non-finite response, or the same response throughout.

    Parameters
    ----------
    responses : array of shape (n_stim, n_vox)
        Any float dtype; compared in its own dtype, ``batch_size`` columns at a time.
    constant : bool
        Also mask voxels whose response is the same for every stimulus (solvers that fit
        a constant column exactly pass False).
    batch_size : int or None
        Columns examined at once (bounds the temporaries); None: all.

    Returns
    -------
    masked : bool array of shape (n_vox,)
    """
    responses = np.asarray(responses)
    if responses.ndim != 2:
        raise InputError(f"responses have shape {responses.shape}; expected (n_stim, n_vox)")
    n, v = responses.shape
    step = max(batch_size or v, 1)
    masked = np.zeros(v, dtype=bool)
    for b0 in range(0, v, step):
        block = responses[:, b0 : b0 + step]
        finite = np.isfinite(block).all(axis=0)
        masked[b0 : b0 + step] = ~finite
        if constant and n:
            masked[b0 : b0 + step] |= finite & (block.max(axis=0) == block.min(axis=0))
    return masked


def summarize_rois(paths: Sequence[str], keys: Sequence[Mapping]) -> pd.DataFrame:
    """One row per ROI file: its size, masked voxels, repeats and median noise ceiling.

    Parameters
    ----------
    paths : sequence of str
        ROI files, each with ``responses (n_stim, n_vox)`` and optionally
        ``repeats (n_rep, n_stim, n_vox)`` and ``noise_ceiling (n_vox,)``.
    keys : sequence of mapping
        For each path, its ``subject`` and ``roi``.

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`; ``n_repeats`` is 0 and ``median_noise_ceiling`` NaN without
        repeats; the median is over the voxels that are not masked.
    """
    if len(paths) != len(keys):
        raise InputError(f"{len(paths)} ROI files but {len(keys)} keys; expected one key per file")
    rows = []
    for path, key in zip(paths, keys, strict=True):
        with h5py.File(path, "r") as f:
            if "responses" not in f:
                raise InputError(f"{path} has no 'responses' dataset; expected an ROI file")
            responses = f["responses"][()]
            masked = masked_voxels(responses)
            n_repeats = f["repeats"].shape[0] if "repeats" in f else 0
            ceiling = np.nan
            if "noise_ceiling" in f:
                values = f["noise_ceiling"][()][~masked]
                values = values[np.isfinite(values)]
                ceiling = float(np.median(values)) if values.size else np.nan
        rows.append(
            {
                "subject": key["subject"],
                "roi": key["roi"],
                "n_stim": responses.shape[0],
                "n_vox": responses.shape[1],
                "n_masked": int(masked.sum()),
                "n_repeats": n_repeats,
                "median_noise_ceiling": ceiling,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
