"""Embed many image files: order-preserving, chunked, over a pool of worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from blindface.faces._embedder import Embedder
from blindface.faces._records import FaceRecord, embed_paths
from blindface.faces._registry import embedder_factory, get_embedder
from blindface.faces._workers import WorkerPool


def embed_files(
    paths: Iterable[str | os.PathLike[str]],
    embedder: str | Embedder = "sface",
    n_jobs: int = 2,
    chunk_size: int = 32,
    **options: Any,
) -> Iterator[FaceRecord]:
    """Embed every file of ``paths``, yielding one :class:`FaceRecord` per path, in order.

    A file that cannot be read, holds no face, or even crashes a worker process gets a
    ``failed`` record with the reason; the batch goes on.

    Parameters
    ----------
    paths
        Image files (any iterable; it is consumed lazily).
    embedder
        An embedder name (see :data:`EMBEDDER_NAMES`) or an :class:`Embedder`; ``options``
        are passed to :func:`get_embedder`.
    n_jobs
        Worker processes (each builds its own embedder and runs on one thread); 1 runs
        everything in this process. Workers are started with ``spawn``, so a script that
        calls this with ``n_jobs > 1`` needs the usual ``if __name__ == "__main__":`` guard.
        They exit when this process dies. The embeddings are bit-identical whatever
        ``n_jobs`` and ``chunk_size``.
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
            yield from embed_paths(chunk, model)
        return
    if isinstance(embedder, Embedder):
        name, options = embedder.name, {**embedder.options, **options}
        expected = embedder.settings
    else:
        name, expected = embedder, None
    with WorkerPool(embedder_factory(name), options, expected, n_jobs) as pool:
        yield from pool.embed(chunks)


def _chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
