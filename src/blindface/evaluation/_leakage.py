"""How much of a categorical attribute a representation still reveals to fresh, tuned probes."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from blindface.evaluation._probes import PROBES, Grid, make_probe, probe_grid
from blindface.evaluation._splits import SPLITTERS
from blindface.evaluation._stats import (
    above_chance,
    bootstrap_accuracy_interval,
    chance_level,
    diff,
)
from blindface.evaluation._threats import Threat, threat_view

__all__ = ["attribute_accuracy", "compare_leakage", "leakage", "threat_leakage", "with_diff"]

INNER_SPLITS = 3


def _check_inputs(
    X: ArrayLike, y: ArrayLike, groups: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
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
    if len(np.unique(y)) < 2:
        raise ValueError("y has a single class: there is nothing to predict")
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        if groups.shape != y.shape:
            raise ValueError(f"groups has shape {groups.shape}, expected {y.shape}")
        if pd.isna(groups).any():
            raise ValueError("groups has missing subject ids; drop those rows or pass groups=None")
    # Class labels as integer codes: every probe accepts them and they sort consistently.
    _, codes = np.unique(y.astype(str), return_inverse=True)
    return X, codes, groups


def _inner_cv(y: np.ndarray, groups: np.ndarray | None, random_state: int) -> Any:
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


def _fit_fold(
    name: str,
    grid: Grid | None,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    train: np.ndarray,
    test: np.ndarray,
    random_state: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train probe ``name`` on ``train`` (tuned by inner CV when ``grid``); whether each ``test``
    row is predicted right, and the chosen hyper-parameters."""
    from sklearn.model_selection import GridSearchCV

    estimator = make_probe(name, random_state)
    with warnings.catch_warnings():
        # Inner folds grouped by person cannot always hold every class; a probe that sees too
        # few examples of a class is exactly what a small evaluation set gives an attacker.
        warnings.filterwarnings("ignore", message="The least populated class")
        if grid and any(len(v) > 1 for v in grid.values()):
            train_groups = None if groups is None else groups[train]
            inner = _inner_cv(y[train], train_groups, random_state)
            splits = list(inner.split(X[train], y[train], train_groups))
            fold_train = min(len(fit) for fit, _ in splits)
            search = GridSearchCV(estimator, _feasible(grid, fold_train), cv=splits, n_jobs=1)
            search.fit(X[train], y[train], groups=train_groups)
            model, params = search.best_estimator_, search.best_params_
        else:
            params = {k: v[0] for k, v in (grid or {}).items()}
            model = estimator.set_params(**params).fit(X[train], y[train])
    return np.asarray(model.predict(X[test]) == y[test]), params


def leakage(
    X: ArrayLike,
    y: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    probes: Sequence[str] = ("mlp", "svm", "rf", "logreg", "knn"),
    protocol: str = "subject_disjoint",
    n_splits: int = 5,
    random_state: int = 0,
    tune: bool = True,
    grids: Mapping[str, Grid] | None = None,
    n_jobs: int = 2,
    n_bootstrap: int = 1000,
) -> pd.DataFrame:
    """Accuracy of fresh probes trained to predict ``y`` from the representation ``X``.

    Works for any categorical target (emotion, gender, ethnicity, smiling). Each probe is
    trained on the training part of each split, its hyper-parameters chosen by inner
    cross-validation on that part only (grouped by subject when ``groups`` is given), and scored
    on the held-out part. A blinded representation leaks little when every probe is near chance.

    Parameters
    ----------
    X : array of shape (n, dim)
        The representation (e.g. blinded embeddings).
    y : array of shape (n,)
        Class labels (any hashable values, no missing ones).
    groups : array of shape (n,), optional
        Subject id of each row; required by ``protocol="subject_disjoint"``.
    probes : sequence of str
        Probe names from ``PROBES``: ``mlp``, ``svm``, ``rf`` (the paper's three), ``logreg``,
        ``knn``.
    protocol : {"subject_disjoint", "random_80_20"}
        Subject-disjoint K folds (no person in both parts), or the paper's seeded random
        stratified 80/20 splits.
    n_splits : int
        Number of folds / random splits.
    random_state : int
        Seed of the splits, the inner CV and the probes.
    tune : bool
        Search each probe's grid by inner CV; when False use each probe's registry defaults.
    grids : mapping of probe name to grid, optional
        Replace the registry grid of these probes (e.g. smaller grids in tests).
    n_jobs : int
        Parallel (probe, split) fits.
    n_bootstrap : int
        Resamples of the people-bootstrap interval (0: no interval).

    Returns
    -------
    pandas.DataFrame
        One row per probe: ``probe``, ``protocol``, ``accuracy`` (mean over splits, percent),
        ``std`` (population std over splits), ``ci_low`` and ``ci_high`` (95 % bootstrap
        interval over people of the pooled held-out accuracy; over rows without ``groups``;
        NaN with ``n_bootstrap=0`` or under ``random_80_20``, whose test rows repeat),
        ``chance`` (majority class, percent), ``n`` (rows), ``n_people``, ``n_train`` and
        ``n_test`` (mean rows per split), ``fold_accuracies`` (list) and ``best_params`` (list
        of the chosen hyper-parameters, one dict per split).
    """
    from joblib import Parallel, delayed

    X, codes, groups = _check_inputs(X, y, groups)
    if protocol not in SPLITTERS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(SPLITTERS)}")
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown probes {unknown}; choose from {sorted(PROBES)}")
    splits = SPLITTERS[protocol](codes, groups, n_splits=n_splits, random_state=random_state)
    tasks = [
        (name, probe_grid(name, X.shape[1], grids) if tune else None, train, test)
        for name in probes
        for train, test in splits
    ]
    results = cast(
        list[tuple[np.ndarray, dict[str, Any]]],
        Parallel(n_jobs=n_jobs)(
            delayed(_fit_fold)(name, grid, X, codes, groups, train, test, random_state)
            for name, grid, train, test in tasks
        ),
    )
    chance = chance_level(codes)
    rows = []
    for i, name in enumerate(probes):
        fold = results[i * len(splits) : (i + 1) * len(splits)]
        accuracies = [float(np.mean(hits) * 100.0) for hits, _ in fold]
        low = high = float("nan")
        if n_bootstrap and protocol == "subject_disjoint":
            correct = np.zeros(len(codes), dtype=bool)
            for (hits, _), (_, test) in zip(fold, splits, strict=True):
                correct[test] = hits
            low, high = bootstrap_accuracy_interval(
                correct, groups, n_resamples=n_bootstrap, random_state=random_state
            )
        rows.append(
            {
                "probe": name,
                "protocol": protocol,
                "accuracy": float(np.mean(accuracies)),
                "std": float(np.std(accuracies)),
                "ci_low": low,
                "ci_high": high,
                "chance": chance,
                "n": int(len(codes)),
                "n_people": None if groups is None else int(len(np.unique(groups.astype(str)))),
                "n_train": int(round(float(np.mean([len(tr) for tr, _ in splits])))),
                "n_test": int(round(float(np.mean([len(te) for _, te in splits])))),
                "fold_accuracies": accuracies,
                "best_params": [params for _, params in fold],
            }
        )
    return pd.DataFrame(rows)


def attribute_accuracy(
    X: ArrayLike,
    y: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    probes: Sequence[str] = ("mlp", "logreg"),
    **kwargs: Any,
) -> pd.DataFrame:
    """Utility on an attribute to keep (gender, ethnicity): ``leakage`` with the MLP and
    logistic-regression probes by default. Same arguments and output as ``leakage``."""
    return leakage(X, y, groups=groups, probes=probes, **kwargs)


def compare_leakage(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Table I rows: accuracy before and after blinding and the paper's Diff, per probe.

    ``before`` and ``after`` are ``leakage`` outputs on the same labels and splits.
    """
    merged = before.merge(after, on=["probe", "protocol"], suffixes=("_before", "_after"))
    if len(merged) != len(before):
        raise ValueError("before and after must hold the same probes and protocol")
    return pd.DataFrame(
        {
            "probe": merged["probe"],
            "protocol": merged["protocol"],
            "before": merged["accuracy_before"],
            "before_std": merged["std_before"],
            "after": merged["accuracy_after"],
            "after_std": merged["std_after"],
            "chance": merged["chance_before"],
            "diff": [
                diff(b, a, c)
                for b, a, c in zip(
                    merged["accuracy_before"],
                    merged["accuracy_after"],
                    merged["chance_before"],
                    strict=True,
                )
            ],
        }
    )


def threat_leakage(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    *,
    threat: Threat,
    reference: ArrayLike | None = None,
    sessions: ArrayLike | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`leakage` under a threat model (people disjoint between probe training and testing).

    ``threat="population"`` probes ``X`` itself; ``"relative"`` probes ``phi(x) - phi(ref)``
    against each person's enrolled reference photo (``reference``: rows that can be it, e.g. the
    neutral ones; ``sessions``: see :func:`relative_view`). ``kwargs`` go to :func:`leakage`
    (probes, n_splits, tune, random_state, n_jobs, n_bootstrap, grids). The output has a
    ``threat`` column first.
    """
    view = threat_view(threat, X, y, groups, reference=reference, sessions=sessions)
    frame = leakage(view.X, view.y, groups=view.groups, protocol="subject_disjoint", **kwargs)
    frame.insert(0, "threat", threat)
    return frame


def with_diff(after: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """``after`` with a ``diff`` column against ``before`` (same probes, threats, labels); NaN
    where the ``before`` probe did not read the label above chance (:func:`above_chance`)."""
    keys = [k for k in ("threat", "probe") if k in after and k in before]
    indexed = before.set_index(keys)
    rows = after.copy()
    lookup = rows.set_index(keys).index
    values = []
    for key, a, c in zip(lookup, rows["accuracy"], rows["chance"], strict=True):
        value = float("nan")
        if key in indexed.index:
            b = indexed.loc[key]
            low = float(b["ci_low"]) if "ci_low" in indexed else None
            if above_chance(float(b["accuracy"]), float(c), low):
                value = diff(float(b["accuracy"]), float(a), float(c))
        values.append(value)
    rows["diff"] = values
    return rows
