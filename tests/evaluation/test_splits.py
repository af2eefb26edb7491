"""Splitters: subject-disjoint folds never share a person; random 80/20 is stratified."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindface.evaluation import random_80_20, subject_disjoint


@pytest.mark.filterwarnings("ignore:The least populated class")
@settings(max_examples=40, deadline=None)
@given(
    n_subjects=st.integers(5, 30),
    n_rows=st.integers(30, 200),
    n_classes=st.integers(2, 5),
    n_splits=st.integers(2, 5),
    seed=st.integers(0, 2**16),
)
def test_subject_disjoint_never_shares_a_subject(n_subjects, n_rows, n_classes, n_splits, seed):
    rng = np.random.default_rng(seed)
    groups = np.concatenate([np.arange(n_subjects), rng.integers(0, n_subjects, n_rows)])
    y = rng.integers(0, n_classes, len(groups))
    splits = subject_disjoint(y, groups, n_splits=n_splits, random_state=seed)
    assert len(splits) == n_splits
    tested = np.concatenate([test for _, test in splits])
    assert np.array_equal(np.sort(tested), np.arange(len(y)))  # every row tested exactly once
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == len(y)


def test_subject_disjoint_needs_groups_and_enough_subjects():
    y = np.array([0, 1] * 10)
    with pytest.raises(ValueError, match="needs groups"):
        subject_disjoint(y, None)
    with pytest.raises(ValueError, match="3 subjects"):
        subject_disjoint(y, np.arange(20) % 3, n_splits=5)


def test_random_80_20_is_seeded_and_stratified():
    y = np.array([0] * 80 + [1] * 20)
    splits = random_80_20(y, n_splits=5, random_state=3)
    assert len(splits) == 5
    for train, test in splits:
        assert len(test) == 20 and len(train) == 80
        assert np.sum(y[test] == 1) == 4
    again = random_80_20(y, n_splits=5, random_state=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again, strict=True))
    assert not np.array_equal(splits[0][1], splits[1][1])
