"""The strongest attacker, balanced accuracy, the transfer and inversion attackers, TAR at FAR."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindface.evaluation import (
    ProbeScores,
    attack,
    fit_inversion,
    operating_point,
    pair_scores,
    pooled_diff,
    probe_intervals,
    strongest_attacker,
    tar_at_far,
    transfer_attack,
)
from blindface.threats import symmetric_view, threat_view

SMALL = {"logreg": {"clf__C": [1.0]}, "knn": {"clf__n_neighbors": [5]}}


def _people(n_people=40, per=6, d=16, signal=1.5, seed=0, classes=3):
    """People with a centre each; images of ``classes`` expressions, each shifting the face."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(classes, d))
    groups = np.repeat([f"p{i}" for i in range(n_people)], per)
    y = np.tile(np.arange(per) % classes, n_people)
    X = 2.0 * rng.normal(size=(n_people, d))[np.repeat(np.arange(n_people), per)]
    X += signal * directions[y] + 0.3 * rng.normal(size=X.shape)
    return X, np.array(["neutral", "happy", "sad", "angry"])[y], groups


def _scores(y, groups, predictions, classes=None):
    classes = np.unique(y) if classes is None else classes
    codes = np.searchsorted(classes, y)
    return ProbeScores(
        codes,
        np.asarray(groups).astype(str),
        classes,
        {k: np.asarray(v) for k, v in predictions.items()},
        {k: [{}] for k in predictions},
        np.zeros(len(y), dtype=np.int64),
    )


def test_balanced_accuracy_weighs_every_class_the_same():
    y = np.array(["a"] * 8 + ["b"] * 2)
    groups = np.arange(10)
    always_a = _scores(y, groups, {"p": np.zeros(10, dtype=int)})
    assert always_a.accuracy("p") == pytest.approx(80.0)  # plain accuracy rewards the majority
    assert always_a.balanced_accuracy("p") == pytest.approx(50.0)  # balanced: chance
    assert always_a.chance == pytest.approx(50.0) and always_a.majority_chance == 80.0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_the_strongest_attacker_compares_best_with_best(seed):
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.integers(0, 3, n)
    groups = np.repeat(np.arange(20), 3)
    truth = np.array(["a", "b", "c"])[y]
    good = np.where(rng.random(n) < 0.9, y, (y + 1) % 3)
    bad = rng.integers(0, 3, n)
    before = _scores(truth, groups, {"weak": bad, "strong": good})
    after = _scores(truth, groups, {"weak": bad, "strong": bad})
    result = strongest_attacker(before, after, n_resamples=200, random_state=seed)
    assert result.best_before == pytest.approx(
        max(before.balanced_accuracy(p) for p in ("weak", "strong"))
    )
    assert result.best_after == pytest.approx(after.balanced_accuracy("weak"))
    expected = (result.best_before - result.best_after) / (result.best_before - 100 / 3) * 100
    assert result.diff == pytest.approx(expected)
    assert result.diff_ci_low <= result.diff_ci_high
    # nothing changed: Diff 0 with a zero-width interval
    same = strongest_attacker(before, before, n_resamples=100, random_state=seed)
    assert same.diff == pytest.approx(0.0) and same.diff_ci_low == pytest.approx(0.0)


def test_an_unreadable_cell_is_flagged_and_left_out_of_the_pooled_mean():
    X, y, groups = _people(signal=0.0, seed=3)
    before = attack(X, y, groups, probes=("logreg",), grids=SMALL, n_splits=4, n_jobs=1)
    after = attack(X[::-1].copy(), y, groups, probes=("logreg",), grids=SMALL, n_splits=4, n_jobs=1)
    noise = strongest_attacker(before, after, n_resamples=200)
    assert not noise.readable
    X, y, groups = _people(signal=2.0, seed=3)
    b = attack(X, y, groups, probes=("logreg",), grids=SMALL, n_splits=4, n_jobs=1)
    rng = np.random.default_rng(0)
    a = attack(
        rng.normal(size=X.shape), y, groups, probes=("logreg",), grids=SMALL, n_splits=4, n_jobs=1
    )
    signal = strongest_attacker(b, a, n_resamples=200)
    assert signal.readable and signal.diff > 80.0
    mean, low, high, n = pooled_diff([noise, signal])
    assert n == 1 and mean == pytest.approx(signal.diff) and low <= mean <= high


def test_probe_intervals_cover_the_estimate():
    X, y, groups = _people(signal=0.5, seed=1)
    scores = attack(X, y, groups, probes=("logreg", "knn"), grids=SMALL, n_splits=4, n_jobs=1)
    for probe, (value, low, high) in probe_intervals(scores, n_resamples=300).items():
        assert low <= value <= high and value == pytest.approx(scores.balanced_accuracy(probe))


def test_attack_never_scores_a_person_it_trained_on():
    X, y, groups = _people(seed=2)
    scores = attack(X, y, groups, probes=("logreg",), grids=SMALL, n_splits=5, n_jobs=1)
    for fold in np.unique(scores.fold):
        tested = set(scores.groups[scores.fold == fold])
        trained = set(scores.groups[scores.fold != fold])
        assert not tested & trained


def test_transfer_attack_reads_a_shared_expression_code_without_target_labels():
    X, y, groups = _people(n_people=60, seed=4)
    public, target = np.arange(len(y)) < 240, np.arange(len(y)) >= 240
    scores = transfer_attack(
        X[public],
        y[public],
        groups[public],
        X[target],
        y[target],
        groups[target],
        probes=("logreg",),
        tune=False,
        n_jobs=1,
    )
    assert scores.balanced_accuracy("logreg") > 80.0
    # a target with fewer classes: chance is 1 / the classes it holds
    two = np.isin(y, ["neutral", "happy"]) & target
    scores = transfer_attack(
        X[public],
        y[public],
        groups[public],
        X[two],
        y[two],
        groups[two],
        probes=("logreg",),
        tune=False,
        n_jobs=1,
    )
    assert scores.chance == pytest.approx(50.0)


def test_inversion_undoes_a_hiding_map_but_not_an_erasure():
    X, y, groups = _people(n_people=60, d=16, seed=5)
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    hidden = X @ rotation  # hides nothing from an attacker who can learn the inverse
    inversion = fit_inversion(hidden, X, random_state=0)
    assert inversion.validation_cosine > 0.95
    rebuilt = inversion.transform(hidden)
    before = attack(X, y, groups, probes=("logreg",), grids=SMALL, n_splits=4, n_jobs=1)
    after = attack(
        rebuilt, y, groups, probes=("logreg",), grids=SMALL, n_splits=4, n_jobs=1, X_fit=X
    )
    assert strongest_attacker(before, after, n_resamples=50).diff < 20.0
    # erase the expression directions: nothing to rebuild
    centred = X - X.mean(axis=0)
    means = np.stack([centred[y == c].mean(axis=0) for c in np.unique(y)])
    basis, _ = np.linalg.qr(means.T)
    erased = centred - centred @ basis @ basis.T
    inversion = fit_inversion(erased, X, random_state=0)
    after = attack(
        inversion.transform(erased),
        y,
        groups,
        probes=("logreg",),
        grids=SMALL,
        n_splits=4,
        n_jobs=1,
        X_fit=X,
    )
    assert strongest_attacker(before, after, n_resamples=50).diff > 60.0


def test_symmetric_view_scores_both_images_of_each_pair():
    X, y, groups = _people(n_people=30, per=2, classes=2, seed=6)
    reference = y == "neutral"
    view = threat_view("relative", X, y, groups, reference=reference)
    assert view.rule == "symmetric" and len(view.y) == len(y)
    direct = symmetric_view(X, y, groups)
    np.testing.assert_allclose(view.X, direct.X)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(view.X[0], (unit[0] - unit[1]) / 2.0)
    scores = attack(
        view.X, view.y, view.groups, probes=("logreg",), grids=SMALL, n_splits=5, n_jobs=1
    )
    assert scores.balanced_accuracy("logreg") > 90.0
    # with several images per person the enrolled-photo view is kept
    X, y, groups = _people(per=6, seed=6)
    assert threat_view("relative", X, y, groups, reference=y == "neutral").rule == "enrolled"


def test_tar_at_far_on_all_pairs_and_the_loss_interval():
    rng = np.random.default_rng(0)
    people, per = 200, 5
    centres = rng.normal(size=(people, 32))
    subject = np.repeat(np.arange(people), per)
    X = centres[subject] + 0.8 * rng.normal(size=(people * per, 32))
    pairs = pair_scores(X, subject)
    assert len(pairs.genuine) == people * per * (per - 1) // 2
    assert len(pairs.genuine) + len(pairs.impostor) == len(X) * (len(X) - 1) // 2
    tar = tar_at_far(pairs.genuine, pairs.impostor, 1e-3)
    assert np.mean(pairs.impostor > np.quantile(pairs.impostor, 1 - 1e-3, method="higher")) <= 1e-3
    rows = {r["far"]: r for r in operating_point(X, X, subject, n_resamples=100)}
    assert set(rows) == {1e-3, 1e-4}  # 495,000 impostor pairs: both FARs estimable
    assert rows[1e-3]["tar_before"] == pytest.approx(tar) and rows[1e-3]["loss"] == 0.0
    noisy = X + 1.0 * rng.normal(size=X.shape)
    worse = {r["far"]: r for r in operating_point(X, noisy, subject, n_resamples=200)}[1e-3]
    assert worse["loss"] > 5.0 and worse["loss_ci_low"] > 0.0
    assert worse["loss_ci_low"] <= worse["loss"] <= worse["loss_ci_high"]
    # a small set reports the smallest FAR it can estimate instead
    small = operating_point(X[:40], X[:40], subject[:40], n_resamples=10)
    assert len(small) == 1 and small[0]["far"] > 1e-3


def test_a_tuned_mlp_fits_a_twenty_image_audit_without_failed_fits():
    """One happy and one neutral photo of 10 people: the MLP's early-stopping split (10 %)
    cannot hold both classes, so the probe trains without it instead of failing its fits."""
    rng = np.random.default_rng(0)
    y = np.tile(["happy", "neutral"], 10)
    X = rng.normal(size=(20, 8)) + (y == "happy")[:, None]
    groups = np.repeat(np.arange(10), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = attack(
            X, y, groups, probes=("mlp",), n_splits=2, tune=True, random_state=0, n_jobs=1
        )
    assert scores.balanced_accuracy("mlp") >= 50.0
