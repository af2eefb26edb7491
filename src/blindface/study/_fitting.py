"""Fit (or reload) blinders on fit sets; the cache key covers everything a fit depends on.

Fits of one stage are independent, so :func:`fit_blinders` runs them in ``study.n_jobs``
worker processes (each trains on one thread, see ``blinding.nn._training.seeded``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from joblib import Parallel, delayed

from blindface._io import write_json
from blindface.blinding import Blinder, get_method, load
from blindface.blinding._params import check_params
from blindface.blinding._weighting import Weighting, weighted_rows
from blindface.faces import embedder_label
from blindface.study._data import FitSet
from blindface.study._evaluate import Representation
from blindface.study._settings import Study

Log = Callable[[str], None]
FIT_TIME_NAME = "fit_time.json"


def candidate_label(params: Mapping[str, Any]) -> str:
    """``invariance_weight=10`` (``default`` for an empty setting)."""
    return ",".join(f"{k}={v}" for k, v in sorted(params.items())) or "default"


@dataclass(frozen=True)
class FitJob:
    """One blinder to fit: ``method`` with ``params`` (a sweep candidate) on ``fitset``
    (``label`` names the fold in messages)."""

    method: str
    params: Mapping[str, Any]
    fitset: FitSet
    label: str


@dataclass(frozen=True)
class Fitted:
    """A fitted blinder, how long its fit took, and where it is cached."""

    method: str
    params: Mapping[str, Any]
    model: Blinder
    seconds: float
    folder: Path

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.transform(X), dtype=np.float32)

    @property
    def representation(self) -> Representation:
        return Representation(self.folder.name, lambda faces: self.transform(faces.X))


def make_blinder(method: str, params: Mapping[str, Any], study: Study) -> Blinder:
    """The registered method with the study's seed (where it takes one), its per-method
    settings and ``params``, checked like ``--param``: an unknown parameter or a value out of
    range is a :class:`~blindface.blinding._params.ParamError` (never silently dropped)."""
    estimator = get_method(method).create()
    wanted = {**study.settings.blinder_params.get(method, {}), **params}
    if "random_state" in estimator.get_params():
        wanted.setdefault("random_state", study.seed)
    check_params(type(estimator), wanted)
    return estimator.set_params(**wanted)


def fit_key(method: str, params: dict[str, object], fitset: FitSet) -> str:
    """Hash of the fit's inputs: embeddings, expression and subject labels, method, parameters."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(fitset.X).tobytes())
    for column in (fitset.expression, fitset.subject):
        digest.update("\x1f".join("\x00" if v is None else str(v) for v in column).encode())
    digest.update(json.dumps([method, params], sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], Weighting]:
    """A candidate's estimator parameters, and its source weighting (``rows`` by default)."""
    rest = dict(params)
    return rest, rest.pop("weighting", "rows")


def _folder(job: FitJob, study: Study) -> tuple[Blinder, Path]:
    params, weighting = _split(job.params)
    estimator = make_blinder(job.method, params, study)
    key = fit_key(job.method, {**estimator.get_params(), "weighting": weighting}, job.fitset)
    return (
        estimator,
        study.cache / "models" / f"{job.method}-{embedder_label(study.embedder)}-{key}",
    )


def _fit(job: FitJob, study: Study) -> tuple[Path, float]:
    """Fit ``job`` into its cache folder (a worker process); the folder and the seconds."""
    estimator, folder = _folder(job, study)
    start = time.perf_counter()
    fitset = job.fitset
    rows = weighted_rows(fitset.source, _split(job.params)[1])
    estimator.fit(
        fitset.X[rows],
        expression=fitset.expression[rows],
        subject=fitset.subject[rows],
        source=fitset.source[rows],
    )
    seconds = time.perf_counter() - start
    estimator.save(folder)
    write_json(folder / FIT_TIME_NAME, {"seconds": seconds})
    return folder, seconds


def fit_blinders(jobs: Sequence[FitJob], study: Study, log: Log) -> list[Fitted]:
    """Fit every job not in the cache (in ``study.n_jobs`` processes), then load them all."""
    todo = []
    for job in jobs:
        _, folder = _folder(job, study)
        if not ((folder / "config.json").exists() and (folder / FIT_TIME_NAME).exists()):
            todo.append(job)
    if todo:
        log(f"fitting {len(todo)} blinders ({len(jobs) - len(todo)} reused from the cache)")
        for job in todo:
            log(
                f"  {job.label}: {job.method} {candidate_label(job.params)} on "
                f"{len(job.fitset.X)} embeddings of {job.fitset.n_people} people"
            )
        done = cast(
            list[tuple[Path, float]],
            Parallel(n_jobs=min(study.n_jobs, len(todo)))(
                delayed(_fit)(job, study) for job in todo
            ),
        )
        for job, (_, seconds) in zip(todo, done, strict=True):
            log(f"  {job.label}: {job.method} {candidate_label(job.params)} in {seconds:.1f} s")
    fitted = []
    for job in jobs:
        _, folder = _folder(job, study)
        seconds = float(json.loads((folder / FIT_TIME_NAME).read_text())["seconds"])
        fitted.append(Fitted(job.method, dict(job.params), load(folder), seconds, folder))
    return fitted
