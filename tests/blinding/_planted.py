"""The planted-signal check every method must pass at its defaults.

60 people x 12 images of 64-d unit vectors: person centre + 0.3 noise + 0.8 x one of 6 random
expression directions (2 images per expression). A blinder is fitted on 40 people; on the 20
others a fresh MLP probe reads the expression (trained on 10 people, scored on the other 10) and
1-NN by cosine identifies people (half of each person's images are the gallery).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "angry", "disgust")
N_PEOPLE, N_FIT, N_EXPRESSIONS, PER_EXPRESSION, DIM = 60, 40, len(EXPRESSIONS), 2, 64
CHANCE = 1 / N_EXPRESSIONS


@dataclass(frozen=True)
class Planted:
    X: np.ndarray
    expression: np.ndarray
    subject: np.ndarray
    fit: np.ndarray  # rows of the 40 fitting people


def make_planted(seed: int = 0) -> Planted:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_PEOPLE, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    directions = rng.standard_normal((N_EXPRESSIONS, DIM))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    subject = np.repeat(np.arange(N_PEOPLE), N_EXPRESSIONS * PER_EXPRESSION)
    codes = np.tile(np.repeat(np.arange(N_EXPRESSIONS), PER_EXPRESSION), N_PEOPLE)
    noise = 0.3 * rng.standard_normal((len(subject), DIM)) / np.sqrt(DIM)
    X = centres[subject] + noise + 0.8 * directions[codes]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return Planted(
        X=X.astype(np.float32),
        expression=np.array([EXPRESSIONS[c] for c in codes], dtype=object),
        subject=np.array([f"p{s}" for s in subject], dtype=object),
        fit=subject < N_FIT,
    )


def score(Z: np.ndarray, data: Planted) -> tuple[float, float]:
    """(expression accuracy of a fresh MLP probe, 1-NN identity accuracy) on the 20 held-out
    people."""
    test = ~data.fit
    Z, y, people = Z[test], data.expression[test], data.subject[test]
    ids = np.unique(people)
    probe_rows = np.isin(people, ids[: len(ids) // 2])
    probe = make_pipeline(
        StandardScaler(),
        MLPClassifier((128,), solver="lbfgs", alpha=1e-2, max_iter=2000, random_state=0),
    )
    probe.fit(Z[probe_rows], y[probe_rows])
    expression = float(probe.score(Z[~probe_rows], y[~probe_rows]))
    unit = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    gallery = np.arange(len(Z)) % 2 == 0  # every other image of each person
    knn = KNeighborsClassifier(1).fit(unit[gallery], people[gallery])
    return expression, float(knn.score(unit[~gallery], people[~gallery]))
