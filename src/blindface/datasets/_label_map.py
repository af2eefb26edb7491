"""Label map files: raw expression labels that the synonym table does not know, mapped by hand."""

from __future__ import annotations

import os
from pathlib import Path

from blindface._json import loads_bounded
from blindface.datasets._schema import (
    EXPRESSIONS,
    DatasetLayoutError,
    _expression_key,
    normalize_expression,
)
from blindface.datasets._text import read_csv, read_text

#: Largest label map read: thousands of labels fit in far less.
MAX_LABEL_MAP_BYTES = 1 << 20
_FORMAT = (
    "a CSV with the header raw,expression and one 'raw label,expression' row per label, "
    'or a JSON object {"raw label": "expression"}'
)


def read_label_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a label map file (``--label-map FILE``) as ``{raw label: expression}``.

    A ``.json`` file holds one object (``{"grumpy": "angry", "joyeux": "happy"}``); any other
    file is a CSV whose header is ``raw,expression``. Targets may be one of
    :data:`EXPRESSIONS` or a synonym of one (``anger``) and are returned as the
    :data:`EXPRESSIONS` name. Raw labels match case- and space-insensitively, as in
    :data:`EXPRESSION_SYNONYMS`.

    Raises
    ------
    DatasetLayoutError
        The file is missing, not valid CSV/JSON, has rows without two fields, maps onto an
        unknown expression, or maps one raw label onto two expressions; the message names the
        file and the line or key.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        entries = _json_entries(path)
    else:
        entries = _csv_entries(path)
    return _checked(path, entries)


def _fail(path: Path, message: str) -> DatasetLayoutError:
    return DatasetLayoutError(f"label map {path}: {message}; expected {_FORMAT}")


def _json_entries(path: Path) -> list[tuple[str, object, str]]:
    text = read_text(path, "label map", limit=MAX_LABEL_MAP_BYTES)
    data = loads_bounded(
        text, "it", max_bytes=MAX_LABEL_MAP_BYTES, error=lambda message: _fail(path, message)
    )
    if not isinstance(data, dict):
        raise _fail(path, f"the JSON is a {type(data).__name__}, not an object")
    return [(str(raw), target, f"key {raw!r}") for raw, target in data.items()]


def _csv_entries(path: Path) -> list[tuple[str, object, str]]:
    header, rows = read_csv(path, "label map", limit=MAX_LABEL_MAP_BYTES)
    if [name.lower() for name in header] != ["raw", "expression"]:
        raise _fail(path, f"line 1 is {','.join(header)!r}, not the header raw,expression")
    if bad := [n for n, row in rows if len(row) != 2]:
        raise _fail(path, f"lines {bad[:5]} do not have 2 fields")
    return [(raw.strip(), target.strip(), f"line {n}") for n, (raw, target) in rows]


def _checked(path: Path, entries: list[tuple[str, object, str]]) -> dict[str, str]:
    """The map of ``(raw, target, where)`` entries, targets normalised; errors name ``where``."""
    mapped: dict[str, str] = {}
    first: dict[str, tuple[str, str]] = {}
    bad: list[str] = []
    for raw, target, where in entries:
        expression = normalize_expression(target) if isinstance(target, str) else None
        if not raw or expression is None:
            bad.append(f"{where}: {raw!r} -> {target!r}")
            continue
        key = _expression_key(raw)
        if key in first and first[key][1] != expression:
            raise _fail(
                path,
                f"{raw!r} ({where}) maps onto {expression} but {first[key][0]} onto "
                f"{first[key][1]}; keep one",
            )
        first.setdefault(key, (where, expression))
        mapped[raw] = expression
    if bad:
        raise _fail(
            path,
            f"{len(bad)} entries do not map a label onto one of {', '.join(EXPRESSIONS)} "
            f"({'; '.join(bad[:3])}{'; ...' if len(bad) > 3 else ''})",
        )
    if not mapped:
        raise _fail(path, "the file maps no labels")
    return mapped
