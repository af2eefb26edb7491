"""Labels read from a dataset table: the expression, the binary smiling task, and people.

The one place that decides which expression a row has and which person it shows, for fitting
a blinder (``blindface fit``), for auditing a store (``blindface audit``) and for the study
(``blindface reproduce``), so that the three read the same rows the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from blindface.datasets._schema import NEUTRAL, normalize_expressions

SMILING_ATTRIBUTE = "Smiling"
#: The expression a yes/no ``Smiling`` attribute stands for (the one rule, see
#: :func:`expression_labels`).
SMILING_EXPRESSIONS: dict[bool, str] = {True: "happy", False: NEUTRAL}
#: The values of the binary smiling task (:func:`smiling`), as the study and audit name them.
SMILING_LABELS: dict[bool, str] = {True: "smiling", False: "not_smiling"}


def expression_labels(
    table: pd.DataFrame, label_map: Mapping[str, str] | None = None, *, source: str = ""
) -> np.ndarray:
    """Each row's expression, one of :data:`EXPRESSIONS` or None where unknown.

    A row's ``expression`` label, normalised with the synonym table (``label_map`` first;
    labels it still does not know become None, counted in one :class:`DatasetWarning` that
    names ``source``). A row without one takes CelebA's yes/no ``Smiling`` attribute where the
    table has it, by one rule: ``Smiling`` True is ``happy``, False is ``neutral`` (an
    approximation: a face that does not smile is taken as neutral). ``blindface fit``,
    ``blindface audit`` and the study all read expressions through this function.

    Returns
    -------
    numpy.ndarray
        Object array of ``len(table)`` strings or None.
    """
    labels = np.full(len(table), None, dtype=object)
    if "expression" in table.columns:
        labels[:] = normalize_expressions(table["expression"], label_map, source=source)
    if SMILING_ATTRIBUTE in table.columns:
        smiles = pd.Series(table[SMILING_ATTRIBUTE], dtype="boolean").to_numpy(
            dtype=object, na_value=None
        )
        for row in np.flatnonzero(pd.isna(labels) & ~pd.isna(smiles)):
            labels[row] = SMILING_EXPRESSIONS[bool(smiles[row])]
    return labels


def person_ids(table: pd.DataFrame, source: str) -> np.ndarray:
    """Each row's person as ``dataset:subject``, None where the row has no subject.

    Subjects of two datasets are different people even when their ids agree, so ids are
    qualified by the table's ``dataset`` column where it is given, else by ``source`` (the
    store's path, so that two stores without a ``dataset`` column never share a person).
    """
    if "subject" not in table.columns:
        return np.full(len(table), None, dtype=object)
    subject = pd.Series(table["subject"], dtype="string").reset_index(drop=True)
    dataset = pd.Series(source, index=subject.index, dtype="string")
    if "dataset" in table.columns:
        given = pd.Series(table["dataset"], dtype="string").reset_index(drop=True)
        dataset = given.fillna(dataset)
    qualified = dataset + ":" + subject
    return qualified.to_numpy(dtype=object, na_value=None)


def smiling(table: pd.DataFrame) -> pd.Series:
    """Whether each face smiles, as a pandas nullable boolean Series (NA where unknown).

    From the ``expression`` column: ``happy`` is True, ``neutral`` False, any other
    expression (and a missing one) NA, so that the task compares a smile with a still face
    only. Where the table has CelebA's ``Smiling`` attribute, that attribute wins on every row
    where it is given (CelebA labels all its images, whatever the expression).

    Parameters
    ----------
    table : pandas.DataFrame
        A dataset table (see :mod:`blindface.datasets`); it needs an ``expression`` or a
        ``Smiling`` column.

    Returns
    -------
    pandas.Series
        dtype ``boolean``, named ``smiling``, on the index of ``table``.
    """
    if "expression" not in table.columns and SMILING_ATTRIBUTE not in table.columns:
        raise ValueError(
            f"the table has neither an 'expression' nor a '{SMILING_ATTRIBUTE}' column "
            f"(columns: {list(table.columns)}); load it with blindface.datasets"
        )
    label = pd.Series(pd.NA, index=table.index, dtype="boolean", name="smiling")
    if "expression" in table.columns:
        expression = table["expression"].astype("string")
        label[(expression == "happy").fillna(False)] = True
        label[(expression == "neutral").fillna(False)] = False
    if SMILING_ATTRIBUTE in table.columns:
        attribute = table[SMILING_ATTRIBUTE].astype("boolean")
        label = attribute.where(attribute.notna(), label).rename("smiling")
    return label
