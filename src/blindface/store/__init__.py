"""The embedding store: a dataset table plus one face embedding per image, in Parquet.

:func:`embed_dataset` writes a store (resumable and cached, on the ``local`` or the ``ray``
engine); :func:`read_store` reads it back whole, :func:`iter_store_batches` streams it in
batches with flat memory and :func:`read_metadata` reads only its metadata
(:func:`blindface.pipelines.transform_store` maps a saved blinding model over a store). Both
layouts are read alike: a single Parquet file (local engine) or a partitioned folder of
Parquet parts (Ray engine).

Columns: the table's, then ``embedding`` (``fixed_size_list<float32>[dim]``, null where no face
was embedded), ``face_status`` (``detected``, ``retried``, ``fallback``, ``failed``),
``face_reason`` and ``content_hash`` (BLAKE2b-128 of the image file's bytes). The metadata
(embedder name, dim, weights hash, settings, blindface version, status counts) is sealed with
checksums of the content, verified on every read (see :mod:`blindface.store._format`): a damaged
store is a :class:`StoreError` naming the file, never silently wrong data. No pickle anywhere.
"""

from blindface.faces import content_hash
from blindface.store._cache import StoreWarning
from blindface.store._embed import ENGINES, embed_dataset
from blindface.store._format import METADATA_KEY, STORE_COLUMNS, StoreError
from blindface.store._layout import is_store_folder
from blindface.store._read import (
    EmbeddingStore,
    StoreBatch,
    count_parts,
    iter_store_batches,
    read_metadata,
    read_store,
    store_digest,
)
from blindface.store._write import write_store

__all__: list[str] = [
    "ENGINES",
    "METADATA_KEY",
    "STORE_COLUMNS",
    "EmbeddingStore",
    "StoreBatch",
    "StoreError",
    "StoreWarning",
    "content_hash",
    "count_parts",
    "embed_dataset",
    "is_store_folder",
    "iter_store_batches",
    "read_metadata",
    "read_store",
    "store_digest",
    "write_store",
]
