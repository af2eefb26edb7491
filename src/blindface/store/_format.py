"""The on-disk format: columns, metadata, checksums; writing and verified reading of one file.

Every Parquet file of the store (a single-file store, each part of a partitioned store, each
cache chunk) carries a JSON object in its file metadata under the key ``blindface``:

``format``
    ``blindface.store/2``, ``blindface.store-part/2`` or ``blindface.cache-chunk/2``.
``columns``, ``column_types``, ``pandas_metadata``, ``dim``, ``n_images``, ``face_status_counts``
    Set by the writer from what it wrote. Readers rebuild the DataFrame from the sealed
    ``pandas_metadata``, never from the unsealed copy Arrow keeps in the footer.
``integrity``
    ``{"algorithm": "blake2b-256", "row_groups": [[rows, digest], ...], "digest": ...}``: the
    digest of each row group's content (embedding values and validity, content hashes, statuses,
    reasons) and a digest sealing the whole object (everything but itself), so a changed
    setting, count or column name is caught as surely as a changed embedding.

Pages are written with Parquet's CRC32 page checksums, which cover the label columns too; the
reader verifies them, recomputes every row-group digest before handing the rows out, and checks
each row: a ``detected``, ``retried`` or ``fallback`` row holds a finite embedding (of unit norm,
within :data:`NORM_TOLERANCE`, unless the store is blinded), a ``failed`` row holds none.
Stores written before checksums existed (``blindface.store/1``) are read without the digests.

The module is longer than most (about 440 lines) on purpose: it is the one place that knows the
bytes on disk, so the writer and the verifying reader of each check stay side by side.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from blindface._io import write_with
from blindface._json import loads_bounded
from blindface._safe_read import check_regular_file

METADATA_KEY = b"blindface"
STORE_COLUMNS: tuple[str, ...] = ("embedding", "face_status", "face_reason", "content_hash")
STORE_FORMAT = "blindface.store/2"
PART_FORMAT = "blindface.store-part/2"
CHUNK_FORMAT = "blindface.cache-chunk/2"
LEGACY_FORMAT = "blindface.store/1"
DIGEST_ALGORITHM = "blake2b-256"
#: The statuses of rows that hold an embedding.
EMBEDDED_STATUSES: tuple[str, ...] = ("detected", "retried", "fallback")
FACE_STATUSES: tuple[str, ...] = (*EMBEDDED_STATUSES, "failed")
#: How far from 1 the norm of a raw (not blinded) embedding may be.
NORM_TOLERANCE = 1e-3
#: Rows per Parquet row group: the unit of verification and of streaming reads.
ROW_GROUP_ROWS = 16_384
#: Largest decompressed size of the label columns of one row group (a real store's stay far
#: below it: paths and labels of 16,384 rows), beside the ``rows x dim`` floats of the embedding
#: column. Checked before a row group is read, so a small file whose columns decompress to
#: gigabytes is refused instead of read.
MAX_LABEL_BYTES = 64 << 20
#: Largest blindface metadata (JSON) in a file's footer.
MAX_METADATA_BYTES = 16 << 20
#: Widest embedding a store may hold (recognizers give 128 to 4,096 values).
MAX_DIM = 65_536
_LEGACY_KEYS = frozenset(
    {
        "format",
        "blindface_version",
        "embedder",
        "dim",
        "weights_hash",
        "settings",
        "n_images",
        "face_status_counts",
        "blinding",
    }
)


class StoreError(ValueError):
    """A store (or store file) that cannot be trusted or used; the message names the file and
    the fix."""


@dataclass(frozen=True)
class StoreFile:
    """One verified-footer Parquet file of the store: its metadata (without ``integrity``) and
    the expected ``(rows, digest)`` of each row group (empty for a legacy store)."""

    path: Path
    meta: dict[str, Any]
    row_groups: tuple[tuple[int, str], ...]
    digest: str | None
    unit_norm: bool


# -- columns --------------------------------------------------------------------------------


def embedding_type(dim: int) -> pa.DataType:
    return pa.list_(pa.float32(), dim)


def store_fields(dim: int) -> list[pa.Field]:
    """The four columns every store file ends with."""
    return [
        pa.field("embedding", embedding_type(dim)),
        pa.field("face_status", pa.string()),
        pa.field("face_reason", pa.string()),
        pa.field("content_hash", pa.string()),
    ]


def embedding_column(values: np.ndarray, valid: np.ndarray) -> pa.FixedSizeListArray:
    """``values`` (``n x dim`` float32) as a fixed-size-list column, null where not ``valid``."""
    values = np.where(valid[:, None], values, 0).astype("<f4", copy=False)
    return pa.FixedSizeListArray.from_arrays(
        pa.array(values.reshape(-1), pa.float32()), values.shape[1], mask=pa.array(~valid)
    )


def store_columns(
    values: np.ndarray,
    valid: np.ndarray,
    statuses: list[str],
    reasons: list[str | None],
    hashes: list[str | None],
) -> list[pa.Array]:
    """The store columns (in :data:`STORE_COLUMNS` order) of a slice of rows."""
    return [
        embedding_column(values, valid),
        pa.array(statuses, pa.string()),
        pa.array(reasons, pa.string()),
        pa.array(hashes, pa.string()),
    ]


def decode_embeddings(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(values, valid)`` of an embedding column; rows without an embedding are zero."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not isinstance(array, pa.FixedSizeListArray) or array.type.value_type != pa.float32():
        raise TypeError(f"the embedding column is {array.type}, not fixed_size_list<float>")
    dim = array.type.list_size
    flat = array.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    flat = flat[array.offset * dim : (array.offset + len(array)) * dim]
    values = flat.reshape(len(array), dim).copy()
    valid = ~array.is_null().to_numpy(zero_copy_only=False)
    values[~valid] = 0
    return values, valid


def map_embeddings(
    table: pa.Table, transform: Callable[[np.ndarray], np.ndarray], schema: pa.Schema
) -> pa.Table:
    """``table`` (a verified row group) with ``transform`` applied to the embeddings it holds
    (rows without one stay null), as ``schema`` (see :func:`with_embedding_dim`)."""
    values, valid = decode_embeddings(table.column("embedding"))
    mapped = np.zeros((len(values), schema.field("embedding").type.list_size), np.float32)
    if valid.any():
        mapped[valid] = transform(values[valid])
    index = table.column_names.index("embedding")
    table = table.set_column(index, schema.field("embedding"), embedding_column(mapped, valid))
    return table.select(schema.names).cast(schema)


def with_embedding_dim(source: pa.Schema, dim: int) -> pa.Schema:
    """The schema of ``source`` with a ``dim``-wide embedding and without the old footer."""
    index = source.get_field_index("embedding")
    schema = source.set(index, pa.field("embedding", embedding_type(dim)))
    kept = {k: v for k, v in (source.metadata or {}).items() if k != METADATA_KEY}
    return schema.with_metadata(kept)


# -- checksums ------------------------------------------------------------------------------


def content_digest(table: pa.Table, decoded: tuple[np.ndarray, np.ndarray] | None = None) -> str:
    """BLAKE2b-256 of the store columns of ``table``, independent of how its rows are chunked:
    of the embedding values (float32, zero where null), their validity, and of each string
    column its values' UTF-8 lengths (-1 for null) and bytes. ``decoded``: the embedding
    column's :func:`decode_embeddings`, when the caller has it already."""
    values, valid = decoded or decode_embeddings(table.column("embedding"))
    parts = [
        _blake(np.ascontiguousarray(values, "<f4")),
        _blake(np.ascontiguousarray(valid, np.uint8)),
    ]
    for name in STORE_COLUMNS[1:]:
        parts.append(_string_digest(table.column(name)))
    return _blake("".join(parts).encode())


def _string_digest(column: pa.ChunkedArray) -> str:
    array = column.combine_chunks().cast(pa.string())
    null = array.is_null().to_numpy(zero_copy_only=False)
    filled = pc.fill_null(array, "")
    _, offsets_buffer, data = filled.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[
        filled.offset : filled.offset + len(filled) + 1
    ]
    lengths = np.diff(offsets).astype("<i8")
    lengths[null] = -1
    text = memoryview(data)[offsets[0] : offsets[-1]] if data is not None else b""
    return _blake(lengths) + _blake(text)


def _blake(data: Any) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def seal(meta: Mapping[str, Any], row_groups: list[tuple[int, str]] | None = None) -> dict:
    """``meta`` with its ``integrity`` entry: the row-group digests and a digest over it all."""
    sealed = dict(meta)
    integrity: dict[str, Any] = {"algorithm": DIGEST_ALGORITHM}
    if row_groups is not None:
        integrity["row_groups"] = [[int(rows), digest] for rows, digest in row_groups]
    sealed["integrity"] = integrity
    integrity["digest"] = _blake(canonical_json(sealed))
    return sealed


def unseal(meta: Any, where: Path | str, fix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the seal of ``meta``; return it without ``integrity``, and the ``integrity``."""
    if not isinstance(meta, dict) or not isinstance(meta.get("integrity"), dict):
        raise StoreError(f"{where} has no integrity record; {fix}")
    integrity = dict(meta["integrity"])
    unsealed = {k: v for k, v in integrity.items() if k != "digest"}
    if integrity.get("algorithm") != DIGEST_ALGORITHM:
        raise StoreError(f"{where}: unknown checksum {integrity.get('algorithm')!r}; {fix}")
    if integrity.get("digest") != _blake(canonical_json({**meta, "integrity": unsealed})):
        raise StoreError(f"{where}: its metadata does not match its checksum (damaged); {fix}")
    return {k: v for k, v in meta.items() if k != "integrity"}, integrity


# -- rows -----------------------------------------------------------------------------------


def row_problem(
    values: np.ndarray, valid: np.ndarray, statuses: list[str], *, unit_norm: bool
) -> tuple[int, str] | None:
    """The first row whose embedding contradicts its status, and what is wrong; or None."""
    status = np.asarray(statuses, dtype=object)
    embedded = np.isin(status, EMBEDDED_STATUSES)
    known = embedded | (status == "failed")
    finite = np.asarray(np.isfinite(values).all(axis=1), dtype=bool)
    norm = np.linalg.norm(np.where(finite[:, None], values, 0), axis=1)
    checks = [
        (~known, lambda i: f"has the unknown face_status {status[i]!r}"),
        (embedded & ~valid, lambda i: f"is marked {status[i]} but holds no embedding"),
        (~embedded & known & valid, lambda i: "is marked failed but holds an embedding"),
        (embedded & valid & ~finite, lambda i: f"is marked {status[i]} but is not finite"),
    ]
    if unit_norm:
        off = embedded & valid & finite & (np.abs(norm - 1) > NORM_TOLERANCE)
        checks.append((off, lambda i: f"is marked {status[i]} but has norm {norm[i]:.6g}, not 1"))
    for mask, describe in checks:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            return row, describe(row)
    return None


# -- writing --------------------------------------------------------------------------------


def type_names(schema: pa.Schema) -> list[str]:
    """Each column's type, spelled the same before and after a Parquet round trip."""
    return [
        f"fixed_size_list<{field.type.value_type}>[{field.type.list_size}]"
        if pa.types.is_fixed_size_list(field.type)
        else str(field.type)
        for field in schema
    ]


def schema_meta(schema: pa.Schema) -> dict[str, Any]:
    """The metadata entries that describe a file's schema (sealed, checked on read)."""
    pandas = (schema.metadata or {}).get(b"pandas")
    return {
        "columns": schema.names,
        "column_types": type_names(schema),
        "pandas_metadata": pandas.decode() if pandas is not None else None,
        "dim": schema.field("embedding").type.list_size,
    }


@dataclass(frozen=True)
class Written:
    """What :func:`write_file` wrote: rows, status counts and the file's sealing digest."""

    rows: int
    counts: dict[str, int]
    digest: str


def write_file(
    path: Path,
    schema: pa.Schema,
    row_groups: Iterable[pa.Table],
    meta: Mapping[str, Any],
    *,
    unit_norm: bool,
) -> Written:
    """Write ``row_groups`` (tables of ``schema``) atomically as one Parquet file, one row group
    each, with ``meta`` completed (format fields, counts, checksums) and sealed in the footer."""
    digests: list[tuple[int, str]] = []
    counts: Counter[str] = Counter()
    sealed: dict[str, Any] = {}

    def write(handle: IO[bytes]) -> None:
        writer = pq.ParquetWriter(handle, schema, write_page_checksum=True)
        try:
            for table in row_groups:
                table = table.cast(schema)
                values, valid = decode_embeddings(table.column("embedding"))
                statuses = table.column("face_status").to_pylist()
                problem = row_problem(values, valid, statuses, unit_norm=unit_norm)
                if problem is not None:
                    row, what = problem
                    raise StoreError(
                        f"refusing to write {path}: row {sum(r for r, _ in digests) + row} {what}"
                    )
                counts.update(statuses)
                digests.append((table.num_rows, content_digest(table, (values, valid))))
                writer.write_table(table, row_group_size=max(1, table.num_rows))
            if not digests:
                raise StoreError(f"refusing to write {path}: it would hold no rows")
            full = {
                **meta,
                **schema_meta(schema),
                "n_images": sum(rows for rows, _ in digests),
                "face_status_counts": dict(sorted(counts.items())),
            }
            sealed.update(seal(full, digests))
            writer.add_key_value_metadata({METADATA_KEY.decode(): canonical_json(sealed).decode()})
        finally:
            writer.close()

    write_with(path, write)
    return Written(sealed["n_images"], sealed["face_status_counts"], sealed["integrity"]["digest"])


# -- reading --------------------------------------------------------------------------------


def to_pandas(table: pa.Table, meta: Mapping[str, Any]) -> Any:
    """``table`` as a DataFrame, its dtypes taken from the sealed ``pandas_metadata`` (a legacy
    store: from the file's own)."""
    if "pandas_metadata" in meta:
        pandas = meta["pandas_metadata"]
        table = table.replace_schema_metadata({"pandas": pandas} if pandas else None)
    return table.to_pandas()


def open_file(path: Path, formats: tuple[str, ...], fix: str) -> StoreFile:
    """The footer of a store file, checked: a regular file, readable, ours, of one of
    ``formats``, sealed."""
    try:
        check_regular_file(
            path, "store file", error=lambda message: StoreError(f"{message}; {fix}")
        )
    except FileNotFoundError:
        raise StoreError(f"{path} is missing; {fix}") from None
    try:
        parquet = pq.ParquetFile(path, page_checksum_verification=True)
        raw = (parquet.metadata.metadata or {}).get(METADATA_KEY)
        names = parquet.schema_arrow.names
        schema = parquet.schema_arrow
        n_groups = parquet.metadata.num_row_groups
        n_rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: undecodable names
        raise StoreError(f"{path} is not a readable Parquet file ({exc}); {fix}") from None
    missing = [name for name in STORE_COLUMNS if name not in names]
    if missing or raw is None:
        what = f"column(s) {missing}" if missing else "blindface metadata"
        raise StoreError(f"{path} is not an embedding store (no {what}); {fix}")
    meta = loads_bounded(
        raw,
        f"{path}: its blindface metadata",
        max_bytes=MAX_METADATA_BYTES,
        error=lambda message: StoreError(f"{message} (damaged); {fix}"),
    )
    column = schema.field("embedding").type
    if not pa.types.is_fixed_size_list(column) or column.value_type != pa.float32():
        raise StoreError(f"{path}: column 'embedding' is {column}, not a fixed-size list; {fix}")
    if column.list_size > MAX_DIM:
        raise StoreError(f"{path}: embeddings of {column.list_size} values (at most {MAX_DIM})")
    unit_norm = isinstance(meta, dict) and "blinding" not in meta
    if _is_legacy(meta, formats):
        return StoreFile(path, meta, (), None, unit_norm)
    meta, integrity = unseal(meta, path, fix)
    groups = tuple((int(rows), str(digest)) for rows, digest in integrity.get("row_groups", []))
    if meta.get("format") not in formats:
        raise StoreError(f"{path} is a {meta.get('format')!r} file, not {' or '.join(formats)}")
    problems = []
    if meta.get("columns") != names:
        problems.append(f"columns {names} instead of {meta.get('columns')}")
    elif meta.get("column_types") != type_names(schema):
        problems.append(f"column types {type_names(schema)} not as recorded")
    if meta.get("dim") != column.list_size:
        problems.append(f"dim {column.list_size} instead of {meta.get('dim')}")
    if len(groups) != n_groups or sum(rows for rows, _ in groups) != n_rows:
        problems.append(f"{n_groups} row groups of {n_rows} rows, not as recorded")
    if meta.get("n_images") != n_rows:
        problems.append(f"{n_rows} rows instead of {meta.get('n_images')}")
    if problems:
        raise StoreError(f"{path} is damaged ({'; '.join(problems)}); {fix}")
    return StoreFile(path, meta, groups, str(integrity["digest"]), unit_norm)


def _is_legacy(meta: Any, formats: tuple[str, ...]) -> bool:
    return (
        STORE_FORMAT in formats
        and isinstance(meta, dict)
        and meta.get("format", LEGACY_FORMAT) == LEGACY_FORMAT
        and set(meta) <= _LEGACY_KEYS
    )


def iter_row_groups(
    store_file: StoreFile, fix: str, *, columns: list[str] | None = None, first_row: int = 0
) -> Iterator[pa.Table]:
    """Every row group of ``store_file``, each verified (checksums, rows) before it is yielded.

    ``columns`` restricts the label columns read; the store columns are always read (they are
    what the digests cover). ``first_row`` numbers rows in error messages.
    """
    try:
        parquet = pq.ParquetFile(store_file.path, page_checksum_verification=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise StoreError(
            f"{store_file.path} is not a readable Parquet file ({exc}); {fix}"
        ) from None
    wanted = None
    if columns is not None:
        wanted = [c for c in parquet.schema_arrow.names if c in columns or c in STORE_COLUMNS]
    row = first_row
    for index in range(parquet.metadata.num_row_groups):
        expected = store_file.row_groups[index] if store_file.row_groups else None
        table = read_row_group(
            store_file.path,
            index,
            fix,
            parquet=parquet,
            expected=expected,
            unit_norm=store_file.unit_norm,
            columns=wanted,
            first_row=row,
        )
        row += table.num_rows
        yield table


def read_row_group(
    path: Path,
    index: int,
    fix: str,
    *,
    expected: tuple[int, str] | None,
    unit_norm: bool,
    parquet: pq.ParquetFile | None = None,
    columns: list[str] | None = None,
    first_row: int = 0,
) -> pa.Table:
    """Row group ``index`` of the store file ``path`` (or its open ``parquet``), verified: page
    CRCs, its ``expected`` ``(rows, digest)`` (None for a legacy store) and every row's
    embedding against its status. A row group larger than a store can hold is refused before
    it is read (:data:`MAX_LABEL_BYTES`)."""
    try:
        if parquet is None:
            parquet = pq.ParquetFile(path, page_checksum_verification=True)
        _check_sizes(parquet, index, path, fix)
        table = parquet.read_row_group(index, columns=columns)
        values, valid = decode_embeddings(table.column("embedding"))
        statuses = table.column("face_status").to_pylist()
        digest = content_digest(table, (values, valid)) if expected is not None else None
    except StoreError:
        raise
    except (pa.ArrowException, OSError, TypeError, ValueError) as exc:
        raise StoreError(f"{path}: row group {index} cannot be read ({exc}); {fix}") from None
    if expected is not None and (table.num_rows, digest) != tuple(expected):
        raise StoreError(
            f"{path}: the data of row group {index} does not match its checksum (damaged); {fix}"
        )
    problem = row_problem(values, valid, statuses, unit_norm=unit_norm)
    if problem is not None:
        raise StoreError(f"{path}: row {first_row + problem[0]} {problem[1]}; {fix}")
    return table


def _check_sizes(parquet: pq.ParquetFile, index: int, path: Path, fix: str) -> None:
    """Refuse, from the footer and before any of it is read, a row group that would decompress
    to more than a store holds (see :data:`MAX_LABEL_BYTES`).

    The row group's total is used, not each column's: Arrow aborts the process on some damaged
    column metadata, so the per-column entries are left to the reader, which reports them.
    """
    group = parquet.metadata.row_group(index)
    dim = min(parquet.schema_arrow.field("embedding").type.list_size, MAX_DIM)
    limit = MAX_LABEL_BYTES + 8 * group.num_rows * dim
    if group.total_byte_size > limit:
        raise StoreError(
            f"{path}: row group {index} decompresses to {group.total_byte_size / 2**20:,.0f} MiB "
            f"for {group.num_rows} rows (a store holds at most {limit / 2**20:,.0f} MiB): "
            f"refusing to read it; drop the large columns from the table, or {fix}"
        )
