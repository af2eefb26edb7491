"""The embedding cache: every embedding computed so far, keyed by its file's content hash.

The cache of a store ``out`` is the folder ``<out>.cache/``, with one subfolder per embedder
identity (name, dim, weights hash, settings) holding sealed chunk files
(:data:`~blindface.store._format.CHUNK_FORMAT`), each named after its content digest. A chunk
that fails verification (damaged, truncated, of another embedder or dim, not a blindface chunk)
is named in a :class:`StoreWarning`, moved into ``<out>.cache/quarantine/`` and its images are
embedded again; it never reaches a store.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from blindface._io import remove_stale_temporaries
from blindface.store._format import (
    CHUNK_FORMAT,
    StoreError,
    content_digest,
    decode_embeddings,
    iter_row_groups,
    open_file,
    store_columns,
    store_fields,
    write_file,
)

QUARANTINE = "quarantine"
_MOVED = "moved aside; its images are embedded again"


class StoreWarning(UserWarning):
    """Something in a store's cache was wrong and has been dealt with (the message says how)."""


@dataclass(frozen=True)
class Entry:
    """One cached outcome: the embedding (None when ``status`` is ``failed``) and its status."""

    digest: str
    embedding: np.ndarray | None
    status: str
    reason: str | None


@dataclass(frozen=True)
class _Chunk:
    values: np.ndarray
    valid: np.ndarray
    statuses: list[str]
    reasons: list[str | None]


class EmbeddingCache:
    """The verified chunks of one embedder identity's cache folder, indexed by content hash."""

    def __init__(self, root: Path, name: str, key: str, dim: int) -> None:
        self.root = root
        self.folder = root / f"{name}-{key}"
        self.key = key
        self.dim = dim
        self._chunks: list[_Chunk] = []
        self._where: dict[str, tuple[int, int]] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)
        for chunk in sorted(self.folder.glob("chunk-*.parquet")):
            try:
                self._index(self._read(chunk))
            except StoreError as exc:
                self._quarantine(chunk, exc)

    def __contains__(self, digest: object) -> bool:
        return digest in self._where

    def __len__(self) -> int:
        return len(self._where)

    def add(self, entries: list[Entry]) -> None:
        """Write ``entries`` as one chunk (atomically) and index them."""
        if not entries:
            return
        values = np.zeros((len(entries), self.dim), np.float32)
        valid = np.zeros(len(entries), bool)
        for row, entry in enumerate(entries):
            if entry.embedding is not None:
                values[row], valid[row] = entry.embedding, True
        table = pa.Table.from_arrays(
            store_columns(
                values,
                valid,
                [entry.status for entry in entries],
                [entry.reason for entry in entries],
                [entry.digest for entry in entries],
            ),
            schema=pa.schema(store_fields(self.dim)),
        )
        name = f"chunk-{content_digest(table)[:32]}.parquet"
        meta = {"format": CHUNK_FORMAT, "embedder_key": self.key}
        write_file(self.folder / name, table.schema, [table], meta, unit_norm=True)
        self._index(table)

    def lookup(self, digest: str) -> tuple[np.ndarray | None, str, str | None]:
        """The embedding (None if failed), status and reason cached for ``digest``."""
        chunk_no, row = self._where[digest]
        chunk = self._chunks[chunk_no]
        vector = chunk.values[row] if chunk.valid[row] else None
        return vector, chunk.statuses[row], chunk.reasons[row]

    def _read(self, path: Path) -> pa.Table:
        store_file = open_file(path, (CHUNK_FORMAT,), _MOVED)
        key, dim = store_file.meta.get("embedder_key"), store_file.meta.get("dim")
        if key != self.key or dim != self.dim:
            raise StoreError(
                f"{path} belongs to another embedder (key {key}, dim {dim}; this folder is for "
                f"key {self.key}, dim {self.dim}); {_MOVED}"
            )
        return pa.concat_tables(list(iter_row_groups(store_file, _MOVED)))

    def _index(self, table: pa.Table) -> None:
        values, valid = decode_embeddings(table.column("embedding"))
        chunk = _Chunk(
            values,
            valid,
            table.column("face_status").to_pylist(),
            table.column("face_reason").to_pylist(),
        )
        self._chunks.append(chunk)
        number = len(self._chunks) - 1
        for row, digest in enumerate(table.column("content_hash").to_pylist()):
            self._where.setdefault(digest, (number, row))

    def _quarantine(self, chunk: Path, error: StoreError) -> None:
        """Move a bad chunk into ``quarantine/`` (kept for inspection) and say so."""
        target = self.root / QUARANTINE / f"{self.folder.name}-{os.getpid()}-{chunk.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(chunk, target)
        except FileNotFoundError:
            return  # a concurrent run moved it first
        warnings.warn(f"cache chunk: {error} (now {target})", StoreWarning, stacklevel=4)
