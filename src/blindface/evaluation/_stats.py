"""Chance level and the paper's Diff: how much of the above-chance accuracy blinding removed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["chance_level", "diff"]


def chance_level(y: ArrayLike) -> float:
    """Accuracy (percent) of always predicting the majority class of ``y``."""
    values = pd.Series(np.asarray(y, dtype=object))
    if values.isna().any():
        raise ValueError("y has missing labels: drop those rows first")
    if len(values) == 0:
        raise ValueError("y is empty")
    return float(values.value_counts().iloc[0] / len(values) * 100.0)


def diff(before: float, after: float, chance: float) -> float:
    """Share (percent) of the above-chance accuracy removed by blinding.

    ``diff = (before - after) / (before - chance) * 100``.

    This is the paper's Diff: 100 means the probe fell to chance, 0 means nothing changed,
    negative means accuracy rose. NaN when ``before == chance`` (nothing to remove).
    """
    if math.isclose(before, chance):
        return float("nan")
    return (before - after) / (before - chance) * 100.0
