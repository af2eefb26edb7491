"""The aligned face crops of a dataset table's images, found as the SFace embedder finds them and
cached by content hash (:func:`face_crops`)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._progress import progress_bar
from blindface.faces._chunks import ChunkCache
from blindface.faces._content_hash import hash_files
from blindface.faces._embedder import FACE_STATUSES
from blindface.faces._geometry import ARCFACE_TEMPLATE, TEMPLATE_SIZE
from blindface.faces._records import FaceRecord, embed_paths
from blindface.faces._yunet import YuNetEmbedder

#: An aligned crop: 112 x 112 RGB, as SFace reads it.
CROP_SHAPE = (TEMPLATE_SIZE, TEMPLATE_SIZE, 3)
#: The statuses of a face that was found (and embedded, in a store).
EMBEDDED = tuple(status for status in FACE_STATUSES if status != "failed")


class CropFinder(YuNetEmbedder):
    """SFace's front end alone: YuNet, the detect -> retry -> fallback policy and the alignment
    to the 112 x 112 ArcFace template, with SFace's defaults; its "embedding" is the crop.

    The vector is the crop's pixels and a trailing 1, so that the norm check of
    :meth:`Embedder.embed_many` never fails an all-black crop that SFace would embed.
    """

    name = "sface-crops"
    dim = int(np.prod(CROP_SHAPE)) + 1
    l2_normalize = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(template=ARCFACE_TEMPLATE, crop_size=TEMPLATE_SIZE, **kwargs)

    @property
    def weight_files(self) -> tuple[str, ...]:
        return (self.detector_path,)

    @property
    def settings(self) -> dict[str, Any]:
        return {**self.detection_settings, **super().settings}

    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        pixels = np.stack(crops).reshape(len(crops), -1).astype(np.float32)
        return np.concatenate([pixels, np.ones((len(crops), 1), np.float32)], axis=1)


@dataclass(frozen=True)
class FaceCrops:
    """The outcome per row of a table: content hash (``None`` when the file is unreadable),
    face status (``detected``, ``retried``, ``fallback`` or ``failed``) and reason; the crops
    themselves stay in the cache until :meth:`crops` reads them."""

    digests: list[str | None]
    status: np.ndarray
    reason: list[str | None]
    cache: ChunkCache

    def __len__(self) -> int:
        return len(self.digests)

    @property
    def ok(self) -> np.ndarray:
        """Rows with a crop (the rows an embedding store would hold an embedding for)."""
        return np.isin(self.status, EMBEDDED)

    def crops(self, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """The crops (``k x 112 x 112 x 3`` uint8 RGB) of ``rows`` (default: every ``ok`` row);
        each must be ``ok``."""
        chosen = np.flatnonzero(self.ok) if rows is None else np.asarray(rows, dtype=int)
        bad = [int(r) for r in chosen if not self.ok[r]]
        if bad:
            raise ValueError(f"row {bad[0]} has no crop (status {self.status[bad[0]]})")
        return self.cache.read([str(self.digests[r]) for r in chosen])


def crops_key(finder: CropFinder) -> str:
    """Hash of everything the crops depend on: detector file and every setting."""
    identity = {"crops": CROP_SHAPE, "settings": finder.settings, "detector": finder.weights_hash}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def face_crops(
    table: pd.DataFrame,
    data_root: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    n_jobs: int = 2,
    chunk_size: int = 256,
    progress: bool = True,
) -> FaceCrops:
    """The aligned 112 x 112 RGB crops of every image of ``table`` (``path`` relative to
    ``data_root``), found as the ``sface`` embedder finds faces: same detector, settings and
    detect -> retry -> fallback policy, hence the same statuses as
    :func:`~blindface.store.embed_dataset` gives.

    Crops are cached under ``cache_dir/crops-<key>/`` by the image files' content hashes, in
    chunks of ``chunk_size`` images written atomically (``.npy`` + ``.json``, no pickle): a
    killed run keeps its finished chunks and a rerun aligns only what is missing. The cache
    holds face data: keep it out of version control.

    Parameters
    ----------
    n_jobs
        Worker processes (each on one thread); a script calling this with ``n_jobs > 1`` needs
        the ``if __name__ == "__main__":`` guard.
    progress
        Show progress bars.
    """
    if "path" not in table.columns:
        raise ValueError("the table needs a 'path' column (image paths relative to data_root)")
    if n_jobs < 1 or chunk_size < 1:
        raise ValueError(f"n_jobs and chunk_size must be >= 1, got {n_jobs}, {chunk_size}")
    finder = CropFinder()
    key = crops_key(finder)
    cache = ChunkCache(Path(cache_dir) / f"crops-{key}", key, CROP_SHAPE, np.uint8)
    root = Path(data_root)
    files = [os.path.abspath(root / str(path)) for path in table["path"]]
    with progress_bar(progress) as bar:
        hashes, errors = hash_files(files, bar)
        todo: dict[str, str] = {}
        for path, digest in zip(files, hashes, strict=True):
            if digest is not None and digest not in cache and digest not in todo:
                todo[digest] = path
        if todo:
            task = bar.add_task("aligning faces (sface)", total=len(todo))
            records = _find(list(todo.values()), finder, n_jobs)
            for batch in _batched(zip(todo, records, strict=True), chunk_size):
                cache.add(
                    [digest for digest, _ in batch],
                    [_crop_of(record) for _, record in batch],
                    [record.status for _, record in batch],
                    [record.reason for _, record in batch],
                )
                bar.advance(task, len(batch))
    status, reason = [], []
    for digest, error in zip(hashes, errors, strict=True):
        found = cache.status(digest) if digest is not None else ("failed", error)
        status.append(found[0])
        reason.append(found[1])
    return FaceCrops(list(hashes), np.asarray(status, dtype=object), reason, cache)


def _find(paths: list[str], finder: CropFinder, n_jobs: int) -> Iterator[FaceRecord]:
    """The crop records of ``paths`` in order, on ``n_jobs`` worker processes."""
    chunks = (paths[i : i + 16] for i in range(0, len(paths), 16))
    if n_jobs == 1:
        for chunk in chunks:
            yield from embed_paths(chunk, finder)
        return
    from blindface.faces._workers import WorkerPool

    with WorkerPool(CropFinder, {}, finder.settings, n_jobs) as pool:
        yield from pool.embed(chunks)


def _crop_of(record: FaceRecord) -> np.ndarray | None:
    if record.embedding is None:
        return None
    return np.rint(record.embedding[:-1]).astype(np.uint8).reshape(CROP_SHAPE)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
