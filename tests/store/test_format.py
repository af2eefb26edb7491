"""Store layouts on synthetic embeddings: file vs partitioned folder, streaming, any dim,
transform_store, stores written before checksums."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import blindface.store._write
from blindface._outputs import OutputError
from blindface.blinding import LEACE
from blindface.pipelines import transform_store
from blindface.store import (
    StoreError,
    iter_store_batches,
    read_metadata,
    read_store,
    write_store,
)


def _data(n: int, dim: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[::7] = np.nan  # no face
    table = pd.DataFrame(
        {
            "path": pd.array([f"img{i}.jpg" for i in range(n)], dtype="string"),
            "subject": pd.array([f"s{i % 5}" for i in range(n)], dtype="string"),
            "expression": pd.array([["happy", "sad", None][i % 3] for i in range(n)], "string"),
            "age": pd.array([float(i) if i % 4 else None for i in range(n)], dtype="Float64"),
        }
    )
    return table, X


@pytest.fixture()
def small_row_groups(monkeypatch):
    """Row groups of 16 rows, so that small stores have several."""
    monkeypatch.setattr(blindface.store._write, "ROW_GROUP_ROWS", 16)


@pytest.mark.parametrize("dim", [7, 128, 512])
def test_file_and_partitioned_layouts_read_back_alike(tmp_path, dim, small_row_groups):
    table, X = _data(100, dim)
    single = write_store(tmp_path / "s.parquet", table, X, metadata={"embedder": "synthetic"})
    folder = write_store(
        tmp_path / "p", table, X, metadata={"embedder": "synthetic"}, partitioned=True,
        partition_size=30,
    )  # fmt: skip
    assert sorted(p.name for p in folder.iterdir()) == [
        "_blindface.json",
        *(f"part-{i:05d}.parquet" for i in range(4)),
    ]
    a, b = read_store(single), read_store(folder)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.table.loc[:, list(table.columns)], table)
    assert a.embeddings.tobytes() == b.embeddings.tobytes()
    assert a.embeddings.shape == (100, dim) and a.metadata == b.metadata
    assert a.metadata["dim"] == dim and a.metadata["n_images"] == 100
    assert a.ok.tolist() == [i % 7 != 0 for i in range(100)]
    assert a.metadata["face_status_counts"] == {"detected": 85, "failed": 15}
    assert read_metadata(folder) == b.metadata
    assert pq.ParquetFile(single).metadata.num_row_groups == 7  # 16 rows each


def test_streaming_batches(tmp_path, small_row_groups):
    table, X = _data(100, 32)
    folder = write_store(tmp_path / "p", table, X, partitioned=True, partition_size=40)
    batches = list(iter_store_batches(folder, batch_size=10, columns=["subject"]))
    assert max(len(batch) for batch in batches) == 10
    assert sum(len(batch) for batch in batches) == 100
    X_all = np.concatenate([batch.embeddings for batch in batches])
    assert X_all.tobytes() == X.tobytes()
    for X_batch, labels in batches:  # unpacks as (X, table)
        assert list(labels.columns) == ["subject"] and len(X_batch) == len(labels)
    fit_rows = list(iter_store_batches(folder, embedded_only=True, columns=["expression"]))
    kept = np.concatenate([x for x, _ in fit_rows])
    assert np.isfinite(kept).all() and len(kept) == 85
    labels = pd.concat([t for _, t in fit_rows], ignore_index=True)["expression"]
    assert labels.tolist() == table["expression"][~np.isnan(X).any(axis=1)].tolist()
    with pytest.raises(ValueError, match="no column"):
        next(iter_store_batches(folder, columns=["nope"]))


def test_streaming_reads_one_row_group_at_a_time(tmp_path, small_row_groups, monkeypatch):
    table, X = _data(64, 8)
    store = write_store(tmp_path / "s.parquet", table, X)
    import blindface.store._format as fmt

    reads: list[int] = []
    real = pq.ParquetFile.read_row_group

    def spy(self, index, *args, **kwargs):
        reads.append(index)
        return real(self, index, *args, **kwargs)

    monkeypatch.setattr(fmt.pq.ParquetFile, "read_row_group", spy)
    batches = iter_store_batches(store, batch_size=4)
    next(batches)
    assert reads == [0]  # the first batch needs only the first row group
    list(batches)
    assert reads == [0, 1, 2, 3]


def test_write_store_refuses_bad_rows(tmp_path):
    table, X = _data(10, 8)
    X[1] *= 3  # marked detected, not unit norm
    with pytest.raises(StoreError, match="row 1 is marked detected but has norm 3"):
        write_store(tmp_path / "s.parquet", table, X)
    assert not (tmp_path / "s.parquet").exists()
    blinded = write_store(tmp_path / "b.parquet", table, X, metadata={"blinding": {"m": 1}})
    assert read_store(blinded).embeddings[1] == pytest.approx(X[1])  # blinded: any norm


def test_out_must_fit_the_layout(tmp_path):
    table, X = _data(10, 8)
    with pytest.raises(OutputError, match="is a folder, but the embedding store is written as"):
        write_store(tmp_path, table, X)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"holds files blindface did not write there \(notes"):
        write_store(tmp_path / "other", table, X, partitioned=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("partitioned", [False, True])
def test_transform_store_local(tmp_path, partitioned, small_row_groups):
    table, X = _data(90, 16)
    table["expression"] = pd.array(["happy", "sad", "angry"] * 30, dtype="string")
    source = write_store(tmp_path / "src", table, X, partitioned=partitioned, partition_size=40)
    ok = ~np.isnan(X).any(axis=1)
    model = LEACE().fit(X[ok], expression=table["expression"].to_numpy(dtype=object)[ok])
    model.save(tmp_path / "model")
    out = transform_store(tmp_path / "model", source, tmp_path / "blinded.parquet")
    blinded, original = read_store(out), read_store(source)
    np.testing.assert_allclose(blinded.embeddings[ok], model.transform(X[ok]), atol=1e-6)
    assert not blinded.ok[0] and blinded.ok.sum() == ok.sum()
    pd.testing.assert_frame_equal(blinded.table, original.table)
    assert blinded.metadata["blinding"]["method"] == "LEACE"
    assert blinded.metadata["dim"] == model.n_features_out_
    with pytest.raises(ValueError, match="blinds 16-d embeddings"):
        transform_store(model, write_store(tmp_path / "x.parquet", *_data(5, 8)), tmp_path / "y")


def test_legacy_store_without_checksums_is_read(tmp_path):
    """Stores written before checksums existed (blindface.store/1) stay readable."""
    X = _data(8, 8)[1][1:5]  # finite, unit norm
    valid = np.array([True, True, True, False])
    column = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 8, mask=pa.array(~valid))
    arrow = pa.table(
        {
            "path": ["a", "b", "c", "d"],
            "embedding": column,
            "face_status": ["detected"] * 3 + ["failed"],
            "face_reason": [None] * 3 + ["no face"],
            "content_hash": ["h1", "h2", "h3", None],
        }
    )
    meta = {b"blindface": json.dumps({"embedder": "old", "dim": 8}).encode()}
    pq.write_table(arrow.replace_schema_metadata(meta), tmp_path / "old.parquet")
    store = read_store(tmp_path / "old.parquet")
    assert store.ok.tolist() == [True, True, True, False]
    assert store.metadata == {"embedder": "old", "dim": 8}
    meta = {b"blindface": json.dumps({"embedder": "old", "dim": 8, "integrity?": 1}).encode()}
    pq.write_table(arrow.replace_schema_metadata(meta), tmp_path / "odd.parquet")
    with pytest.raises(StoreError, match="no integrity record"):
        read_store(tmp_path / "odd.parquet")
