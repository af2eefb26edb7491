"""Workflows over embedding stores: labelled rows, fit a blinder on stores, blind a store.

:mod:`blindface.store` knows only the Parquet format and :mod:`blindface.blinding` only arrays;
this layer joins them, and the command line, :mod:`blindface.audit` and the study call it.
"""

from blindface.pipelines._fit import SourceSummary, StoreFit, fit_stores, plot_history, store_files
from blindface.pipelines._rows import LabelledRows, has_label, read_labelled, row_labels
from blindface.pipelines._transform import transform_store

__all__ = [
    "LabelledRows",
    "SourceSummary",
    "StoreFit",
    "fit_stores",
    "has_label",
    "plot_history",
    "read_labelled",
    "row_labels",
    "store_files",
    "transform_store",
]
