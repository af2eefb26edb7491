"""Fit (or reload) a blinder on a fit set; the cache key covers everything the fit depends on."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blindface.study._data import FitSet
from blindface.study._settings import Study

Log = Callable[[str], None]
FIT_TIME_NAME = "fit_time.json"


@dataclass(frozen=True)
class Fitted:
    """A fitted blinder, how long its fit took, and where it is cached."""

    method: str
    model: object
    seconds: float
    folder: Path

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.transform(X), dtype=np.float32)  # type: ignore[attr-defined]


def make_blinder(method: str, study: Study) -> object:
    """The registered method with the study's seed (where it takes one) and per-method settings,
    checked like ``--param``: an unknown parameter or a value out of range is a ``ParamError``."""
    from blindface.blinding import get_method
    from blindface.blinding._params import check_params

    entry = get_method(method)
    estimator = entry.create()
    params = dict(study.settings.blinder_params.get(method, {}))
    if "random_state" in estimator.get_params():
        params.setdefault("random_state", study.seed)
    check_params(type(estimator), params)
    return estimator.set_params(**params)


def fit_key(method: str, params: dict[str, object], fitset: FitSet) -> str:
    """Hash of the fit's inputs: embeddings, expression and subject labels, method, parameters."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(fitset.X).tobytes())
    for column in (fitset.expression, fitset.subject):
        digest.update("\x1f".join("\x00" if v is None else str(v) for v in column).encode())
    digest.update(json.dumps([method, params], sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def fit_blinder(method: str, fitset: FitSet, study: Study, log: Log, *, label: str) -> Fitted:
    """Fit ``method`` on ``fitset`` (``label`` names the setting in messages), or reload it."""
    import blindface
    from blindface._io import write_json
    from blindface.faces import embedder_label

    estimator = make_blinder(method, study)
    params = estimator.get_params()  # type: ignore[attr-defined]
    key = fit_key(method, params, fitset)
    folder = study.cache / "models" / f"{method}-{embedder_label(study.embedder)}-{key}"
    timing = folder / FIT_TIME_NAME
    if (folder / "config.json").exists() and timing.exists():
        log(f"{label}: {method} reused from {folder}")
        seconds = float(json.loads(timing.read_text())["seconds"])
        return Fitted(method, blindface.load(folder), seconds, folder)
    n_expr = int(sum(v is not None for v in fitset.expression))
    log(
        f"{label}: fitting {method} on {len(fitset.X)} embeddings of {fitset.n_people} people "
        f"({n_expr} with an expression)"
    )
    start = time.perf_counter()
    estimator.fit(  # type: ignore[attr-defined]
        fitset.X, expression=fitset.expression, subject=fitset.subject
    )
    seconds = time.perf_counter() - start
    estimator.save(folder)  # type: ignore[attr-defined]
    write_json(timing, {"seconds": seconds})
    log(f"{label}: {method} fitted in {seconds:.1f} s")
    return Fitted(method, estimator, seconds, folder)
