"""A test embedder that crashes its process on a pure red image, as a bad decoder would.

Kept out of the test modules so that the worker processes importing it start fast.
"""

from __future__ import annotations

import os
import resource
import signal

import numpy as np

from blindface.faces import Embedder
from blindface.faces._geometry import Face

SEGFAULT = (255, 0, 0)


class CrashingEmbedder(Embedder):
    """The mean colour of the whole image (plus one) as its embedding; a pure red image
    segfaults the process instead."""

    name, dim = "crashing", 3

    def __init__(self) -> None:
        super().__init__(fallback_min_score=0.0)

    @property
    def weight_files(self) -> tuple[str, ...]:
        return ()

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        if (rgb == SEGFAULT).all():
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
            os.kill(os.getpid(), signal.SIGSEGV)
        height, width = rgb.shape[:2]
        return [Face((0.0, 0.0, float(width), float(height)), None, 1.0)]

    def _best_score(self, rgb: np.ndarray) -> float:
        return 1.0

    def _crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        return rgb

    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        return np.stack([crop.reshape(-1, 3).mean(axis=0) + 1.0 for crop in crops])
