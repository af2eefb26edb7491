"""read_image: every common pixel format decodes to the right RGB uint8 pixels.

Bad files (empty, truncated, not an image, bombs, links, FIFOs...) are the user-facing
corpus of ``tests/reliability/test_images.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from blindface.faces import ImageReadError, read_image


def _gradient(height: int = 40, width: int = 60) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=2).astype(np.uint8)


def test_rgb_roundtrip(tmp_path):
    rgb = _gradient()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("mode", ["L", "P", "1"])
def test_gray_palette_bilevel_become_rgb(tmp_path, mode):
    image = Image.fromarray(_gradient()).convert(mode)
    image.save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(out, expected)
    if mode != "P":
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:5, :, :] = (200, 10, 10, 255)  # opaque red top half
    rgba[5:, :, :] = (0, 0, 0, 0)  # transparent bottom half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert (out[:5] == (200, 10, 10)).all()
    assert (out[5:] == 255).all()


def test_16_bit_png_is_scaled_to_8_bits(tmp_path):
    gray16 = (np.arange(256, dtype=np.uint16).reshape(16, 16)) * 257
    Image.fromarray(gray16).save(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as image:
        assert image.mode.startswith("I")
    out = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(out[..., 0], np.arange(256).reshape(16, 16))


def test_cmyk_jpeg_decodes_to_rgb(tmp_path):
    rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    rgb[:, :16] = (220, 40, 40)
    rgb[:, 16:] = (40, 40, 220)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "a.jpg", quality=95)
    with Image.open(tmp_path / "a.jpg") as image:
        assert image.mode == "CMYK"
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == (32, 32, 3)
    assert np.abs(out[8, 4].astype(int) - (220, 40, 40)).max() < 30
    assert np.abs(out[8, 28].astype(int) - (40, 40, 220)).max() < 30


def test_tiff_and_multipage(tmp_path):
    frames = [Image.fromarray(_gradient()), Image.fromarray(255 - _gradient())]
    frames[0].save(tmp_path / "a.tiff", save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(read_image(tmp_path / "a.tiff"), _gradient())


def test_max_pixels_setting(tmp_path):
    Image.fromarray(_gradient(100, 100)).save(tmp_path / "a.png")
    with pytest.raises(ImageReadError, match="MP limit"):
        read_image(tmp_path / "a.png", max_pixels=5_000)
    assert read_image(tmp_path / "a.png", max_pixels=10_000).shape == (100, 100, 3)
