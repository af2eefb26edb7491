"""Balanced accuracies with bootstrap intervals over people, and the strongest attacker's Diff.

The headline leakage number of blindface: per cell (dataset, task, threat, attacker), the best
probe's balanced accuracy after blinding against the best probe's before,
``Diff = (best_before - best_after) / (best_before - chance)``, with a 95 % interval on the Diff
itself from resampling *people* (both sides recomputed, the best probe re-picked in every
resample). Balanced accuracy makes imbalanced tasks comparable: chance is 1 / classes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from blindface.evaluation._probing import ProbeScores

__all__ = ["Strongest", "pooled_diff", "probe_intervals", "strongest_attacker"]

LEVEL = 0.95


def _people_weights(groups: np.ndarray, n_resamples: int, random_state: int) -> np.ndarray:
    """``(n_resamples, n_people)`` multinomial counts: people drawn with replacement."""
    n_people = len(np.unique(groups))
    rng = np.random.default_rng(random_state)
    return rng.multinomial(n_people, np.full(n_people, 1.0 / n_people), size=n_resamples).astype(
        np.float64
    )


def _resampled_balanced(scores: ProbeScores, weights: np.ndarray) -> np.ndarray:
    """``(n_resamples + 1, n_probes)`` balanced accuracies (percent): row 0 on the rows as they
    are, then one row per resample of people (``weights``)."""
    _, person = np.unique(scores.groups, return_inverse=True)
    present = scores.present
    n_people, n_classes = int(person.max()) + 1, len(present)
    cls = np.searchsorted(present, scores.y)
    cell = person * n_classes + cls
    totals = np.bincount(cell, minlength=n_people * n_classes).reshape(n_people, n_classes)
    W = np.vstack([np.ones((1, n_people)), weights])
    denominator = W @ totals
    out = np.empty((len(W), len(scores.probes)))
    for j, probe in enumerate(scores.probes):
        hits = np.bincount(cell, weights=scores.hits(probe), minlength=n_people * n_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = (W @ hits.reshape(n_people, n_classes)) / denominator
        out[:, j] = np.nanmean(recall, axis=1) * 100.0
    return out


def _interval(samples: np.ndarray) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return float("nan"), float("nan")
    tail = (1.0 - LEVEL) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def probe_intervals(
    scores: ProbeScores, *, n_resamples: int = 1000, random_state: int = 0
) -> dict[str, tuple[float, float, float]]:
    """Per probe: balanced accuracy and its 95 % bootstrap interval over people (percent)."""
    weights = _people_weights(scores.groups, n_resamples, random_state)
    table = _resampled_balanced(scores, weights)
    return {
        probe: (float(table[0, j]), *_interval(table[1:, j]))
        for j, probe in enumerate(scores.probes)
    }


@dataclass(frozen=True)
class Strongest:
    """The strongest attacker of one cell, before and after blinding.

    ``readable``: some probe read the label from the unblinded representation, its own 95 %
    interval above chance; only then is there something to remove, and ``diff`` is kept in
    pooled means. ``samples`` are the bootstrap Diffs (for pooled intervals; not saved).
    """

    best_before: float
    best_after: float
    probe_before: str
    probe_after: str
    chance: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    readable: bool
    n: int
    n_people: int
    samples: np.ndarray = field(repr=False, compare=False)

    def record(self) -> dict[str, float | str | bool | int | None]:
        """The JSON fields (NaN as None)."""

        def clean(value: float) -> float | None:
            return None if not np.isfinite(value) else round(float(value), 4)

        return {
            "best_before": clean(self.best_before),
            "best_after": clean(self.best_after),
            "probe_before": self.probe_before,
            "probe_after": self.probe_after,
            "chance": clean(self.chance),
            "diff": clean(self.diff),
            "diff_ci_low": clean(self.diff_ci_low),
            "diff_ci_high": clean(self.diff_ci_high),
            "readable": self.readable,
            "n": self.n,
            "n_people": self.n_people,
        }


def _diffs(before: np.ndarray, after: np.ndarray, chance: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (before - after) / (before - chance) * 100.0
    return np.where(before - chance > 1e-9, out, np.nan)


def strongest_attacker(
    before: ProbeScores,
    after: ProbeScores,
    *,
    n_resamples: int = 1000,
    random_state: int = 0,
) -> Strongest:
    """Best probe after blinding against best probe before, on the same scored rows.

    Both are balanced accuracies; the interval of ``diff`` resamples people once for both sides
    and re-picks the best probe of each side in every resample. ``before`` and ``after`` may hold
    different probes (e.g. an inversion attacker after, the plain probes before).
    """
    if not before.same_rows(after):
        raise ValueError("before and after must score the same rows (labels and people)")
    weights = _people_weights(before.groups, n_resamples, random_state)
    b = _resampled_balanced(before, weights)
    a = _resampled_balanced(after, weights)
    best_b, best_a = b.max(axis=1), a.max(axis=1)
    chance = before.chance
    diffs = _diffs(best_b, best_a, chance)
    low, high = _interval(diffs[1:])
    lows = np.array([_interval(b[1:, j])[0] for j in range(b.shape[1])])
    return Strongest(
        best_before=float(best_b[0]),
        best_after=float(best_a[0]),
        probe_before=before.probes[int(np.argmax(b[0]))],
        probe_after=after.probes[int(np.argmax(a[0]))],
        chance=chance,
        diff=float(diffs[0]),
        diff_ci_low=low,
        diff_ci_high=high,
        readable=bool((lows > chance).any()),
        n=len(before.y),
        n_people=len(np.unique(before.groups)),
        samples=diffs[1:],
    )


def pooled_diff(cells: Sequence[Strongest]) -> tuple[float, float, float, int]:
    """Mean Diff over the ``readable`` cells, with a 95 % interval from averaging the cells'
    independent bootstrap samples (the cells hold different people); and how many cells.
    NaN where no cell is readable."""
    kept = [c for c in cells if c.readable and np.isfinite(c.diff)]
    if not kept:
        return float("nan"), float("nan"), float("nan"), 0
    size = min(len(c.samples) for c in kept)
    stacked = np.vstack([c.samples[:size] for c in kept])
    with warnings.catch_warnings():  # a resample where no cell has a Diff is NaN, and dropped
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(stacked, axis=0)
    return float(np.mean([c.diff for c in kept])), *_interval(means), len(kept)
