"""Hostile and careless inputs, built at test time: shared by the reliability tests and by the
corpus runner (``python -m tests.reliability.corpus``)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from blindface.blinding import LEACE
from blindface.store import write_store
from blindface.store._format import (
    METADATA_KEY,
    canonical_json,
    content_digest,
    schema_meta,
    seal,
    store_columns,
    store_fields,
)

DIM = 16
EXPRESSIONS = ("happy", "neutral", "sad", "angry")
#: The embedder metadata of a store, as ``embed`` records it.
SFACE = {"embedder": "sface", "dim": DIM, "weights_hash": "5f" * 32, "settings": {"crop": 112}}
DLIB = {"embedder": "dlib", "dim": DIM, "weights_hash": "d1" * 32, "settings": {"chip": 150}}
OTHER_ONNX = {
    "embedder": "onnx:/models/w600k_r50.onnx",
    "dim": DIM,
    "weights_hash": "0e" * 32,
    "settings": {"recognizer": "w600k_r50.onnx"},
}


def labels_table(
    n: int, people: int, *, dataset: str = "synthetic", first: int = 0
) -> pd.DataFrame:
    """``n`` rows of ``people`` people (ids from ``first``), four expressions in turn."""
    return pd.DataFrame(
        {
            "dataset": pd.array([dataset] * n, dtype="string"),
            "path": pd.array([f"img{first + i:05d}.png" for i in range(n)], dtype="string"),
            "subject": pd.array([f"p{first + i % people}" for i in range(n)], dtype="string"),
            "expression": pd.array([EXPRESSIONS[i % 4] for i in range(n)], dtype="string"),
        }
    )


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def labelled_store(
    path: Path,
    *,
    n: int = 48,
    people: int = 8,
    embedder: dict | None = None,
    seed: int = 0,
    first: int = 0,
    **table_columns: list,
) -> Path:
    """A store of ``n`` unit rows with subjects and expressions, of ``embedder`` (default
    SFace's metadata); ``table_columns`` add columns."""
    table = labels_table(n, people, first=first)
    for name, values in table_columns.items():
        table[name] = values
    hashes = [
        hashlib.blake2b(f"{path.name}{i}".encode(), digest_size=16).hexdigest() for i in range(n)
    ]
    return write_store(
        path, table, unit_rows(n, seed), content_hash=hashes, metadata=embedder or SFACE
    )


def bomb_store(path: Path, *, rows: int = 100, cell_bytes: int = 1_000_000) -> Path:
    """A valid, sealed store whose ``notes`` column (zstd, a few kB on disk) decompresses to
    ``rows x cell_bytes`` bytes."""
    frame = labels_table(rows, 10)
    frame["notes"] = [f"{i}" + "x" * cell_bytes for i in range(rows)]
    labels = pa.Schema.from_pandas(frame, preserve_index=False)
    schema = pa.schema([*labels, *store_fields(DIM)], metadata=labels.metadata)
    part = pa.Table.from_pandas(frame, schema=labels, preserve_index=False)
    hashes: list[str | None] = [f"h{i}" for i in range(rows)]
    columns = store_columns(
        unit_rows(rows), np.ones(rows, bool), ["detected"] * rows, [None] * rows, hashes
    )
    table = pa.Table.from_arrays([*part.columns, *columns], schema=schema)
    meta = {
        "format": "blindface.store/2",
        **SFACE,
        **schema_meta(schema),
        "n_images": rows,
        "face_status_counts": {"detected": rows},
    }
    sealed = seal(meta, [(rows, content_digest(table))])
    writer = pq.ParquetWriter(path, schema, write_page_checksum=True, compression="zstd")
    writer.write_table(table, row_group_size=rows)
    writer.add_key_value_metadata({METADATA_KEY.decode(): canonical_json(sealed).decode()})
    writer.close()
    return path


def leace_model(folder: Path, store: Path | None = None) -> Path:
    """A LEACE model fitted on ``store`` (with ``fit_stores``: it records the embedder) or, with
    no store, on random rows from Python (it records none)."""
    from blindface.pipelines import fit_stores

    if store is not None:
        fit_stores("leace", store, folder, progress=False)
        return folder
    X = unit_rows(48)
    LEACE().fit(X, expression=[EXPRESSIONS[i % 4] for i in range(48)]).save(folder)
    return folder


def rewrite_labels(folder: Path, labels: list[str]) -> Path:
    """Replace a saved model's fitted ``classes_`` and recompute its checksum, as an attacker
    (or a buggy writer) would: a checksum is not a signature."""
    import safetensors.numpy

    weights = folder / "weights.safetensors"
    blob = weights.read_bytes()
    size = int.from_bytes(blob[:8], "little")
    metadata = json.loads(json.loads(blob[8 : 8 + size])["__metadata__"]["blindface"])
    metadata["attributes"]["classes_"] = labels
    tensors = safetensors.numpy.load(blob)
    blob = safetensors.numpy.save(tensors, metadata={"blindface": json.dumps(metadata)})
    weights.write_bytes(blob)
    config = json.loads((folder / "config.json").read_text())
    config["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def zero_link(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def huge_onnx(path: Path, width: int) -> Path:
    """An ONNX "recognizer" that declares and gives a ``1 x width`` output (the mean pixel,
    repeated): with a large ``width``, running it once fills the memory."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([1, width], np.int64), "shape")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["face"], ["m"], keepdims=0),
            helper.make_node("Expand", ["m", "shape"], ["embedding"]),
        ],
        "huge",
        [helper.make_tensor_value_info("face", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, width])],
        [shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path
