"""The binary smiling task: one label for the datasets with expressions and for CelebA."""

from __future__ import annotations

import pandas as pd

SMILING_ATTRIBUTE = "Smiling"


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
