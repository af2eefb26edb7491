"""The probes' inner tuning folds keep each person on one side, as the outer folds do.

A spy probe records, each time it is fitted and then asked to predict, the people it saw in
both: tuning by inner cross-validation must never score a probe on a person it trained on.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from blindface.evaluation import PROBES, Probe, leakage

SHARED: list[set[float]] = []


class _Spy(ClassifierMixin, BaseEstimator):
    """Predicts the first class; column 0 of ``X`` is the person's id."""

    def __init__(self, c: int = 1) -> None:
        self.c = c

    def fit(self, X, y):
        self.people_ = set(np.asarray(X)[:, 0].tolist())
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        SHARED.append(self.people_ & set(np.asarray(X)[:, 0].tolist()))
        return np.full(len(X), self.classes_[0])


def test_inner_tuning_folds_never_share_a_person(monkeypatch):
    monkeypatch.setitem(PROBES, "spy", Probe("spy", lambda seed: _Spy(), lambda d: {"c": [1, 2]}))
    rng = np.random.default_rng(0)
    person = np.repeat(np.arange(24), 6)
    y = np.tile(["happy", "sad", "neutral"], len(person) // 3)
    X = np.column_stack([person, rng.normal(size=(len(person), 3))])
    SHARED.clear()
    leakage(X, y, groups=person, probes=("spy",), n_splits=3, tune=True, n_jobs=1, n_bootstrap=0)
    assert len(SHARED) > 3 * 3  # the inner searches ran (3 outer folds x inner folds x grid)
    assert not any(SHARED), "a probe was scored on people it was trained on"
