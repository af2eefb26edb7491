"""Score one representation on the declared tasks: leakage under both threat models, and utility.

The same code path serves ``blindface audit``: :func:`leakage_rows` runs
:func:`blindface.evaluation.threat_leakage` for each threat on the rows of one task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from blindface.evaluation import THREATS, Threat
from blindface.study._data import StudyData, spread_sample
from blindface.study._rows import Row
from blindface.study._settings import Study
from blindface.study._tasks import LeakageTask, UtilityTask

Transform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TaskRows:
    """The scored rows of one leakage task: embeddings, labels, people, references, sessions."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    reference: np.ndarray
    sessions: np.ndarray | None

    def __len__(self) -> int:
        return len(self.y)


def task_rows(
    task: LeakageTask,
    data: StudyData,
    *,
    exclude_people: frozenset[str] = frozenset(),
    max_images: int | None,
    seed: int,
) -> TaskRows | None:
    """The rows of ``task`` (people in ``exclude_people`` left out), sampled down to about
    ``max_images`` over as many people as possible (:func:`spread_sample`); None when the
    dataset is absent or the task has under two classes."""
    if task.dataset not in data.datasets:
        return None
    emb = data.datasets[task.dataset]
    table = emb.table
    labels = task.labels(table)
    subject = pd.Series(table["subject"], dtype="string")
    known = labels.notna() & subject.notna() & ~subject.isin(exclude_people)
    rows = known.to_numpy(dtype=bool, copy=True)
    if max_images is not None and rows.sum() > max_images:
        picked = np.flatnonzero(rows)
        keep = spread_sample(
            subject.to_numpy()[picked].astype(str),
            labels.to_numpy()[picked].astype(str),
            max_images,
            seed,
        )
        rows[:] = False
        rows[picked[keep]] = True
    kept = pd.Series(labels.to_numpy()[rows], dtype="string")
    if kept.nunique() < 2:
        return None
    return TaskRows(
        X=emb.X[rows],
        y=kept.astype(str).to_numpy(),
        groups=subject.to_numpy()[rows].astype(str),
        reference=task.reference(kept),
        sessions=task.session_ids(table.iloc[np.flatnonzero(rows)]),
    )


def leakage_rows(
    rows: TaskRows,
    X: np.ndarray,
    *,
    study: Study,
    threats: Sequence[Threat] = THREATS,
    probes: Sequence[str] | None = None,
) -> list[Row]:
    """Fresh tuned probes on ``X`` (the representation of ``rows``) under each threat model."""
    from blindface.evaluation import threat_leakage

    settings = study.settings
    out: list[Row] = []
    for threat in threats:
        started = time.perf_counter()
        try:
            frame = threat_leakage(
                X,
                rows.y,
                rows.groups,
                threat=threat,
                reference=rows.reference,
                sessions=rows.sessions,
                probes=tuple(probes or settings.probes),
                n_splits=settings.n_splits,
                tune=settings.tune_probes,
                random_state=study.seed,
                n_jobs=study.n_jobs,
                n_bootstrap=settings.n_bootstrap,
            )
        except ValueError as error:  # e.g. too few people for the folds under this threat
            out.append({"threat": threat, "probe": None, "skipped": str(error)})
            continue
        seconds = round(time.perf_counter() - started, 1)
        for r in frame.to_dict("records"):
            out.append(
                {
                    "threat": threat,
                    "probe": str(r["probe"]),
                    "protocol": "subject_disjoint",
                    "accuracy": float(r["accuracy"]),
                    "std": float(r["std"]),
                    "ci_low": _finite_or_none(r["ci_low"]),
                    "ci_high": _finite_or_none(r["ci_high"]),
                    "chance": float(r["chance"]),
                    "diff": None,
                    "n": int(r["n"]),
                    "n_people": int(r["n_people"]),
                    "seconds_all_probes": seconds,
                }
            )
    return out


def _finite_or_none(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def utility_rows(
    task: UtilityTask, data: StudyData, transform: Transform | None, *, study: Study
) -> list[Row]:
    """Identity (LFW verification pairs) or an attribute read by fresh probes, for one
    representation (``transform`` None: the raw embeddings)."""
    from blindface.evaluation import leakage, verification_accuracy

    if task.dataset not in data.datasets:
        return []
    emb = data.datasets[task.dataset]
    if task.name == "identity":
        if data.pairs is None:
            return []
        position = {str(p): i for i, p in enumerate(emb.table["path"])}
        path_a = [str(p) for p in data.pairs["path_a"]]
        path_b = [str(p) for p in data.pairs["path_b"]]
        complete = np.array(
            [a in position and b in position for a, b in zip(path_a, path_b, strict=True)]
        )
        a = np.array([position[p] for p, ok in zip(path_a, complete, strict=True) if ok], dtype=int)
        b = np.array([position[p] for p, ok in zip(path_b, complete, strict=True) if ok], dtype=int)
        same = np.asarray(data.pairs["same"], dtype=bool)[complete]
        fold = np.asarray(data.pairs["fold"])[complete]
        X = emb.X if transform is None else transform(emb.X)
        mean, std = verification_accuracy(
            X[a],
            X[b],
            same,
            folds=fold if len(np.unique(fold)) > 1 else None,
            random_state=study.seed,
        )
        return [
            {
                "probe": "verification",
                "protocol": "pairs",
                "accuracy": mean,
                "std": std,
                "chance": 50.0,
                "diff": None,
                "n": len(a),
            }
        ]
    assert task.column is not None
    known = emb.table[task.column].notna().to_numpy()
    rows = np.flatnonzero(known)
    limit = study.settings.utility_images
    if limit is not None and len(rows) > limit:
        rows = np.sort(np.random.default_rng(study.seed).permutation(rows)[:limit])
    X = emb.X[rows] if transform is None else transform(emb.X[rows])
    frame = leakage(
        X,
        emb.table[task.column].iloc[rows].astype(str).to_numpy(),
        probes=task.probes,
        protocol="random_80_20",
        n_splits=study.settings.n_splits,
        random_state=study.seed,
        tune=study.settings.tune_probes,
        n_jobs=study.n_jobs,
        n_bootstrap=0,
    )
    return [
        {
            "probe": str(r["probe"]),
            "protocol": "random_80_20",
            "accuracy": float(r["accuracy"]),
            "std": float(r["std"]),
            "chance": float(r["chance"]),
            "diff": None,
            "n": int(r["n"]),
        }
        for r in frame.to_dict("records")
    ]


def paper_protocol_rows(rows: TaskRows, X: np.ndarray, *, study: Study) -> list[Row]:
    """The paper's random 80/20 splits (population threat only): the same people on both
    sides, so this measures recognising the person as much as the expression. Opt-in."""
    from blindface.evaluation import leakage

    settings = study.settings
    frame = leakage(
        X,
        rows.y,
        probes=settings.probes,
        protocol="random_80_20",
        n_splits=settings.n_splits,
        tune=settings.tune_probes,
        random_state=study.seed,
        n_jobs=study.n_jobs,
        n_bootstrap=0,
    )
    return [
        {
            "threat": "population",
            "probe": str(r["probe"]),
            "protocol": "random_80_20",
            "accuracy": float(r["accuracy"]),
            "std": float(r["std"]),
            "ci_low": None,
            "ci_high": None,
            "chance": float(r["chance"]),
            "diff": None,
            "n": int(r["n"]),
        }
        for r in frame.to_dict("records")
    ]
