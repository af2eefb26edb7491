"""LFW-protocol verification accuracy on synthetic pairs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from blindface.evaluation import verification_accuracy
from blindface.evaluation.verification import _best_threshold


def _pairs(n: int, noise: float, seed: int = 0):
    """Pairs whose 'same' embeddings share a base vector; 'different' ones are independent."""
    rng = np.random.default_rng(seed)
    same = np.arange(n) % 2 == 0
    a = rng.normal(size=(n, 32))
    b = np.where(same[:, None], a, rng.normal(size=(n, 32))) + noise * rng.normal(size=(n, 32))
    return a, b, same


def test_separable_pairs_are_perfect():
    a, b, same = _pairs(400, noise=0.1)
    mean, std = verification_accuracy(a, b, same)
    assert mean == 100.0 and std == 0.0


def test_random_pairs_are_at_chance():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 2000, 32))
    same = rng.random(2000) < 0.5
    mean, _ = verification_accuracy(a, b, same)
    assert 45.0 < mean < 55.0


def test_scale_invariant_and_official_folds():
    a, b, same = _pairs(600, noise=1.5, seed=2)
    folds = np.repeat(np.arange(10), 60)
    m1 = verification_accuracy(a, b, same, folds=folds)
    m2 = verification_accuracy(3.0 * a, 0.5 * b, same, folds=folds)
    assert m1 == pytest.approx(m2)
    assert 60.0 < m1[0] < 100.0


def test_threshold_is_chosen_on_other_folds_only():
    # Each fold alone is separable, but at a different place: fold 0 at 0.8, fold 1 at 0.4.
    # The threshold learnt on the other fold calls every test pair "same" (fold 0) or
    # "different" (fold 1), so both folds score 50 %; a leaked threshold would give 100 %.
    scores = np.array([0.9, 0.7, 0.5, 0.3])
    same = np.array([True, False, True, False])
    folds = np.array([0, 0, 1, 1])
    angle = np.arccos(scores)
    a = np.stack([np.ones(4), np.zeros(4)], axis=1)
    b = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    mean, std = verification_accuracy(a, b, same, folds=folds)
    assert mean == pytest.approx(50.0) and std == pytest.approx(0.0)


def test_best_threshold_hand_worked():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    same = np.array([False, False, True, False, True, True])
    # Best: threshold 0.6 (between 0.4 and 0.8): 5/6 correct; 0.25 also gives 5/6, lower wins.
    assert _best_threshold(scores, same) == pytest.approx(0.25)
    assert _best_threshold(np.array([0.5, 0.5]), np.array([True, True])) == pytest.approx(-0.5)


def test_bad_input_is_explained():
    a = np.ones((3, 4))
    b = a.copy()
    b[1, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        verification_accuracy(a, b, [True, False, True], folds=[0, 1, 0])
    with pytest.raises(ValueError, match="same shape"):
        verification_accuracy(a, np.ones((3, 5)), [True, False, True])
