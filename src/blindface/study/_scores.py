"""Finished attacks of a run, saved one file each, so that a rerun resumes where it stopped.

Every attack is a :class:`~blindface.evaluation.ProbeScores` (each probe's prediction for each
scored row); the strongest attacker, its bootstrap interval and the pooled means are computed
from them at the end of every run, so only the predictions need keeping. They are derived from
face data: they live in the study cache, never in the report folder.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from blindface._io import write_atomic, write_json
from blindface.evaluation import ProbeScores


class ScoreCache:
    """:class:`ProbeScores` and JSON records by key under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str, suffix: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.folder / digest[:2] / f"{digest}{suffix}"

    def scores(self, key: str, compute: Callable[[], ProbeScores]) -> ProbeScores:
        """The scores saved under ``key``, else ``compute()``'s, saved."""
        path = self._path(key, ".npz")
        if path.exists():
            return _read(path)
        scores = compute()
        buffer = io.BytesIO()
        np.savez(
            buffer,
            y=scores.y,
            groups=scores.groups.astype(str),
            classes=scores.classes.astype(str),
            fold=scores.fold,
            probes=np.array(scores.probes, dtype=str),
            predictions=np.stack([scores.predictions[p] for p in scores.probes]),
            params=np.array(json.dumps({p: scores.params[p] for p in scores.probes}, default=str)),
        )
        write_atomic(path, buffer.getvalue())
        return scores

    def record(self, key: str, compute: Callable[[], dict]) -> dict:
        """The JSON record saved under ``key``, else ``compute()``'s, saved."""
        path = self._path(key, ".json")
        if path.exists():
            return json.loads(path.read_text())
        value = compute()
        write_json(path, value)
        return value


def _read(path: Path) -> ProbeScores:
    with np.load(path, allow_pickle=False) as saved:
        probes = [str(p) for p in saved["probes"]]
        predictions = {p: saved["predictions"][i].astype(np.int64) for i, p in enumerate(probes)}
        params = json.loads(str(saved["params"]))
        return ProbeScores(
            y=saved["y"].astype(np.int64),
            groups=saved["groups"].astype(str),
            classes=saved["classes"].astype(str),
            predictions=predictions,
            params={p: params[p] for p in probes},
            fold=saved["fold"].astype(np.int64),
        )
