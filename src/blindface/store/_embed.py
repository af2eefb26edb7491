"""Images to a store: :func:`embed_dataset`, resumable and cached, on the local or Ray engine."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._progress import progress_bar
from blindface.faces import embed_files, embedder_label, get_embedder
from blindface.faces._content_hash import hash_files
from blindface.store._cache import EmbeddingCache, Entry
from blindface.store._format import EMBEDDED_STATUSES, NORM_TOLERANCE, STORE_COLUMNS, StoreError
from blindface.store._layout import check_target
from blindface.store._ray import ray_entries
from blindface.store._write import PARTITION_ROWS, write_rows

ENGINES: tuple[str, ...] = ("local", "ray")


def cache_root(out: Path) -> Path:
    """The cache folder of the store ``out``."""
    return out.parent / f"{out.name}.cache"


def embed_dataset(
    table: pd.DataFrame,
    data_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    embedder: Any = "sface",
    n_jobs: int = 2,
    progress: bool = True,
    chunk_size: int = 256,
    engine: str = "local",
    address: str | None = None,
    num_actors: int | None = None,
    batch_size: int = 32,
    num_gpus: float = 0.0,
    partition_size: int = PARTITION_ROWS,
    inputs: Iterable[tuple[str, str | os.PathLike[str]]] = (),
) -> Path:
    """Embed every image of a dataset table and write the store to ``out``.

    Every finished chunk of embeddings is written atomically into ``<out>.cache/``, keyed by the
    embedder (name, weights hash, settings) and each file's content hash, so a run killed
    half-way keeps its work and a rerun embeds only what is missing, with an identical store.

    Parameters
    ----------
    table
        A dataset table (see :mod:`blindface.datasets`) with a ``path`` column relative to
        ``data_root``.
    data_root
        Folder the paths are relative to (with ``engine="ray"`` on a cluster, a folder every
        node sees at the same path).
    out
        The store to write (atomically): a Parquet file with the local engine, a partitioned
        folder (``partition_size`` rows per part) with the Ray engine.
    embedder
        ``sface`` (default), ``dlib`` or an :class:`~blindface.faces.Embedder` (the Ray engine
        and ``n_jobs > 1`` rebuild it from its name and options in each worker).
    n_jobs
        Worker processes of the local engine.
    progress
        Show progress bars.
    chunk_size
        Images per cache chunk: at most this many embeddings are lost when a run is killed.
    engine
        ``local`` (default; a process pool) or ``ray`` (Ray Data ``map_batches`` on an actor
        pool, one embedder per actor; needs ``blindface[ray]``).
    address
        Ray cluster to join (``ray`` engine); default: start a local Ray instance.
    num_actors
        Actors of the Ray engine (default ``n_jobs``).
    batch_size
        Images per Ray batch.
    num_gpus
        GPUs reserved per Ray actor.
    inputs
        The caller's input files (``("manifest", path)``), which ``out`` may not replace; nor
        may it replace one of the table's images. Checked before any work.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    StoreError
        When not a single image could be embedded (the message says why and what to check).
    OSError
        When the store cannot be written (a full disk: the message names the file).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    for name, value in (("chunk_size", chunk_size), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if "path" not in table.columns:
        raise ValueError("the table needs a 'path' column (image paths relative to data_root)")
    clash = sorted(set(STORE_COLUMNS) & set(table.columns))
    if clash:
        raise ValueError(f"the table already has the store's column(s) {clash}; drop them first")
    root, out = Path(data_root), Path(out)
    files = [os.path.abspath(root / str(path)) for path in table["path"]]
    image = os.path.abspath(out) if os.path.abspath(out) in set(files) else None
    images = [("an image of the table:", image)] if image else []
    check_target(out, partitioned=engine == "ray", inputs=[*inputs, *images])
    model = get_embedder(embedder)
    identity = {
        "embedder": model.name,
        "dim": model.dim,
        "weights_hash": model.weights_hash,
        "settings": model.settings,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    cache = EmbeddingCache(cache_root(out), embedder_label(model), key, model.dim)

    with progress_bar(progress) as bar:
        hashes, errors = hash_files(files, bar)
        todo: dict[str, str] = {}
        for path, digest in zip(files, hashes, strict=True):
            if digest is not None and digest not in cache and digest not in todo:
                todo[digest] = path
        if todo:
            task = bar.add_task(f"embedding ({model.name}, {engine})", total=len(todo))
            if engine == "local":
                entries = _local_entries(todo, model, n_jobs, chunk_size)
            else:
                entries = ray_entries(
                    todo,
                    model,
                    address=address,
                    num_actors=num_actors or n_jobs,
                    batch_size=batch_size,
                    num_gpus=num_gpus,
                )
            _fill(cache, entries, chunk_size, bar, task)

    outcomes = [
        cache.lookup(digest)[1:] if digest else ("failed", error)
        for digest, error in zip(hashes, errors, strict=True)
    ]
    if not any(status in EMBEDDED_STATUSES for status, _ in outcomes):
        reasons = [reason for _, reason in outcomes]
        raise StoreError(_nothing_embedded(out, root, files, reasons))

    def rows(start: int, stop: int):
        return _rows(hashes[start:stop], errors[start:stop], cache)

    return write_rows(
        out,
        table,
        model.dim,
        rows,
        identity,
        partitioned=engine == "ray",
        partition_size=partition_size,
    )


# -- internals ------------------------------------------------------------------------------


def _local_entries(
    todo: dict[str, str], model: Any, n_jobs: int, chunk_size: int
) -> Iterator[Entry]:
    """Embed the files of ``todo`` (hash -> path) on the local process pool."""
    records = embed_files(
        todo.values(), model, n_jobs=n_jobs, chunk_size=max(1, min(16, chunk_size))
    )
    for digest, record in zip(todo, records, strict=True):
        yield Entry(digest, record.embedding, record.status, record.reason)


def _fill(cache: EmbeddingCache, entries: Iterable[Entry], chunk_size: int, bar, task) -> None:
    """Cache ``entries`` (each checked), one chunk file every ``chunk_size`` of them."""
    buffer: list[Entry] = []
    for entry in entries:
        buffer.append(checked_entry(entry, cache.dim))
        bar.advance(task)
        if len(buffer) >= chunk_size:
            cache.add(buffer)
            buffer = []
    cache.add(buffer)


def checked_entry(entry: Entry, dim: int) -> Entry:
    """``entry``, or a ``failed`` one saying why when its embedding contradicts its status (a
    broken embedder fails that image, never the batch, and never reaches the store)."""
    if entry.status not in EMBEDDED_STATUSES:
        if entry.status == "failed" and entry.embedding is None:
            return entry
        problem = f"status {entry.status!r}" + (
            " with a vector" if entry.embedding is not None else ""
        )
    elif entry.embedding is None:
        problem = f"status {entry.status} without a vector"
    else:
        vector = np.asarray(entry.embedding, dtype=np.float32)
        norm = float(np.linalg.norm(vector)) if vector.shape == (dim,) else float("nan")
        if vector.shape == (dim,) and abs(norm - 1) <= NORM_TOLERANCE:
            return Entry(entry.digest, vector, entry.status, entry.reason)
        problem = f"shape {vector.shape}, norm {norm:.6g}; expected ({dim},), unit norm"
    reason = f"the embedder returned an unusable result ({problem})"
    return Entry(entry.digest, None, "failed", reason)


def _rows(hashes: list[str | None], errors: list[str | None], cache: EmbeddingCache):
    """The store columns of some rows, from the cache (or the reason a file was unreadable)."""
    values = np.zeros((len(hashes), cache.dim), np.float32)
    valid = np.zeros(len(hashes), bool)
    statuses: list[str] = []
    reasons: list[str | None] = []
    for row, (digest, error) in enumerate(zip(hashes, errors, strict=True)):
        if digest is None:
            statuses.append("failed")
            reasons.append(error)
            continue
        vector, status, reason = cache.lookup(digest)
        statuses.append(status)
        reasons.append(reason)
        if vector is not None:
            values[row], valid[row] = vector, True
    return values, valid, statuses, reasons, hashes


def _nothing_embedded(out: Path, root: Path, files: list[str], reasons: list[str | None]) -> str:
    """Why no image was embedded, and what to check."""
    if not files:
        return f"the table has no rows: nothing to embed, {out} not written"
    causes = Counter((reason or "no reason given").split(" (")[0] for reason in reasons)
    summary = ", ".join(f"{count} × {cause}" for cause, count in causes.most_common(4))
    top = causes.most_common(1)[0][0]
    if top == "file not found":
        first = files[reasons.index("file not found")]
        hint = (
            f"check --data-root: the table's paths are read relative to {root} "
            f"(first missing: {first})"
        )
    elif top.startswith("no face"):
        first = next(reason for reason in reasons if (reason or "").startswith("no face"))
        hint = f"check that the images show faces (first: {first})"
    else:
        hint = "check the files (unreadable or not images?) and the embedder"
    return f"none of the {len(files)} images was embedded ({summary}); {hint}. {out} not written"
