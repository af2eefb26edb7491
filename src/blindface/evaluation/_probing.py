"""Attackers as out-of-fold predictions: fresh, tuned probes scored on people they never saw.

:func:`attack` trains each probe on some people and predicts the others (people-disjoint folds);
:func:`transfer_attack` trains on one set of people (labelled public faces) and predicts another
(a dataset the attacker has no labels of). Both return :class:`ProbeScores`: every prediction
of every probe on the same scored rows, from which accuracies, balanced accuracies, bootstrap
intervals over people and the strongest attacker's Diff (:mod:`._strongest`) are computed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from blindface.evaluation._probes import PROBES, Grid, make_probe, probe_grid

__all__ = ["ProbeScores", "attack", "transfer_attack"]

INNER_SPLITS = 3


@dataclass(frozen=True)
class ProbeScores:
    """Each probe's prediction for each scored row (out of fold: never trained on its person).

    ``y`` holds class codes into ``classes``; a prediction of a class that no scored row has
    (a transfer attacker trained on more classes) is a code into ``classes`` as well, and is
    simply wrong. ``groups`` is the person of each row. ``params`` holds the hyper-parameters
    each probe chose, one dict per fold; ``fold`` the fold that scored each row (all 0 for a
    transfer attacker).
    """

    y: np.ndarray
    groups: np.ndarray
    classes: np.ndarray
    predictions: Mapping[str, np.ndarray]
    params: Mapping[str, list[dict[str, Any]]]
    fold: np.ndarray

    @property
    def probes(self) -> tuple[str, ...]:
        return tuple(self.predictions)

    @property
    def present(self) -> np.ndarray:
        """The class codes the scored rows hold."""
        return np.unique(self.y)

    @property
    def chance(self) -> float:
        """Balanced accuracy of any constant guess: 100 / the number of classes scored."""
        return 100.0 / len(self.present)

    @property
    def majority_chance(self) -> float:
        """Plain accuracy of always guessing the most frequent scored class."""
        return float(np.bincount(self.y).max() / len(self.y) * 100.0)

    def hits(self, probe: str) -> np.ndarray:
        return np.asarray(self.predictions[probe] == self.y)

    def accuracy(self, probe: str) -> float:
        """Plain accuracy (percent) of ``probe`` over every scored row."""
        return float(self.hits(probe).mean() * 100.0)

    def balanced_accuracy(self, probe: str) -> float:
        """Mean recall over the scored classes (percent): chance is :attr:`chance`."""
        hits = self.hits(probe)
        return float(np.mean([hits[self.y == c].mean() for c in self.present]) * 100.0)

    def same_rows(self, other: ProbeScores) -> bool:
        """Whether ``other`` scored the same rows (labels and people), so they compare."""
        return (
            len(self.y) == len(other.y)
            and np.array_equal(self.classes[self.y], other.classes[other.y])
            and np.array_equal(self.groups, other.groups)
        )


def check_inputs(
    X: ArrayLike, y: ArrayLike, groups: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``X`` as float64, ``y`` as an object array and ``groups`` checked; a clear error for
    non-finite rows, missing labels, a single class or missing subject ids."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=object)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be 2-D with one row per label, got X {X.shape} and y {y.shape}")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} rows of X are not finite (failed faces?); drop them first"
        )
    if pd.isna(y).any():
        raise ValueError(f"{int(pd.isna(y).sum())} labels are missing; drop those rows first")
    if len(np.unique(y.astype(str))) < 2:
        raise ValueError("y has a single class: there is nothing to predict")
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        if groups.shape != y.shape:
            raise ValueError(f"groups has shape {groups.shape}, expected {y.shape}")
        if pd.isna(groups).any():
            raise ValueError("groups has missing subject ids; drop those rows or pass groups=None")
    return X, y, groups


def check_probes(probes: Sequence[str]) -> tuple[str, ...]:
    """``probes`` as a non-empty tuple of registered names, or a ``ValueError``."""
    names = tuple(probes)
    unknown = [p for p in names if p not in PROBES]
    if unknown or not names:
        raise ValueError(f"unknown probes {unknown or list(names)}; choose from {sorted(PROBES)}")
    return names


def inner_cv(y: np.ndarray, groups: np.ndarray | None, random_state: int) -> Any:
    """The inner folds that tune a probe: grouped by person whenever people are known."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is not None and len(np.unique(groups)) >= INNER_SPLITS:
        return StratifiedGroupKFold(n_splits=INNER_SPLITS, shuffle=True, random_state=random_state)
    return StratifiedKFold(n_splits=INNER_SPLITS, shuffle=True, random_state=random_state)


def _feasible(grid: Grid, n_train: int) -> Grid:
    """``grid`` without the neighbour counts that an inner fold of ``n_train`` rows cannot
    hold (small evaluation sets; the smallest count is always kept)."""
    out = dict(grid)
    for key, values in grid.items():
        if key.endswith("n_neighbors"):
            out[key] = [v for v in values if v <= n_train] or [min(values)]
    return out


def _fits_small_sets(estimator: Any, n_train: int, n_classes: int) -> Any:
    """``estimator`` without early stopping where its validation split (10 %) of ``n_train``
    rows could not hold one row per class (an MLP on a 20-image audit would fail to fit)."""
    params = estimator.get_params()
    if params.get("clf__early_stopping"):
        held = int(params.get("clf__validation_fraction", 0.1) * n_train)
        if held < n_classes:
            estimator.set_params(clf__early_stopping=False)
    return estimator


def fit_probe(
    name: str,
    grid: Grid | None,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    random_state: int,
) -> tuple[Any, dict[str, Any]]:
    """Probe ``name`` trained on ``(X, y)``, tuned by inner CV (grouped by ``groups``) when
    ``grid`` has choices; the fitted estimator and the chosen hyper-parameters."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    estimator = make_probe(name, random_state)
    with warnings.catch_warnings():
        # Inner folds grouped by person cannot always hold every class; a probe that sees too
        # few examples of a class is exactly what a small evaluation set gives an attacker.
        warnings.filterwarnings("ignore", message="The least populated class")
        # an attacker keeps a probe that ran out of iterations: it is still the attack
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        if grid and any(len(v) > 1 for v in grid.values()):
            splits = list(inner_cv(y, groups, random_state).split(X, y, groups))
            fold_train = min(len(fit) for fit, _ in splits)
            estimator = _fits_small_sets(estimator, fold_train, len(np.unique(y)))
            search = GridSearchCV(estimator, _feasible(grid, fold_train), cv=splits, n_jobs=1)
            search.fit(X, y, groups=groups)
            return search.best_estimator_, dict(search.best_params_)
        params = {k: v[0] for k, v in (grid or {}).items()}
        estimator = _fits_small_sets(estimator, len(y), len(np.unique(y)))
        return estimator.set_params(**params).fit(X, y), params


def _fold(
    name: str,
    grid: Grid | None,
    X_fit: np.ndarray,
    X_score: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    train: np.ndarray,
    test: np.ndarray,
    random_state: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    train_groups = None if groups is None else groups[train]
    model, params = fit_probe(name, grid, X_fit[train], y[train], train_groups, random_state)
    return np.asarray(model.predict(X_score[test])), params


def _encode(*labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    classes, codes = np.unique(np.concatenate(labels).astype(str), return_inverse=True)
    bounds = np.cumsum([len(values) for values in labels])[:-1]
    return classes, np.split(codes, bounds)


def _grids(
    probes: Sequence[str], n_features: int, tune: bool, grids: Mapping[str, Grid] | None
) -> dict[str, Grid | None]:
    return {name: probe_grid(name, n_features, grids) if tune else None for name in probes}


def attack(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    *,
    probes: Sequence[str] = tuple(PROBES),
    n_splits: int = 5,
    tune: bool = True,
    grids: Mapping[str, Grid] | None = None,
    random_state: int = 0,
    n_jobs: int = 2,
    X_fit: ArrayLike | None = None,
) -> ProbeScores:
    """Out-of-fold predictions of fresh probes on people-disjoint folds of ``(X, y)``.

    Each probe is trained on the other folds' people (tuned by inner CV grouped by person when
    ``tune``) and predicts the held-out fold; every row is predicted once.

    ``X_fit`` (same rows as ``X``): the probes train on ``X_fit`` and predict ``X``. This is the
    inversion attacker: it trains on real embeddings and predicts from embeddings it rebuilt
    from blinded ones.
    """
    from joblib import Parallel, delayed

    from blindface.evaluation._splits import subject_disjoint

    X, labels, people = check_inputs(X, y, groups)
    if people is None:
        raise ValueError("an attack needs groups: one person id per row")
    fit_on = X if X_fit is None else np.asarray(X_fit, dtype=np.float64)
    if fit_on.shape != X.shape:
        raise ValueError(f"X_fit has shape {fit_on.shape}, expected {X.shape}")
    names = check_probes(probes)
    classes, (codes,) = _encode(labels)
    splits = subject_disjoint(codes, people, n_splits=n_splits, random_state=random_state)
    chosen = _grids(names, X.shape[1], tune, grids)
    results = cast(
        list[tuple[np.ndarray, dict[str, Any]]],
        Parallel(n_jobs=n_jobs)(
            delayed(_fold)(name, chosen[name], fit_on, X, codes, people, tr, te, random_state)
            for name in names
            for tr, te in splits
        ),
    )
    fold_of = np.zeros(len(codes), dtype=np.int64)
    for k, (_, test) in enumerate(splits):
        fold_of[test] = k
    predictions, params = {}, {}
    for i, name in enumerate(names):
        predicted = np.full(len(codes), -1, dtype=np.int64)
        fold = results[i * len(splits) : (i + 1) * len(splits)]
        for (values, _), (_, test) in zip(fold, splits, strict=True):
            predicted[test] = values
        predictions[name] = predicted
        params[name] = [p for _, p in fold]
    return ProbeScores(codes, people.astype(str), classes, predictions, params, fold_of)


def transfer_attack(
    X_train: ArrayLike,
    y_train: ArrayLike,
    groups_train: ArrayLike,
    X_test: ArrayLike,
    y_test: ArrayLike,
    groups_test: ArrayLike,
    *,
    probes: Sequence[str] = tuple(PROBES),
    tune: bool = True,
    grids: Mapping[str, Grid] | None = None,
    random_state: int = 0,
    n_jobs: int = 2,
) -> ProbeScores:
    """Probes trained on labelled faces of other people and datasets (tuned by inner CV grouped
    by person on them), scored on ``(X_test, y_test)``, whose labels they never saw.

    This is the attacker who holds the published blinder and labelled public faces: it needs no
    label of the target set. The scored classes are those of ``y_test``.
    """
    from joblib import Parallel, delayed

    X_train, train_labels, train_people = check_inputs(X_train, y_train, groups_train)
    X_test = np.asarray(X_test, dtype=np.float64)
    test_labels = np.asarray(y_test, dtype=object)
    test_people = np.asarray(groups_test, dtype=object)
    if X_test.ndim != 2 or X_test.shape[1] != X_train.shape[1] or len(X_test) != len(test_labels):
        raise ValueError(
            f"X_test has shape {X_test.shape}: it needs {X_train.shape[1]} columns and one row "
            f"per label ({len(test_labels)})"
        )
    if test_people.shape != test_labels.shape or pd.isna(test_labels).any():
        raise ValueError("y_test and groups_test need one value per row of X_test, none missing")
    names = check_probes(probes)
    classes, (train_codes, test_codes) = _encode(train_labels, test_labels)
    chosen = _grids(names, X_train.shape[1], tune, grids)
    fitted = cast(
        list[tuple[Any, dict[str, Any]]],
        Parallel(n_jobs=n_jobs)(
            delayed(fit_probe)(name, chosen[name], X_train, train_codes, train_people, random_state)
            for name in names
        ),
    )
    predictions = {
        name: np.asarray(model.predict(X_test), dtype=np.int64)
        for name, (model, _) in zip(names, fitted, strict=True)
    }
    params = {name: [p] for name, (_, p) in zip(names, fitted, strict=True)}
    fold = np.zeros(len(test_codes), dtype=np.int64)
    return ProbeScores(test_codes, test_people.astype(str), classes, predictions, params, fold)
