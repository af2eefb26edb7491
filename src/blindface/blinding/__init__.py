"""Emotion blinding of face embeddings: SensitiveNets, Learning not to Learn, LEACE and INLP
(the paper's methods) and WithinSubjectProjection.

Every method is a scikit-learn transformer fitted with keyword labels,
``fit(X, *, expression, subject=None)``; labels may be missing per row (None / NaN / pd.NA).
Fitted models are saved without pickle (``model.save(directory)``, :func:`load`) and export to
ONNX (``model.export_onnx(path)``, :func:`export_recognizer`).
"""

from __future__ import annotations

from blindface.blinding._base import Blinder, load
from blindface.blinding._inlp import INLP
from blindface.blinding._leace import LEACE
from blindface.blinding._lnl import LearningNotToLearn
from blindface.blinding._onnx import export_recognizer
from blindface.blinding._sensitivenets import SensitiveNets
from blindface.blinding._within_subject import WithinSubjectProjection
from blindface.blinding._workflow import METHODS, fit_stores

__all__ = [
    "INLP",
    "LEACE",
    "METHODS",
    "Blinder",
    "LearningNotToLearn",
    "SensitiveNets",
    "WithinSubjectProjection",
    "export_recognizer",
    "fit_stores",
    "load",
]
