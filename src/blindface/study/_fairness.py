"""Table II's experiment: an attractiveness classifier on CelebA, fair towards smiling?

Training sets are drawn from a CelebA table (boolean ``Smiling``, ``Attractive``, ``Male`` and a
``subject`` identity) with exact cell counts: *unbiased* (every attractive x smiling x gender
cell equal) or *biased* (attractive people smile in 70 % of the images, the others in 30 %,
balanced in attractiveness and gender). Test sets are balanced over the 8 cells and come from
other identities. Equal opportunity compares the true-positive rates of smiling and
non-smiling test faces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from blindface._seeds import stream
from blindface.evaluation import fairness_metrics

__all__ = [
    "CELL_WEIGHTS",
    "attractiveness_classifier",
    "build_celeba_test_set",
    "build_celeba_training_set",
    "celeba_fairness_split",
    "fairness_experiment",
    "fairness_report",
    "largest_set_size",
    "split_celeba_subjects",
]

CELEBA_COLUMNS = ("subject", "Smiling", "Attractive", "Male")

# Images per (attractive, smiling) cell and per gender, in units: the set holds k times these.
CELL_WEIGHTS: dict[str, dict[tuple[bool, bool], int]] = {
    "unbiased": {(True, True): 1, (True, False): 1, (False, True): 1, (False, False): 1},
    "biased": {(True, True): 7, (True, False): 3, (False, True): 3, (False, False): 7},
}
# Sizes that every kind of set can take exactly: multiples of 40 (biased 40, unbiased 8).
COMMON_UNIT = math.lcm(*(2 * sum(w.values()) for w in CELL_WEIGHTS.values()))
METRICS = ("accuracy", "tpr_smiling", "tpr_not_smiling", "equal_opportunity")


def _usable_rows(table: pd.DataFrame) -> np.ndarray:
    """Boolean mask of rows with a subject and all three attributes known."""
    missing = [c for c in CELEBA_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"the CelebA table lacks columns {missing}; load it with "
            "blindface.datasets.load_dataset('celeba', root)"
        )
    known = pd.DataFrame(table[list(CELEBA_COLUMNS)]).notna().all(axis=1)
    return np.asarray(known, dtype=bool)


def _pool(table: pd.DataFrame, rows: ArrayLike | None) -> np.ndarray:
    """Positions of the usable rows, restricted to ``rows`` when given."""
    usable = _usable_rows(table)
    if rows is not None:
        allowed = np.zeros(len(table), dtype=bool)
        allowed[np.asarray(rows, dtype=int)] = True
        usable = usable & allowed
    return np.flatnonzero(usable)


def _cells(
    table: pd.DataFrame, weights: dict[tuple[bool, bool], int], rows: ArrayLike | None
) -> dict[tuple[bool, bool, bool], np.ndarray]:
    """Pool positions in each (attractive, smiling, male) cell."""
    pool = _pool(table, rows)
    attractive = table["Attractive"].to_numpy()[pool].astype(bool)
    smiling = table["Smiling"].to_numpy()[pool].astype(bool)
    male = table["Male"].to_numpy()[pool].astype(bool)
    return {
        (a, s, g): pool[(attractive == a) & (smiling == s) & (male == g)]
        for (a, s) in weights
        for g in (True, False)
    }


def _max_units(
    cells: dict[tuple[bool, bool, bool], np.ndarray], weights: dict[tuple[bool, bool], int]
) -> int:
    return min(len(cells[a, s, g]) // weights[a, s] for (a, s, g) in cells)


def largest_set_size(
    table: pd.DataFrame, *, kind: str = "biased", rows: ArrayLike | None = None
) -> int:
    """The largest ``kind`` set ("biased", "unbiased"; the balanced test set is "unbiased")
    that the pool (``rows`` of ``table``, usable ones) can fill with exact proportions."""
    if kind not in CELL_WEIGHTS:
        raise ValueError(f"unknown kind {kind!r}; choose from {sorted(CELL_WEIGHTS)}")
    weights = CELL_WEIGHTS[kind]
    return _max_units(_cells(table, weights, rows), weights) * 2 * sum(weights.values())


def _draw_cells(
    table: pd.DataFrame,
    weights: dict[tuple[bool, bool], int],
    *,
    size: int | None,
    rows: ArrayLike | None,
    random_state: int | np.random.Generator,
) -> np.ndarray:
    """Draw ``k * weight`` rows from every (attractive, smiling, male) cell, k as large as the
    pool allows or ``size / unit`` (an exact multiple), so that proportions hold exactly."""
    cells = _cells(table, weights, rows)
    unit = 2 * sum(weights.values())
    k_max = _max_units(cells, weights)
    if size is None:
        k = k_max
    elif size % unit:
        raise ValueError(f"size must be a multiple of {unit} to hit the cell proportions exactly")
    elif size // unit > k_max:
        raise ValueError(f"size {size} is too large: this pool allows at most {k_max * unit}")
    else:
        k = size // unit
    if k == 0:
        counts = {cell: len(found) for cell, found in cells.items()}
        raise ValueError(
            f"the pool cannot fill every (attractive, smiling, male) cell once: {counts}"
        )
    rng = np.random.default_rng(random_state)
    chosen = [
        rng.choice(found, size=k * weights[a, s], replace=False)
        for (a, s, g), found in cells.items()
    ]
    return np.sort(np.concatenate(chosen))


def build_celeba_training_set(
    table: pd.DataFrame,
    *,
    kind: str = "biased",
    size: int | None = None,
    rows: ArrayLike | None = None,
    random_state: int | np.random.Generator = 0,
) -> np.ndarray:
    """Positions (into ``table``) of a training set for the attractiveness classifier.

    ``kind="unbiased"``: 50 % smiling in each attractiveness class, every attractive x smiling
    x gender cell equal (size a multiple of 8). ``kind="biased"`` (the paper's): attractive 70 %
    smiling / 30 % not, not attractive 30 % / 70 %, balanced in attractiveness and gender within
    each cell (size a multiple of 40). The proportions hold exactly; ``size=None`` takes the
    largest set the pool allows. ``rows`` restricts the pool (e.g. to the training identities);
    rows with a missing subject or attribute are never drawn.
    """
    if kind not in CELL_WEIGHTS:
        raise ValueError(f"unknown kind {kind!r}; choose from {sorted(CELL_WEIGHTS)}")
    return _draw_cells(table, CELL_WEIGHTS[kind], size=size, rows=rows, random_state=random_state)


def build_celeba_test_set(
    table: pd.DataFrame,
    *,
    size: int | None = None,
    rows: ArrayLike | None = None,
    random_state: int | np.random.Generator = 0,
) -> np.ndarray:
    """Positions (into ``table``) of a balanced test set: the 8 attractive x smiling x gender
    cells hold exactly the same number of images (size a multiple of 8; largest when None)."""
    return _draw_cells(
        table, CELL_WEIGHTS["unbiased"], size=size, rows=rows, random_state=random_state
    )


def split_celeba_subjects(
    table: pd.DataFrame, *, test_fraction: float = 0.3, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and test rows, with no identity in both (usable rows only)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    pool = _pool(table, None)
    subjects = table["subject"].to_numpy()[pool].astype(str)
    unique = np.unique(subjects)
    rng = stream(random_state, "celeba-subject-split")
    n_test = max(1, round(test_fraction * len(unique)))
    test_subjects = rng.permutation(unique)[:n_test]
    is_test = np.isin(subjects, test_subjects)
    return pool[~is_test], pool[is_test]


def celeba_fairness_split(
    table: pd.DataFrame,
    *,
    kind: str = "biased",
    train_size: int | None = None,
    test_size: int | None = None,
    test_fraction: float = 0.3,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Identity-disjoint (training, test) positions: subjects are split first, then a ``kind``
    training set and a balanced test set are drawn from their own identities."""
    train_rows, test_rows = split_celeba_subjects(
        table, test_fraction=test_fraction, random_state=random_state
    )
    rng = stream(random_state, "celeba-fairness-sets")
    test = build_celeba_test_set(table, size=test_size, rows=test_rows, random_state=rng)
    train = build_celeba_training_set(
        table, kind=kind, size=train_size, rows=train_rows, random_state=rng
    )
    return train, test


def attractiveness_classifier(random_state: int = 0) -> Any:
    """The paper's classifier: one hidden layer of 1024 ReLU units and a sigmoid output
    (standardised inputs, Adam, early stopping on 10 % of the training set), seeded."""
    mlp = MLPClassifier(
        hidden_layer_sizes=(1024,),
        activation="relu",
        early_stopping=True,
        max_iter=300,
        random_state=random_state,
    )
    return Pipeline([("scale", StandardScaler()), ("clf", mlp)])


def fairness_report(
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_test: ArrayLike,
    y_test: ArrayLike,
    smiling_test: ArrayLike,
    *,
    random_state: int = 0,
) -> dict[str, float]:
    """Train the attractiveness classifier on (X_train, y_train) and report ``fairness_metrics``
    on the test set (percent)."""
    model = attractiveness_classifier(random_state).fit(
        np.asarray(X_train), np.asarray(y_train).astype(bool)
    )
    return fairness_metrics(y_test, model.predict(np.asarray(X_test)), smiling_test)


def fairness_experiment(
    X: ArrayLike,
    table: pd.DataFrame,
    *,
    training: str = "biased",
    n_repetitions: int = 5,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    test_fraction: float = 0.3,
    random_state: int = 0,
) -> dict[str, Any]:
    """Table II for one representation and one kind of training set.

    Subjects are split once (``test_fraction`` of identities for testing) and a balanced test
    set drawn; each of ``n_repetitions`` then draws a new ``training`` set ("biased" or
    "unbiased") and a newly seeded classifier. ``train_size=None`` takes the largest size that
    *both* kinds of training set reach on the training identities, so that the biased and
    unbiased results of one seed are comparable. Rows of ``X`` that are not finite (failed faces)
    are left out of every pool.

    Parameters
    ----------
    X : array of shape (len(table), dim)
        Embeddings aligned with the rows of ``table``.
    table : DataFrame
        CelebA table with ``subject``, ``Smiling``, ``Attractive`` and ``Male``.
    transform : callable, optional
        Applied to ``X`` first (e.g. a fitted blinding model's ``transform``).

    Returns
    -------
    dict
        ``training``, the mean of each metric in ``METRICS`` (percent) and its std as
        ``<metric>_std``, ``n_train``, ``n_test``, ``n_repetitions`` and ``repetitions`` (the
        per-repetition metric dicts).
    """
    X = np.asarray(X, dtype=np.float64)
    if len(X) != len(table):
        raise ValueError(f"X has {len(X)} rows but the table has {len(table)}")
    if n_repetitions < 1:
        raise ValueError(f"n_repetitions must be at least 1, got {n_repetitions}")
    finite = np.isfinite(X).all(axis=1)
    if transform is not None:
        blinded = np.asarray(transform(X[finite]), dtype=np.float64)
        X_t = np.full((len(X), blinded.shape[1]), np.nan)
        X_t[finite] = blinded
        X = X_t
    usable = np.flatnonzero(finite)
    train_rows, test_rows = split_celeba_subjects(
        table.iloc[usable], test_fraction=test_fraction, random_state=random_state
    )
    train_rows, test_rows = usable[train_rows], usable[test_rows]
    test = build_celeba_test_set(
        table,
        size=test_size,
        rows=test_rows,
        random_state=stream(random_state, "celeba-fairness-test-set"),
    )
    if train_size is None:
        # Same size for both kinds of training set, so that biased and unbiased rows compare.
        largest = min(largest_set_size(table, kind=k, rows=train_rows) for k in CELL_WEIGHTS)
        train_size = largest - largest % COMMON_UNIT
    y = table["Attractive"].to_numpy()
    smiling = table["Smiling"].to_numpy()
    runs = []
    for r in range(n_repetitions):
        rng = stream(random_state, f"celeba-fairness-repetition-{r}")
        train = build_celeba_training_set(
            table, kind=training, size=train_size, rows=train_rows, random_state=rng
        )
        runs.append(
            fairness_report(
                X[train],
                y[train],
                X[test],
                y[test],
                smiling[test],
                random_state=int(rng.integers(2**31)),
            )
        )
    result: dict[str, Any] = {"training": training}
    for metric in METRICS:
        values = [run[metric] for run in runs]
        result[metric] = float(np.mean(values))
        result[f"{metric}_std"] = float(np.std(values))
    result.update(
        n_train=train_size, n_test=len(test), n_repetitions=n_repetitions, repetitions=runs
    )
    return result
