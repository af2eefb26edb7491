"""Threat models on synthetic people: what each attacker can and cannot read."""

from __future__ import annotations

import numpy as np
import pytest

from blindface.evaluation import (
    bootstrap_accuracy_interval,
    identity_separation,
    population_view,
    relative_view,
    threat_leakage,
    with_diff,
)

GRIDS = {"logreg": {"clf__C": [1.0]}, "svm": {"clf__C": [10.0]}}


def _people(n_people=40, per_person=6, d=24, *, person_signal=0.0, within_signal=0.0, seed=0):
    """Each person has a centre; half the people are 'smilers' (a per-person constant, if
    ``person_signal``); within a person, half the images carry a 'smile' shift
    (``within_signal``). Label: smiling for the first, not_smiling for the rest."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    centres = rng.normal(size=(n_people, d))
    groups = np.repeat(np.arange(n_people), per_person)
    smiler = np.arange(n_people) % 2 == 0
    within = np.tile(np.arange(per_person) % 2 == 1, n_people)
    X = centres[groups] + 0.1 * rng.normal(size=(len(groups), d))
    if person_signal:
        y = np.where(smiler[groups], "smiling", "not_smiling")
        X += person_signal * np.where(smiler[groups], 1.0, -1.0)[:, None] * direction
    else:
        y = np.where(within, "smiling", "not_smiling")
        X += within_signal * within[:, None] * direction
    return X, y, groups.astype(str)


def test_a_signal_constant_per_person_is_invisible_to_the_relative_view():
    X, y, groups = _people(person_signal=3.0)
    reference = np.ones(len(y), dtype=bool)  # any photo of the person can be the enrolled one
    population = threat_leakage(
        X, y, groups, threat="population", probes=("logreg",), grids=GRIDS, n_bootstrap=0
    )
    # label = who the person is: the relative view needs the same label within a person, so
    # score the enrolled-vs-others difference against the person's (constant) label
    relative = threat_leakage(
        X,
        y,
        groups,
        threat="relative",
        reference=reference,
        probes=("logreg",),
        grids=GRIDS,
        n_bootstrap=0,
    )
    assert population["accuracy"].iloc[0] > 95.0
    assert relative["accuracy"].iloc[0] < relative["chance"].iloc[0] + 12.0


def test_a_within_person_signal_is_found_by_the_relative_view():
    X, y, groups = _people(within_signal=1.0, seed=1)
    reference = y == "not_smiling"
    population = threat_leakage(
        X, y, groups, threat="population", probes=("logreg", "svm"), grids=GRIDS, n_bootstrap=0
    )
    relative = threat_leakage(
        X,
        y,
        groups,
        threat="relative",
        reference=reference,
        probes=("logreg", "svm"),
        grids=GRIDS,
        n_bootstrap=200,
    )
    # the person's centre swamps the small shift for a population probe, not for the attacker
    # who subtracts the enrolled photo
    assert relative["accuracy"].min() > 90.0
    assert relative["accuracy"].min() > population["accuracy"].max() + 10.0
    assert (relative["ci_low"] <= relative["accuracy"]).all()
    assert (relative["accuracy"] <= relative["ci_high"]).all()
    assert set(relative["threat"]) == {"relative"}


def test_relative_view_leaves_the_enrolled_photo_out_and_normalises():
    X = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 5.0], [4.0, 0.0]])
    y = np.array(["neutral", "happy", "neutral", "happy", "neutral"])
    groups = np.array(["a", "a", "a", "b", "b"])
    view = relative_view(X, y, groups, reference=y == "neutral")
    assert view.rows.tolist() == [1, 2, 3]  # rows 0 and 4 are the enrolled photos
    np.testing.assert_allclose(view.X[0], [-1.0, 1.0])  # (0,1) - (1,0)
    np.testing.assert_allclose(view.X[1], np.array([1, 1]) / np.sqrt(2) - [1.0, 0.0])
    np.testing.assert_allclose(view.X[2], [-1.0, 1.0])
    assert view.y.tolist() == ["happy", "neutral", "happy"]
    assert view.n_people == 2


def test_relative_view_without_a_neutral_uses_other_sessions_only():
    X = np.eye(4)[[0, 1, 2, 3]]
    y = np.array(["happy", "sad", "happy", "sad"])
    groups = np.array(["p"] * 4)
    sessions = np.array(["s1", "s1", "s2", "s3"])
    view = relative_view(X, y, groups, reference=np.zeros(4, bool), sessions=sessions)
    # row 0 (session s1) is compared with the mean of rows 2 and 3, never with row 1
    expected = np.eye(4)[0] - (np.eye(4)[2] + np.eye(4)[3]) / np.sqrt(2)
    np.testing.assert_allclose(view.X[0], expected)
    with pytest.raises(ValueError, match="no image has a reference"):
        relative_view(X, y, groups, reference=np.zeros(4, bool), sessions=["s"] * 4)


def test_population_view_is_the_representation_itself():
    X = np.arange(6.0).reshape(3, 2)
    view = population_view(X, ["a", "b", "a"], ["p", "q", "r"])
    np.testing.assert_array_equal(view.X, X)
    assert view.rows.tolist() == [0, 1, 2]


def test_bootstrap_interval_resamples_people():
    correct = np.array([1] * 50 + [0] * 50, dtype=bool)
    # two people, one always right, one always wrong: the interval spans almost everything
    by_people = bootstrap_accuracy_interval(correct, np.repeat(["a", "b"], 50), random_state=0)
    by_rows = bootstrap_accuracy_interval(correct, None, random_state=0)
    assert by_people[0] <= 1.0 and by_people[1] >= 99.0
    assert 35.0 < by_rows[0] < 50.0 < by_rows[1] < 65.0


def test_with_diff_against_the_baseline():
    X, y, groups = _people(within_signal=0.6, seed=2)
    reference = y == "not_smiling"
    kw = {"probes": ("logreg",), "grids": GRIDS, "n_bootstrap": 0}
    before = threat_leakage(X, y, groups, threat="relative", reference=reference, **kw)
    noise = np.random.default_rng(0).normal(size=X.shape)
    after = threat_leakage(noise, y, groups, threat="relative", reference=reference, **kw)
    diffed = with_diff(after, before)
    assert diffed["diff"].iloc[0] > 70.0


def test_identity_separation_tells_people_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 16))
    groups = np.repeat(np.arange(30), 4)
    X = centres[groups] + 0.2 * rng.normal(size=(120, 16))
    good = identity_separation(X, groups)
    bad = identity_separation(rng.normal(size=(120, 16)), groups)
    assert good["roc_auc"] > 99.0 and good["tar_at_far"] > 90.0
    assert 35.0 < bad["roc_auc"] < 65.0
    assert good["n_genuine_pairs"] == 30 * 6
    with pytest.raises(ValueError, match="two or more images"):
        identity_separation(X[:30:4], groups[:30:4])
