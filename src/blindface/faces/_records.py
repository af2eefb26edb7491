"""One record per file: read and embed a few files, every failure recorded, never raised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blindface.faces._embedder import Embedder, FaceStatus
from blindface.faces._image import ImageReadError, read_image


@dataclass(frozen=True)
class FaceRecord:
    """The outcome for one file: its embedding (``None`` when ``status`` is ``failed``)."""

    path: str
    embedding: np.ndarray | None
    status: FaceStatus
    reason: str | None = None


def embed_paths(paths: list[str], embedder: Embedder) -> list[FaceRecord]:
    """Read and embed a few files in one batch; a read error or any failure becomes a
    ``failed`` record, never an exception."""
    records: list[FaceRecord | None] = [None] * len(paths)
    images, readable = [], []
    for index, path in enumerate(paths):
        try:
            images.append(read_image(path))
            readable.append(index)
        except ImageReadError as exc:
            records[index] = FaceRecord(path, None, "failed", exc.reason)
        except Exception as exc:  # an unexpected decoder error must not stop the batch
            records[index] = FaceRecord(path, None, "failed", f"{type(exc).__name__}: {exc}")
    for index, result in zip(readable, embedder.embed_many(images), strict=True):
        records[index] = FaceRecord(paths[index], result.embedding, result.status, result.reason)
    done = [record for record in records if record is not None]
    assert len(done) == len(paths), "every file gets a record"
    return done
