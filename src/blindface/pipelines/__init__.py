"""Workflows over embedding stores: labelled rows, fit a blinder on stores, blind a store.

:mod:`blindface.store` knows only the Parquet format and :mod:`blindface.blinding` only arrays;
this layer joins them, and the command line, :mod:`blindface.audit` and the study call it. For
the methods that retrain the recognizer (``lnl``): :func:`fit_recognizer_stores` fits on the
stores' images, and importing this package registers the embedder ``blinded:MODEL_DIR``
(:class:`BlindedEmbedder`) with :mod:`blindface.faces`.
"""

from blindface.pipelines._blinded import BLINDED_PREFIX, BlindedEmbedder
from blindface.pipelines._fit import SourceSummary, StoreFit, fit_stores, plot_history, store_files
from blindface.pipelines._fit_recognizer import default_cache_dir, fit_recognizer_stores
from blindface.pipelines._rows import LabelledRows, has_label, read_labelled, row_labels
from blindface.pipelines._transform import transform_store

__all__ = [
    "BLINDED_PREFIX",
    "BlindedEmbedder",
    "LabelledRows",
    "SourceSummary",
    "StoreFit",
    "default_cache_dir",
    "fit_recognizer_stores",
    "fit_stores",
    "has_label",
    "plot_history",
    "read_labelled",
    "row_labels",
    "store_files",
    "transform_store",
]
