"""Stores to labelled rows: the embedded faces of a store, each with its label and its person.

``blindface fit`` (:func:`~blindface.pipelines.fit_stores`), ``blindface audit`` and the study
read their rows through :func:`read_labelled` (or, batch by batch, :func:`row_labels`), so an
expression, a CelebA ``Smiling`` attribute and a subject id mean the same thing to all three
(the rules are :func:`blindface.datasets.expression_labels` and
:func:`blindface.datasets.person_ids`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from blindface.datasets import SMILING_ATTRIBUTE, expression_labels, person_ids
from blindface.store import read_store

#: The label that :func:`row_labels` reads by default: the expression, harmonised.
EXPRESSION = "expression"


@dataclass(frozen=True)
class LabelledRows:
    """A store's embedded rows (failed faces left out), with a label and a person each.

    ``labels`` and ``people`` are object arrays, None where a row has no label / no subject.
    """

    X: np.ndarray
    table: pd.DataFrame
    labels: np.ndarray
    people: np.ndarray

    def __len__(self) -> int:
        return len(self.table)


def row_labels(
    table: pd.DataFrame,
    source: str,
    *,
    label: str | None = EXPRESSION,
    label_map: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, people)`` of the rows of ``table``, read from the store ``source``.

    ``label="expression"`` (default): :func:`~blindface.datasets.expression_labels` (the
    normalised expression, ``label_map`` first, else CelebA's ``Smiling`` as happy / neutral);
    another column: its values as strings (``"True"`` / ``"False"`` for a yes/no column); None,
    or a column the table lacks: no labels. People: :func:`~blindface.datasets.person_ids`
    (``dataset:subject``, qualified by ``source`` where the table has no ``dataset``).
    """
    labels = np.full(len(table), None, dtype=object)
    if label == EXPRESSION:
        labels = expression_labels(table, label_map, source=source)
    elif label is not None and label in table.columns:
        values = pd.Series(table[label], dtype=object).reset_index(drop=True)
        labels[:] = [None if pd.isna(v) else str(v) for v in values]
    return labels, person_ids(table, source)


def has_label(table: pd.DataFrame, label: str) -> bool:
    """Whether ``table`` has a column that :func:`row_labels` reads ``label`` from."""
    if label == EXPRESSION:
        return bool({EXPRESSION, SMILING_ATTRIBUTE} & set(table.columns))
    return label in table.columns


def label_columns(label: str | None) -> list[str]:
    """The table columns :func:`row_labels` reads for ``label`` and for the people."""
    if label == EXPRESSION:
        named = [EXPRESSION, SMILING_ATTRIBUTE]
    else:
        named = [] if label is None else [label]
    return [*named, "subject", "dataset"]


def read_labelled(
    path: str | os.PathLike[str],
    *,
    label: str | None = EXPRESSION,
    label_map: Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
) -> LabelledRows:
    """The embedded rows of the store ``path`` with their labels (see :func:`row_labels`).

    ``columns``: the table columns to read besides those of the label and the people
    (:func:`label_columns`; ``()`` reads those only, the store's other label columns never
    leave the file); None (default) reads every column.
    """
    wanted = None if columns is None else list(dict.fromkeys([*label_columns(label), *columns]))
    store = read_store(path, columns=wanted)
    ok = store.ok
    table = store.table.iloc[np.flatnonzero(ok)].reset_index(drop=True)
    labels, people = row_labels(table, str(path), label=label, label_map=label_map)
    return LabelledRows(np.asarray(store.embeddings[ok], dtype=np.float32), table, labels, people)
