"""A plain CSV manifest (``path`` + label columns) as a schema table."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from blindface.datasets._schema import (
    ETHNICITY_GROUPS,
    SCHEMA_COLUMNS,
    DatasetLayoutError,
    ethnicity_group,
    make_table,
    normalize_expression,
    normalize_gender,
    warn_skipped,
)


def load_manifest(
    csv_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Read a CSV manifest into the uniform table.

    Parameters
    ----------
    csv_path : path
        CSV with a ``path`` column (image paths relative to ``root``) and any label columns.
        Known columns are normalised into the schema: ``subject``; ``expression`` (to one of
        the 8 names, raw value kept in ``expression_source``); ``gender`` (male/m/man,
        female/f/woman; raw in ``gender_source``); ``ethnicity`` (lower-cased; the group is
        derived unless an ``ethnicity_group`` column is given); ``age`` (numeric);
        ``dataset`` (default: the CSV's file stem). Other columns are kept as strings.
    root : path, optional
        Folder the paths are relative to; default the CSV's folder.

    Rows whose image file does not exist are skipped with a warning.
    """
    csv_path = Path(csv_path)
    root = Path(root) if root is not None else csv_path.parent
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [name.strip() for name in next(reader, [])]
        rows = [[v.strip() or None for v in row] for row in reader if any(v.strip() for v in row)]
    expected = (
        f"a CSV with a 'path' column (image paths relative to {root}) and optional label "
        "columns subject, expression, gender, ethnicity, age"
    )
    if "path" not in header:
        raise DatasetLayoutError(
            f"manifest {csv_path}: no 'path' column (columns: {header}); expected {expected}"
        )
    if bad_lines := [n for n, row in enumerate(rows, 2) if len(row) != len(header)]:
        raise DatasetLayoutError(
            f"manifest {csv_path}: lines {bad_lines[:5]} do not have {len(header)} fields"
        )
    raw = {name: [row[k] for row in rows] for k, name in enumerate(header)}
    if empty := [n for n, p in enumerate(raw["path"], 2) if p is None]:
        raise DatasetLayoutError(f"manifest {csv_path}: empty path on lines {empty[:5]}")
    raw["path"] = [p.replace("\\", "/") for p in raw["path"]]
    keep = [(root / p).is_file() for p in raw["path"]]
    warn_skipped(
        f"manifest rows of {csv_path.name} whose image does not exist",
        [p for p, k in zip(raw["path"], keep, strict=True) if not k],
        f"files relative to {root}",
    )
    raw = {
        name: [v for v, k in zip(values, keep, strict=True) if k] for name, values in raw.items()
    }

    columns: dict[str, list] = {"path": raw["path"]}
    if "dataset" in raw:
        columns["dataset"] = [v or csv_path.stem for v in raw["dataset"]]
    if "subject" in raw:
        columns["subject"] = raw["subject"]
    if "expression" in raw:
        columns["expression"] = [normalize_expression(v) for v in raw["expression"]]
        columns["expression_source"] = raw["expression"]
    if "gender" in raw:
        columns["gender"] = [normalize_gender(v) for v in raw["gender"]]
        columns["gender_source"] = raw["gender"]
    for name in ("expression_source", "gender_source"):
        if name in raw:
            columns[name] = raw[name]
    if "ethnicity" in raw:
        columns["ethnicity"] = [v.lower() if v else None for v in raw["ethnicity"]]
        columns["ethnicity_group"] = [ethnicity_group(v) for v in columns["ethnicity"]]
    if "ethnicity_group" in raw:
        columns["ethnicity_group"] = [
            v if v in ETHNICITY_GROUPS else None for v in raw["ethnicity_group"]
        ]
    if "age" in raw:
        age = pd.to_numeric(pd.Series(raw["age"], dtype=object), errors="coerce")
        if bad := [v for v, a in zip(raw["age"], age, strict=True) if v is not None and pd.isna(a)]:
            raise DatasetLayoutError(
                f"manifest {csv_path}: non-numeric ages {bad[:3]}; expected numbers (years)"
            )
        columns["age"] = age.tolist()
    extra = [name for name in header if name not in SCHEMA_COLUMNS]
    columns |= {name: raw[name] for name in extra}
    return make_table(csv_path.stem, columns, dict.fromkeys(extra, "string"))
