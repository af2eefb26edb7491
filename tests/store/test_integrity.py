"""The store's own row-group digests catch data changed consistently, which Parquet's page
checksums cannot: a rewritten row group has fresh CRCs, only the sealed digest disagrees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blindface.store import StoreError, iter_store_batches, read_store, write_store


def _store(path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    table = pd.DataFrame({"path": [f"img{i}.jpg" for i in range(12)]}, dtype="string")
    return write_store(path, table, X, metadata={"embedder": "synthetic"})


def _rewrite_consistently(path):
    """Swap two rows' embeddings (still valid unit vectors) and write the file anew with valid
    page checksums, keeping the old footer (its sealed metadata and row-group digests)."""
    parquet = pq.ParquetFile(path)
    table = parquet.read()
    values = table.column("embedding").to_pylist()
    values[0], values[1] = values[1], values[0]
    index = table.column_names.index("embedding")
    changed = table.set_column(
        index, table.schema.field(index), pa.array(values, table.schema.field(index).type)
    )
    footer = parquet.metadata.metadata
    changed = changed.replace_schema_metadata({**(table.schema.metadata or {}), **footer})
    pq.write_table(changed, path, write_page_checksum=True)
    assert pq.ParquetFile(path, page_checksum_verification=True).read().num_rows == 12


def test_a_consistently_changed_row_group_is_a_store_error(tmp_path):
    path = _store(tmp_path / "s.parquet")
    _rewrite_consistently(path)
    with pytest.raises(StoreError, match="the data of row group 0 does not match its checksum"):
        read_store(path)
    with pytest.raises(StoreError, match="the data of row group 0 does not match its checksum"):
        list(iter_store_batches(path))
