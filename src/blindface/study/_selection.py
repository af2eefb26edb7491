"""Nested selection: every data-dependent choice is made on the fitting sources only.

For a held-out dataset D, each candidate (a method with one setting of its strength) is fit on
the sources but D and a validation source V, and scored on V (:func:`selection_score`: the
strongest attacker's Diff under both threats, and the TAR at FAR 0.1 % loss on V's people); the
scores are averaged over V. The choice maximises the leakage removed among the candidates whose
loss stays within the utility budget; when none does, the one that loses least is taken and
flagged. Nothing about D enters: the selection reads ``data.without(D)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """A method with one setting of its sweep (``settings``: sorted ``(name, value)`` pairs,
    so that a candidate can key a dict; :meth:`of` builds one from a mapping)."""

    method: str
    settings: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, method: str, params: Mapping[str, Any]) -> Candidate:
        return cls(method, tuple(sorted(params.items())))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.settings)

    @property
    def label(self) -> str:
        from blindface.study._fitting import candidate_label

        return candidate_label(self.params)


@dataclass(frozen=True)
class Scored:
    """A candidate's validation scores (one per validation source) and their means."""

    candidate: Candidate
    validations: tuple[Mapping[str, Any], ...]

    @property
    def removed(self) -> float | None:
        values = [v["removed"] for v in self.validations if v.get("removed") is not None]
        return float(np.mean(values)) if values else None

    @property
    def tar_loss(self) -> float | None:
        values = [v["tar_loss"] for v in self.validations if v.get("tar_loss") is not None]
        return float(np.mean(values)) if values else None

    def within(self, budget: float) -> bool:
        return self.tar_loss is not None and self.tar_loss <= budget

    def record(self) -> dict[str, Any]:
        return {
            "method": self.candidate.method,
            "params": dict(self.candidate.params),
            "label": self.candidate.label,
            "removed": self.removed,
            "tar_loss": self.tar_loss,
            "validations": [dict(v) for v in self.validations],
        }


def choose(scored: Sequence[Scored], budget: float) -> tuple[Scored, bool]:
    """The candidate removing the most leakage (inner mean) among those within ``budget``
    points of TAR loss, ties to the smaller loss; else the smallest loss. Also whether the
    choice is within the budget."""
    if not scored:
        raise ValueError("nothing to choose from")
    feasible = [s for s in scored if s.within(budget)]
    if feasible:
        best = max(
            feasible,
            key=lambda s: (
                -np.inf if s.removed is None else s.removed,
                -(s.tar_loss or 0.0),
            ),
        )
        return best, True
    return min(scored, key=lambda s: np.inf if s.tar_loss is None else s.tar_loss), False


def selection_record(
    heldout: str | None, scope: str, scored: Sequence[Scored], budget: float
) -> dict[str, Any]:
    """The JSON record of one choice: the candidates with their inner scores, and the choice.
    ``scope`` is a method name, or ``recommended`` (every method's candidates, and ``none``)."""
    chosen, within = choose(scored, budget)
    return {
        "heldout_dataset": heldout,
        "scope": scope,
        "budget": budget,
        "candidates": [s.record() for s in scored],
        "choice": {
            "method": chosen.candidate.method,
            "params": dict(chosen.candidate.params),
            "label": chosen.candidate.label,
        },
        "within_budget": within,
    }
