"""Emotion blinding of face embeddings.

The methods of the paper (Peña et al. 2020): :class:`SensitiveNets`,
:class:`LearningNotToLearnEndToEnd` (which retrains SFace's upper part: it fits on SFace's
feature maps, see :func:`blindface.faces.sface_features`) and :class:`LearningNotToLearn` (its
variant on frozen embeddings); the linear-erasure baselines :class:`LEACE` and :class:`INLP`; and
:class:`WithinSubjectProjection`, a method this library adds. :data:`METHODS` is the registry
(name -> class, kind, description) of the embedding blinders, :data:`RECOGNIZERS` that of the
recognizer blinders (:class:`RecognizerBlinder`); :func:`register` adds one.

Every method is a scikit-learn transformer fitted with keyword labels,
``fit(X, *, expression, subject=None)``; labels may be missing per row (None / NaN / pd.NA).
Fitted models are saved without pickle (``model.save(directory)``, :func:`load`; a malformed
model raises :class:`ModelError`) and export to ONNX (``model.export_onnx(path)``,
:func:`export_recognizer`). The methods that need only means and covariances also fit in one
pass over batches (:func:`fit_streaming`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from blindface.blinding._registry import (
    METHODS,
    RECOGNIZERS,
    Method,
    all_methods,
    get_method,
    load,
    register,
)

#: Public names and the private module each lives in; imported on first use, so that the
#: registry (and ``blindface --help``) is available without loading PyTorch.
_LAZY = {
    "Blinder": "_base",
    "ExpressionInvariantMap": "methods._invariant",
    "export_recognizer": "formats._export",
    "INLP": "methods._inlp",
    "LEACE": "methods._leace",
    "LearningNotToLearn": "methods._lnl",
    "LearningNotToLearnEndToEnd": "methods._lnl_end_to_end",
    "RecognizerBlinder": "_base",
    "ModelError": "formats._persistence",
    "SensitiveNets": "methods._sensitivenets",
    "MomentStatistics": "_streaming",
    "StreamingBlinder": "_streaming",
    "accumulate": "_streaming",
    "fit_statistics": "_streaming",
    "fit_streaming": "_streaming",
    "WithinSubjectProjection": "methods._within_subject",
    "WithinPersonCollapse": "methods._collapse",
}

if TYPE_CHECKING:  # pragma: no cover
    from blindface.blinding._base import Blinder, RecognizerBlinder
    from blindface.blinding._streaming import (
        MomentStatistics,
        StreamingBlinder,
        accumulate,
        fit_statistics,
        fit_streaming,
    )
    from blindface.blinding.formats._export import export_recognizer
    from blindface.blinding.formats._persistence import ModelError
    from blindface.blinding.methods._collapse import WithinPersonCollapse
    from blindface.blinding.methods._inlp import INLP
    from blindface.blinding.methods._invariant import ExpressionInvariantMap
    from blindface.blinding.methods._leace import LEACE
    from blindface.blinding.methods._lnl import LearningNotToLearn
    from blindface.blinding.methods._lnl_end_to_end import LearningNotToLearnEndToEnd
    from blindface.blinding.methods._sensitivenets import SensitiveNets
    from blindface.blinding.methods._within_subject import WithinSubjectProjection


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"blindface.blinding.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'blindface.blinding' has no attribute {name!r}")


__all__ = [
    "INLP",
    "LEACE",
    "METHODS",
    "RECOGNIZERS",
    "Blinder",
    "ExpressionInvariantMap",
    "LearningNotToLearn",
    "LearningNotToLearnEndToEnd",
    "Method",
    "ModelError",
    "MomentStatistics",
    "RecognizerBlinder",
    "SensitiveNets",
    "StreamingBlinder",
    "WithinPersonCollapse",
    "WithinSubjectProjection",
    "accumulate",
    "all_methods",
    "export_recognizer",
    "fit_statistics",
    "fit_streaming",
    "get_method",
    "load",
    "register",
]
