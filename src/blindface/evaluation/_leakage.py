"""How much of a categorical attribute a representation still reveals to fresh, tuned probes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from blindface.evaluation._probes import PROBES, Grid, probe_grid
from blindface.evaluation._probing import (
    ProbeScores,
    attack,
    check_inputs,
    check_probes,
    fit_probe,
)
from blindface.evaluation._splits import SPLITTERS
from blindface.evaluation._stats import (
    above_chance,
    bootstrap_accuracy_interval,
    chance_level,
    diff,
)
from blindface.evaluation._strongest import probe_intervals
from blindface.threats import Threat, threat_view

__all__ = [
    "attribute_accuracy",
    "compare_leakage",
    "leakage",
    "score_table",
    "threat_leakage",
    "threat_scores",
    "with_diff",
]


def score_table(
    scores: ProbeScores, *, n_bootstrap: int = 1000, random_state: int = 0
) -> pd.DataFrame:
    """One row per probe of out-of-fold :class:`ProbeScores` (see :func:`leakage` for the
    columns)."""
    folds = np.unique(scores.fold)
    intervals = (
        probe_intervals(scores, n_resamples=n_bootstrap, random_state=random_state)
        if n_bootstrap
        else {}
    )
    rows = []
    for probe in scores.probes:
        hits = scores.hits(probe)
        accuracies = [float(hits[scores.fold == k].mean() * 100.0) for k in folds]
        low = high = float("nan")
        if n_bootstrap:
            low, high = bootstrap_accuracy_interval(
                hits, scores.groups, n_resamples=n_bootstrap, random_state=random_state
            )
        balanced, b_low, b_high = intervals.get(
            probe, (scores.balanced_accuracy(probe), float("nan"), float("nan"))
        )
        rows.append(
            {
                "probe": probe,
                "protocol": "subject_disjoint",
                "accuracy": float(np.mean(accuracies)),
                "std": float(np.std(accuracies)),
                "ci_low": low,
                "ci_high": high,
                "chance": scores.majority_chance,
                "balanced_accuracy": balanced,
                "balanced_ci_low": b_low,
                "balanced_ci_high": b_high,
                "balanced_chance": scores.chance,
                "n": int(len(scores.y)),
                "n_people": int(len(np.unique(scores.groups))),
                "n_train": int(round(float(np.mean([np.sum(scores.fold != k) for k in folds])))),
                "n_test": int(round(float(np.mean([np.sum(scores.fold == k) for k in folds])))),
                "fold_accuracies": accuracies,
                "best_params": scores.params[probe],
            }
        )
    return pd.DataFrame(rows)


def _random_splits(
    X: np.ndarray,
    y: np.ndarray,
    *,
    probes: Sequence[str],
    n_splits: int,
    random_state: int,
    tune: bool,
    grids: Mapping[str, Grid] | None,
    n_jobs: int,
) -> pd.DataFrame:
    """The paper's repeated random 80/20 splits (test rows repeat: no pooled interval)."""
    from joblib import Parallel, delayed
    from sklearn.metrics import balanced_accuracy_score

    _, codes = np.unique(y.astype(str), return_inverse=True)
    splits = SPLITTERS["random_80_20"](codes, None, n_splits=n_splits, random_state=random_state)
    chosen = {p: probe_grid(p, X.shape[1], grids) if tune else None for p in probes}
    fitted = cast(
        list[tuple[Any, dict[str, Any]]],
        Parallel(n_jobs=n_jobs)(
            delayed(fit_probe)(p, chosen[p], X[tr], codes[tr], None, random_state)
            for p in probes
            for tr, _ in splits
        ),
    )
    rows = []
    for i, probe in enumerate(probes):
        models = fitted[i * len(splits) : (i + 1) * len(splits)]
        plain, balanced = [], []
        for (model, _), (_, test) in zip(models, splits, strict=True):
            predicted = model.predict(X[test])
            plain.append(float(np.mean(predicted == codes[test]) * 100.0))
            balanced.append(float(balanced_accuracy_score(codes[test], predicted) * 100.0))
        rows.append(
            {
                "probe": probe,
                "protocol": "random_80_20",
                "accuracy": float(np.mean(plain)),
                "std": float(np.std(plain)),
                "ci_low": float("nan"),
                "ci_high": float("nan"),
                "chance": chance_level(codes),
                "balanced_accuracy": float(np.mean(balanced)),
                "balanced_ci_low": float("nan"),
                "balanced_ci_high": float("nan"),
                "balanced_chance": 100.0 / len(np.unique(codes)),
                "n": int(len(codes)),
                "n_people": None,
                "n_train": int(round(float(np.mean([len(tr) for tr, _ in splits])))),
                "n_test": int(round(float(np.mean([len(te) for _, te in splits])))),
                "fold_accuracies": plain,
                "best_params": [p for _, p in models],
            }
        )
    return pd.DataFrame(rows)


def leakage(
    X: ArrayLike,
    y: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    probes: Sequence[str] = tuple(PROBES),
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
        ``chance`` (majority class, percent), ``balanced_accuracy`` (mean recall over the
        classes, pooled over the held-out folds; mean over splits under ``random_80_20``) with
        ``balanced_ci_low`` / ``balanced_ci_high`` and ``balanced_chance`` (100 / classes),
        ``n`` (rows), ``n_people``, ``n_train`` and ``n_test`` (mean rows per split),
        ``fold_accuracies`` (list) and ``best_params`` (list of the chosen hyper-parameters,
        one dict per split). Balanced accuracy is the leakage number blindface reports: it
        makes imbalanced tasks comparable.
    """
    X, labels, people = check_inputs(X, y, groups)
    if protocol not in SPLITTERS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(SPLITTERS)}")
    names = check_probes(probes)
    if protocol == "random_80_20":
        return _random_splits(
            X,
            labels,
            probes=names,
            n_splits=n_splits,
            random_state=random_state,
            tune=tune,
            grids=grids,
            n_jobs=n_jobs,
        )
    if people is None:
        raise ValueError(
            "the subject-disjoint protocol needs groups (one subject id per row); "
            "pass groups=... or use protocol='random_80_20'"
        )
    scores = attack(
        X,
        labels,
        people,
        probes=names,
        n_splits=n_splits,
        tune=tune,
        grids=grids,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    return score_table(scores, n_bootstrap=n_bootstrap, random_state=random_state)


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
    """Table I rows: balanced accuracy before and after blinding and the paper's Diff, per
    probe (``before`` and ``after`` are ``leakage`` outputs on the same labels and splits)."""
    merged = before.merge(after, on=["probe", "protocol"], suffixes=("_before", "_after"))
    if len(merged) != len(before):
        raise ValueError("before and after must hold the same probes and protocol")
    return pd.DataFrame(
        {
            "probe": merged["probe"],
            "protocol": merged["protocol"],
            "before": merged["balanced_accuracy_before"],
            "before_std": merged["std_before"],
            "after": merged["balanced_accuracy_after"],
            "after_std": merged["std_after"],
            "chance": merged["balanced_chance_before"],
            "diff": [
                diff(b, a, c)
                for b, a, c in zip(
                    merged["balanced_accuracy_before"],
                    merged["balanced_accuracy_after"],
                    merged["balanced_chance_before"],
                    strict=True,
                )
            ],
        }
    )


def threat_scores(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    *,
    threat: Threat,
    reference: ArrayLike | None = None,
    sessions: ArrayLike | None = None,
    X_fit: ArrayLike | None = None,
    **kwargs: Any,
) -> tuple[ProbeScores, str]:
    """:func:`~blindface.evaluation.attack` on the view of ``threat`` (see
    :func:`threat_leakage`), and the view's reference rule. ``X_fit``: the probes train on its
    view and score ``X``'s (the inversion attacker)."""
    view = threat_view(threat, X, y, groups, reference=reference, sessions=sessions)
    fit_view = None
    if X_fit is not None:
        fit_view = threat_view(threat, X_fit, y, groups, reference=reference, sessions=sessions)
        if not np.array_equal(fit_view.rows, view.rows):
            raise ValueError("X_fit must give the same scored rows as X")
    scores = attack(
        view.X, view.y, view.groups, X_fit=None if fit_view is None else fit_view.X, **kwargs
    )
    return scores, view.rule


def threat_leakage(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    *,
    threat: Threat,
    reference: ArrayLike | None = None,
    sessions: ArrayLike | None = None,
    n_bootstrap: int = 1000,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`leakage` under a threat model (people disjoint between probe training and testing).

    ``threat="population"`` probes ``X`` itself; ``"relative"`` probes ``phi(x) - phi(ref)``
    against each person's enrolled reference photo (``reference``: rows that can be it, e.g. the
    neutral ones; ``sessions``: see :func:`~blindface.threats.relative_view`; where that leaves
    one class, the symmetric view). ``kwargs`` go to :func:`attack` (probes, n_splits, tune,
    random_state, n_jobs, grids). The output has ``threat`` and ``view`` (the reference rule)
    columns first.
    """
    scores, rule = threat_scores(
        X, y, groups, threat=threat, reference=reference, sessions=sessions, **kwargs
    )
    frame = score_table(
        scores, n_bootstrap=n_bootstrap, random_state=int(kwargs.get("random_state", 0))
    )
    frame.insert(0, "view", rule)
    frame.insert(0, "threat", threat)
    return frame


def with_diff(after: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """``after`` with a ``diff`` column (balanced accuracies) against ``before`` (same probes,
    threats, labels); NaN where the ``before`` probe did not read the label above chance
    (:func:`above_chance`)."""
    keys = [k for k in ("threat", "probe") if k in after and k in before]
    indexed = before.set_index(keys)
    rows = after.copy()
    lookup = rows.set_index(keys).index
    values = []
    for key, a, c in zip(lookup, rows["balanced_accuracy"], rows["balanced_chance"], strict=True):
        value = float("nan")
        if key in indexed.index:
            b = indexed.loc[key]
            low = float(b["balanced_ci_low"])
            if above_chance(float(b["balanced_accuracy"]), float(c), low):
                value = diff(float(b["balanced_accuracy"]), float(a), float(c))
        values.append(value)
    rows["diff"] = values
    return rows
