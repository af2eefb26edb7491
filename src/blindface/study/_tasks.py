"""The declarative list of what the study measures; every table is driven by it.

A :class:`LeakageTask` names a dataset and the label an attacker wants from it (the harmonised
expression, or the binary smiling task), which rows can serve as a person's enrolled photo for the
relative threat model, and the session column that keeps near-duplicate frames apart. A new task
is one more entry in :data:`LEAKAGE_TASKS`; a new utility is one more in :data:`UTILITY_TASKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from blindface.datasets import expression_labels, smiling


def expression_label(name: str, table: pd.DataFrame) -> pd.Series:
    """The harmonised expression (8 classes; CelebA's ``Smiling`` as happy / neutral), NA where
    unknown."""
    return pd.Series(expression_labels(table, source=name), index=table.index, dtype="string")


def smiling_label(name: str, table: pd.DataFrame) -> pd.Series:
    """Happy vs neutral, or CelebA's ``Smiling``: ``"smiling"`` / ``"not_smiling"``, NA else."""
    values = smiling(table)
    return values.map({True: "smiling", False: "not_smiling"}).astype("string")


#: Label value of the rows that can be a person's enrolled (reference) photo, per label kind.
REFERENCE_VALUES = {"expression": "neutral", "smiling": "not_smiling"}


@dataclass(frozen=True)
class LeakageTask:
    """What an attacker wants from one dataset: ``label`` (``expression`` or ``smiling``)."""

    label: str
    dataset: str
    sessions: str | None = None

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.label}"

    def labels(self, table: pd.DataFrame) -> pd.Series:
        make: Callable[[str, pd.DataFrame], pd.Series] = (
            expression_label if self.label == "expression" else smiling_label
        )
        return make(self.dataset, table)

    def reference(self, labels: pd.Series) -> np.ndarray:
        """Rows that can be a person's enrolled photo (their neutral / not-smiling images)."""
        return (labels == REFERENCE_VALUES[self.label]).fillna(False).to_numpy(dtype=bool)

    def session_ids(self, table: pd.DataFrame) -> np.ndarray | None:
        if self.sessions is None or self.sessions not in table:
            return None
        return table[self.sessions].astype(str).to_numpy()


LEAKAGE_TASKS: tuple[LeakageTask, ...] = (
    LeakageTask("expression", "jaffe"),
    LeakageTask("smiling", "jaffe"),
    LeakageTask("expression", "ckplus", sessions="sequence"),
    LeakageTask("expression", "taiwanese"),
    LeakageTask("smiling", "taiwanese"),
    LeakageTask("smiling", "lfw"),
    LeakageTask("smiling", "celeba"),
)


@dataclass(frozen=True)
class UtilityTask:
    """Something the blinded representation must keep: ``identity`` (LFW verification pairs),
    or an attribute column of a dataset read by fresh probes (``gender``, ``ethnicity``)."""

    name: str
    dataset: str
    column: str | None = None
    probes: tuple[str, ...] = ("mlp", "logreg")


UTILITY_TASKS: tuple[UtilityTask, ...] = (
    UtilityTask("identity", "lfw"),
    UtilityTask("gender", "utkface", column="gender"),
    UtilityTask("ethnicity", "utkface", column="ethnicity_group"),
)
