"""Read an image file as the 8-bit RGB picture it shows, saying what had to be converted.

Networks take 8-bit RGB. :func:`read_image` brings every image there by one rule, so
that no conversion changes what the image shows without saying so:

- **EXIF orientation** is applied (``PIL.ImageOps.exif_transpose``), as image viewers do.
- **Animated images** (GIF, APNG, WebP, multi-page TIFF) give their first frame.
- **Integer images above 8 bits** (``I;16`` PNG and TIFF, 32-bit ``I``) are scaled by
  their bit depth's maximum: ``round(value / top * 255)`` with ``top = 2**bits - 1``
  (``2**(bits - 1) - 1`` for signed TIFF samples). An image with values outside
  ``[0, top]`` (negative ones) is min-max scaled instead, and reported as such.
- **Float images** (``F``, e.g. float TIFF) are assumed to lie in [0, 1]:
  ``round(value * 255)``. An image with values outside [0, 1] is min-max scaled,
  ``round((value - min) / (max - min) * 255)`` (a constant one is clipped to [0, 1]), and
  reported as such; NaN or infinite pixels are an error.
- **Transparency** (an alpha channel, or a palette or colour key with a transparent entry)
  is composited on a background colour: ``round(a * pixel + (1 - a) * background)`` with
  ``a = alpha / 255``, so two images that look the same on that background give the same
  input.
- **Other colour spaces** (CMYK, YCbCr, LAB, HSV) are converted to RGB by PIL; grayscale
  and bilevel images are repeated over the three channels (which changes nothing they show).

Each conversion that may change what a viewer sees is named in :attr:`ImageInfo.conversions`
by one of the :data:`CONVERSIONS` keys, so callers can warn once per kind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from dnnmap.errors import InputError

DEFAULT_BACKGROUND = (128, 128, 128)
"""Background (RGB, 0-255) that transparent pixels are composited on (``stimuli.background``)."""

CONVERSIONS = {
    "orientation": "EXIF orientation applied (the pixels were rotated or flipped)",
    "first_frame": "animated or multi-frame image: only the first frame is used",
    "high_bit_depth": "integer pixels above 8 bits scaled to 0-255 by the bit depth's maximum",
    "integer_rescaled": "integer pixels outside their bit depth's range min-max scaled to 0-255",
    "float": "float pixels in [0, 1] scaled to 0-255",
    "float_rescaled": "float pixels outside [0, 1] min-max scaled to 0-255",
    "alpha": "transparent pixels composited on the background",
    "color_space": "colour space converted to RGB",
}
"""Kinds of conversion :func:`read_image` reports, with a readable description of each."""

_EXIF_ORIENTATION = 0x0112
_OTHER_SPACES = ("CMYK", "YCbCr", "LAB", "HSV")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read_image` found in a file and what it did to it.

    Attributes
    ----------
    mode : str
        PIL mode of the file's (first) frame, e.g. ``"RGB"``, ``"I;16"``, ``"P"``.
    size : tuple of int
        ``(width, height)`` of the picture, after the EXIF orientation.
    format : str or None
        PIL's name of the file format, e.g. ``"PNG"``.
    conversions : tuple of str
        Keys of :data:`CONVERSIONS` applied, in the order applied.
    """

    mode: str
    size: tuple[int, int]
    format: str | None
    conversions: tuple[str, ...]


def check_background(background: Sequence[int], where: str = "stimuli.background") -> tuple:
    """Return ``background`` as a tuple of three ints in 0-255, or stop naming ``where``."""
    values = list(background) if isinstance(background, Iterable) else [background]
    ok = len(values) == 3 and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and 0 <= v <= 255
        for v in values
    )
    if not ok:
        raise InputError(f"{where}: {background!r}; expected three integers in 0-255 (R, G, B)")
    return tuple(int(v) for v in values)


def read_image(
    path: str | os.PathLike, background: Sequence[int] = DEFAULT_BACKGROUND
) -> tuple[Image.Image, ImageInfo]:
    """Read an image file as an 8-bit RGB picture by the rules of this module.

    Parameters
    ----------
    path : path
        An image file PIL can decode.
    background : sequence of 3 int
        RGB colour (0-255) that transparent pixels are composited on.

    Returns
    -------
    image : PIL.Image.Image
        Mode ``"RGB"``, shape (height, width, 3) as an array, uint8.
    info : ImageInfo
        The file's mode, size and format, and the conversions applied.

    Raises
    ------
    InputError
        For NaN or infinite pixels, or a mode dnnmap does not read (named in the message).
        PIL's own exceptions for files that do not decode pass through.
    """
    background = check_background(background)
    conversions = []
    with Image.open(path) as img:
        if getattr(img, "n_frames", 1) > 1:
            conversions.append("first_frame")
        img.seek(0)
        mode, fmt = img.mode, img.format
        top = _integer_max(img)
        img.load()
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        oriented = ImageOps.exif_transpose(img)
    if orientation not in (1, None):
        conversions.append("orientation")
    pixels = _rgb8(oriented, top, background, conversions, path)
    info = ImageInfo(mode, (pixels.shape[1], pixels.shape[0]), fmt, tuple(conversions))
    return Image.fromarray(pixels, "RGB"), info


def _integer_max(img: Image.Image) -> float:
    """The largest value of an integer sample above 8 bits: ``2**bits - 1``, or
    ``2**(bits - 1) - 1`` for signed TIFF samples (PNG has at most 16 bits)."""
    if img.mode.startswith("I;16") or img.format == "PNG":
        return 2.0**16 - 1
    tags = getattr(img, "tag_v2", None) or {}
    bits = int(tags.get(258, (32,))[0])
    signed = int(tags.get(339, (1,))[0]) == 2
    return 2.0 ** (bits - 1) - 1 if signed else 2.0**bits - 1


def _rgb8(img: Image.Image, top: float, background, conversions: list, path) -> np.ndarray:
    """Pixels of ``img`` as (H, W, 3) uint8, appending the conversions applied."""
    mode = img.mode
    if mode in _OTHER_SPACES:
        conversions.append("color_space")
        return np.asarray(img.convert("RGB"))
    transparent = "transparency" in img.info and mode in ("1", "L", "RGB", "P")
    if mode in _ALPHA_MODES or transparent:
        return _composite(np.asarray(img.convert("RGBA")), background, conversions)
    if mode in ("1", "L", "RGB", "P"):
        return np.asarray(img.convert("RGB"))
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(img).astype(np.float64)
        if values.size and (values.min() < 0 or values.max() > top):
            conversions.append("integer_rescaled")
            return _gray(_min_max(values))
        conversions.append("high_bit_depth")
        return _gray(values / top)
    if mode == "F":
        values = np.asarray(img).astype(np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"{path}: float image with NaN or infinite pixels; expected finite")
        if values.size and (values.min() < 0 or values.max() > 1):
            conversions.append("float_rescaled")
            return _gray(_min_max(values))
        conversions.append("float")
        return _gray(values)
    raise InputError(
        f"{path}: image mode {mode} is not supported yet; expected 8-bit, 16-bit or float "
        "grayscale, RGB, RGBA, palette or CMYK"
    )


def _composite(rgba: np.ndarray, background, conversions: list) -> np.ndarray:
    """Composite (H, W, 4) uint8 on ``background``; (H, W, 3) uint8."""
    alpha = rgba[..., 3:].astype(np.float64) / 255.0
    if (alpha < 1).any():
        conversions.append("alpha")
    mixed = alpha * rgba[..., :3] + (1.0 - alpha) * np.asarray(background, dtype=np.float64)
    return _to_uint8(mixed)


def _min_max(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the minimum and maximum; clip a constant image to [0, 1]."""
    low, high = values.min(), values.max()
    if high > low:
        return (values - low) / (high - low)
    return np.clip(values, 0.0, 1.0)


def _gray(unit: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 (the gray level on every channel)."""
    return np.repeat(_to_uint8(unit * 255.0)[..., None], 3, axis=2)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer (half to even) and clip to 0-255, as uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def conversion_report(infos: Sequence[ImageInfo], names: Sequence[str]) -> list[str]:
    """One line per kind of conversion: how many images, which description, the first ones.

    Parameters
    ----------
    infos : sequence of ImageInfo
        One per image, shape (n_images,).
    names : sequence of str
        How each image is named in the lines (e.g. ``"row 5 (cat.png)"``), shape (n_images,).

    Returns
    -------
    list of str
        In the order of :data:`CONVERSIONS`; empty when nothing was converted.
    """
    lines = []
    for kind, description in CONVERSIONS.items():
        hits = [n for n, info in zip(names, infos, strict=True) if kind in info.conversions]
        if hits:
            more = ", ..." if len(hits) > 3 else ""
            lines.append(f"{len(hits)} image(s): {description} ({', '.join(hits[:3])}{more})")
    return lines


def mode_report(infos: Sequence[ImageInfo]) -> list[str]:
    """One line per PIL mode: the image count and the range of widths and heights.

    Parameters
    ----------
    infos : sequence of ImageInfo
        One per image, shape (n_images,).

    Returns
    -------
    list of str
        E.g. ``"RGB: 140 image(s), 64-1024 x 48-768 px (width x height)"``, by mode name.
    """
    lines = []
    for mode in sorted({info.mode for info in infos}):
        sizes = np.array([info.size for info in infos if info.mode == mode])
        (w0, h0), (w1, h1) = sizes.min(axis=0), sizes.max(axis=0)
        lines.append(f"{mode}: {len(sizes)} image(s), {w0}-{w1} x {h0}-{h1} px (width x height)")
    return lines
