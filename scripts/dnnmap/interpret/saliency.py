"""Saliency maps of a target with respect to the input image, with captum as the engine.

Methods (:data:`METHODS`), all on the preprocessed (normalised) input ``x`` of a
:class:`~dnnmap.interpret.heads.TargetHead`:

* ``gradient``: d target / d x (captum ``Saliency`` with ``abs=False``: signed);
* ``guided_backprop``: the gradient with negative gradients stopped at every ReLU
  (Springenberg et al. 2015; captum ``GuidedBackprop``);
* ``smoothgrad``: the mean gradient over ``n_samples`` copies of ``x`` with Gaussian noise
  of standard deviation ``noise * (max(x) - min(x))`` (Smilkov et al. 2017; captum
  ``NoiseTunnel``), seeded;
* ``integrated_gradients``: ``(x - x0) *`` the mean gradient on the straight path from the
  baseline ``x0`` (zeros: the mean image of the normalisation) to ``x``, ``n_steps``
  Gauss-Legendre points (Sundararajan et al. 2017; captum ``IntegratedGradients``); its
  completeness gap ``sum(attribution) - (f(x) - f(x0))`` is returned.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dnnmap.errors import InputError

METHODS = ("gradient", "guided_backprop", "smoothgrad", "integrated_gradients")
"""Saliency methods, in the order files store them."""


@dataclass(frozen=True)
class SaliencySettings:
    """Settings of :func:`saliency_maps` (``interpret.saliency``)."""

    methods: tuple[str, ...] = METHODS
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15
    ig_steps: int = 32
    seed: int = 0

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise InputError(
                f"interpret.saliency.methods: {list(self.methods)}; expected some of "
                f"{', '.join(METHODS)}"
            )


def saliency_maps(
    head: torch.nn.Module, x: torch.Tensor, target: int, settings: SaliencySettings
) -> tuple[dict[str, np.ndarray], float]:
    """Saliency maps of one target for a batch of inputs.

    Parameters
    ----------
    head : torch.nn.Module
        Maps inputs (b, 3, H, W) to targets (b, t).
    x : tensor of shape (b, 3, H, W)
        Preprocessed inputs.
    target : int
        Column of the head's output.
    settings : SaliencySettings

    Returns
    -------
    maps : dict of str to array of shape (b, 3, H, W)
        One attribution per method of ``settings.methods``.
    ig_gap : float
        Largest completeness gap of integrated gradients over the batch (NaN without it).
    """
    from captum.attr import GuidedBackprop, IntegratedGradients, NoiseTunnel, Saliency

    x = x.detach().clone().requires_grad_(True)
    maps: dict[str, np.ndarray] = {}
    gap = float("nan")
    for method in settings.methods:
        if method == "gradient":
            attr = Saliency(head).attribute(x, target=target, abs=False)
        elif method == "guided_backprop":
            with warnings.catch_warnings():  # captum announces its (temporary) ReLU hooks
                warnings.filterwarnings("ignore", "Setting backward hooks on ReLU")
                attr = GuidedBackprop(head).attribute(x, target=target)
        elif method == "smoothgrad":
            torch.manual_seed(settings.seed)
            stdev = float(settings.smoothgrad_noise) * float((x.max() - x.min()).detach())
            attr = NoiseTunnel(Saliency(head)).attribute(
                x,
                nt_type="smoothgrad",
                nt_samples=int(settings.smoothgrad_samples),
                nt_samples_batch_size=int(settings.smoothgrad_samples),
                stdevs=stdev,
                target=target,
                abs=False,
            )
        else:
            attr, delta = IntegratedGradients(head).attribute(
                x,
                baselines=torch.zeros_like(x),
                target=target,
                n_steps=int(settings.ig_steps),
                return_convergence_delta=True,
            )
            gap = float(delta.abs().max())
        maps[method] = attr.detach().cpu().numpy().astype(np.float32)
    return maps, gap


def pixel_map(attribution: np.ndarray) -> np.ndarray:
    """A per-pixel saliency for display: the sum over colour channels of |attribution|.

    Parameters
    ----------
    attribution : array of shape (..., 3, H, W)

    Returns
    -------
    array of shape (..., H, W), scaled to a maximum of 1 per image (zeros stay zeros)
    """
    m = np.abs(np.asarray(attribution)).sum(axis=-3)
    top = m.max(axis=(-2, -1), keepdims=True)
    return np.divide(m, top, out=np.zeros_like(m), where=top > 0)


def stack_maps(per_target: Sequence[dict[str, np.ndarray]], methods) -> np.ndarray:
    """Stack per-target maps into one array of shape (t, n_methods, b, 3, H, W)."""
    return np.stack([np.stack([maps[m] for m in methods]) for maps in per_target])
