"""Activation maximization: the image that drives a target most, under image priors.

Following Olah et al. (2017, "Feature Visualization"), the image is not optimized pixel by
pixel but through a **decorrelated parameterization**: its 2-D Fourier coefficients per
colour channel, scaled by ``1 / frequency ** decay`` (so each parameter step changes low
frequencies as much as high ones: natural-image statistics), then a fixed linear map that
decorrelates the colour channels (the square root of ImageNet's colour covariance), then a
sigmoid to [0, 1] RGB, then the model's own normalisation. **Transformation robustness**:
each step evaluates the target on a randomly jittered (shifted by up to ``jitter`` pixels),
scaled (a factor from ``scales``) and rotated (up to ``rotation`` degrees) copy, so the image
must drive it wherever it sits. Optional penalties on total variation (``tv``) and on the
squared distance from grey (``l2``) are subtracted from the objective. Adam on the
parameters, seeded (the initial spectrum and every transformation draw).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional
from tqdm import tqdm

from dnnmap.errors import InputError

#: Square root of ImageNet's RGB covariance (its SVD factor), as in Olah et al.'s lucid.
COLOR_CORRELATION_SVD_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)


@dataclass(frozen=True)
class SynthesisSettings:
    """Settings of :func:`synthesize` (``interpret.synthesis``)."""

    steps: int = 256
    size: int = 224
    lr: float = 0.05
    seed: int = 0
    decay: float = 1.0
    jitter: int = 8
    scales: tuple[float, ...] = (1.0, 0.975, 1.025, 0.95, 1.05)
    rotation: float = 5.0
    tv: float = 0.0
    l2: float = 0.0

    def __post_init__(self):
        if int(self.steps) < 1 or int(self.size) < 8:
            raise InputError(
                f"interpret.synthesis: steps {self.steps}, size {self.size}; expected at least "
                "1 step and 8 pixels"
            )


class FourierImage(torch.nn.Module):
    """An RGB image in [0, 1] parameterized by scaled, colour-decorrelated Fourier coefficients.

    Parameters
    ----------
    size : int
        Side of the square image.
    decay : float
        Spectrum scaling ``1 / max(f, 1 / size) ** decay`` (f in cycles per pixel).
    generator : torch.Generator
        Draws the initial coefficients (normal, sd 0.01).
    """

    def __init__(self, size: int, decay: float, generator: torch.Generator):
        super().__init__()
        fy = torch.fft.fftfreq(size)[:, None]
        fx = torch.fft.rfftfreq(size)[None, :]
        freq = torch.sqrt(fy**2 + fx**2)
        # lucid's scaling: 1 / f ** decay times the side, with the inverse FFT's 1 / size**2,
        # and the image divided by 4 (so a unit step of the DC coefficient moves pixels 1/4)
        scale = size / torch.clamp(freq, min=1.0 / size) ** decay
        self.register_buffer("scale", scale[None, :, :])
        shape = (3, size, size // 2 + 1, 2)
        self.spectrum = torch.nn.Parameter(0.01 * torch.randn(shape, generator=generator))
        color = COLOR_CORRELATION_SVD_SQRT / np.max(
            np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0)
        )
        self.register_buffer("color", torch.as_tensor(color))
        self.size = size

    def forward(self) -> torch.Tensor:
        """The image, shape (1, 3, size, size), values in (0, 1)."""
        coeffs = torch.view_as_complex(self.spectrum) * self.scale
        decorrelated = torch.fft.irfft2(coeffs, s=(self.size, self.size)) / 4.0
        rgb = torch.einsum("ij,jhw->ihw", self.color, decorrelated)
        return torch.sigmoid(rgb)[None]


def random_transform(
    image: torch.Tensor,
    generator: torch.Generator,
    jitter: int,
    scales: Sequence[float],
    rotation: float,
) -> torch.Tensor:
    """A jittered, scaled and rotated copy of ``image`` (1, 3, H, W), same shape.

    One affine resampling (bilinear, reflected at the borders) applies a shift of up to
    ``jitter`` pixels in each direction, a scale drawn from ``scales`` and a rotation drawn
    uniformly from [-rotation, rotation] degrees.
    """
    size = image.shape[-1]
    draw = torch.rand(4, generator=generator)
    shift = (draw[:2] * 2 - 1) * jitter * 2 / size
    s = float(scales[int(draw[2] * len(scales)) % len(scales)])
    angle = math.radians(float((draw[3] * 2 - 1) * rotation))
    cos, sin = math.cos(angle) / s, math.sin(angle) / s
    theta = torch.tensor(
        [[cos, -sin, float(shift[0])], [sin, cos, float(shift[1])]], dtype=image.dtype
    )[None]
    grid = functional.affine_grid(theta, list(image.shape), align_corners=False)
    return functional.grid_sample(
        image, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of ``image`` (1, 3, H, W)."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dx + dy


@dataclass(frozen=True)
class Synthesis:
    """The result of :func:`synthesize` for one target.

    Attributes
    ----------
    image : float32 array of shape (3, size, size)
        RGB in [0, 1].
    objective : array of shape (steps,)
        The objective (target on the transformed image minus penalties) at every step.
    value : float
        The target's value for the final image, untransformed.
    """

    image: np.ndarray
    objective: np.ndarray
    value: float


def synthesize(
    head: torch.nn.Module,
    target: int,
    normalize,
    settings: SynthesisSettings,
    device: torch.device | str = "cpu",
    progress=None,
) -> Synthesis:
    """Maximize one target of ``head`` over images (module docstring).

    Parameters
    ----------
    head : torch.nn.Module
        Maps normalised inputs (b, 3, H, W) to targets (b, t).
    target : int
        Column of the head's output to maximize.
    normalize : callable
        RGB in [0, 1] (b, 3, H, W) -> the model's input (its mean/std normalisation).
    settings : SynthesisSettings
    device : torch.device or str
    progress : file-like, optional
        Where the progress bar goes.

    Returns
    -------
    Synthesis
    """
    generator = torch.Generator().manual_seed(int(settings.seed))
    param = FourierImage(int(settings.size), float(settings.decay), generator).to(device)
    head = head.to(device)
    optimizer = torch.optim.Adam(param.parameters(), lr=float(settings.lr))
    trajectory = np.empty(int(settings.steps))
    for step in tqdm(range(int(settings.steps)), desc=f"target {target}", file=progress):
        optimizer.zero_grad()
        image = param()
        seen = random_transform(
            image, generator, int(settings.jitter), settings.scales, float(settings.rotation)
        )
        objective = head(normalize(seen))[0, target]
        if settings.tv:
            objective = objective - float(settings.tv) * total_variation(image)
        if settings.l2:
            objective = objective - float(settings.l2) * ((image - 0.5) ** 2).mean()
        (-objective).backward()
        optimizer.step()
        trajectory[step] = float(objective.detach())
    with torch.no_grad():
        image = param()
        value = float(head(normalize(image))[0, target])
    return Synthesis(image[0].cpu().numpy().astype(np.float32), trajectory, value)


def normalizer(mean: Sequence[float], std: Sequence[float], device="cpu"):
    """The model's input normalisation as a differentiable function of [0, 1] RGB."""
    m = torch.as_tensor(list(mean), dtype=torch.float32, device=device)[None, :, None, None]
    s = torch.as_tensor(list(std), dtype=torch.float32, device=device)[None, :, None, None]
    return lambda rgb: (rgb - m) / s
