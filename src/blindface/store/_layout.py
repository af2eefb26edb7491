"""The two layouts of a store: one Parquet file, or a partitioned folder of Parquet parts.

A partitioned store is a folder of ``part-00000.parquet``, ``part-00001.parquet``, ... (each a
sealed :data:`~blindface.store._format.PART_FORMAT` file) and a ``_blindface.json`` manifest,
written last and sealed like a file footer: the store's metadata and, per part, its file name,
rows and digest. The manifest makes a missing, extra, swapped or foreign part an error. The
folder is written atomically (:func:`blindface._io.write_folder`). Other Parquet readers
(``pyarrow.dataset``, Ray, Spark) read the parts and skip the manifest, whose name starts with
an underscore.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from blindface._io import write_folder, write_json
from blindface._json import read_json
from blindface._outputs import check_output
from blindface._safe_read import check_regular_file
from blindface.store._format import (
    METADATA_KEY,
    PART_FORMAT,
    STORE_FORMAT,
    StoreError,
    StoreFile,
    canonical_json,
    iter_row_groups,
    open_file,
    read_row_group,
    schema_meta,
    seal,
    unseal,
    write_file,
)

MANIFEST_NAME = "_blindface.json"
#: Largest manifest read (its parts are listed in about 150 bytes each).
MAX_MANIFEST_BYTES = 64 << 20
PART_NAME = "part-{:05d}.parquet"
#: Keys the writer sets from what it writes; everything else is the caller's metadata.
WRITER_KEYS = frozenset(
    {
        "format",
        "columns",
        "column_types",
        "pandas_metadata",
        "dim",
        "n_images",
        "face_status_counts",
    }
)
#: Keys kept from the public metadata: how the format checks itself, not what a user asks.
_INTERNAL_KEYS = ("column_types", "pandas_metadata")


@dataclass(frozen=True)
class RowGroupRef:
    """One row group of a store, to be read on its own (one task each, on another process):
    its file, its index there, its expected rows and digest (``""`` for a store written before
    checksums) and the store row of its first row."""

    file: str
    group: int
    rows: int
    digest: str
    first_row: int

    def read(self, fix: str, *, unit_norm: bool) -> pa.Table:
        """The row group, verified as :meth:`StoreLayout.row_groups` verifies it."""
        return read_row_group(
            Path(self.file),
            self.group,
            fix,
            expected=(self.rows, self.digest) if self.digest else None,
            unit_norm=unit_norm,
            first_row=self.first_row,
        )


@dataclass(frozen=True)
class StoreLayout:
    """An opened store: its metadata (no integrity record), its files and their first rows,
    and the digest sealing it (its file's, or its manifest's; None for a legacy store)."""

    path: Path
    meta: dict[str, Any]
    files: tuple[StoreFile, ...]
    offsets: tuple[int, ...]
    digest: str | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata a user sees (no format internals)."""
        return {key: value for key, value in self.meta.items() if key not in _INTERNAL_KEYS}

    @property
    def partitioned(self) -> bool:
        return self.path.is_dir()

    @property
    def fix(self) -> str:
        return fix_for(self.path, self.meta)

    def row_groups(
        self, columns: list[str] | None = None, *, part: int | None = None
    ) -> Iterator[pa.Table]:
        """Every row group of the store (of file ``part`` only, when given) in order, each
        verified before it is yielded."""
        for index, (store_file, offset) in enumerate(zip(self.files, self.offsets, strict=True)):
            if part is None or index == part:
                yield from iter_row_groups(store_file, self.fix, columns=columns, first_row=offset)

    def row_group_refs(self) -> list[RowGroupRef]:
        """Every row group of the store, in order, as a :class:`RowGroupRef`."""
        refs: list[RowGroupRef] = []
        for store_file, first in zip(self.files, self.offsets, strict=True):
            groups = store_file.row_groups or _unchecked_groups(store_file.path)
            for group, (rows, digest) in enumerate(groups):
                refs.append(
                    RowGroupRef(os.path.abspath(store_file.path), group, rows, digest, first)
                )
                first += rows
        return refs


def _unchecked_groups(path: Path) -> list[tuple[int, str]]:
    """``(rows, "")`` per row group of a store written before checksums existed."""
    metadata = pq.ParquetFile(path).metadata
    return [(metadata.row_group(i).num_rows, "") for i in range(metadata.num_row_groups)]


def is_store_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a partitioned store (a folder holding its manifest), as opposed to a
    folder of store files."""
    return (Path(path) / MANIFEST_NAME).is_file()


def fix_for(path: Path, meta: Mapping[str, Any] | None = None) -> str:
    """What to do about a damaged store."""
    if meta is not None and "blinding" in meta:
        return f"re-create it with `blindface transform ... --out {path}`"
    return (
        f"re-create it with `blindface embed ... --out {path}` "
        "(the cache beside it keeps the embeddings already computed)"
    )


def open_store(path: str | os.PathLike[str]) -> StoreLayout:
    """Open a store of either layout; the footers (or manifest) are verified, not yet the rows."""
    path = Path(path)
    if path.is_dir():
        return _open_folder(path)
    try:
        check_regular_file(path, "embedding store", error=StoreError)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"embedding store {path} not found; "
            f"create it with `blindface embed DATASET --out {path}`"
        ) from None
    store_file = open_file(path, (STORE_FORMAT,), fix_for(path))
    return StoreLayout(path, store_file.meta, (store_file,), (0,), store_file.digest)


def _open_folder(path: Path) -> StoreLayout:
    fix = fix_for(path)
    manifest = path / MANIFEST_NAME
    if not manifest.exists():
        raise StoreError(
            f"{path} is a folder but not a partitioned embedding store (no {MANIFEST_NAME}); "
            f"give a store file or folder, or {fix}"
        )
    try:
        raw = read_json(
            manifest,
            "store manifest",
            max_bytes=MAX_MANIFEST_BYTES,
            error=lambda message: StoreError(f"{message}; {fix}"),
        )
    except OSError as exc:
        raise StoreError(f"{manifest} cannot be read ({exc}); {fix}") from None
    meta, integrity = unseal(raw, manifest, fix)
    fix = fix_for(path, meta)
    parts = meta.pop("parts", None)
    if meta.get("format") != STORE_FORMAT or not isinstance(parts, list):
        raise StoreError(f"{manifest} is not a {STORE_FORMAT} manifest; {fix}")
    files, offsets, offset = [], [], 0
    for index, part in enumerate(parts):
        name = PART_NAME.format(index)
        if not isinstance(part, dict) or part.get("file") != name:
            raise StoreError(f"{manifest}: entry {index} does not name {name}; {fix}")
        try:
            check_regular_file(path / name, "store part", error=StoreError)
        except FileNotFoundError:
            raise StoreError(
                f"{path}: part {name} is missing (the store is incomplete); {fix}"
            ) from None
        store_file = open_file(path / name, (PART_FORMAT,), fix)
        mismatch = (
            store_file.digest != part.get("digest")
            or store_file.meta.get("index") != index
            or store_file.meta.get("n_images") != part.get("rows")
            or store_file.meta.get("columns") != meta.get("columns")
            or store_file.meta.get("column_types") != meta.get("column_types")
            or store_file.meta.get("pandas_metadata") != meta.get("pandas_metadata")
            or store_file.meta.get("dim") != meta.get("dim")
        )
        if mismatch:
            raise StoreError(f"{path / name} is not the part the manifest lists; {fix}")
        files.append(replace(store_file, unit_norm="blinding" not in meta))
        offsets.append(offset)
        offset += int(part["rows"])
    listed = {PART_NAME.format(index) for index in range(len(parts))}
    extra = sorted(p.name for p in path.glob("part-*.parquet") if p.name not in listed)
    if extra:
        raise StoreError(f"{path} holds part files its manifest does not list: {extra}; {fix}")
    if offset != meta.get("n_images"):
        raise StoreError(f"{manifest}: its parts hold {offset} rows, not {meta.get('n_images')}")
    return StoreLayout(path, meta, tuple(files), tuple(offsets), str(integrity["digest"]))


# -- writing --------------------------------------------------------------------------------


def check_target(
    path: Path,
    *,
    partitioned: bool,
    inputs: Iterable[tuple[str, str | os.PathLike[str]]] = (),
) -> None:
    """Refuse, before any work is done, a target that a store of this layout cannot replace
    (:func:`blindface._outputs.check_output`): an input of the command (``inputs``), a folder
    for a file or the reverse, a file that is not a store, a folder holding other files."""
    if partitioned:
        check_output(path, what="partitioned store", folder=True, ours=_part_entry, inputs=inputs)
    else:
        check_output(path, what="embedding store", folder=False, ours=is_store_file, inputs=inputs)


def is_store_file(path: Path) -> bool:
    """Whether ``path`` is a Parquet file with blindface metadata (a store or a part): one a
    store may replace. Reads the footer only."""
    try:
        check_regular_file(path, "store")
        return METADATA_KEY in (pq.read_metadata(path).metadata or {})
    except (OSError, ValueError, pa.ArrowException):
        return False


def _part_entry(entry: Path) -> bool:
    return entry.name == MANIFEST_NAME or (entry.name.startswith("part-") and is_store_file(entry))


def write_store_file(
    path: Path, schema: pa.Schema, row_groups: Iterable[pa.Table], meta: Mapping[str, Any]
) -> Path:
    """Write a single-file store atomically (``meta``: the caller's metadata)."""
    check_target(path, partitioned=False)
    meta = {**_own(meta), "format": STORE_FORMAT}
    write_file(path, schema, row_groups, meta, unit_norm="blinding" not in meta)
    return path


def write_partitioned(
    path: Path,
    schema: pa.Schema,
    parts: Iterable[tuple[int, Iterable[pa.Table]]],
    meta: Mapping[str, Any],
) -> Path:
    """Write a partitioned store atomically; ``parts`` yields ``(index, row groups)`` in any
    order, indices ``0..n-1``."""
    check_target(path, partitioned=True)
    own = _own(meta)
    unit_norm = "blinding" not in own

    def fill(folder: Path) -> None:
        entries: dict[int, dict[str, Any]] = {}
        counts: Counter[str] = Counter()
        for index, row_groups in parts:
            name = PART_NAME.format(index)
            written = write_file(
                folder / name,
                schema,
                row_groups,
                {"format": PART_FORMAT, "index": index},
                unit_norm=unit_norm,
            )
            entries[index] = {"file": name, "rows": written.rows, "digest": written.digest}
            counts.update(written.counts)
        if not entries:
            raise StoreError(f"refusing to write {path}: it would hold no rows")
        if sorted(entries) != list(range(len(entries))):
            raise ValueError(f"part indices {sorted(entries)} are not 0..{len(entries) - 1}")
        manifest = {
            **own,
            **schema_meta(schema),
            "format": STORE_FORMAT,
            "n_images": sum(entry["rows"] for entry in entries.values()),
            "face_status_counts": dict(sorted(counts.items())),
            "parts": [entries[index] for index in range(len(entries))],
        }
        write_json(folder / MANIFEST_NAME, json.loads(canonical_json(seal(manifest))))

    write_folder(path, fill)
    return path


def _own(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in meta.items() if key not in WRITER_KEYS}
