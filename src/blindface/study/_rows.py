"""Finished result rows, saved after each addition so that a rerun resumes where it stopped."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Row = dict[str, Any]

#: The fields that identify a row (the rest are its measurements).
KEY_FIELDS: tuple[str, ...] = (
    "setting",
    "heldout_dataset",
    "method",
    "representation",
    "dataset",
    "task",
    "threat",
    "probe",
    "protocol",
    "training",
)


def row_key(row: Row) -> tuple[Any, ...]:
    return tuple(row.get(k) for k in KEY_FIELDS)


class Rows:
    """A JSON file of rows: :meth:`add` appends and saves, :meth:`done` asks for a key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[Row] = json.loads(path.read_text()) if path.exists() else []
        self._done = {row_key(r) for r in self.rows}

    def done(self, **key: Any) -> bool:
        return row_key(key) in self._done

    def add(self, rows: Iterable[Row]) -> None:
        from blindface._io import write_json

        for row in rows:
            self.rows.append(row)
            self._done.add(row_key(row))
        write_json(self.path, self.rows)

    def select(self, **key: Any) -> list[Row]:
        return [r for r in self.rows if all(r.get(k) == v for k, v in key.items())]


def readable(row: Row) -> bool:
    """Whether the probe of ``row`` read the label above chance
    (:func:`blindface.evaluation.above_chance`)."""
    from blindface.evaluation import above_chance

    return above_chance(row["accuracy"], row["chance"], row.get("ci_low"))


def with_diffs(rows: Sequence[Row], *, same: Sequence[str]) -> list[Row]:
    """Each row with ``diff`` = (before - after) / (before - chance) * 100 against the row of
    ``method == "none"`` that agrees on the ``same`` fields.

    ``diff`` is None for the baseline itself, and where the baseline probe did not read the label
    above chance (:func:`readable`): there was nothing to remove, and a ratio over a
    denominator near zero would only amplify noise. The baseline rows get ``readable``.
    """
    import math

    from blindface.evaluation import diff

    base = {tuple(r.get(k) for k in same): r for r in rows if r["method"] == "none"}
    out = []
    for r in rows:
        before = base.get(tuple(r.get(k) for k in same))
        value = None
        if before is not None and r["method"] != "none" and readable(before):
            d = diff(before["accuracy"], r["accuracy"], r["chance"])
            value = None if math.isnan(d) else float(d)
        extra = {"readable": readable(r)} if r["method"] == "none" else {}
        out.append({**r, "diff": value, **extra})
    return out
