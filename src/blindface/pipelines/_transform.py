"""Blinding a whole store: :func:`transform_store`, on the local or the Ray engine."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from blindface._progress import progress_bar
from blindface._provenance import check_same_embedder, identity_of
from blindface.blinding import Blinder, RecognizerBlinder, load
from blindface.pipelines._ray import ray_blinded_parts
from blindface.store import ENGINES
from blindface.store._format import StoreError, map_embeddings, with_embedding_dim
from blindface.store._layout import (
    WRITER_KEYS,
    check_target,
    open_store,
    write_partitioned,
    write_store_file,
)


def transform_store(
    model: Blinder | str | os.PathLike[str],
    store: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    engine: str = "local",
    address: str | None = None,
    num_actors: int = 2,
    progress: bool = True,
    allow_embedder_mismatch: bool = False,
    allow_blinded_input: bool = False,
) -> Path:
    """Write a copy of ``store`` whose ``embedding`` column is blinded by ``model``.

    Parameters
    ----------
    model
        A saved blinding model (its folder) or, with the local engine, a fitted
        :class:`~blindface.blinding.Blinder`.
    store
        The store to blind (a file or a partitioned folder); every row group is verified as it
        is read, and rows are streamed, so memory stays flat.
    out
        The blinded store: a Parquet file (``engine="local"``) or a partitioned folder with one
        part per row group of ``store`` (``engine="ray"``, the model loaded in each actor).
        Rows without a face stay null; the metadata records the blinding model.
    progress
        Show a progress bar (rows blinded).
    allow_embedder_mismatch
        Blind a store of another embedder than the model was fitted on (refused by default:
        see :mod:`blindface._provenance`).
    allow_blinded_input
        Blind a store that is already blinded (refused by default).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    out = Path(out)
    sources = [("--embeddings", store)] + (
        [] if isinstance(model, Blinder) else [("--model", model)]
    )
    check_target(out, partitioned=engine == "ray", inputs=sources)
    if engine == "ray" and isinstance(model, Blinder):
        raise ValueError(
            "the ray engine loads the model in each actor: save it (model.save(folder)) and "
            "give the folder"
        )
    layout = open_store(store)
    identity = identity_of(layout.meta)
    if "blinding" in layout.meta:
        if not allow_blinded_input:
            raise StoreError(
                f"{store} is already blinded (see its metadata's 'blinding'): blinding it again "
                "applies a map fitted on raw embeddings to blinded ones; give the raw store, or "
                "pass --allow-blinded-input (allow_blinded_input=True) if that is meant"
            )
        identity = {k: v for k, v in (identity or {}).items() if k != "blinding"} or None
    blinder = model if isinstance(model, Blinder) else load(model)
    if isinstance(blinder, RecognizerBlinder):
        raise ValueError(
            f"{type(blinder).__name__} retrained the recognizer: it embeds images, not a store "
            "of embeddings (blindface embed --embedder blinded:MODEL_DIR)"
        )
    owner = "the model" if isinstance(model, Blinder) else f"the model {model}"
    check_same_embedder(
        (blinder.fitted_on_ or {}).get("embedder"),
        identity,
        expected_is=f"{owner} was fitted on",
        actual_is=f"{store} holds",
        allow=allow_embedder_mismatch,
    )
    dim = layout.meta.get("dim")
    if dim is not None and int(blinder.n_features_in_) != dim:
        raise ValueError(
            f"the model blinds {blinder.n_features_in_}-d embeddings but {store} holds {dim}-d ones"
        )
    meta = {key: value for key, value in layout.meta.items() if key not in WRITER_KEYS}
    meta["blinding"] = {
        "method": type(blinder).__name__,
        "model": None if isinstance(model, Blinder) else str(model),
        "source_dim": int(blinder.n_features_in_),
    }
    schema = with_embedding_dim(pq.read_schema(layout.files[0].path), int(blinder.n_features_out_))
    with progress_bar(progress) as bar:
        task = bar.add_task(f"blinding ({engine})", total=layout.meta.get("n_images"))
        if engine == "local":
            groups = (
                map_embeddings(table, blinder.transform, schema) for table in layout.row_groups()
            )
            return write_store_file(out, schema, _advancing(groups, bar, task), meta)
        parts = ray_blinded_parts(
            layout, str(model), schema, address=address, num_actors=num_actors
        )
        counted = ((index, list(_advancing(tables, bar, task))) for index, tables in parts)
        return write_partitioned(out, schema, counted, meta)


def _advancing(tables: Iterable[pa.Table], bar: Any, task: Any) -> Iterator[pa.Table]:
    for table in tables:
        yield table
        bar.advance(task, table.num_rows)
