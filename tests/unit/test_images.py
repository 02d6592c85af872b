"""Tests of dnnmap.images: every kind of image reaches the network as the picture it shows.

Each test builds its image in the test (PIL, numpy), writes it in a real file format, and
compares what the network sees (the preprocessing transform of :func:`read_image`'s picture)
with the pixels expected from the documented rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from dnnmap.errors import InputError
from dnnmap.images import (
    CONVERSIONS,
    DEFAULT_BACKGROUND,
    check_background,
    conversion_report,
    mode_report,
    read_image,
)
from dnnmap.models.build import Preprocessing

MEAN, STD = np.array(Preprocessing().mean), np.array(Preprocessing().std)


def network_input(path, background=DEFAULT_BACKGROUND):
    """The (3, H, W) tensor the network gets for ``path`` (no resizing), as numpy."""
    image, info = read_image(path, background)
    width, height = image.size
    assert width == height, "tests use square images so that Resize is the identity"
    return Preprocessing(resize=width).transform()(image).numpy(), info


def expected_input(rgb8: np.ndarray) -> np.ndarray:
    """What the network should get for 8-bit RGB pixels (H, W, 3): scaled and normalised."""
    return ((rgb8.astype(np.float64) / 255.0 - MEAN) / STD).transpose(2, 0, 1)


def gray3(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=2)


def test_rgb_png_is_unchanged(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    got, info = network_input(tmp_path / "a.png")
    np.testing.assert_allclose(got, expected_input(pixels), atol=1e-5)
    assert (info.mode, info.size, info.format, info.conversions) == ("RGB", (5, 5), "PNG", ())


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16_bit_grayscale_scaled_by_its_maximum(tmp_path, fmt):
    values = np.random.default_rng(1).integers(0, 65536, (6, 6)).astype(np.uint16)
    values[0, 0], values[0, 1] = 0, 65535
    path = tmp_path / f"a.{fmt}"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    got, info = network_input(path)
    eight = np.rint(values / 65535.0 * 255).astype(np.uint8)
    np.testing.assert_allclose(got, expected_input(gray3(eight)), atol=1e-5)
    assert info.mode == "I;16" and info.conversions == ("high_bit_depth",)
    # The old route (PIL's convert("RGB")) clips: nearly every pixel is white.
    clipped = np.asarray(Image.open(path).convert("RGB"))
    assert (clipped == 255).mean() > 0.9


def test_32_bit_integer_tiff(tmp_path):
    values = np.array([[0, 2**31 - 1], [2**30, 12345]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "a.tif")
    got, info = network_input(tmp_path / "a.tif")
    eight = np.rint(values / (2.0**31 - 1) * 255).astype(np.uint8)
    np.testing.assert_allclose(got, expected_input(gray3(eight)), atol=1e-5)
    assert info.mode == "I" and info.conversions == ("high_bit_depth",)
    values[0, 0] = -5  # outside the range of the samples' maximum: min-max scaled
    Image.fromarray(values).save(tmp_path / "b.tif")
    _, info = read_image(tmp_path / "b.tif")
    assert info.conversions == ("integer_rescaled",)


def test_float_tiff_in_unit_range(tmp_path):
    values = np.random.default_rng(2).random((6, 6)).astype(np.float32)
    Image.fromarray(values).save(tmp_path / "a.tif")
    got, info = network_input(tmp_path / "a.tif")
    eight = np.rint(values.astype(np.float64) * 255).astype(np.uint8)
    np.testing.assert_allclose(got, expected_input(gray3(eight)), atol=1e-5)
    assert info.mode == "F" and info.conversions == ("float",)
    # The old route clips [0, 1] to 0 or 1 of 255: the picture is black.
    assert np.asarray(Image.open(tmp_path / "a.tif").convert("RGB")).max() <= 1


def test_float_outside_unit_range_is_min_max_scaled(tmp_path):
    values = np.linspace(-3.0, 5.0, 16, dtype=np.float32).reshape(4, 4)
    Image.fromarray(values).save(tmp_path / "a.tif")
    got, info = network_input(tmp_path / "a.tif")
    unit = (values.astype(np.float64) + 3.0) / 8.0
    eight = np.rint(unit * 255).astype(np.uint8)
    np.testing.assert_allclose(got, expected_input(gray3(eight)), atol=1e-5)
    assert info.conversions == ("float_rescaled",)


def test_float_with_nan_is_an_error(tmp_path):
    values = np.zeros((3, 3), dtype=np.float32)
    values[1, 1] = np.nan
    Image.fromarray(values).save(tmp_path / "nan.tif")
    with pytest.raises(InputError, match=r"nan\.tif: float image with NaN or infinite pixels"):
        read_image(tmp_path / "nan.tif")


def composite(rgba: np.ndarray, background) -> np.ndarray:
    """Reference: alpha compositing of (H, W, 4) uint8 on an RGB background."""
    a = rgba[..., 3:] / 255.0
    return np.rint(a * rgba[..., :3] + (1 - a) * np.array(background)).astype(np.uint8)


@pytest.mark.parametrize("background", [(128, 128, 128), (0, 0, 0), (255, 200, 10)])
def test_rgba_composited_on_the_background(tmp_path, background):
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (5, 5, 4), dtype=np.uint8)
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    got, info = network_input(tmp_path / "a.png", background)
    np.testing.assert_allclose(got, expected_input(composite(rgba, background)), atol=1e-5)
    assert info.mode == "RGBA" and info.conversions == ("alpha",)


def test_images_that_look_the_same_on_grey_give_the_same_input(tmp_path):
    grey = np.full((4, 4, 4), 128, dtype=np.uint8)
    grey[..., 3] = 255  # opaque grey
    hidden_red = np.zeros((4, 4, 4), dtype=np.uint8)
    hidden_red[..., 0] = 255  # red, fully transparent
    Image.fromarray(grey, "RGBA").save(tmp_path / "grey.png")
    Image.fromarray(hidden_red, "RGBA").save(tmp_path / "red.png")
    a, _ = network_input(tmp_path / "grey.png")
    b, _ = network_input(tmp_path / "red.png")
    np.testing.assert_array_equal(a, b)
    # Dropping alpha (the old route) makes them differ by several units of the input.
    old = expected_input(np.asarray(Image.open(tmp_path / "red.png").convert("RGB")))
    assert np.abs(old - a).max() > 2


def test_opaque_rgba_is_not_reported(tmp_path):
    rgba = np.full((3, 3, 4), 255, dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png")[1].conversions == ()


def test_gray_alpha(tmp_path):
    la = np.random.default_rng(4).integers(0, 256, (4, 4, 2), dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "a.png")
    got, info = network_input(tmp_path / "a.png")
    rgba = np.concatenate([gray3(la[..., 0]), la[..., 1:]], axis=2)
    np.testing.assert_allclose(got, expected_input(composite(rgba, (128,) * 3)), atol=1e-5)
    assert info.mode == "LA" and info.conversions == ("alpha",)


def test_palette_with_a_transparent_entry(tmp_path):
    index = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    image.save(tmp_path / "a.png", transparency=1)  # green is transparent
    got, info = network_input(tmp_path / "a.png")
    grey = DEFAULT_BACKGROUND
    rgb = np.array([[(255, 0, 0), grey], [(0, 0, 255), grey]], dtype=np.uint8)
    np.testing.assert_allclose(got, expected_input(rgb), atol=1e-5)
    assert info.mode == "P" and info.conversions == ("alpha",)


def test_palette_without_transparency(tmp_path):
    index = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    image.save(tmp_path / "a.png")
    got, info = network_input(tmp_path / "a.png")
    rgb = np.array([[(10, 20, 30), (200, 100, 0)], [(200, 100, 0), (10, 20, 30)]], np.uint8)
    np.testing.assert_allclose(got, expected_input(rgb), atol=1e-5)
    assert info.conversions == ()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path, orientation):
    pixels = np.random.default_rng(orientation).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "a.png", exif=exif)
    image, info = read_image(tmp_path / "a.png")
    reference = ImageOps.exif_transpose(Image.open(tmp_path / "a.png")).convert("RGB")
    np.testing.assert_array_equal(np.asarray(image), np.asarray(reference))
    turned = orientation >= 5  # these swap width and height
    assert info.size == ((3, 5) if turned else (5, 3))
    assert info.conversions == (() if orientation == 1 else ("orientation",))
    if orientation == 6:  # rotated 90 degrees clockwise for display
        np.testing.assert_array_equal(np.asarray(image), np.rot90(pixels, k=-1))


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
    got, info = network_input(tmp_path / "a.gif")
    np.testing.assert_allclose(
        got, expected_input(np.full((4, 4, 3), (255, 0, 0), np.uint8)), atol=1e-5
    )
    assert info.format == "GIF" and info.conversions == ("first_frame",)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "a.jpg", quality=100)
    image, info = read_image(tmp_path / "a.jpg")
    reference = np.asarray(Image.open(tmp_path / "a.jpg").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(image), reference)
    assert info.mode == "CMYK" and info.conversions == ("color_space",)


def test_big_endian_16_bit_tiff(tmp_path):
    values = np.array([[0, 1000], [40000, 65535]], dtype=">u2")
    Image.fromarray(values).save(tmp_path / "a.tif")
    image, info = read_image(tmp_path / "a.tif")
    eight = np.rint(values / 65535.0 * 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(image), gray3(eight))
    assert info.mode == "I;16B" and info.conversions == ("high_bit_depth",)


@pytest.mark.parametrize("bad", [(1, 2), (0, 0, 256), (0.5, 0, 0), "grey", (True, 0, 0)])
def test_background_checked(bad):
    with pytest.raises(InputError, match=r"stimuli\.background: .*three integers in 0-255"):
        check_background(bad)


def test_reports():
    from dnnmap.images import ImageInfo

    infos = [
        ImageInfo("RGB", (64, 48), "PNG", ()),
        ImageInfo("RGBA", (10, 20), "PNG", ("alpha",)),
        ImageInfo("RGB", (1024, 768), "JPEG", ("orientation",)),
        ImageInfo("RGBA", (30, 5), "PNG", ("alpha",)),
    ]
    assert mode_report(infos) == [
        "RGB: 2 image(s), 64-1024 x 48-768 px (width x height)",
        "RGBA: 2 image(s), 10-30 x 5-20 px (width x height)",
    ]
    lines = conversion_report(infos, ["a", "b", "c", "d"])
    assert lines == [
        f"1 image(s): {CONVERSIONS['orientation']} (c)",
        f"2 image(s): {CONVERSIONS['alpha']} (b, d)",
    ]
