"""An ROI's encoding model as one linear read-out of a layer's units, for interpretation.

The encoding files hold cross-validated scores and out-of-fold predictions, not a model: each
outer split fits its own. To look at what a voxel's model prefers (saliency, synthesis) one
model is needed, so this module **refits the encoding model on all stimuli** by the same
procedure the encode rule runs on each outer training set: ``encoding.estimator: ridge`` with
``encoding.alphas`` (``alpha_scale``), the alpha chosen per voxel by ``encoding.inner_folds``
inner folds of all stimuli (grouped for ``cv.scheme: group``), on the same features (the
lossless basis of a wide layer, which gives the same fit).

The refitted model's predictions on the stimuli are then written as a read-out of the
layer's raw units ``a`` (flattened)::

    prediction(a) = (a - mean) @ w + intercept

with ``w = Ac.T @ pinv(Ac @ Ac.T) @ (P - mean(P))`` the minimum-norm unit weights that
reproduce the refitted predictions ``P`` on every stimulus (``Ac`` the centered
activations). This is the encoding model itself, exactly, whenever the features are a linear
map of the units whose directions lie in the span of the stimuli's activations:
``features.method: none`` (the ridge weights of a wide layer are that span's) and ``pca`` fitted
on these stimuli (``fit: all`` or ``train``; the components are in the span). For a random
projection, or a PCA fitted on external stimuli, ``w`` is the projection of the model onto the
span, equal on these stimuli and an approximation elsewhere; the file records
``reconstruction_error`` (max relative error on the stimuli) in any case.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dnnmap.encoding.ridge import RidgeCV
from dnnmap.errors import InputError
from dnnmap.features.folds import compact_features
from dnnmap.stats.splits import inner_splits

LOG = logging.getLogger("dnnmap")

EXACT_METHODS = ("none", "pca")
"""Features methods whose read-out reproduces the encoding model exactly (PCA: fitted on
the experiment's stimuli)."""


@dataclass(frozen=True)
class Readout:
    """A set of brain targets as linear read-outs of a layer's units.

    Attributes
    ----------
    weights : array of shape (p, t)
        Unit weights of each target.
    mean : array of shape (p,)
        Unit means over the stimuli.
    intercept : array of shape (t,)
    predictions : array of shape (n_stim, t)
        The refitted model's predictions of each target on the stimuli.
    alpha : array of shape (v_fit,)
        The alpha (grid entry) chosen per fitted voxel.
    voxels : int array of shape (v_fit,)
        Columns of the ROI that were fitted (those some target uses).
    reconstruction_error : float
        max |read-out - predictions| / max |predictions - their mean| on the stimuli.
    """

    weights: np.ndarray
    mean: np.ndarray
    intercept: np.ndarray
    predictions: np.ndarray
    alpha: np.ndarray
    voxels: np.ndarray
    reconstruction_error: float


def refit_all_stimuli(
    F: np.ndarray, Y: np.ndarray, settings: Mapping, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The encoding model refitted on every stimulus: its in-sample predictions and alphas.

    Parameters
    ----------
    F : array of shape (n, k)
        The layer's features, as the encode rule reads them.
    Y : array of shape (n, v)
        Responses of the voxels to fit (none constant).
    settings : mapping
        The config's ``encoding`` section (estimator, alphas, alpha_scale, inner_folds, cv).
    groups : array of shape (n,), optional
        Group labels (``cv.scheme: group``): grouped inner folds.

    Returns
    -------
    predictions : array of shape (n, v)
    alpha : array of shape (v,)
    """
    if settings["estimator"] != "ridge":
        raise InputError(
            f"interpret.brain needs encoding.estimator: ridge (a linear model of the features "
            f"to differentiate through); the config has {settings['estimator']!r}"
        )
    cv = dict(settings.get("cv") or {})
    scheme = "group" if cv.get("scheme") == "group" else "kfold"
    rows = np.arange(F.shape[0])
    inner = inner_splits(
        rows,
        scheme,
        n_folds=int(settings["inner_folds"]),
        seed=int(cv.get("seed", 0)),
        groups=groups,
    )
    X = compact_features(F)
    est = RidgeCV(
        alphas=settings["alphas"],
        cv=inner,
        device="numpy",
        alpha_scale=settings.get("alpha_scale", "relative"),
        dtype=np.float64,
    ).fit(X, np.asarray(Y, dtype=np.float64))
    return est.predict(X).astype(np.float64), np.atleast_1d(est.alpha_)


def unit_readout(A: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Minimum-norm unit weights reproducing predictions ``P`` from activations ``A``.

    Parameters
    ----------
    A : array of shape (n, p)
        The layer's activations (flattened units).
    P : array of shape (n, t)

    Returns
    -------
    weights : array of shape (p, t)
        ``Ac.T @ pinv(Ac @ Ac.T) @ (P - mean(P))``.
    mean : array of shape (p,)
    intercept : array of shape (t,)
        ``mean(P)``.
    error : float
        max |Ac @ weights - (P - mean(P))| / max |P - mean(P)|.
    """
    A = np.asarray(A, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    mean = A.mean(axis=0)
    Ac = A - mean
    evals, evecs = np.linalg.eigh(Ac @ Ac.T)
    keep = evals > evals.max() * 1e-10
    D = P - P.mean(axis=0)
    dual = evecs[:, keep] @ ((evecs[:, keep].T @ D) / evals[keep, None])
    weights = Ac.T @ dual
    scale = max(float(np.abs(D).max()), 1e-300)
    error = float(np.abs(Ac @ weights - D).max() / scale)
    return weights, mean, P.mean(axis=0), error


def fit_readout(
    A: np.ndarray,
    F: np.ndarray,
    Y: np.ndarray,
    T: np.ndarray,
    settings: Mapping,
    groups: np.ndarray | None = None,
) -> Readout:
    """Refit an ROI's encoding model on all stimuli and write its targets as unit read-outs.

    Parameters
    ----------
    A : array of shape (n, p)
        The layer's activations.
    F : array of shape (n, k)
        The layer's features (the encode rule's design; ``A`` itself for ``method: none``).
    Y : array of shape (n, v)
        The ROI's responses.
    T : array of shape (v, t)
        Target weights over voxels (:func:`dnnmap.interpret.targets.brain_targets`).
    settings : mapping
        The config's ``encoding`` section.
    groups : array of shape (n,), optional

    Returns
    -------
    Readout
    """
    voxels = np.flatnonzero(np.any(T != 0, axis=1))
    P, alpha = refit_all_stimuli(F, Y[:, voxels], settings, groups)
    Pt = P @ T[voxels]
    weights, mean, intercept, error = unit_readout(A, Pt)
    return Readout(weights, mean, intercept, Pt, alpha, voxels, error)
