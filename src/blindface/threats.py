"""Threat models: what an attacker who wants the expression actually sees.

``population`` (the paper's): the attacker sees a representation ``phi(x)`` of a face and has
never seen the person. ``relative``: the attacker also holds an enrolled photo of the same
person, as every face-recognition deployment does (usually a neutral one), and reads the change
``phi(x) - phi(ref)``. A signal that is constant for a person (who they are) cancels out in the
relative view; what changes within the person (the expression) is laid bare.

This is the one implementation of the reference rule: the evaluation (study, audit) scores
these views and the blinders that model the relative attacker fit on them. It works on arrays
only, so every layer above may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = [
    "THREATS",
    "Threat",
    "ThreatView",
    "population_view",
    "relative_view",
    "symmetric_view",
    "threat_view",
]

Threat = Literal["population", "relative"]
#: The threat models every leakage number is reported under.
THREATS: tuple[Threat, ...] = ("population", "relative")
#: How a relative view chose each person's reference (``ThreatView.rule``).
Rule = Literal["as_is", "enrolled", "other_sessions", "symmetric"]


@dataclass(frozen=True)
class ThreatView:
    """What the attacker sees: ``X`` (one row per scored image), its labels and people.

    ``rows`` are the indices of the scored images in the arrays the view was built from (the
    enrolled reference photos are not scored); ``rule`` says how the reference was chosen:
    ``as_is`` (population view), ``enrolled`` (the person's enrolled photo, or for people
    without one the mean of their other sessions), ``other_sessions`` (no enrolled photo at
    all) or ``symmetric`` (each image minus the mean of the person's images, see
    :func:`symmetric_view`).
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    rows: np.ndarray
    rule: Rule = "as_is"

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


def _members(person: np.ndarray) -> list[np.ndarray]:
    """Row indices of each person, people in order of first appearance."""
    _, first, codes = np.unique(person.astype(str), return_index=True, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    return [groups[i] for i in np.argsort(first, kind="stable")]


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
    features, rows = [], []
    for mine in _members(labels["groups"]):
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
    rule: Rule = "enrolled" if is_reference.any() else "other_sessions"
    return ThreatView(
        np.concatenate(features)[order], labels["y"][kept], labels["groups"][kept], kept, rule
    )


def symmetric_view(X: ArrayLike, y: ArrayLike, groups: ArrayLike) -> ThreatView:
    """Each image minus the mean of its person's images (all L2-normalised first): "which of
    this person's photos shows the label". People with a single image are dropped.

    The relative view of a set with exactly one neutral and one other image per person scores
    only the other images (the neutral one is the reference), so it holds one class; this view
    scores both images of each pair, as ``(a - b) / 2`` and ``(b - a) / 2``.
    """
    unit = _unit_rows(X)
    labels = _check_labels(len(unit), y=y, groups=groups)
    features, rows = [], []
    for mine in _members(labels["groups"]):
        if len(mine) < 2:
            continue
        features.append(unit[mine] - unit[mine].mean(axis=0))
        rows.append(mine)
    if not rows:
        raise ValueError("no person has two or more images: the symmetric view needs them")
    kept = np.concatenate(rows)
    order = np.argsort(kept, kind="stable")
    kept = kept[order]
    return ThreatView(
        np.concatenate(features)[order],
        labels["y"][kept],
        labels["groups"][kept],
        kept,
        "symmetric",
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
    """:func:`population_view` or the relative attacker's view by name.

    The relative attacker's view is :func:`relative_view` (``reference`` needed), except where
    that leaves a single class to score (each person has one reference photo and images of
    one other class, e.g. a neutral and a smiling photo per person): then it is
    :func:`symmetric_view`, and ``rule`` says so.
    """
    if threat == "population":
        return population_view(X, y, groups)
    if threat == "relative":
        if reference is None:
            raise ValueError("the relative threat model needs reference= (e.g. neutral rows)")
        view = relative_view(X, y, groups, reference=reference, sessions=sessions)
        if len(pd.unique(view.y)) < 2 and len(pd.unique(np.asarray(y, dtype=object))) >= 2:
            return symmetric_view(X, y, groups)
        return view
    raise ValueError(f"unknown threat {threat!r}; choose from {', '.join(THREATS)}")
