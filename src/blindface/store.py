"""The embedding store: a dataset table plus one face embedding per image, in one Parquet file.

:func:`embed_dataset` writes the store; it is resumable and cached. Every finished chunk of
embeddings is written atomically into a cache folder beside the output (``<out>.cache/``),
keyed by the embedder (name, weights hash, settings) and by each file's content hash, so a
run killed half-way keeps its work and a rerun embeds only what is missing, with a
bit-identical result. :func:`read_store` reads a store back as arrays.

File layout: the table's columns, then ``embedding`` (``fixed_size_list<float32>[dim]``, null
where no face was embedded), ``face_status`` (``detected``, ``retried``, ``fallback``,
``failed``), ``face_reason`` and ``content_hash`` (BLAKE2b-128 of the file's bytes). The
schema metadata key ``blindface`` holds JSON: embedder name, dim, weights hash, settings,
blindface version and the status counts. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._version import __version__

STORE_COLUMNS: tuple[str, ...] = ("embedding", "face_status", "face_reason", "content_hash")
METADATA_KEY = b"blindface"
STORE_FORMAT = "blindface.store/1"


class StoreError(ValueError):
    """A file that is not a readable embedding store; the message names the file and the fix."""


@dataclass(frozen=True)
class EmbeddingStore:
    """A store read back: the table (no embedding column), the embeddings and the metadata.

    ``embeddings`` is ``float32`` of shape ``(n, dim)``; rows whose face failed are NaN.
    """

    table: pd.DataFrame
    embeddings: np.ndarray
    metadata: dict[str, Any]

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the rows that have an embedding."""
        return ~np.isnan(self.embeddings).any(axis=1)

    def __len__(self) -> int:
        return len(self.table)


def content_hash(path: str | os.PathLike[str]) -> str:
    """BLAKE2b-128 hex digest of a file's bytes: the cache key of its embedding."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embed_dataset(
    table: pd.DataFrame,
    data_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    embedder: Any = "sface",
    n_jobs: int = 2,
    progress: bool = True,
    chunk_size: int = 256,
) -> Path:
    """Embed every image of a dataset table and write the store to ``out`` (Parquet).

    Parameters
    ----------
    table
        A dataset table (see :mod:`blindface.datasets`) with a ``path`` column relative to
        ``data_root``.
    data_root
        Folder the paths are relative to.
    out
        The Parquet file to write (atomically). Finished chunks are cached in ``<out>.cache/``.
    embedder
        ``sface`` (default), ``dlib`` or an :class:`~blindface.faces.Embedder`.
    n_jobs
        Worker processes.
    progress
        Show a progress bar.
    chunk_size
        Images per cache chunk: at most this many embeddings are lost when a run is killed.

    Returns
    -------
    Path
        ``out``.
    """
    from blindface.faces import get_embedder

    if "path" not in table.columns:
        raise ValueError("the table needs a 'path' column (image paths relative to data_root)")
    clash = sorted(set(STORE_COLUMNS) & set(table.columns))
    if clash:
        raise ValueError(f"the table already has the store's column(s) {clash}; drop them first")
    root, out = Path(data_root), Path(out)
    model = get_embedder(embedder)
    identity = {
        "embedder": model.name,
        "dim": model.dim,
        "weights_hash": model.weights_hash,
        "settings": model.settings,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    cache_dir = out.parent / f"{out.name}.cache" / f"{model.name}-{key}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = _read_cache(cache_dir, model.dim)

    files = [str(root / path) for path in table["path"]]
    with _progress(progress) as bar:
        hashes, errors = _hash_files(files, bar)
        todo: dict[str, str] = {}
        for path, digest in zip(files, hashes, strict=True):
            if digest is not None and digest not in cached and digest not in todo:
                todo[digest] = path
        if todo:
            task = bar.add_task(f"embedding ({model.name})", total=len(todo))
            _embed_missing(todo, model, n_jobs, chunk_size, cache_dir, cached, bar, task)

    embeddings = np.zeros((len(files), model.dim), dtype=np.float32)
    valid = np.zeros(len(files), dtype=bool)
    statuses, reasons = [], []
    for row, (digest, error) in enumerate(zip(hashes, errors, strict=True)):
        if digest is None:
            statuses.append("failed")
            reasons.append(error)
            continue
        vector, status, reason = cached[digest]
        statuses.append(status)
        reasons.append(reason)
        if vector is not None:
            embeddings[row], valid[row] = vector, True

    metadata = {
        "format": STORE_FORMAT,
        "blindface_version": __version__,
        **identity,
        "n_images": len(files),
        "face_status_counts": dict(Counter(statuses)),
    }
    arrow = _store_table(table, embeddings, valid, statuses, reasons, hashes, metadata)
    _write_atomic(arrow, out)
    return out


def read_store(path: str | os.PathLike[str]) -> EmbeddingStore:
    """Read a store written by :func:`embed_dataset`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"embedding store {path} not found; "
            f"create it with `blindface embed DATASET --out {path}`"
        )
    try:
        arrow = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise StoreError(f"{path} is not a readable Parquet file ({exc}); re-create it") from None
    missing = [name for name in STORE_COLUMNS if name not in arrow.column_names]
    raw_meta = (arrow.schema.metadata or {}).get(METADATA_KEY)
    if missing or raw_meta is None:
        what = f"column(s) {missing}" if missing else "blindface metadata"
        raise StoreError(
            f"{path} is not an embedding store (no {what}); write it with `blindface embed`"
        )
    metadata = json.loads(raw_meta)
    column = arrow.column("embedding").combine_chunks()
    if not pa.types.is_fixed_size_list(column.type):
        raise StoreError(f"{path}: column 'embedding' is {column.type}, not a fixed-size list")
    dim = column.type.list_size
    flat = column.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    flat = flat[column.offset * dim : (column.offset + len(column)) * dim]
    embeddings = flat.reshape(len(column), dim).copy()
    embeddings[column.is_null().to_numpy(zero_copy_only=False)] = np.nan
    frame = arrow.drop_columns(["embedding"]).to_pandas()
    return EmbeddingStore(table=frame, embeddings=embeddings, metadata=metadata)


# -- internals ------------------------------------------------------------------------------


def _hash_files(files: list[str], bar) -> tuple[list[str | None], list[str | None]]:
    """Content hash of each file, or None and the reason it could not be read."""
    task = bar.add_task("hashing files", total=len(files))
    hashes: list[str | None] = []
    errors: list[str | None] = []
    for path in files:
        try:
            hashes.append(content_hash(path))
            errors.append(None)
        except FileNotFoundError:
            hashes.append(None)
            errors.append("file not found")
        except OSError as exc:
            hashes.append(None)
            errors.append(f"cannot read file ({exc.strerror or exc})")
        bar.advance(task)
    return hashes, errors


CacheEntry = tuple[np.ndarray | None, str, str | None]


def _embed_missing(
    todo: dict[str, str],
    model,
    n_jobs: int,
    chunk_size: int,
    cache_dir: Path,
    cached: dict[str, CacheEntry],
    bar,
    task,
) -> None:
    """Embed the files of ``todo`` (hash -> path), writing a cache chunk every ``chunk_size``."""
    from blindface.faces import embed_files

    digests = list(todo)
    buffer: list[tuple[str, CacheEntry]] = []
    records = embed_files(
        todo.values(), model, n_jobs=n_jobs, chunk_size=max(1, min(16, chunk_size))
    )
    for digest, record in zip(digests, records, strict=True):
        buffer.append((digest, (record.embedding, record.status, record.reason)))
        bar.advance(task)
        if len(buffer) >= chunk_size:
            _write_chunk(cache_dir, buffer, model.dim)
            cached.update(buffer)
            buffer = []
    if buffer:
        _write_chunk(cache_dir, buffer, model.dim)
        cached.update(buffer)


def _embedding_array(vectors: list[np.ndarray | None], dim: int):
    import pyarrow as pa

    values = np.zeros((len(vectors), dim), dtype=np.float32)
    mask = np.ones(len(vectors), dtype=bool)
    for row, vector in enumerate(vectors):
        if vector is not None:
            values[row], mask[row] = vector, False
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), dim, mask=pa.array(mask))


def _write_chunk(cache_dir: Path, entries: list[tuple[str, CacheEntry]], dim: int) -> None:
    import pyarrow as pa

    arrow = pa.table(
        {
            "content_hash": pa.array([digest for digest, _ in entries], pa.string()),
            "embedding": _embedding_array([entry[0] for _, entry in entries], dim),
            "face_status": pa.array([entry[1] for _, entry in entries], pa.string()),
            "face_reason": pa.array([entry[2] for _, entry in entries], pa.string()),
        }
    )
    _write_atomic(arrow, cache_dir / f"chunk-{uuid.uuid4().hex}.parquet")


def _read_cache(cache_dir: Path, dim: int) -> dict[str, CacheEntry]:
    """Every embedding cached so far (chunk files only; unfinished temp files are ignored)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cached: dict[str, CacheEntry] = {}
    for chunk in sorted(cache_dir.glob("chunk-*.parquet")):
        try:
            arrow = pq.read_table(chunk)
        except (pa.ArrowException, OSError):
            continue  # never produced by an atomic write; the rerun embeds these images again
        column = arrow.column("embedding").combine_chunks()
        flat = column.values.to_numpy(zero_copy_only=False)
        flat = flat[column.offset * dim : (column.offset + len(column)) * dim]
        vectors = flat.reshape(len(column), dim)
        null = column.is_null().to_numpy(zero_copy_only=False)
        for row, (digest, status, reason) in enumerate(
            zip(
                arrow.column("content_hash").to_pylist(),
                arrow.column("face_status").to_pylist(),
                arrow.column("face_reason").to_pylist(),
                strict=True,
            )
        ):
            cached[digest] = (None if null[row] else vectors[row].copy(), status, reason)
    return cached


def _store_table(table, embeddings, valid, statuses, reasons, hashes, metadata):
    import pyarrow as pa

    arrow = pa.Table.from_pandas(table.reset_index(drop=True), preserve_index=False)
    vectors = [embeddings[row] if valid[row] else None for row in range(len(valid))]
    arrow = arrow.append_column("embedding", _embedding_array(vectors, embeddings.shape[1]))
    arrow = arrow.append_column("face_status", pa.array(statuses, pa.string()))
    arrow = arrow.append_column("face_reason", pa.array(reasons, pa.string()))
    arrow = arrow.append_column("content_hash", pa.array(hashes, pa.string()))
    schema_meta = dict(arrow.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
    return arrow.replace_schema_metadata(schema_meta)


def _write_atomic(arrow, path: Path) -> None:
    """Write Parquet to a temp file in the same folder, then rename it over ``path``."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        pq.write_table(arrow, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _NoProgress:
    """Stands in for a rich progress bar when progress is off."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress(enabled: bool):
    if not enabled:
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


__all__: list[str] = [
    "METADATA_KEY",
    "STORE_COLUMNS",
    "EmbeddingStore",
    "StoreError",
    "content_hash",
    "embed_dataset",
    "read_store",
]
