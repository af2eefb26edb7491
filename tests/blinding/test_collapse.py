"""WithinPersonCollapse: a planted within-person shift is collapsed for people it never saw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blindface.blinding import WithinPersonCollapse
from blindface.blinding.methods._collapse import heldout_dependence
from blindface.evaluation import attack
from blindface.threats import relative_view


def _people(n_people=90, per=6, d=32, shift=0.6, seed=0):
    """Each person: a centre; half the images smile (a shared shift), half are neutral."""
    rng = np.random.default_rng(seed)
    smile = rng.normal(size=d)
    smile /= np.linalg.norm(smile)
    person = np.repeat(np.arange(n_people), per)
    happy = np.tile(np.arange(per) % 2 == 1, n_people)
    X = rng.normal(size=(n_people, d))[person] / np.sqrt(d) * 1.5
    X += shift * happy[:, None] * smile + 0.05 * rng.normal(size=X.shape)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    expression = np.where(happy, "happy", "neutral").astype(object)
    subject = np.array([f"p{p}" for p in person], dtype=object)
    source = np.where(person % 2 == 0, "a", "b").astype(object)
    return X.astype(np.float32), expression, subject, source


def _relative_accuracy(Z, expression, subject):
    view = relative_view(Z, expression, subject, reference=expression == "neutral")
    grids = {"logreg": {"clf__C": [1.0]}}
    scores = attack(view.X, view.y, view.groups, probes=("logreg",), grids=grids, n_jobs=1)
    return scores.balanced_accuracy("logreg")


def test_the_map_collapses_a_planted_shift_on_people_it_never_saw():
    X, expression, subject, source = _people()
    fit = np.array([int(s[1:]) < 60 for s in subject])
    model = WithinPersonCollapse(
        hidden_layer_sizes=(64,),
        erase=False,  # the map itself must collapse the shift, not the final eraser
        max_iter=4,
        steps_per_iter=40,
        batch_people=32,
        random_state=0,
    ).fit(X[fit], expression=expression[fit], subject=subject[fit], source=source[fit])
    held = ~fit
    before = _relative_accuracy(X[held], expression[held], subject[held])
    after = _relative_accuracy(model.transform(X[held]), expression[held], subject[held])
    assert before > 95.0
    assert after < before - 25.0, (before, after)
    # who is who is kept: 1-NN by cosine over the held-out people
    Z = model.transform(X[held])
    people = subject[held]
    similarity = Z @ Z.T
    np.fill_diagonal(similarity, -np.inf)
    assert np.mean(people[np.argmax(similarity, axis=1)] == people) > 0.95


def test_the_in_batch_attacker_is_scored_on_the_other_half_of_the_people():
    rng = np.random.default_rng(0)
    y = torch.from_numpy(rng.integers(0, 2, 64))
    halves = torch.from_numpy(np.arange(64) % 2 == 1)
    readable = torch.from_numpy(np.eye(2)[y.numpy()] + 0.05 * rng.normal(size=(64, 2)))
    noise = torch.from_numpy(rng.normal(size=(64, 8)))
    assert float(heldout_dependence(readable, y, halves, 2, 0.1)) > 0.5
    assert float(heldout_dependence(noise, y, halves, 2, 0.1)) < 0.1


def test_same_seed_same_model_and_source_labels_are_optional():
    X, expression, subject, source = _people(n_people=20)
    params = {"hidden_layer_sizes": (16,), "max_iter": 1, "steps_per_iter": 3, "random_state": 3}
    a = WithinPersonCollapse(**params).fit(X, expression=expression, subject=subject, source=source)
    b = WithinPersonCollapse(**params).fit(X, expression=expression, subject=subject, source=source)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = WithinPersonCollapse(**params).fit(X, expression=expression, subject=subject)
    assert c.transform(X).shape == X.shape
    with pytest.raises(ValueError, match="at least 8 subjects"):
        WithinPersonCollapse(**params).fit(X[:12], expression=expression[:12], subject=subject[:12])
