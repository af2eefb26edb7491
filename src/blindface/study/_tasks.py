"""The declarative list of what the study measures; every table is driven by it.

A :class:`LeakageTask` names a dataset and the label an attacker wants from it (the harmonised
expression, or the binary smiling task), which rows can serve as a person's enrolled photo for the
relative threat model, and the session column that keeps near-duplicate frames apart. A new task
is one more entry in :data:`LEAKAGE_TASKS`; an identity set or an attribute to keep
is one more entry in :data:`IDENTITY_SETS` / :data:`ATTRIBUTE_TASKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from blindface.datasets import NEUTRAL, SMILING_LABELS, expression_labels, smiling

#: The values of the binary smiling task.
SMILING, NOT_SMILING = SMILING_LABELS[True], SMILING_LABELS[False]


def expression_label(name: str, table: pd.DataFrame) -> pd.Series:
    """The harmonised expression (8 classes; CelebA's ``Smiling`` as happy / neutral), NA where
    unknown."""
    return pd.Series(expression_labels(table, source=name), index=table.index, dtype="string")


def smiling_label(name: str, table: pd.DataFrame) -> pd.Series:
    """Happy vs neutral, or CelebA's ``Smiling``: ``"smiling"`` / ``"not_smiling"``, NA else."""
    values = smiling(table)
    return values.map({True: SMILING, False: NOT_SMILING}).astype("string")


#: Label value of the rows that can be a person's enrolled (reference) photo, per label kind.
REFERENCE_VALUES = {"expression": NEUTRAL, "smiling": NOT_SMILING}


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


#: Identity sets: every genuine and impostor pair among their images is scored at a fixed FAR.
#: ``lfw``: the images of the verification pairs (View-1 DevTest, or View-2); ``celeba``: the
#: people of Table II's test split. Both are reserved: no blinder fits on them.
IDENTITY_SETS: tuple[str, ...] = ("lfw", "celeba")


@dataclass(frozen=True)
class AttributeTask:
    """An attribute the blinded representation must keep (``column`` of ``dataset``), read by
    fresh probes; the strongest attacker's Diff says how much of it blinding removed."""

    name: str
    dataset: str
    column: str
    probes: tuple[str, ...] = ("mlp", "logreg")


ATTRIBUTE_TASKS: tuple[AttributeTask, ...] = (
    AttributeTask("gender", "utkface", "gender"),
    AttributeTask("ethnicity", "utkface", "ethnicity_group"),
)
