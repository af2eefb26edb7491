"""Evaluation sampling keeps as many people as the image budget allows, and their expressions."""

from __future__ import annotations

import numpy as np

from blindface.study._data import MIN_IMAGES_PER_PERSON, spread_sample


def test_a_posed_set_keeps_every_person_and_every_expression():
    subject = np.repeat([f"p{i}" for i in range(29)], 42)
    labels = np.tile([f"e{i}" for i in range(7)], 29 * 6)
    keep = spread_sample(subject, labels, 200, seed=0)
    assert keep.sum() <= 200
    assert len(np.unique(subject[keep])) == 29  # whole people would have kept 4
    assert set(labels[keep]) == set(labels)
    for person in np.unique(subject):  # each person's images go round their labels
        mine = labels[keep & (subject == person)]
        assert len(np.unique(mine)) == len(mine)


def test_a_tight_budget_drops_people_not_below_the_minimum():
    subject = np.repeat([f"p{i}" for i in range(100)], 20)
    labels = np.tile(["a", "b"], 1000)
    keep = spread_sample(subject, labels, 120, seed=1)
    counts = np.unique(subject[keep], return_counts=True)[1]
    assert keep.sum() == 120 and (counts == MIN_IMAGES_PER_PERSON).all()


def test_it_is_seeded_and_keeps_everything_under_the_budget():
    rng = np.random.default_rng(0)
    subject = rng.choice([f"p{i}" for i in range(30)], 300)
    labels = rng.choice(["h", "n"], 300)
    one, two = spread_sample(subject, labels, 150, 3), spread_sample(subject, labels, 150, 3)
    assert (one == two).all() and not (one == spread_sample(subject, labels, 150, 4)).all()
    assert spread_sample(subject, labels, 1000, 0).all()
