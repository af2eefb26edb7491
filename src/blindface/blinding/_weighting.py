"""Source weighting of a fit: every row counts once, or every source (dataset, capture domain)
counts the same whatever its number of rows.

Fitting on the union of public sets lets the largest ones (LFW, CelebA: thousands of rows)
decide what is removed; a user's own domain added with a hundred people would count for 2 % of
the rows. Balancing replicates the rows of the smaller sources so that each source has as many
rows as the largest; it works for every method (moment-based methods see the same weighted
moments, sampling-based ones sample each source equally often) and is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

Weighting = Literal["rows", "balanced"]
WEIGHTINGS: tuple[Weighting, ...] = ("rows", "balanced")


def weighted_rows(
    source: ArrayLike,
    weighting: Weighting = "balanced",
    *,
    boost: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Row indices of a fit under ``weighting``: ``rows`` is every row once; ``balanced``
    repeats each source's rows ``round(largest / size * boost)`` times (at least once), so each
    source weighs about the same (``boost``: source -> extra factor, e.g. a user's own domain).
    Rows without a source count as one source of their own."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    names = pd.Series(np.asarray(source, dtype=object)).fillna("").astype(str).to_numpy()
    if weighting == "rows" and not boost:
        return np.arange(len(names))
    sizes = pd.Series(names).value_counts()
    largest = int(sizes.max()) if len(sizes) else 0
    repeats = np.ones(len(names), dtype=np.int64)
    for name, size in sizes.items():
        factor = (boost or {}).get(str(name), 1.0)
        if factor <= 0:
            raise ValueError(f"the boost of source {name!r} must be > 0, got {factor}")
        base = largest / int(size) if weighting == "balanced" else 1.0
        repeats[names == name] = max(1, round(base * factor))
    return np.repeat(np.arange(len(names)), repeats)
