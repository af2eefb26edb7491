"""Threat models: what an attacker who wants the expression actually sees.

``population`` (the paper's): the attacker sees a representation ``phi(x)`` of a face and has
never seen the person. ``relative``: the attacker also holds an enrolled photo of the same
person, as every face-recognition deployment does (usually a neutral one), and reads the change
``phi(x) - phi(ref)``. A signal that is constant for a person (who they are) cancels out in the
relative view; what changes within the person (the expression) is laid bare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["THREATS", "Threat", "ThreatView", "population_view", "relative_view", "threat_view"]

Threat = Literal["population", "relative"]
#: The threat models every leakage number is reported under.
THREATS: tuple[Threat, ...] = ("population", "relative")


@dataclass(frozen=True)
class ThreatView:
    """What the attacker sees: ``X`` (one row per scored image), its labels and people.

    ``rows`` are the indices of the scored images in the arrays the view was built from (the
    enrolled reference photos are not scored); ``n_people`` is the number of people kept.
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    rows: np.ndarray

    @property
    def n_people(self) -> int:
        return int(len(np.unique(self.groups)))


def _unit_rows(X: ArrayLike) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (one representation per row), got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if not np.isfinite(X).all() or (norms == 0).any():
        raise ValueError("X has non-finite or all-zero rows (failed faces?): drop them first")
    return X / norms


def _check_labels(n: int, **columns: ArrayLike | None) -> dict[str, np.ndarray]:
    out = {}
    for name, values in columns.items():
        if values is None:
            continue
        arr = np.asarray(values, dtype=object)
        if arr.shape != (n,):
            raise ValueError(f"{name} has shape {arr.shape}, expected ({n},): one value per row")
        if name != "sessions" and pd.isna(arr).any():
            raise ValueError(f"{name} has {int(pd.isna(arr).sum())} missing values: drop them")
        out[name] = arr
    return out


def population_view(X: ArrayLike, y: ArrayLike, groups: ArrayLike) -> ThreatView:
    """The paper's threat model: the attacker sees each representation as it is."""
    X = np.asarray(X, dtype=np.float64)
    labels = _check_labels(len(X), y=y, groups=groups)
    return ThreatView(X, labels["y"], labels["groups"], np.arange(len(X)))


def relative_view(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    *,
    reference: ArrayLike,
    sessions: ArrayLike | None = None,
) -> ThreatView:
    """The enrollment attacker: each scored image is seen as ``phi(x) - phi(ref)``.

    Every vector is L2-normalised before subtracting. For a person with at least one image
    marked in ``reference`` (their neutral photos), ``ref`` is the first of them in row order,
    the enrollment photo, and it is left out of the scored images. A person without one (CK+48
    holds no neutral frame) is compared with the normalised mean of their images from *other*
    sessions (``sessions``: a sequence or take id per row; every other image when it is None),
    never with the image itself or a near-duplicate frame of the same sequence; images with no
    other session are dropped.

    Parameters
    ----------
    X : array of shape (n, d)
        The representations (e.g. blinded embeddings).
    y : array of shape (n,)
        The label the attacker wants (expression, smiling).
    groups : array of shape (n,)
        The person of each row.
    reference : array of bool, shape (n,)
        Rows that can serve as the enrolled photo (e.g. ``expression == "neutral"``).
    sessions : array of shape (n,), optional
        Session of each row (CK+ sequence); images of one session are never each other's
        reference.
    """
    unit = _unit_rows(X)
    n = len(unit)
    labels = _check_labels(n, y=y, groups=groups, sessions=sessions)
    is_reference = np.asarray(reference, dtype=bool)
    if is_reference.shape != (n,):
        raise ValueError(f"reference has shape {is_reference.shape}, expected ({n},)")
    session = labels.get("sessions")
    person = labels["groups"]
    features, rows = [], []
    for who in pd.unique(person):
        mine = np.flatnonzero(person == who)
        enrolled = mine[is_reference[mine]]
        if len(enrolled):
            ref = enrolled[0]
            scored = mine[mine != ref]
            features.append(unit[scored] - unit[ref])
            rows.append(scored)
            continue
        for row in mine:
            if session is None:
                others = mine[mine != row]
            else:
                others = mine[session[mine] != session[row]]
            if len(others) == 0:
                continue
            mean = unit[others].mean(axis=0)
            norm = np.linalg.norm(mean)
            if norm == 0:
                continue
            features.append(unit[row : row + 1] - mean / norm)
            rows.append(np.array([row]))
    if not rows:
        raise ValueError(
            "no image has a reference: the relative view needs, per person, a reference image "
            "(e.g. a neutral one) or images from at least two sessions"
        )
    kept = np.concatenate(rows)
    order = np.argsort(kept, kind="stable")
    kept = kept[order]
    return ThreatView(
        np.concatenate(features)[order], labels["y"][kept], labels["groups"][kept], kept
    )


def threat_view(
    threat: Threat,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    *,
    reference: ArrayLike | None = None,
    sessions: ArrayLike | None = None,
) -> ThreatView:
    """:func:`population_view` or :func:`relative_view` by name (``reference`` needed for the
    relative view)."""
    if threat == "population":
        return population_view(X, y, groups)
    if threat == "relative":
        if reference is None:
            raise ValueError("the relative threat model needs reference= (e.g. neutral rows)")
        return relative_view(X, y, groups, reference=reference, sessions=sessions)
    raise ValueError(f"unknown threat {threat!r}; choose from {', '.join(THREATS)}")
