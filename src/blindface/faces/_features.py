"""SFace's feature maps at a cut for a table's faces (:func:`sface_features`): what the methods
that retrain the recognizer's upper part train on, computed once and cached."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import pandas as pd

from blindface._io import write_with
from blindface._progress import progress_bar
from blindface.faces._chunks import ChunkCache, write_chunk
from blindface.faces._crops import EMBEDDED, face_crops
from blindface.faces._sface import DEFAULT_CUT

if TYPE_CHECKING:
    from blindface.faces._sface_split import SFaceSplit

#: How the feature maps are stored: half precision (a 1024 x 7 x 7 map is 100 kB).
FEATURE_DTYPE = np.dtype(np.float16)


def features_key(split: SFaceSplit, crops_key: str) -> str:
    """Hash of everything the cached features depend on."""
    identity = {
        "crops": crops_key,
        "sface_sha256": split.sha256,
        "cut": split.cut,
        "dtype": FEATURE_DTYPE.str,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def sface_features(
    table: pd.DataFrame,
    data_root: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    cut: int = DEFAULT_CUT,
    n_jobs: int = 2,
    batch_size: int = 32,
    chunk_size: int = 512,
    progress: bool = True,
) -> np.ndarray:
    """SFace's feature maps at ``cut`` of the faces of ``table``: ``(n, C, H, W)`` float16,
    a read-only memory map (``1024 x 7 x 7`` at the default cut; 100 kB per face).

    Rows: when ``table`` is a store's table (it has ``face_status``, as
    :func:`~blindface.store.read_store` gives it, whole or already reduced to its ``ok``
    rows), one map per row whose face was embedded, in order: exactly the rows of the store's
    ``ok`` mask. The images must be those the store was made from (same content hashes; a
    changed or missing file is an error). For a plain dataset table, one map per row whose face
    :func:`~blindface.faces.face_crops` finds (its ``ok`` mask).

    The faces are detected and aligned as the ``sface`` embedder does
    (:func:`~blindface.faces.face_crops`, cached), then run through SFace's layers below
    ``cut`` in float32, on ``n_jobs`` processes of one thread each (a script calling this with
    ``n_jobs > 1`` needs the ``if __name__ == "__main__":`` guard). Maps are cached by content
    hash under ``cache_dir/sface-features-<key>/`` (chunks of ``chunk_size`` faces, atomic,
    resumable; the key covers the SFace file, the cut and the alignment settings), and the
    array returned is a file there too, reused by the next call with the same rows. 22,000
    faces take 2.2 GB of chunks plus the returned arrays; the folder holds face data: keep it
    out of version control.

    Raises
    ------
    FileNotFoundError
        When images of the store's embedded faces are missing under ``data_root``.
    ValueError
        When an image changed since the store was made, or its face is no longer found.
    """
    from blindface.faces._sface_split import split_sface

    split = split_sface(cut)
    crops = face_crops(table, data_root, cache_dir, n_jobs=n_jobs, progress=progress)
    rows = _wanted_rows(table, crops.digests, crops.ok, crops.reason, Path(data_root))
    key = features_key(split, crops.cache.key)
    cache = ChunkCache(
        Path(cache_dir) / f"sface-features-{key}", key, split.feature_shape, FEATURE_DTYPE
    )
    digests = [str(crops.digests[r]) for r in rows]
    todo = list(dict.fromkeys(d for d in digests if d not in cache))
    if todo:
        with progress_bar(progress) as bar:
            task = bar.add_task(f"SFace features (cut {cut})", total=len(todo))
            jobs = (todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size))
            work = ((batch, crops.cache.read(batch)) for batch in jobs)
            for batch, written in _compute(work, cache, split, n_jobs, batch_size):
                cache.index(written)
                bar.advance(task, len(batch))
    return _assembled(cache, digests)


Job = tuple[list[str], np.ndarray]


def _compute(
    jobs: Iterator[Job], cache: ChunkCache, split: SFaceSplit, n_jobs: int, batch_size: int
) -> Iterator[tuple[list[str], Path]]:
    """Each job's digests and the chunk of their maps written into ``cache``: in this process,
    or on ``n_jobs`` spawned processes of one thread each (faster than threads on a busy CPU)."""
    target = (cache.folder, cache.key, cache.shape, cache.dtype)
    if n_jobs == 1:
        for digests, crops in jobs:
            yield digests, _feature_chunk(target, split.path, split.cut, digests, crops, batch_size)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    pending: deque[tuple[list[str], Future[Path]]] = deque()
    with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=_one_thread) as pool:
        for digests, crops in jobs:
            args = (target, split.path, split.cut, digests, crops, batch_size)
            pending.append((digests, pool.submit(_feature_chunk, *args)))
            if len(pending) >= 2 * n_jobs:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _feature_chunk(
    target: tuple[Path, str, tuple[int, ...], np.dtype],
    path: str,
    cut: int,
    digests: list[str],
    crops: np.ndarray,
    batch_size: int,
) -> Path:
    """Compute the maps of ``crops`` (float32) and write them as one float16 chunk."""
    from blindface.faces._sface_split import split_sface

    maps = split_sface(cut, path).features(crops, batch_size=batch_size)
    half = maps.astype(FEATURE_DTYPE)
    if not np.isfinite(half).all():
        raise FloatingPointError("an SFace feature map overflows float16")
    return write_chunk(target, digests, list(half), ["ok"] * len(digests), [None] * len(digests))


def _wanted_rows(
    table: pd.DataFrame,
    digests: list[str | None],
    ok: np.ndarray,
    reasons: list[str | None],
    root: Path,
) -> np.ndarray:
    """The rows to give maps for (see :func:`sface_features`), checked against the store."""
    if "face_status" not in table.columns:
        return np.flatnonzero(ok)
    wanted = np.isin(table["face_status"].astype(str).to_numpy(), EMBEDDED)
    paths = table["path"].astype(str).to_numpy()
    missing = [r for r in np.flatnonzero(wanted) if reasons[r] == "file not found"]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {int(wanted.sum())} images whose faces the store holds are "
            f"not under {root} (first: {root / paths[missing[0]]}); pass the data root the "
            "store's paths are relative to (--data-root)"
        )
    if "content_hash" in table.columns:
        stored = table["content_hash"].astype(object).to_numpy()
        changed = [r for r in np.flatnonzero(wanted) if stored[r] != digests[r]]
        if changed:
            raise ValueError(
                f"{len(changed)} images changed since the store was made (first: "
                f"{root / paths[changed[0]]}): embed them again"
            )
    lost = [r for r in np.flatnonzero(wanted) if not ok[r]]
    if lost:
        raise ValueError(
            f"{len(lost)} faces the store embedded are not found now (first: "
            f"{root / paths[lost[0]]}: {reasons[lost[0]]}); was the store made with other "
            "embedder settings than sface's defaults?"
        )
    return np.flatnonzero(wanted)


def _assembled(cache: ChunkCache, digests: list[str]) -> np.ndarray:
    """The maps of ``digests`` in order, as a read-only memory map of a file in the cache
    folder, written (atomically, block by block) unless it is there already."""
    shape = (len(digests), *cache.shape)
    if not digests:
        return np.empty(shape, cache.dtype)
    name = hashlib.sha256("\n".join(digests).encode()).hexdigest()[:32]
    path = cache.folder / f"rows-{name}.npy"
    if path.is_file():
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.shape == shape and array.dtype == cache.dtype:
                return array
        except ValueError:
            pass  # a damaged file: written again below

    def write(handle: IO[bytes]) -> None:
        header = {"descr": cache.dtype.str, "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(handle, header)
        for start in range(0, len(digests), 256):
            handle.write(cache.read(digests[start : start + 256]).tobytes())

    write_with(path, write)
    return np.load(path, mmap_mode="r", allow_pickle=False)
