"""Chance level and the paper's Diff: how much of the above-chance accuracy blinding removed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["bootstrap_accuracy_interval", "chance_level", "diff"]


def chance_level(y: ArrayLike) -> float:
    """Accuracy (percent) of always predicting the majority class of ``y``."""
    values = pd.Series(np.asarray(y, dtype=object))
    if values.isna().any():
        raise ValueError("y has missing labels: drop those rows first")
    if len(values) == 0:
        raise ValueError("y is empty")
    return float(values.value_counts().iloc[0] / len(values) * 100.0)


def above_chance(accuracy: float, chance: float, ci_low: float | None = None) -> bool:
    """Whether a probe read the label above chance: its 95 % interval over people lies above
    chance (without an interval, its accuracy). Diff is reported only where this holds on x:
    below it there is nothing to remove, and a ratio over a denominator near zero only
    amplifies noise."""
    low = ci_low if ci_low is not None and not math.isnan(ci_low) else accuracy
    return low > chance


def diff(before: float, after: float, chance: float) -> float:
    """Share (percent) of the above-chance accuracy removed by blinding.

    ``diff = (before - after) / (before - chance) * 100``.

    This is the paper's Diff: 100 means the probe fell to chance, 0 means nothing changed,
    negative means accuracy rose. NaN when ``before == chance`` (nothing to remove).
    """
    if math.isclose(before, chance):
        return float("nan")
    return (before - after) / (before - chance) * 100.0


def bootstrap_accuracy_interval(
    correct: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval (percent) of an accuracy, resampling *people*.

    ``correct`` says, per scored row, whether the (out-of-fold) prediction was right. People
    (``groups``) are drawn with replacement and the pooled accuracy of their rows recomputed, so
    the interval reflects how much the number would move with other people, not other images
    of the same people. Rows are resampled when ``groups`` is None.
    """
    hits = np.asarray(correct, dtype=np.float64)
    if hits.ndim != 1 or len(hits) == 0:
        raise ValueError("correct must be a non-empty 1-D array of booleans")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    ids = np.arange(len(hits)) if groups is None else np.asarray(groups, dtype=object)
    _, codes = np.unique(ids.astype(str), return_inverse=True)
    per_hits = np.bincount(codes, weights=hits)
    per_rows = np.bincount(codes).astype(np.float64)
    rng = np.random.default_rng(random_state)
    weights = rng.multinomial(
        len(per_rows), np.full(len(per_rows), 1.0 / len(per_rows)), size=n_resamples
    )
    accuracy = (weights @ per_hits) / (weights @ per_rows) * 100.0
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(accuracy, [tail, 100.0 - tail])
    return float(low), float(high)
