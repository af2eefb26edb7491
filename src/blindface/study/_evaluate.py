"""Score one representation on the declared tasks: attacks under both threat models, identity.

A :class:`Representation` is the raw embedding ``x`` or a fitted blinder. The
:class:`Evaluator` runs every attack of the study on it — fresh probes on held-out people,
transfer probes trained on other datasets, the white-box inversion — and the identity it keeps
at a fixed FAR, saving each finished attack (:class:`~blindface.study._scores.ScoreCache`).
The same attack functions serve ``blindface audit``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from blindface.datasets import person_ids
from blindface.evaluation import (
    Inversion,
    ProbeScores,
    Strongest,
    Threat,
    attack,
    fit_inversion,
    operating_point,
    strongest_attacker,
    threat_scores,
    threat_view,
    transfer_attack,
    verification_accuracy,
)
from blindface.study._data import StudyData, spread_sample
from blindface.study._scores import ScoreCache
from blindface.study._settings import Study
from blindface.study._tasks import LEAKAGE_TASKS, AttributeTask, LeakageTask


@dataclass(frozen=True)
class Faces:
    """Some embedded faces of one dataset: their rows in its table and their embeddings."""

    dataset: str
    index: np.ndarray
    X: np.ndarray

    def take(self, keep: np.ndarray) -> Faces:
        return Faces(self.dataset, self.index[keep], self.X[keep])


#: How a representation is computed from some faces.
Apply = Callable[[Faces], np.ndarray]


@dataclass(frozen=True)
class Representation:
    """What an attacker sees: ``x`` (``apply`` None) or a fitted blinder's output, computed from
    the faces' embeddings or, for a blinder that retrains the recognizer's last layers, from
    their features below the retrained part. ``key`` names it in the score cache (a fitted
    blinder's cache folder)."""

    key: str
    apply: Apply | None = None

    def __call__(self, faces: Faces) -> np.ndarray:
        return faces.X if self.apply is None else self.apply(faces)


RAW = Representation("x")


@dataclass(frozen=True)
class TaskRows:
    """The scored rows of one leakage task: embeddings, labels, people, references, sessions;
    ``key`` names the sample in the score cache."""

    key: str
    faces: Faces
    y: np.ndarray
    groups: np.ndarray
    reference: np.ndarray
    sessions: np.ndarray | None

    @property
    def X(self) -> np.ndarray:
        return self.faces.X

    def __len__(self) -> int:
        return len(self.y)


def rows_digest(*arrays: np.ndarray) -> str:
    """A short hash of scored rows (indices, labels, embeddings): a cache key that changes
    whenever the sample does, not only when its size does."""
    digest = hashlib.sha256()
    for array in arrays:
        values = np.asarray(array)
        if values.dtype == object:
            values = values.astype(str)
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:16]


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
    dataset is absent or the task has under two classes. Person ids are qualified by the
    dataset (``jaffe:KA``)."""
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
    chosen = table.iloc[np.flatnonzero(rows)]
    return TaskRows(
        key=f"{task.key}/{len(kept)}/{max_images}/{len(exclude_people)}/{seed}",
        faces=Faces(task.dataset, np.flatnonzero(rows), emb.X[rows]),
        y=kept.astype(str).to_numpy(),
        groups=person_ids(chosen, task.dataset).astype(str),
        reference=task.reference(kept),
        sessions=task.session_ids(chosen),
    )


@dataclass(frozen=True)
class Cell:
    """One scored cell: a task's rows under one threat, and how the view chose references."""

    task: LeakageTask
    threat: Threat
    rule: str


class Evaluator:
    """Every attack and utility measurement of a run, on one :class:`StudyData`."""

    def __init__(self, study: Study, data: StudyData, cache: ScoreCache) -> None:
        self.study, self.data, self.cache = study, data, cache
        self.settings = study.settings
        self._rows: dict[tuple[str, str], TaskRows | None] = {}

    # -- rows --------------------------------------------------------------------------------

    def rows(self, task: LeakageTask, purpose: str) -> TaskRows | None:
        """The rows of ``task`` scored for ``purpose``: ``"eval"`` (a held-out dataset: all its
        labelled people) or ``"sweep"`` (a selection score: its people who are not reserved for
        utility, fewer images)."""
        key = (task.key, purpose)
        if key not in self._rows:
            if purpose == "eval":
                exclude, cap = frozenset(), self.settings.max_eval_images
            else:
                exclude = self.data.reserved_people.get(task.dataset, frozenset())
                cap = self.settings.sweep_images
            self._rows[key] = task_rows(
                task, self.data, exclude_people=exclude, max_images=cap, seed=self.study.seed
            )
        return self._rows[key]

    def tasks_of(self, dataset: str) -> list[LeakageTask]:
        return [
            t for t in LEAKAGE_TASKS if t.dataset == dataset and t.dataset in self.data.datasets
        ]

    # -- attacks -------------------------------------------------------------------------------

    def _kwargs(self, probes: Sequence[str], tune: bool) -> dict[str, Any]:
        return {
            "probes": tuple(probes),
            "n_splits": self.settings.n_splits,
            "tune": tune,
            "random_state": self.study.seed,
            "n_jobs": self.study.n_jobs,
        }

    def probe_attack(
        self,
        rows: TaskRows,
        rep: Representation,
        threat: Threat,
        *,
        probes: Sequence[str],
        tune: bool,
    ) -> ProbeScores:
        """Fresh probes trained and tested on different people of ``rows``."""
        key = f"probe|{rows.key}|{rep.key}|{threat}|{','.join(probes)}|{tune}"
        return self.cache.scores(
            key,
            lambda: threat_scores(
                rep(rows.faces),
                rows.y,
                rows.groups,
                threat=threat,
                reference=rows.reference,
                sessions=rows.sessions,
                **self._kwargs(probes, tune),
            )[0],
        )

    def view_rule(self, rows: TaskRows, threat: Threat) -> str:
        """How the view of ``threat`` chose references on ``rows`` (it does not depend on the
        representation)."""
        return threat_view(
            threat,
            rows.X,
            rows.y,
            rows.groups,
            reference=rows.reference,
            sessions=rows.sessions,
        ).rule

    def transfer_attack(
        self, rows: TaskRows, task: LeakageTask, rep: Representation, threat: Threat
    ) -> ProbeScores | None:
        """Probes trained on ``rep`` of the other datasets' labelled people (same label), never
        on ``rows``' labels; None when no other dataset has the label."""
        train = [
            r
            for t in LEAKAGE_TASKS
            if t.label == task.label and t.dataset != task.dataset
            for r in [self._transfer_rows(t)]
            if r is not None
        ]
        if not train:
            return None
        probes = self.settings.attack_probes
        key = f"transfer|{rows.key}|{rep.key}|{threat}|{','.join(probes)}"

        def compute() -> ProbeScores:
            views = [
                threat_view(
                    threat, rep(r.faces), r.y, r.groups, reference=r.reference, sessions=r.sessions
                )
                for r in train
            ]
            test = threat_view(
                threat,
                rep(rows.faces),
                rows.y,
                rows.groups,
                reference=rows.reference,
                sessions=rows.sessions,
            )
            return transfer_attack(
                np.concatenate([v.X for v in views]),
                np.concatenate([v.y for v in views]),
                np.concatenate([v.groups for v in views]),
                test.X,
                test.y,
                test.groups,
                probes=probes,
                tune=False,
                random_state=self.study.seed,
                n_jobs=self.study.n_jobs,
            )

        return self.cache.scores(key, compute)

    def _transfer_rows(self, task: LeakageTask) -> TaskRows | None:
        key = (task.key, "transfer")
        if key not in self._rows:
            n_other = sum(1 for t in LEAKAGE_TASKS if t.label == task.label) - 1
            self._rows[key] = task_rows(
                task,
                self.data,
                exclude_people=self.data.reserved_people.get(task.dataset, frozenset()),
                max_images=max(50, self.settings.transfer_images // max(n_other, 1)),
                seed=self.study.seed,
            )
        return self._rows[key]

    def inversion_attack(
        self,
        rows: TaskRows,
        rep: Representation,
        threat: Threat,
        inversion: Callable[[], Inversion],
    ) -> ProbeScores:
        """Probes trained on real embeddings of some people reading the embeddings that
        ``inversion`` rebuilt from the blinded ones of other people."""
        probes = self.settings.attack_probes
        key = f"inversion|{rows.key}|{rep.key}|{threat}|{','.join(probes)}"

        def compute() -> ProbeScores:
            rebuilt = inversion().transform(rep(rows.faces))
            return threat_scores(
                rebuilt,
                rows.y,
                rows.groups,
                threat=threat,
                reference=rows.reference,
                sessions=rows.sessions,
                X_fit=rows.X,
                **self._kwargs(probes, False),
            )[0]

        return self.cache.scores(key, compute)

    def fit_inversion(self, rep: Representation, sources: Sequence[str]) -> Inversion:
        """``g: phi(x) -> x`` learnt on unlabelled faces of ``sources`` (the fitting sources)."""
        faces = [self.all_faces(s) for s in sources if s in self.data.datasets]
        blinded = np.concatenate([rep(f) for f in faces])
        X = np.concatenate([f.X for f in faces])
        return fit_inversion(blinded, X, random_state=self.study.seed)

    def all_faces(self, name: str) -> Faces:
        emb = self.data.datasets[name]
        return Faces(name, np.arange(len(emb.X)), emb.X)

    # -- utility -------------------------------------------------------------------------------

    def identity_images(self, name: str) -> tuple[Faces, np.ndarray] | None:
        """Embeddings and people of identity set ``name``: the verification pairs' images for
        LFW, the reserved (Table II test) people for CelebA."""
        if name not in self.data.datasets:
            return None
        emb = self.data.datasets[name]
        table = emb.table
        if name == "lfw":
            if self.data.pairs is None:
                return None
            paths = set(self.data.pairs["path_a"]) | set(self.data.pairs["path_b"])
            rows = table["path"].isin(paths).to_numpy()
        else:
            reserved = self.data.reserved_people.get(name, frozenset())
            rows = table["subject"].astype(str).isin(reserved).to_numpy()
        if rows.sum() < 3:
            return None
        return self.all_faces(name).take(rows), table["subject"].astype(str).to_numpy()[rows]

    def selection_identity(self, source: str) -> tuple[Faces, np.ndarray] | None:
        """A validation source's own people for a selection's TAR loss: not reserved, with two
        or more images, spread over as many people as ``selection_identity_images`` allows."""
        if source not in self.data.datasets:
            return None
        emb = self.data.datasets[source]
        subject = emb.table["subject"].astype("string")
        reserved = self.data.reserved_people.get(source, frozenset())
        counts = subject.value_counts()
        ok = subject.notna() & ~subject.isin(reserved) & subject.map(counts).ge(2).fillna(False)
        rows = np.flatnonzero(ok.to_numpy(dtype=bool))
        cap = self.settings.selection_identity_images
        if cap is not None and len(rows) > cap:
            keep = spread_sample(
                subject.to_numpy()[rows].astype(str),
                np.zeros(len(rows), dtype=str),
                cap,
                self.study.seed,
            )
            rows = rows[keep]
        people = subject.to_numpy()[rows].astype(str)
        if len(rows) < 3 or len(set(people)) < 2:
            return None
        return self.all_faces(source).take(rows), people

    def tar_loss(
        self, images: tuple[Faces, np.ndarray] | None, rep: Representation, far: float
    ) -> float | None:
        """TAR at ``far`` of ``x`` minus that of ``rep`` on all pairs of ``images`` (points; at
        the smallest FAR a small set can estimate when it cannot estimate ``far``)."""
        if images is None:
            return None
        faces, people = images
        rows = operating_point(faces.X, rep(faces), people, fars=(far,), n_resamples=0)
        return float(rows[0]["loss"]) if rows else None

    def identity_rows(self, name: str, rep: Representation) -> list[dict[str, Any]]:
        """TAR before/after at every FAR the set allows, with the loss's bootstrap interval;
        for LFW also the pair accuracy (10-fold, the threshold chosen on the other folds)."""
        images = self.identity_images(name)
        if images is None:
            return []
        faces, people = images
        key = f"identity|{name}|{rows_digest(faces.index, people, faces.X)}|{rep.key}|"
        key += str(self.settings.n_bootstrap)

        def compute() -> dict[str, Any]:
            rows = operating_point(
                faces.X,
                rep(faces),
                people,
                n_resamples=self.settings.n_bootstrap,
                random_state=self.study.seed,
            )
            out: dict[str, Any] = {"rows": rows}
            if name == "lfw" and self.data.pairs is not None:
                out["pair_accuracy"] = self._pair_accuracy(rep)
            return out

        record = self.cache.record(key, compute)
        return [
            {**r, "pair_accuracy": record.get("pair_accuracy"), "identity_set": name}
            for r in record["rows"]
        ]

    def _pair_accuracy(self, rep: Representation) -> dict[str, float]:
        emb = self.data.datasets["lfw"]
        pairs = self.data.pairs
        assert pairs is not None
        position = {str(p): i for i, p in enumerate(emb.table["path"])}
        complete = np.array(
            [
                str(a) in position and str(b) in position
                for a, b in zip(pairs["path_a"], pairs["path_b"], strict=True)
            ]
        )
        a = np.array([position[str(p)] for p in pairs["path_a"][complete]], dtype=int)
        b = np.array([position[str(p)] for p in pairs["path_b"][complete]], dtype=int)
        same = np.asarray(pairs["same"], dtype=bool)[complete]
        fold = np.asarray(pairs["fold"])[complete]
        X = rep(self.all_faces("lfw"))
        result: dict[str, float] = {}
        for label, Z in (("before", emb.X), ("after", X)):
            mean, _ = verification_accuracy(
                Z[a],
                Z[b],
                same,
                folds=fold if len(np.unique(fold)) > 1 else None,
                random_state=self.study.seed,
            )
            result[label] = mean
        return result

    def attribute(self, task: AttributeTask, rep: Representation) -> Strongest | None:
        """The strongest attacker's Diff on an attribute to keep (UTKFace has no identities:
        each image counts as its own person, folds are random). The probes are untuned: an
        attribute this strong is read at once, and the sweep of chosen points stays cheap."""
        if task.dataset not in self.data.datasets:
            return None
        emb = self.data.datasets[task.dataset]
        known = np.flatnonzero(emb.table[task.column].notna().to_numpy())
        limit = self.settings.utility_images
        if limit is not None and len(known) > limit:
            known = np.sort(np.random.default_rng(self.study.seed).permutation(known)[:limit])
        y = emb.table[task.column].iloc[known].astype(str).to_numpy()
        groups = np.array([f"{task.dataset}:{i}" for i in known])
        faces = Faces(task.dataset, known, emb.X[known])
        kwargs = self._kwargs(task.probes, False)
        base = f"attribute|{task.name}|{rows_digest(known, y, faces.X)}"
        before = self.cache.scores(f"{base}|x", lambda: attack(faces.X, y, groups, **kwargs))
        after = self.cache.scores(
            f"{base}|{rep.key}", lambda: attack(rep(faces), y, groups, **kwargs)
        )
        return strongest_attacker(
            before, after, n_resamples=self.settings.n_bootstrap, random_state=self.study.seed
        )


def selection_score(
    evaluator: Evaluator, source: str, rep: Representation, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """How much of the expression ``rep`` removes from ``source``'s people (mean strongest
    attacker Diff of the sweep probes over the cells readable on ``x``, both threats) and the
    TAR at FAR 0.1 % it costs on them: the score of one candidate on one validation source."""
    settings = evaluator.settings
    cells = []
    for task in evaluator.tasks_of(source):
        rows = evaluator.rows(task, "sweep")
        if rows is None:
            continue
        for threat in ("population", "relative"):
            kwargs = {"probes": settings.sweep_probes, "tune": settings.tune_sweep_probes}
            try:
                before = evaluator.probe_attack(rows, RAW, threat, **kwargs)
                after = evaluator.probe_attack(rows, rep, threat, **kwargs)
            except ValueError:  # too few people for the folds under this threat
                continue
            result = strongest_attacker(
                before, after, n_resamples=200, random_state=evaluator.study.seed
            )
            cells.append(
                {
                    "task": task.label,
                    "threat": threat,
                    "diff": None if not np.isfinite(result.diff) else result.diff,
                    "readable": result.readable,
                }
            )
    readable = [c["diff"] for c in cells if c["readable"] and c["diff"] is not None]
    loss = evaluator.tar_loss(evaluator.selection_identity(source), rep, 1e-3)
    return {
        "source": source,
        "removed": float(np.mean(readable)) if readable else None,
        "tar_loss": loss,
        "cells": cells,
        **(dict(base) if base else {}),
    }
