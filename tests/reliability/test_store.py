"""Damaged caches and stores: every corruption is caught, named, and never reaches the data."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blindface._io import TEMP_PREFIX
from blindface.faces import FaceResult
from blindface.store import (
    EmbeddingStore,
    StoreError,
    StoreWarning,
    embed_dataset,
    read_store,
    write_store,
)
from blindface.store._format import (
    METADATA_KEY,
    canonical_json,
    content_digest,
    schema_meta,
    seal,
    store_columns,
    store_fields,
)

from ._corpus import FakeEmbedder, make_corpus

N_IMAGES, CHUNK = 24, 8


def _embed(table, root: Path, out: Path, **kwargs) -> Path:
    return embed_dataset(
        table, root, out, embedder=FakeEmbedder(), n_jobs=1, progress=False, chunk_size=CHUNK,
        **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A store of 24 fake-embedded images, its cache (3 chunks) kept pristine aside."""
    root = tmp_path_factory.mktemp("corpus")
    table = make_corpus(root, N_IMAGES, flat=2)
    out = _embed(table, root, root / "store.parquet")
    cache = next((root / "store.parquet.cache").glob("fake-*"))
    shutil.copytree(cache, root / "pristine")
    return table, root, out, cache, read_store(out)


def _restore(embedded) -> list[Path]:
    _, root, _, cache, _ = embedded
    shutil.rmtree(cache)
    shutil.copytree(root / "pristine", cache)
    shutil.rmtree(cache.parent / "quarantine", ignore_errors=True)
    return sorted(cache.glob("chunk-*.parquet"))


def _rerun(embedded) -> tuple[list[str], bool]:
    """Embed again; the warnings raised and whether the store is bit-identical to the first."""
    table, root, out, _, reference = embedded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _embed(table, root, out)
    store = read_store(out)
    same = (
        store.embeddings.tobytes() == reference.embeddings.tobytes()
        and store.table.equals(reference.table)
        and store.metadata == reference.metadata
    )
    return [str(w.message) for w in caught if issubclass(w.category, StoreWarning)], same


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_corrupt_chunk_is_quarantined_and_recomputed(embedded):
    """Flipped bytes anywhere in a cache chunk (its header, the embedding values, the footer,
    the metadata): either caught (warning, quarantine, recompute) or provably harmless; the
    store is bit-identical every time."""
    chunk = _restore(embedded)[0]
    raw = chunk.read_bytes()
    vectors = embedded[4].embeddings[embedded[4].ok]
    at = max(raw.find(vector.tobytes()[:16]) for vector in vectors)
    assert at > 0, "the embedding values are stored verbatim"
    offsets = sorted({*np.linspace(0, len(raw) - 1, 25).astype(int), at, at + 1, at + 63})
    caught = 0
    for offset in offsets:
        chunk = _restore(embedded)[0]
        _flip(chunk, offset)
        messages, same = _rerun(embedded)
        assert same, f"a flip at byte {offset} of a chunk changed the store"
        if messages:
            caught += 1
            assert chunk.name in messages[0] and "quarantine" in messages[0]
            assert len(list((chunk.parent.parent / "quarantine").glob("*"))) == 1
    # the others hit bytes no reader uses (Arrow's unsealed copy of the schema, statistics):
    # harmless, as the identical store shows
    assert caught >= 0.7 * len(offsets)


def test_foreign_chunks_are_quarantined(embedded):
    """Chunks of another dim, of another embedder, or not blindface chunks at all."""
    cache = _restore(embedded)[0].parent
    dim, key = FakeEmbedder.dim, cache.name.split("-")[1]
    meta = {"format": "blindface.cache-chunk/2", "embedder_key": key}
    _write_sealed(cache / "chunk-otherdim.parquet", _chunk_table(2 * dim), meta)
    other_key = {**meta, "embedder_key": "0" * 16}
    _write_sealed(cache / "chunk-otherkey.parquet", _chunk_table(dim), other_key)
    pq.write_table(pa.table({"content_hash": ["x"]}), cache / "chunk-notours.parquet")
    messages, same = _rerun(embedded)
    assert same and len(messages) == 3
    joined = "\n".join(messages)
    assert "chunk-otherdim" in joined and f"dim {2 * dim}" in joined
    assert "chunk-otherkey" in joined and "another embedder" in joined
    assert "chunk-notours" in joined and "not an embedding store" in joined
    assert len(list((cache.parent / "quarantine").glob("*"))) == 3


def _chunk_table(dim: int) -> pa.Table:
    """Three unit vectors of ``dim`` dimensions, as a cache chunk's columns."""
    columns = store_columns(
        np.eye(3, dim, dtype=np.float32), np.ones(3, bool), ["detected"] * 3, [None] * 3,
        ["h1", "h2", "h3"],
    )  # fmt: skip
    return pa.Table.from_arrays(columns, schema=pa.schema(store_fields(dim)))


def test_truncated_chunk_is_quarantined(embedded):
    chunk = _restore(embedded)[1]
    raw = chunk.read_bytes()
    chunk.write_bytes(raw[: len(raw) // 2])
    messages, same = _rerun(embedded)
    assert same and len(messages) == 1 and "not a readable Parquet file" in messages[0]


def test_flipped_bytes_in_a_final_store_are_a_store_error(embedded, tmp_path):
    """Every byte of a final store, flipped: a StoreError naming the file, or (footer bytes
    that no reader uses) the very same data; never a silently different store."""
    reference = embedded[4]
    raw = embedded[2].read_bytes()
    target = tmp_path / "copy.parquet"
    errors, offsets = 0, range(0, len(raw), max(1, len(raw) // 500))
    for offset in offsets:
        data = bytearray(raw)
        data[offset] ^= 0x01
        target.write_bytes(bytes(data))
        try:
            store = read_store(target)
        except StoreError as error:
            assert str(target) in str(error) and "re-create it" in str(error)
            errors += 1
            continue
        assert store.embeddings.tobytes() == reference.embeddings.tobytes(), offset
        assert store.table.equals(reference.table) and store.metadata == reference.metadata
    assert errors > 0.6 * len(offsets)


def test_flipped_bytes_in_a_partitioned_store(embedded, tmp_path):
    """Flips in a part or in the manifest, a missing part: a StoreError naming the folder."""
    reference = embedded[4]
    labels = reference.table[["dataset", "path", "subject"]]
    folder = write_store(
        tmp_path / "parts", labels, reference.embeddings, partitioned=True, partition_size=10
    )
    assert read_store(folder).embeddings.tobytes() == reference.embeddings.tobytes()
    for name in ("part-00001.parquet", "_blindface.json"):
        path = folder / name
        raw = path.read_bytes()
        errors, offsets = 0, range(0, len(raw), max(1, len(raw) // 40))
        for offset in offsets:
            _flip(path, offset)
            try:
                store = read_store(folder)
                assert store.embeddings.tobytes() == reference.embeddings.tobytes()
            except StoreError as error:
                assert str(folder) in str(error)
                errors += 1
            path.write_bytes(raw)
        assert errors >= 0.6 * len(offsets), name
    (folder / "part-00002.parquet").unlink()
    with pytest.raises(StoreError, match="part-00002.parquet is missing"):
        read_store(folder)


@pytest.mark.parametrize(
    ("vector", "status", "problem"),
    [
        (np.full(4, np.nan), "detected", "is marked detected but is not finite"),
        (np.array([3.0, 0, 0, 0]), "retried", "is marked retried but has norm 3"),
        (np.array([1.0, 0, 0, 0]), "failed", "is marked failed but holds an embedding"),
        (None, "fallback", "is marked fallback but holds no embedding"),
    ],
)
def test_rows_contradicting_their_status_are_refused_on_read(tmp_path, vector, status, problem):
    """Even with valid checksums (a buggy writer), a contradictory row is refused."""
    values = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]], np.float32)
    valid = np.array([True, True])
    if vector is None:
        valid[1] = False
    else:
        values[1] = vector
    table = pa.Table.from_arrays(
        [pa.array(["a", "b"]), *store_columns(values, valid, ["detected", status], [None] * 2,
                                              ["h1", "h2"])],
        schema=pa.schema([pa.field("path", pa.string()), *store_fields(4)]),
    )  # fmt: skip
    path = tmp_path / "bad.parquet"
    _write_sealed(path, table, {"format": "blindface.store/2"})
    with pytest.raises(StoreError, match=f"{path}: row 1 {problem}"):
        read_store(path)


class _BrokenEmbedder(FakeEmbedder):
    """Returns a vector of norm 26,460 for every third image (a corrupted forward pass)."""

    def embed_many(self, images):
        results = super().embed_many(images)
        for index, image in enumerate(images):
            vector = results[index].embedding
            if int(image[0, 0, 0]) % 3 == 0 and vector is not None:
                results[index] = FaceResult(vector * np.float32(26_460), "detected")
        return results


def test_a_broken_embedding_is_failed_when_written_not_stored(tmp_path):
    """One bad vector fails its image (with the reason), never the batch, never the store."""
    table = make_corpus(tmp_path, 30)
    out = embed_dataset(
        table, tmp_path, tmp_path / "s.parquet", embedder=_BrokenEmbedder(), n_jobs=1,
        progress=False,
    )  # fmt: skip
    store = read_store(out)
    broken = store.table["face_reason"].fillna("").str.contains("unusable result").to_numpy()
    assert 0 < broken.sum() < 30
    assert (store.table["face_status"][broken] == "failed").all() and not store.ok[broken].any()
    assert "norm 26460" in store.table.loc[broken, "face_reason"].tolist()[0]
    norms = np.linalg.norm(store.embeddings[store.ok], axis=1)
    np.testing.assert_allclose(norms, 1, atol=1e-5)


def test_ok_excludes_non_finite_rows():
    embeddings = np.array([[1.0, 0], [np.nan, np.nan], [np.inf, 0]], np.float32)
    store = EmbeddingStore(table=pd.DataFrame({"path": ["a", "b", "c"]}), embeddings=embeddings,
                           metadata={})  # fmt: skip
    assert store.ok.tolist() == [True, False, False]


def test_stale_temporaries_are_removed(embedded):
    """Temp files and folders of dead runs go; those of a live process stay."""
    table, root, out, cache, _ = embedded
    _restore(embedded)
    dead = _dead_pid()
    stale = [
        out.parent / f"{TEMP_PREFIX}{dead}-store.parquet.abc",
        cache / f"{TEMP_PREFIX}{dead}-chunk-1.parquet.xyz",
    ]
    for path in stale:
        path.write_bytes(b"half a chunk")
    stale_folder = out.parent / f"{TEMP_PREFIX}{dead}-parts.q1"
    stale_folder.mkdir()
    (stale_folder / "part-00000.parquet").write_bytes(b"half")
    live = cache / f"{TEMP_PREFIX}{os.getpid()}-chunk-2.parquet.live"
    live.write_bytes(b"being written")
    _, same = _rerun(embedded)
    assert same
    assert not any(path.exists() for path in [*stale, stale_folder])
    assert live.exists()
    live.unlink()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _write_sealed(path: Path, table: pa.Table, meta: dict) -> None:
    """Write ``table`` with a correctly sealed footer, bypassing the writer's row checks."""
    statuses = table.column("face_status").to_pylist()
    full = {
        **meta,
        **schema_meta(table.schema),
        "n_images": table.num_rows,
        "face_status_counts": {s: statuses.count(s) for s in sorted(set(statuses))},
    }
    sealed = seal(full, [(table.num_rows, content_digest(table))])
    table = table.replace_schema_metadata({METADATA_KEY: canonical_json(sealed)})
    pq.write_table(table, path, write_page_checksum=True)
