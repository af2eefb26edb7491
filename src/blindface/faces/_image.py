"""Robust image decoding: any common file in, an RGB uint8 array out, or a reason why not."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

#: Largest image (in pixels) :func:`read_image` decodes; bigger files are refused from their
#: header alone, before any pixel is decoded (decompression bombs).
MAX_PIXELS = 50_000_000


class ImageReadError(Exception):
    """An image file that cannot be decoded; ``reason`` says why (and ``path`` which file)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file into an ``H x W x 3`` RGB ``uint8`` array.

    Handles grayscale, palette, alpha (composited over white), 16-bit (scaled to 8 bits),
    CMYK, EXIF orientation and multi-page files (first page). Raises :class:`ImageReadError`
    with a reason for a missing, empty, truncated, unknown or too large file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "file not found")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")
    with warnings.catch_warnings():
        # the size check below replaces Pillow's own warning at ~89 MP
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageReadError(path, _too_large(width, height, max_pixels))
                image.load()
                image = ImageOps.exif_transpose(image)
                return _to_rgb(image)
        except Image.DecompressionBombError as exc:
            limit = f"{max_pixels / 1e6:.0f} MP"
            reason = f"over the {limit} limit, possible decompression bomb ({exc})"
            raise ImageReadError(path, reason) from None
        except UnidentifiedImageError:
            raise ImageReadError(path, "not an image (unknown file format)") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(path, f"truncated or corrupt image data ({exc})") from None


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"image is {width}x{height} = {width * height / 1e6:.0f} MP, over the "
        f"{max_pixels / 1e6:.0f} MP limit (possible decompression bomb; raise max_pixels "
        "to read it)"
    )


def _to_rgb(image) -> np.ndarray:
    """Convert any Pillow mode to RGB uint8."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (and 32-bit integer) gray: scale the 16-bit range to 8 bits
        gray = np.asarray(image, dtype=np.float64)
        gray = np.clip(np.rint(gray / 257.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if image.mode == "F":
        gray = np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)
