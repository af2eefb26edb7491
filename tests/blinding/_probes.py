"""Probes of what a representation still tells: expression (leakage), identity (utility)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier


def expression_probe(Z: np.ndarray, data, kind: str = "linear") -> float:
    """Held-out-subject accuracy of an expression probe on the emotion rows of ``Z``."""
    rows = data.is_emotion_row
    subjects, y, Ze = data.true_subject[rows], data.true_expression[rows], Z[rows]
    test = np.isin(subjects, np.unique(subjects)[::3])
    if kind == "linear":
        probe = LogisticRegression(max_iter=2000)
    else:
        probe = MLPClassifier((128,), max_iter=400, random_state=0)
    return float(probe.fit(Ze[~test], y[~test]).score(Ze[test], y[test]))


def identity_knn(Z: np.ndarray, data) -> float:
    """1-NN (cosine) identification of each identity subject's first image among the others."""
    rows = ~data.is_emotion_row
    subjects = data.true_subject[rows]
    Zi = Z[rows] / np.linalg.norm(Z[rows], axis=1, keepdims=True)
    first = np.r_[True, subjects[1:] != subjects[:-1]]
    knn = KNeighborsClassifier(1).fit(Zi[~first], subjects[~first])
    return float(knn.score(Zi[first], subjects[first]))
