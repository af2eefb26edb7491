"""Table II's CelebA protocol: exact set builders, identity-disjoint splits, planted bias."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindface.study import (
    CELL_WEIGHTS,
    build_celeba_test_set,
    build_celeba_training_set,
    celeba_fairness_split,
    fairness_experiment,
    largest_set_size,
    split_celeba_subjects,
)


def _table(n: int, n_subjects: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "subject": rng.integers(0, n_subjects, n).astype(str),
            "Smiling": rng.random(n) < 0.5,
            "Attractive": rng.random(n) < 0.5,
            "Male": rng.random(n) < 0.4,
        }
    )


def _cell_counts(table: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    return table.iloc[rows].groupby(["Attractive", "Smiling", "Male"]).size()


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(200, 2000),
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["biased", "unbiased"]),
)
def test_training_set_hits_its_proportions_exactly(n, seed, kind):
    table = _table(n, 50, seed)
    rows = build_celeba_training_set(table, kind=kind, random_state=seed)
    assert len(np.unique(rows)) == len(rows)
    counts = _cell_counts(table, rows)
    weights = CELL_WEIGHTS[kind]
    k = len(rows) // (2 * sum(weights.values()))
    assert k >= 1
    for (a, s, _), count in counts.items():
        assert count == k * weights[a, s]
    assert len(counts) == 8
    assert len(rows) == largest_set_size(table, kind=kind)
    # The largest set the pool allows: one more unit would overflow some cell.
    available = table.groupby(["Attractive", "Smiling", "Male"]).size()
    assert any(available[a, s, g] < (k + 1) * weights[a, s] for (a, s, g) in available.index)


def test_biased_set_is_the_papers_design():
    table = _table(3000, 100, seed=1)
    rows = build_celeba_training_set(table, kind="biased", size=800, random_state=0)
    sub = table.iloc[rows]
    assert len(sub) == 800
    assert sub.loc[sub["Attractive"], "Smiling"].mean() == 0.7
    assert sub.loc[~sub["Attractive"], "Smiling"].mean() == 0.3
    assert sub["Attractive"].mean() == 0.5 and sub["Male"].mean() == 0.5
    unbiased = table.iloc[build_celeba_training_set(table, kind="unbiased", size=800)]
    assert (unbiased.groupby(["Attractive", "Smiling", "Male"]).size() == 100).all()


def test_size_errors_name_the_fix():
    table = _table(500, 20)
    with pytest.raises(ValueError, match="multiple of 40"):
        build_celeba_training_set(table, kind="biased", size=100)
    with pytest.raises(ValueError, match="at most"):
        build_celeba_test_set(table, size=8000)
    with pytest.raises(ValueError, match="lacks columns"):
        build_celeba_test_set(table.drop(columns="Male"))


def test_missing_attributes_are_never_drawn():
    table = _table(800, 30).astype({"Smiling": "boolean", "subject": "string"})
    table.loc[:99, "Smiling"] = pd.NA
    table.loc[100:149, "subject"] = pd.NA
    rows = build_celeba_test_set(table)
    assert rows.min() >= 150


def test_split_is_identity_disjoint_and_test_balanced():
    table = _table(3000, 120, seed=2)
    train_rows, test_rows = split_celeba_subjects(table, test_fraction=0.3, random_state=0)
    assert not set(table["subject"].iloc[train_rows]) & set(table["subject"].iloc[test_rows])
    assert table["subject"].iloc[test_rows].nunique() == 36
    train, test = celeba_fairness_split(table, kind="biased", random_state=0)
    assert set(train) <= set(train_rows) and set(test) <= set(test_rows)
    assert _cell_counts(table, test).nunique() == 1


def test_planted_smiling_shortcut_lowers_equal_opportunity():
    # Attractiveness is weakly visible; smiling is sharply visible. Trained on the biased set
    # (smiling predicts attractiveness 70 % of the time) the classifier leans on smiling.
    table = _table(5000, 300, seed=3)
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [
            table["Attractive"] + 0.8 * rng.normal(size=len(table)),
            table["Smiling"] + 0.05 * rng.normal(size=len(table)),
            rng.normal(size=(len(table), 4)),
        ]
    )
    kw = {"n_repetitions": 2, "train_size": 1200, "random_state": 0}
    biased = fairness_experiment(X, table, training="biased", **kw)
    unbiased = fairness_experiment(X, table, training="unbiased", **kw)
    assert biased["n_train"] == 1200 and len(biased["repetitions"]) == 2
    assert biased["tpr_smiling"] > biased["tpr_not_smiling"] + 15.0
    assert unbiased["equal_opportunity"] > biased["equal_opportunity"] + 10.0
    assert unbiased["equal_opportunity"] > 90.0
    # Blinding the smiling feature (a transform) restores equal opportunity.
    blinded = fairness_experiment(X, table, training="biased", transform=lambda x: x[:, [0]], **kw)
    assert blinded["equal_opportunity"] > 90.0


@pytest.mark.data
def test_celeba_fixture_set_sizes(data_dir):
    from blindface.datasets import load_dataset

    table = load_dataset("celeba", data_dir)
    # Whole fixture: the biased set is limited by attractive smiling men (294 = 7 x 42).
    assert largest_set_size(table, kind="biased") == 1680
    assert largest_set_size(table, kind="unbiased") == 2256
    train, test = celeba_fairness_split(table, kind="biased", random_state=0)
    assert not set(table["subject"].iloc[train]) & set(table["subject"].iloc[test])
    sub = table.iloc[train]
    assert sub.loc[sub["Attractive"], "Smiling"].mean() == 0.7
    assert sub.loc[~sub["Attractive"], "Smiling"].mean() == 0.3
    assert sub["Male"].mean() == 0.5 and sub["Attractive"].mean() == 0.5
    assert _cell_counts(table, test).nunique() == 1
    assert len(train) >= 800 and len(test) >= 400
