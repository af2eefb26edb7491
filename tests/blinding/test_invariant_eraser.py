"""The invariant method's final eraser is fitted on both threat views, not the population's only.

Planted people: each has a random identity and a happy shift ``s`` within the person; half are
"smilers" (1 neutral, 4 happy images), half not (4 neutral, 1 happy), and a smiler's identity
sits at ``-5/6 s``, its twin non-smiler's at ``+5/6 s``, so that the population view's class
means are equal: a population attacker reads nothing, while the relative attacker (the change
from the person's enrolled neutral photo) reads ``s`` plainly. An eraser fitted on the population
view alone has nothing to remove; fitted on the relative view too, it removes ``s``.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from blindface.blinding import ExpressionInvariantMap
from blindface.evaluation import relative_view

N_PEOPLE, DIM = 80, 16


def _planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shift = rng.normal(size=DIM)
    shift *= 0.5 / np.linalg.norm(shift)
    X, expression, subject = [], [], []
    identity = np.zeros(DIM)
    for person in range(N_PEOPLE):
        smiler = person % 2 == 0
        if smiler:  # the next person, a non-smiler, is this one's twin
            identity = 4 * rng.normal(size=DIM) / np.sqrt(DIM)
        centre = identity + (-5 / 6 if smiler else 5 / 6) * shift
        labels = ["neutral"] + ["happy"] * 4 if smiler else ["neutral"] * 4 + ["happy"]
        for label in labels:
            X.append(centre + (shift if label == "happy" else 0) + 0.02 * rng.normal(size=DIM))
            expression.append(label)
            subject.append(f"p{person}")
    X = np.asarray(X, dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.array(expression, dtype=object), np.array(subject, dtype=object)


def _relative_attack(Z: np.ndarray, expression: np.ndarray, subject: np.ndarray) -> float:
    """Held-out accuracy of a logistic probe on the relative view, trained and tested on
    different people."""
    view = relative_view(Z, expression, subject, reference=expression == "neutral")
    people = np.unique(view.groups)
    train = np.isin(view.groups, people[: len(people) // 2])
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(view.X[train], view.y[train])
    return float(probe.score(view.X[~train], view.y[~train]))


def test_the_eraser_lowers_what_the_relative_attacker_reads():
    X, expression, subject = _planted()
    fit = np.isin(subject, [f"p{p}" for p in range(N_PEOPLE // 2)])
    accuracy = {}
    for erase in (False, True):
        # no training (both loss weights 0): the map is the identity, so the eraser is all
        model = ExpressionInvariantMap(
            hidden_layer_sizes=(8,),
            invariance_weight=0.0,
            identity_weight=0.0,
            max_iter=1,
            steps_per_iter=1,
            batch_size=8,
            erase=erase,
            random_state=0,
        ).fit(X[fit], expression=expression[fit], subject=subject[fit])
        Z = model.transform(X[~fit])
        accuracy[erase] = _relative_attack(Z, expression[~fit], subject[~fit])
    assert accuracy[False] >= 0.95  # the relative attacker reads the planted shift
    assert accuracy[True] <= 0.85, accuracy  # majority class: 0.625
