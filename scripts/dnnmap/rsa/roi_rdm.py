"""The RDM of one ROI from its masked patterns, with a noise covariance from its repeats.

:func:`roi_rdm` turns :class:`dnnmap.rsa.io.BrainPatterns` into the ROI's RDM and, when the
ROI has single repeats, the RDM of every repeat (for the within-subject noise ceiling,
:func:`dnnmap.rsa.inference.rdm_noise_ceiling` over repeats). Metrics:

- ``mahalanobis``: ``sqrt(d' S^-1 d)`` of the mean patterns, with ``S`` the noise covariance
  over voxels estimated from the deviations of the repeats from their mean
  (:func:`dnnmap.rsa.rdm.noise_covariance`, estimator ``noise``: rsatoolbox's
  ``cov_from_residuals``; ``shrinkage_diag`` by default). Without repeats it is refused:
  with an identity covariance it would silently be the Euclidean distance.
- ``crossnobis``: the cross-validated squared Mahalanobis distance across repeats
  (:func:`dnnmap.rsa.rdm.compute_rdm` with ``repeats``), with the same noise estimate;
  refused without at least 2 repeats.
- any other metric of :func:`dnnmap.rsa.rdm.compute_rdm` on the mean patterns.

Per-repeat RDMs use the same metric and covariance (crossnobis, which needs two
partitions, uses the Mahalanobis distance of each repeat). They are RDMs of single repeats,
noisier than the RDM of the mean, so the within-subject ceiling they give is a ceiling for
single-repeat data (as rsatoolbox's within-subject ceiling from run-wise RDMs) and is
conservative for the mean RDM. When fewer than 2 voxels are left (``patterns.reason``), every
RDM is NaN.
"""

from __future__ import annotations

import numpy as np

from dnnmap.errors import InputError
from dnnmap.rsa.rdm import NOISE_ESTIMATORS, compute_rdm, noise_covariance

NOISE_METRICS = ("mahalanobis", "crossnobis")
"""Brain metrics that need a noise covariance, hence repeats."""


def roi_rdm(
    patterns, metric: str, noise: str = "shrinkage_diag", device: str = "numpy", where: str = "ROI"
) -> tuple[np.ndarray, np.ndarray | None]:
    """The RDM of an ROI's mean patterns and of each of its repeats.

    Parameters
    ----------
    patterns : dnnmap.rsa.io.BrainPatterns
        Masked responses ``(n_stim, n_vox)`` and repeats ``(n_rep, n_stim, n_vox)`` or None.
    metric : str
        The brain metric (config ``rsa.brain_metric``).
    noise : {'shrinkage_diag', 'shrinkage_eye', 'diag', 'full'}
        Estimator of the noise covariance for mahalanobis and crossnobis (config
        ``rsa.noise``).
    device : str
        Where the products run (:mod:`dnnmap.backend`).
    where : str
        How the ROI is named in errors (its file).

    Returns
    -------
    rdm : array of shape (n_pairs,)
        NaN everywhere when ``patterns.reason`` is set.
    repeat_rdms : array of shape (n_rep, n_pairs) or None
        None without at least 2 repeats.
    """
    if noise not in NOISE_ESTIMATORS:
        raise InputError(f"rsa.noise is {noise!r}; expected one of {', '.join(NOISE_ESTIMATORS)}")
    Y, R = patterns.responses, patterns.repeats
    n = Y.shape[0]
    n_pairs = n * (n - 1) // 2
    has_repeats = R is not None and R.shape[0] >= 2
    if metric in NOISE_METRICS and not has_repeats:
        raise InputError(
            f"{where}: rsa.brain_metric is {metric!r} but the ROI has "
            f"{0 if R is None else R.shape[0]} repeats; expected at least 2 repeats to estimate "
            "the noise covariance (brain.subjects.<subject>.repeats, or simulation.n_repeats)"
        )
    if patterns.reason:
        return np.full(n_pairs, np.nan), (
            np.full((R.shape[0], n_pairs), np.nan) if has_repeats else None
        )
    cov = noise_covariance(R, noise) if metric in NOISE_METRICS else None
    if metric == "crossnobis":
        rdm = compute_rdm(Y, "crossnobis", repeats=R, noise=cov, device=device)
    else:
        rdm = compute_rdm(Y, metric, noise=cov, device=device)
    repeat_rdms = None
    if has_repeats:
        single = "mahalanobis" if metric == "crossnobis" else metric
        repeat_rdms = np.stack(
            [compute_rdm(r, single, noise=cov, device=device, allow_nan=True) for r in R]
        )
    return rdm, repeat_rdms
