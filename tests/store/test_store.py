"""The Parquet embedding store on real images: contents, metadata, caching, errors.

Kill-and-resume and the other failure cases are in tests/reliability/."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blindface.store import StoreError, content_hash, embed_dataset, read_metadata, read_store


def _table(paths: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": pd.array(["test"] * len(paths), dtype="string"),
            "path": pd.array(paths, dtype="string"),
            "subject": pd.array([p.split("/")[-1][:2] for p in paths], dtype="string"),
            "age": pd.array([30.0] + [pd.NA] * (len(paths) - 1), dtype="Float64"),
        }
    )


@pytest.fixture(scope="module")
def small_store(data_dir, tmp_path_factory):
    """Ten JAFFE images, one missing file and one text file named .jpg."""
    root = tmp_path_factory.mktemp("store")
    (root / "jaffe" / "jaffedbase").mkdir(parents=True)
    jaffe = sorted((data_dir / "jaffe" / "jaffedbase").glob("*.tiff"))[::20][:10]
    for image in jaffe:
        shutil.copy(image, root / "jaffe" / "jaffedbase" / image.name)
    (root / "fake.jpg").write_text("not an image")
    paths = [f"jaffe/jaffedbase/{p.name}" for p in jaffe]
    paths += ["jaffe/jaffedbase/NOPE.tiff", "fake.jpg"]
    table = _table(paths)
    out = embed_dataset(table, root, root / "out.parquet", n_jobs=1, progress=False)
    return table, out, root


@pytest.mark.data
def test_store_contents(small_store):
    table, out, root = small_store
    store = read_store(out)
    assert len(store) == 12 and store.embeddings.shape == (12, 128)
    assert store.embeddings.dtype == np.float32
    pd.testing.assert_frame_equal(store.table.loc[:, list(table.columns)], table)
    assert store.ok.tolist() == [True] * 10 + [False, False]
    assert np.isnan(store.embeddings[10:]).all()
    np.testing.assert_allclose(np.linalg.norm(store.embeddings[:10], axis=1), 1, atol=1e-5)
    assert store.table["face_status"].tolist() == ["detected"] * 10 + ["failed", "failed"]
    assert store.table["face_reason"].iloc[10] == "file not found"
    assert "not an image" in store.table["face_reason"].iloc[11]
    assert pd.isna(store.table["content_hash"].iloc[10])
    assert store.table["content_hash"].iloc[0] == content_hash(root / table["path"].iloc[0])
    meta = store.metadata
    assert meta["embedder"] == "sface" and meta["dim"] == 128 and len(meta["weights_hash"]) == 64
    assert meta["settings"]["crop_size"] == 112 and "blindface_version" in meta
    assert meta["face_status_counts"] == {"detected": 10, "failed": 2}
    assert meta["format"] == "blindface.store/2" and meta["n_images"] == 12
    assert "integrity" not in meta and "pandas_metadata" not in meta
    assert read_metadata(out) == meta
    column = pq.read_table(out).schema.field("embedding").type
    assert pa.types.is_fixed_size_list(column) and column.list_size == 128
    assert column.value_type == pa.float32()


@pytest.mark.data
def test_rerun_uses_the_cache(small_store, monkeypatch):
    table, out, root = small_store
    import blindface.faces

    def no_embedding(*args, **kwargs):
        raise AssertionError("everything should come from the cache")

    monkeypatch.setattr(blindface.faces, "embed_files", no_embedding)
    again = embed_dataset(table, root, out, n_jobs=1, progress=False)
    a, b = read_store(out), read_store(again)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)


def test_rejects_tables_without_paths_or_with_store_columns(tmp_path):
    with pytest.raises(ValueError, match="'path' column"):
        embed_dataset(pd.DataFrame({"x": [1]}), tmp_path, tmp_path / "o.parquet")
    bad = pd.DataFrame({"path": ["a.jpg"], "embedding": [None]})
    with pytest.raises(ValueError, match="embedding"):
        embed_dataset(bad, tmp_path, tmp_path / "o.parquet")


def test_read_store_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="blindface embed"):
        read_store(tmp_path / "none.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(StoreError, match="not a readable Parquet"):
        read_store(tmp_path / "junk.parquet")
    pq.write_table(pa.table({"path": ["a.jpg"]}), tmp_path / "plain.parquet")
    with pytest.raises(StoreError, match="not an embedding store"):
        read_store(tmp_path / "plain.parquet")
    (tmp_path / "folder").mkdir()
    with pytest.raises(StoreError, match="not a partitioned embedding store"):
        read_store(tmp_path / "folder")
