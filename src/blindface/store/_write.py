"""Writing a store from its table and per-row store columns, in either layout."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from blindface._version import __version__
from blindface.store._format import ROW_GROUP_ROWS, STORE_COLUMNS, store_columns, store_fields
from blindface.store._layout import write_partitioned, write_store_file

#: Rows per part file of a partitioned store.
PARTITION_ROWS = 100_000
#: ``rows(start, stop)``: the embeddings (``n x dim``), validity, statuses, reasons and content
#: hashes of rows ``start:stop``.
RowSource = Callable[
    [int, int], tuple[np.ndarray, np.ndarray, list[str], list[str | None], list[str | None]]
]


def write_rows(
    out: Path,
    table: pd.DataFrame,
    dim: int,
    rows: RowSource,
    meta: Mapping[str, Any],
    *,
    partitioned: bool,
    partition_size: int = PARTITION_ROWS,
) -> Path:
    """Write ``table`` with the store columns that ``rows`` gives, one row group at a time."""
    if partition_size < 1:
        raise ValueError(f"partition_size must be >= 1, got {partition_size}")
    frame = table.reset_index(drop=True)
    labels = pa.Schema.from_pandas(frame, preserve_index=False)
    schema = pa.schema([*labels, *store_fields(dim)], metadata=labels.metadata)
    meta = {"blindface_version": __version__, **meta}

    def row_groups(start: int, stop: int) -> Iterator[pa.Table]:
        for first in range(start, stop, ROW_GROUP_ROWS):
            last = min(stop, first + ROW_GROUP_ROWS)
            part = pa.Table.from_pandas(frame.iloc[first:last], schema=labels, preserve_index=False)
            store = store_columns(*rows(first, last))
            yield pa.Table.from_arrays([*part.columns, *store], schema=schema)

    if not partitioned:
        return write_store_file(out, schema, row_groups(0, len(frame)), meta)
    parts = (
        (index, row_groups(start, min(len(frame), start + partition_size)))
        for index, start in enumerate(range(0, len(frame), partition_size))
    )
    return write_partitioned(out, schema, parts, meta)


def write_store(
    out: str | os.PathLike[str],
    table: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    face_status: Sequence[str] | None = None,
    face_reason: Sequence[str | None] | None = None,
    content_hash: Sequence[str | None] | None = None,
    metadata: Mapping[str, Any] | None = None,
    partitioned: bool = False,
    partition_size: int = PARTITION_ROWS,
) -> Path:
    """Write ``table`` and its ``embeddings`` (``n x dim``, NaN rows for no face) as a store.

    For stores made by other means than :func:`embed_dataset` (synthetic data, tests, imports).
    ``face_status`` defaults to ``detected`` for finite rows and ``failed`` for the others;
    ``metadata`` (e.g. ``{"embedder": "synthetic"}``) is stored beside what the writer records.
    Rows marked as embedded must be finite and, unless ``metadata`` has a ``blinding`` entry,
    of unit norm. ``partitioned`` writes a folder of parts of ``partition_size`` rows.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) != len(table):
        raise ValueError(
            f"embeddings must be (n_rows, dim) = ({len(table)}, dim), got {embeddings.shape}"
        )
    clash = sorted(set(STORE_COLUMNS) & set(table.columns))
    if clash:
        raise ValueError(f"the table already has the store's column(s) {clash}; drop them first")
    n = len(embeddings)
    finite = np.asarray(np.isfinite(embeddings).all(axis=1), dtype=bool)
    statuses = (
        list(face_status)
        if face_status is not None
        else ["detected" if ok else "failed" for ok in finite]
    )
    reasons: list[str | None] = list(face_reason) if face_reason is not None else [None] * n
    hashes: list[str | None] = list(content_hash) if content_hash is not None else [None] * n
    if not len(statuses) == len(reasons) == len(hashes) == n:
        raise ValueError(f"face_status, face_reason and content_hash need {n} values each")
    valid = finite & np.array([status != "failed" for status in statuses], dtype=bool)

    def rows(start: int, stop: int):
        return (
            embeddings[start:stop],
            valid[start:stop],
            statuses[start:stop],
            reasons[start:stop],
            hashes[start:stop],
        )

    return write_rows(
        Path(out),
        table,
        embeddings.shape[1],
        rows,
        metadata or {},
        partitioned=partitioned,
        partition_size=partition_size,
    )
