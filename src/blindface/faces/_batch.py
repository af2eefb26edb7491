"""Embed many image files: order-preserving, chunked, over a pool of worker processes."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from blindface.faces._embedder import Embedder, FaceStatus, get_embedder
from blindface.faces._image import ImageReadError, read_image


@dataclass(frozen=True)
class FaceRecord:
    """The outcome for one file: its embedding (``None`` when ``status`` is ``failed``)."""

    path: str
    embedding: np.ndarray | None
    status: FaceStatus
    reason: str | None = None


def embed_files(
    paths: Iterable[str | os.PathLike[str]],
    embedder: str | Embedder = "sface",
    n_jobs: int = 2,
    chunk_size: int = 32,
    **options: Any,
) -> Iterator[FaceRecord]:
    """Embed every file of ``paths``, yielding one :class:`FaceRecord` per path, in order.

    Parameters
    ----------
    paths
        Image files (any iterable; it is consumed lazily).
    embedder
        An embedder name (``sface``, ``dlib``) or an :class:`Embedder`; ``options`` are passed to
        :func:`get_embedder`.
    n_jobs
        Worker processes (each builds its own embedder and runs on one thread); 1 runs
        everything in this process. Workers are started with ``spawn``, so a script that
        calls this with ``n_jobs > 1`` needs the usual ``if __name__ == "__main__":`` guard.
        The embeddings are bit-identical whatever ``n_jobs`` and ``chunk_size``.
    chunk_size
        Files per task sent to a worker. At most ``2 * n_jobs`` chunks are in flight, so memory
        stays flat however many files there are.
    """
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunks = _chunked((os.fspath(path) for path in paths), chunk_size)
    if n_jobs == 1:
        model = get_embedder(embedder, **options)
        for chunk in chunks:
            yield from _embed_chunk(chunk, model)
        return

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if isinstance(embedder, Embedder):
        name, options = embedder.name, {**embedder.options, **options}
        expected = embedder.settings
    else:
        name, expected = embedder, None
    pool = ProcessPoolExecutor(
        max_workers=n_jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(name, options, expected),
    )
    try:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(_embed_chunk, chunk))
            if len(pending) >= 2 * n_jobs:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
    return records  # type: ignore[return-value]


def _chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


_WORKER_EMBEDDER: Embedder | None = None


def _init_worker(name: str, options: dict[str, Any], expected: dict[str, Any] | None) -> None:
    """Build the worker's embedder once; one OpenCV (and PyTorch) thread per worker process."""
    import cv2

    global _WORKER_EMBEDDER
    cv2.setNumThreads(1)
    _WORKER_EMBEDDER = get_embedder(name, **options)
    if expected is not None and _WORKER_EMBEDDER.settings != expected:
        raise ValueError(
            f"a worker rebuilt the {name} embedder with other settings than the one given; "
            "create embedders with blindface.faces.get_embedder(name, **options)"
        )
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _embed_chunk(paths: list[str], embedder: Embedder | None = None) -> list[FaceRecord]:
    model = embedder if embedder is not None else _WORKER_EMBEDDER
    assert model is not None, "worker embedder not initialised"
    return embed_paths(paths, model)
