"""Train/test splitters: subject-disjoint (honest, default) and the paper's random 80/20."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["SPLITTERS", "random_80_20", "subject_disjoint"]

Split = tuple[np.ndarray, np.ndarray]


def subject_disjoint(
    y: ArrayLike, groups: ArrayLike | None, *, n_splits: int = 5, random_state: int = 0
) -> list[Split]:
    """K folds by subject (stratified on ``y`` as far as groups allow): no person is in both
    the training and the test part, so a probe cannot recognise the person instead of the label.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if groups is None:
        raise ValueError(
            "the subject-disjoint protocol needs groups (one subject id per row); "
            "pass groups=... or use protocol='random_80_20'"
        )
    y = np.asarray(y)
    groups = np.asarray(groups)
    if groups.shape != y.shape:
        raise ValueError(f"groups has shape {groups.shape}, expected {y.shape}")
    if len(np.unique(groups)) < n_splits:
        raise ValueError(
            f"{len(np.unique(groups))} subjects cannot make {n_splits} subject-disjoint folds; "
            "lower n_splits"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def random_80_20(
    y: ArrayLike, groups: ArrayLike | None = None, *, n_splits: int = 5, random_state: int = 0
) -> list[Split]:
    """The paper's protocol: ``n_splits`` seeded stratified random 80/20 splits.

    ``groups`` is ignored: the same person can appear in training and test, which flatters
    any probe.
    """
    from sklearn.model_selection import StratifiedShuffleSplit

    y = np.asarray(y)
    splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=0.2, random_state=random_state)
    return list(splitter.split(np.zeros(len(y)), y))


SPLITTERS: dict[str, Callable[..., list[Split]]] = {
    "subject_disjoint": subject_disjoint,
    "random_80_20": random_80_20,
}
