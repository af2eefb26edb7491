"""Content hashes of image files: the key every cache of per-image results is looked up by."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from blindface.faces._image import ImageReadError, open_image_file


def content_hash(path: str | os.PathLike[str]) -> str:
    """BLAKE2b-128 hex digest of a file's bytes: the cache key of its embedding (and of its
    aligned crop and feature map).

    Only a non-empty regular file is read (a FIFO, folder or broken link raises
    :class:`~blindface.faces.ImageReadError` saying what it is, and never blocks).
    """
    digest = hashlib.blake2b(digest_size=16)
    with open_image_file(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_files(files: list[str], bar: Any) -> tuple[list[str | None], list[str | None]]:
    """Content hash of each file, or None and the reason it could not be read; ``bar`` (a
    :func:`blindface._progress.progress_bar`) shows the progress."""
    task = bar.add_task("hashing files", total=len(files))
    hashes: list[str | None] = []
    errors: list[str | None] = []
    for path in files:
        try:
            hashes.append(content_hash(path))
            errors.append(None)
        except ImageReadError as exc:
            hashes.append(None)
            errors.append(exc.reason)
        except OSError as exc:
            hashes.append(None)
            errors.append(f"cannot read file ({exc.strerror or exc})")
        bar.advance(task)
    return hashes, errors
