"""Independent random streams from one seed: one per stage of a seeded run.

Reusing one integer as ``default_rng(seed)`` in two places draws the same numbers twice: two
samples taken "at random" from related lists come out correlated. Each stage instead takes its
own stream, derived from the run's seed and the stage's name with NumPy's ``SeedSequence``
(the same seed and name always give the same stream; two names never share draws), so a stage
can be added, removed or reordered without changing what the others draw.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _key(stage: str) -> int:
    return int.from_bytes(hashlib.blake2b(stage.encode(), digest_size=8).digest(), "little")


def stream(seed: int, stage: str) -> np.random.Generator:
    """The random generator of ``stage`` (a short name, e.g. ``"celeba-people"``) in a run
    seeded with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_key(stage),)))


def derive(seed: int, stage: str) -> int:
    """An integer seed for ``stage``, for APIs that take one (scikit-learn's
    ``random_state``); drawn from :func:`stream`."""
    return int(stream(seed, stage).integers(2**31 - 1))
