"""A cache of per-image arrays keyed by the image file's content hash, in sealed chunks.

A chunk is two files written atomically: ``chunk-<digest>.npy`` (the arrays of the images that
have one, stacked) and ``chunk-<digest>.json`` (per image: its content hash, status, reason and
row in the ``.npy``). The JSON is written last, so a chunk without one is unfinished work of a
killed run and is ignored; a chunk whose files disagree (another key, shape or dtype, a
truncated ``.npy``, an index that is not a bounded, well-formed JSON document, a file that is
not a regular file) is named in a warning and moved into ``quarantine/``. No pickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from blindface._io import remove_stale_temporaries, write_atomic
from blindface._json import read_json
from blindface._safe_read import check_regular_file

FORMAT = "blindface.array-chunk/1"
QUARANTINE = "quarantine"
#: Largest chunk index read (a few hundred rows of about 150 bytes each).
MAX_INDEX_BYTES = 16 << 20


class ChunkWarning(UserWarning):
    """A damaged cache chunk was moved aside (its images are computed again)."""


class ChunkCache:
    """The sealed chunks of one cache folder: arrays of ``shape`` and ``dtype`` per content hash.

    ``key`` names everything the arrays depend on (model, settings); chunks of another key are
    refused.
    """

    def __init__(self, folder: Path, key: str, shape: tuple[int, ...], dtype: DTypeLike) -> None:
        self.folder = Path(folder)
        self.key = key
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self._arrays: list[np.ndarray] = []
        self._where: dict[str, tuple[int, int, str, str | None]] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)
        for index in sorted(self.folder.glob("chunk-*.json")):
            try:
                self._load(index)
            except (ValueError, OSError) as error:
                self._quarantine(index, error)

    def __contains__(self, digest: object) -> bool:
        return digest in self._where

    def __len__(self) -> int:
        return len(self._where)

    def status(self, digest: str) -> tuple[str, str | None]:
        """The status and reason cached for ``digest``."""
        _, _, status, reason = self._where[digest]
        return status, reason

    def read(self, digests: Sequence[str]) -> np.ndarray:
        """The arrays of ``digests`` (each must have one), stacked in order."""
        out = np.empty((len(digests), *self.shape), self.dtype)
        for i, digest in enumerate(digests):
            chunk, row, _, _ = self._where[digest]
            if row < 0:
                raise KeyError(f"no array is cached for {digest} (its status is failed)")
            out[i] = self._arrays[chunk][row]
        return out

    def add(
        self,
        digests: Sequence[str],
        arrays: Sequence[np.ndarray | None],
        statuses: Sequence[str],
        reasons: Sequence[str | None],
    ) -> None:
        """Write one chunk (``arrays[i]`` ``None`` where the image has none) and index it."""
        if digests:
            self.index(write_chunk(self, digests, arrays, statuses, reasons))

    def index(self, path: Path) -> None:
        """Index a chunk written into this folder (by :func:`write_chunk`, perhaps elsewhere)."""
        self._load(path)

    def _load(self, index_path: Path) -> None:
        index: Any = read_json(index_path, "cache chunk index", max_bytes=MAX_INDEX_BYTES)
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise ValueError("not a blindface array chunk")
        if index.get("key") != self.key:
            raise ValueError(f"it belongs to another model or setting (key {index.get('key')})")
        if index.get("shape") != list(self.shape) or index.get("dtype") != self.dtype.str:
            raise ValueError(f"its arrays are {index.get('shape')} {index.get('dtype')}")
        rows = _checked_rows(index.get("rows"))
        npy = check_regular_file(index_path.with_suffix(".npy"), "cache chunk")
        arrays = np.load(npy, mmap_mode="r", allow_pickle=False)
        expected = sum(1 for r in rows if r["row"] >= 0)
        if arrays.shape != (expected, *self.shape) or arrays.dtype != self.dtype:
            raise ValueError(f"its .npy holds {arrays.shape} {arrays.dtype}, not {expected} rows")
        if sorted(r["row"] for r in rows if r["row"] >= 0) != list(range(expected)):
            raise ValueError("its index does not number the .npy's rows 0, 1, ...")
        self._arrays.append(arrays)
        number = len(self._arrays) - 1
        for r in rows:
            self._where.setdefault(r["hash"], (number, r["row"], r["status"], r["reason"]))

    def _quarantine(self, index_path: Path, error: Exception) -> None:
        target = self.folder / QUARANTINE
        target.mkdir(exist_ok=True)
        for path in (index_path, index_path.with_suffix(".npy")):
            try:
                os.replace(path, target / f"{os.getpid()}-{path.name}")
            except FileNotFoundError:
                pass
        message = f"cache chunk {index_path}: {error}; moved into {target}, computed again"
        warnings.warn(message, ChunkWarning, stacklevel=3)


def _checked_rows(rows: object) -> list[dict[str, Any]]:
    """The rows of a chunk index, each ``{hash: str, row: int, status: str, reason: str or
    None}``; a ``ValueError`` for anything else."""
    if not isinstance(rows, list):
        raise ValueError("its index has no list of rows")
    for r in rows:
        ok = (
            isinstance(r, dict)
            and isinstance(r.get("hash"), str)
            and isinstance(r.get("row"), int)
            and not isinstance(r.get("row"), bool)
            and isinstance(r.get("status"), str)
            and (r.get("reason") is None or isinstance(r.get("reason"), str))
        )
        if not ok:
            raise ValueError(f"its index holds a malformed row {str(r)[:80]}")
    return rows


def write_chunk(
    cache: ChunkCache | tuple[Path, str, tuple[int, ...], np.dtype],
    digests: Sequence[str],
    arrays: Sequence[np.ndarray | None],
    statuses: Sequence[str],
    reasons: Sequence[str | None],
) -> Path:
    """Write one chunk into a cache folder without indexing it (a worker process writes it, the
    owner of the :class:`ChunkCache` indexes it); its ``.json`` path. ``cache`` is the cache or
    its ``(folder, key, shape, dtype)``."""
    if isinstance(cache, ChunkCache):
        cache = (cache.folder, cache.key, cache.shape, cache.dtype)
    folder, key, shape, dtype = cache
    kept = [np.asarray(a, dtype) for a in arrays if a is not None]
    for array in kept:
        if array.shape != tuple(shape):
            raise ValueError(f"an array of shape {array.shape}; this cache holds {shape}")
    stacked = np.stack(kept) if kept else np.empty((0, *shape), dtype)
    rows, next_row = [], 0
    for digest, array, status, reason in zip(digests, arrays, statuses, reasons, strict=True):
        row = next_row if array is not None else -1
        rows.append({"hash": digest, "row": row, "status": status, "reason": reason})
        next_row += array is not None
    buffer = io.BytesIO()
    np.save(buffer, stacked, allow_pickle=False)
    index = {
        "format": FORMAT,
        "key": key,
        "shape": list(shape),
        "dtype": np.dtype(dtype).str,
        "rows": rows,
    }
    digest = hashlib.sha256(json.dumps(index).encode()).hexdigest()
    path = Path(folder) / f"chunk-{digest[:32]}.json"
    write_atomic(path.with_suffix(".npy"), buffer.getvalue())
    write_atomic(path, json.dumps(index).encode())
    return path
