"""blindface: face representations blind to facial expression.

The public API is re-exported here from private modules and imported lazily, so that
``import blindface`` (and the command line) stays fast and does not load PyTorch
until a blinding method is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from blindface._version import __version__

_LAZY = {
    "SensitiveNets": "blindface.blinding",
    "LearningNotToLearn": "blindface.blinding",
    "LearningNotToLearnEndToEnd": "blindface.blinding",
    "LEACE": "blindface.blinding",
    "ExpressionInvariantMap": "blindface.blinding",
    "INLP": "blindface.blinding",
    "WithinSubjectProjection": "blindface.blinding",
    "load": "blindface.blinding",
}

__all__ = [
    "ExpressionInvariantMap",
    "INLP",
    "LEACE",
    "LearningNotToLearn",
    "LearningNotToLearnEndToEnd",
    "SensitiveNets",
    "WithinSubjectProjection",
    "__version__",
    "load",
]

if TYPE_CHECKING:  # pragma: no cover
    from blindface.blinding import (
        INLP,
        LEACE,
        ExpressionInvariantMap,
        LearningNotToLearn,
        LearningNotToLearnEndToEnd,
        SensitiveNets,
        WithinSubjectProjection,
        load,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'blindface' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
