"""Robust image decoding: any common file in, an RGB uint8 array out, or a reason why not."""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zlib
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

#: Largest image (in pixels) :func:`read_image` decodes; bigger files are refused from their
#: header alone, before any pixel is decoded (decompression bombs).
MAX_PIXELS = 50_000_000


class ImageReadError(Exception):
    """An image file that cannot be decoded; ``reason`` says why (and ``path`` which file)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")

    def __reduce__(self) -> tuple[type[ImageReadError], tuple[str, str]]:
        return type(self), (self.path, self.reason)


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file into an ``H x W x 3`` RGB ``uint8`` array.

    Handles grayscale, palette, alpha (composited over white), 16-bit (scaled to 8 bits),
    CMYK, EXIF orientation and multi-frame files (first frame). Raises :class:`ImageReadError`
    with a reason for a missing, unreadable, empty, truncated, unknown or too large file, a
    broken link, a folder or anything else that is not a regular file (a FIFO is refused, not
    waited on).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    with open_image_file(path) as handle, warnings.catch_warnings():
        # the size check below replaces Pillow's own warning at ~89 MP
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(handle) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageReadError(path, _too_large(width, height, max_pixels))
                image.load()
                return _to_rgb(ImageOps.exif_transpose(image))
        except Image.DecompressionBombError as exc:
            limit = f"{max_pixels / 1e6:.0f} MP"
            reason = f"over the {limit} limit, possible decompression bomb ({exc})"
            raise ImageReadError(path, reason) from None
        except UnidentifiedImageError:
            raise ImageReadError(path, "not an image (unknown file format)") from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
            raise ImageReadError(path, f"truncated or corrupt image data ({exc})") from None


def open_image_file(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading, if it is a non-empty regular file, else an
    :class:`ImageReadError` saying what it is (checked on the open
    file, so nothing changes in between; opened non-blocking, so a FIFO cannot hang us)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if os.path.islink(path):
            target = os.readlink(path)
            reason = f"broken symbolic link (to {target}, which does not exist)"
            raise ImageReadError(path, reason) from None
        raise ImageReadError(path, "file not found") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied (the file is not readable)") from None
    except IsADirectoryError:
        raise ImageReadError(path, "a directory, not an image file") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot open the file ({exc.strerror})") from None
    problem = _not_an_image_file(os.fstat(fd))
    if problem is not None:
        os.close(fd)
        raise ImageReadError(path, problem)
    return os.fdopen(fd, "rb")


def _not_an_image_file(info: os.stat_result) -> str | None:
    """Why an open file cannot hold an image (a folder, a FIFO, empty), or ``None``."""
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return "a directory, not an image file"
    if not stat.S_ISREG(mode):
        kinds = {
            stat.S_ISFIFO: "FIFO",
            stat.S_ISSOCK: "socket",
            stat.S_ISCHR: "character device",
            stat.S_ISBLK: "block device",
        }
        kind = next((kind for test, kind in kinds.items() if test(mode)), "special file")
        return f"not a regular file (a {kind}), so not read"
    if info.st_size == 0:
        return "empty file (0 bytes)"
    return None


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"image is {width}x{height} = {width * height / 1e6:.0f} MP, over the "
        f"{max_pixels / 1e6:.0f} MP limit (possible decompression bomb; raise max_pixels "
        "to read it)"
    )


def _to_rgb(image: Image.Image) -> np.ndarray:
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
