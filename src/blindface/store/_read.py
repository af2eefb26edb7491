"""Reading stores back: whole (:func:`read_store`), in batches (:func:`iter_store_batches`) or
just the metadata (:func:`read_metadata`); single files and partitioned folders alike."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from blindface.store._format import decode_embeddings, to_pandas
from blindface.store._layout import open_store


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
        """Boolean mask of the rows that hold a (finite) embedding."""
        return np.asarray(np.isfinite(self.embeddings).all(axis=1), dtype=bool)

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class StoreBatch:
    """Consecutive rows of a store: embeddings (NaN where no face) and their table rows.

    Unpacks as ``X, table = batch``, the ``(X, table)`` pairs a streaming fit consumes.
    """

    embeddings: np.ndarray
    table: pd.DataFrame

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the rows that hold a (finite) embedding."""
        return np.asarray(np.isfinite(self.embeddings).all(axis=1), dtype=bool)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.embeddings, self.table))

    def __len__(self) -> int:
        return len(self.table)


def count_parts(path: str | os.PathLike[str]) -> int:
    """How many files hold the store's rows (1 for a single-file store)."""
    return len(open_store(path).files)


def store_digest(path: str | os.PathLike[str]) -> str | None:
    """The digest sealing a store's content and metadata (None for a store written before
    checksums existed): two stores with one digest hold the same rows."""
    return open_store(path).digest


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a store (embedder, dim, counts, ...), read and verified from its footer
    or manifest without reading the rows."""
    return open_store(path).metadata


def read_store(path: str | os.PathLike[str], *, columns: list[str] | None = None) -> EmbeddingStore:
    """Read a store (a Parquet file or a partitioned folder), verifying every checksum.

    ``columns`` restricts the table to those label columns (the ones the store has; the store
    columns ``face_status``, ``face_reason``, ``content_hash`` are always read): a command reads
    only what it needs.

    Raises
    ------
    FileNotFoundError
        No such file or folder.
    StoreError
        Not a store, or damaged (the message names the file and how to re-create it).
    """
    layout = open_store(path)
    arrow = pa.concat_tables(list(layout.row_groups(columns)))
    embeddings = _embeddings(arrow.column("embedding"))
    frame = to_pandas(arrow.drop_columns(["embedding"]), layout.meta)
    return EmbeddingStore(table=frame, embeddings=embeddings, metadata=layout.metadata)


def iter_store_batches(
    path: str | os.PathLike[str],
    *,
    batch_size: int = 65_536,
    columns: list[str] | None = None,
    embedded_only: bool = False,
    part: int | None = None,
) -> Iterator[StoreBatch]:
    """Stream a store in batches of at most ``batch_size`` rows, in row order, memory flat.

    One row group (at most :data:`~blindface.store._format.ROW_GROUP_ROWS` rows) is in memory
    at a time; each is verified before any of its rows is yielded.

    Parameters
    ----------
    columns
        Table columns to return (default: all but ``embedding``).
    embedded_only
        Only the rows that hold an embedding (what a fit wants); batches may then be shorter.
    part
        Only this file of the store (``0 <= part < count_parts(path)``): one task per part
        spreads a pass over a partitioned store across workers.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    layout = open_store(path)
    if columns is not None:
        unknown = sorted(set(columns) - set(layout.meta.get("columns", columns)))
        if unknown:
            raise ValueError(f"{path} has no column(s) {unknown}")
    if part is not None and not 0 <= part < len(layout.files):
        raise ValueError(f"{path} has {len(layout.files)} part(s); part={part} does not exist")
    for group in layout.row_groups(columns, part=part):
        embeddings = _embeddings(group.column("embedding"))
        keep = [c for c in group.column_names if c != "embedding"]
        if columns is not None:
            keep = [c for c in keep if c in columns]
        frame = to_pandas(group.select(keep), layout.meta)
        if embedded_only:
            ok = np.asarray(np.isfinite(embeddings).all(axis=1), dtype=bool)
            embeddings, frame = embeddings[ok], frame[ok].reset_index(drop=True)
        for start in range(0, len(frame), batch_size):
            stop = start + batch_size
            yield StoreBatch(embeddings[start:stop], frame.iloc[start:stop].reset_index(drop=True))


def _embeddings(column: pa.ChunkedArray) -> np.ndarray:
    values, valid = decode_embeddings(column)
    values[~valid] = np.nan
    return values
