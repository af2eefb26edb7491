"""Leakage probes on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blindface.evaluation import PROBES, attribute_accuracy, compare_leakage, leakage

# Small grids keep the tests fast; logreg keeps two values so the inner search really runs.
SMALL_GRIDS = {
    "mlp": {"clf__hidden_layer_sizes": [(32,)], "clf__alpha": [1e-3]},
    "svm": {"clf__C": [10.0]},
    "rf": {"n_estimators": [60], "max_features": ["sqrt"]},
    "logreg": {"clf__C": [0.1, 1.0]},
    "knn": {"clf__n_neighbors": [5]},
}


def _data(signal: float, n: int = 360, d: int = 16, k: int = 3, n_subjects: int = 30, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    groups = rng.integers(0, n_subjects, n)
    centres = 3.0 * rng.normal(size=(k, d))
    X = rng.normal(size=(n, d)) + signal * centres[y]
    labels = np.array(["happy", "sad", "angry"])[y]
    return X, labels, groups


def test_planted_signal_is_found_by_every_probe():
    X, y, groups = _data(signal=1.0)
    result = leakage(X, y, groups=groups, probes=tuple(PROBES), grids=SMALL_GRIDS)
    assert list(result["probe"]) == list(PROBES)
    assert (result["accuracy"] > 95.0).all(), result[["probe", "accuracy"]]
    assert (result["protocol"] == "subject_disjoint").all()
    row = result.iloc[0]
    assert row["chance"] == pytest.approx(pd.Series(y).value_counts().iloc[0] / len(y) * 100)
    assert len(row["fold_accuracies"]) == 5 and len(row["best_params"]) == 5
    assert row["n_train"] + row["n_test"] == len(y)
    assert row["accuracy"] == pytest.approx(np.mean(row["fold_accuracies"]))
    assert row["std"] == pytest.approx(np.std(row["fold_accuracies"]))


def test_pure_noise_is_at_chance():
    X, y, groups = _data(signal=0.0, n=600)
    result = leakage(
        X, y, groups=groups, probes=("logreg", "knn", "svm"), grids=SMALL_GRIDS, n_splits=5
    )
    chance = result["chance"].iloc[0]
    assert (result["accuracy"] < chance + 8.0).all(), result[["probe", "accuracy", "chance"]]
    assert (result["accuracy"] > 100.0 / 3 - 8.0).all()


def test_identity_shortcut_only_fools_the_random_protocol():
    # Each subject shows one label and X encodes only who the person is: a random split lets
    # the probe recognise people, a subject-disjoint one leaves it at chance.
    rng = np.random.default_rng(1)
    n_subjects, per_subject = 40, 8
    groups = np.repeat(np.arange(n_subjects), per_subject)
    y = np.repeat(rng.integers(0, 2, n_subjects), per_subject)
    X = 4.0 * rng.normal(size=(n_subjects, 16))[groups] + rng.normal(size=(len(y), 16))
    grids = {"knn": {"clf__n_neighbors": [1]}}
    honest = leakage(X, y, groups=groups, probes=("knn",), grids=grids)
    paper = leakage(X, y, groups=groups, probes=("knn",), grids=grids, protocol="random_80_20")
    assert paper["accuracy"].iloc[0] > 95.0
    assert honest["accuracy"].iloc[0] < 70.0


def test_inner_search_is_seeded_and_reports_choices():
    X, y, groups = _data(signal=0.3, seed=2)
    a = leakage(X, y, groups=groups, probes=("logreg",), grids=SMALL_GRIDS, random_state=5)
    b = leakage(X, y, groups=groups, probes=("logreg",), grids=SMALL_GRIDS, random_state=5)
    assert a["fold_accuracies"].iloc[0] == b["fold_accuracies"].iloc[0]
    assert all(set(p) == {"clf__C"} for p in a["best_params"].iloc[0])
    untuned = leakage(X, y, groups=groups, probes=("logreg",), tune=False)
    assert untuned["best_params"].iloc[0] == [{}] * 5


def test_a_small_set_tunes_knn_only_over_neighbour_counts_its_folds_hold():
    X, y, groups = _data(signal=1.0, n=24, n_subjects=6, seed=3)  # inner folds of ~10 rows
    result = leakage(X, y, groups=groups, probes=("knn",), n_splits=3, n_jobs=1)  # warns: error
    chosen = {p["clf__n_neighbors"] for p in result["best_params"].iloc[0]}
    assert chosen <= {1, 5} and result["accuracy"].iloc[0] > 60.0


def test_attribute_accuracy_and_compare_leakage():
    X, y, groups = _data(signal=1.0, seed=3)
    before = attribute_accuracy(X, y, groups=groups, grids=SMALL_GRIDS)
    assert list(before["probe"]) == ["mlp", "logreg"]
    rng = np.random.default_rng(0)
    after = attribute_accuracy(rng.normal(size=X.shape), y, groups=groups, grids=SMALL_GRIDS)
    table = compare_leakage(before, after)
    assert list(table.columns) == [
        "probe",
        "protocol",
        "before",
        "before_std",
        "after",
        "after_std",
        "chance",
        "diff",
    ]
    assert (table["diff"] > 80.0).all(), table


def test_bad_inputs_are_explained():
    X, y, groups = _data(signal=1.0)
    with pytest.raises(ValueError, match="needs groups"):
        leakage(X, y, probes=("knn",))
    with pytest.raises(ValueError, match="unknown probes"):
        leakage(X, y, groups=groups, probes=("xgboost",))
    X_bad = X.copy()
    X_bad[3] = np.nan
    with pytest.raises(ValueError, match="1 rows of X are not finite"):
        leakage(X_bad, y, groups=groups, probes=("knn",))
    y_bad = y.astype(object)
    y_bad[0] = None
    with pytest.raises(ValueError, match="1 labels are missing"):
        leakage(X, y_bad, groups=groups, probes=("knn",))
