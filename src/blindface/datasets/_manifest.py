"""A plain CSV manifest (``path`` + label columns) as a schema table."""

from __future__ import annotations

import math
import os
import posixpath
import re
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pandas as pd

from blindface._safe_read import file_kind
from blindface.datasets._schema import (
    ETHNICITY_GROUPS,
    SCHEMA_COLUMNS,
    DatasetLayoutError,
    DatasetWarning,
    ethnicity_group,
    make_table,
    normalize_expressions,
    normalize_gender,
    warn_skipped,
    warn_unknown,
)
from blindface.datasets._text import read_csv

_DRIVE = re.compile(r"^(?:[A-Za-z]:)?/")  # /abs, C:/abs (backslashes already turned into /)


def _outside(path: str) -> str | None:
    """Why ``path`` (POSIX, from a manifest) leaves the folder it is relative to, or None."""
    if _DRIVE.match(path) or PurePosixPath(path).is_absolute():
        return "an absolute path"
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        return "'..' climbs above the root"
    return None


def _not_a_file(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file (followed through links);
    None for a regular file. Raises FileNotFoundError when nothing is there."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.lexists(path):
            return f"a broken symbolic link to {os.readlink(path)}"
        raise
    except NotADirectoryError:
        raise FileNotFoundError(path) from None
    except OSError as error:
        return f"not readable ({error.strerror or error})"
    return file_kind(mode)


def load_manifest(
    csv_path: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    label_map: Mapping[str, str] | None = None,
    allow_outside_root: bool = False,
) -> pd.DataFrame:
    """Read a CSV manifest into the uniform table, rows in manifest order.

    Parameters
    ----------
    csv_path : path
        CSV with a ``path`` column (image paths relative to the root) and any label columns.
        UTF-8 (a BOM is fine) or Latin-1 (read with a warning); CRLF or LF line ends.
        Known columns are normalised into the schema: ``subject``; ``expression`` (to one of
        the 8 names, raw value kept in ``expression_source``); ``gender`` (male/m/man,
        female/f/woman; raw in ``gender_source``); ``ethnicity`` (lower-cased; the group is
        derived unless an ``ethnicity_group`` column is given); ``age`` (numeric);
        ``dataset`` (default: the CSV's file stem). Other columns are kept as strings.
    root : path, optional
        Folder the paths are relative to; default the CSV's own folder.
    label_map : mapping, optional
        Raw expression label -> one of :data:`EXPRESSIONS`, for labels the synonym table does
        not know (see :func:`read_label_map`). Labels still unknown are left NA with one
        :class:`DatasetWarning` giving their counts.
    allow_outside_root : bool
        Accept absolute paths and paths whose ``..`` climb above the root (refused by default
        with a :class:`DatasetLayoutError` naming the lines, so that a manifest cannot point
        anywhere on the machine by accident). The check is on the written path; symbolic
        links inside the root are followed.

    Returns
    -------
    pandas.DataFrame
        The table; ``attrs["root"]`` is the folder the paths are relative to (pass it to
        :func:`blindface.store.embed_dataset`) and ``attrs["skipped_rows"]`` the number of rows
        dropped because their file does not exist (one warning names the first ones). Rows
        naming something that is not a regular file (a folder, a FIFO, a broken symbolic link)
        are kept, with one warning, so that embedding records them as failed with a reason.
    """
    csv_path = Path(csv_path)
    base = Path(root) if root is not None else csv_path.parent
    header, lines = read_csv(csv_path, "manifest")
    expected = (
        f"a CSV with a 'path' column (image paths relative to {base}) and optional label "
        "columns subject, expression, gender, ethnicity, age"
    )
    if "path" not in header:
        joined = "".join(header)
        separator = next((f" (it uses {s!r} as separator?)" for s in ";\t" if s in joined), "")
        raise DatasetLayoutError(
            f"manifest {csv_path}: no 'path' column (columns: {header}){separator}; "
            f"expected {expected}"
        )
    if bad_lines := [n for n, row in lines if len(row) != len(header)]:
        raise DatasetLayoutError(
            f"manifest {csv_path}: lines {bad_lines[:5]} do not have {len(header)} fields "
            f"(the header has {len(header)} columns); expected {expected}"
        )
    numbers = [n for n, _ in lines]
    raw = {name: [row[k].strip() or None for _, row in lines] for k, name in enumerate(header)}
    paths = [p.replace("\\", "/") if p else "" for p in raw["path"]]
    if empty := [n for n, p in zip(numbers, paths, strict=True) if not p]:
        raise DatasetLayoutError(
            f"manifest {csv_path}: empty path on lines {empty[:5]}; give every row an image"
        )
    _check_inside(csv_path, base, numbers, paths, allow_outside_root)

    keep, missing, odd = [], [], []
    for number, path in zip(numbers, paths, strict=True):
        try:
            what = _not_a_file(base / path)
        except FileNotFoundError:
            missing.append(path)
            keep.append(False)
            continue
        keep.append(True)
        if what is not None:
            odd.append(f"line {number} {path!r} ({what})")
    warn_skipped(
        f"manifest rows of {csv_path.name} whose image does not exist",
        missing,
        f"files relative to {base}",
    )
    if odd:
        warnings.warn(
            f"{len(odd)} manifest rows of {csv_path} name something that cannot be read as an "
            f"image file ({'; '.join(odd[:3])}{'; ...' if len(odd) > 3 else ''}); they are kept "
            "and embedding records them as failed: fix the paths or remove the rows",
            DatasetWarning,
            stacklevel=2,
        )
    raw = {name: [v for v, k in zip(vs, keep, strict=True) if k] for name, vs in raw.items()}
    raw["path"] = [p for p, k in zip(paths, keep, strict=True) if k]

    columns = _schema_columns(csv_path, raw, label_map)
    extra = [name for name in header if name not in SCHEMA_COLUMNS]
    columns |= {name: raw[name] for name in extra}
    table = make_table(csv_path.stem, columns, dict.fromkeys(extra, "string"), sort=False)
    table.attrs["root"] = str(base)
    table.attrs["skipped_rows"] = len(missing)
    return table


def _check_inside(
    csv_path: Path, base: Path, numbers: list[int], paths: list[str], allowed: bool
) -> None:
    """Refuse paths that leave ``base`` (absolute, or ``..`` above it) unless ``allowed``."""
    outside = [
        f"line {n} {p!r} ({why})"
        for n, p in zip(numbers, paths, strict=True)
        if (why := _outside(p)) is not None
    ]
    if outside and not allowed:
        raise DatasetLayoutError(
            f"manifest {csv_path}: {len(outside)} paths leave the root {base}: "
            f"{'; '.join(outside[:3])}{'; ...' if len(outside) > 3 else ''}; give paths "
            "relative to the root (the manifest's folder unless a root / --data-root is given), "
            "pass a root that holds the images, or accept them with allow_outside_root=True "
            "(--allow-outside-root)"
        )


def _schema_columns(
    csv_path: Path, raw: dict[str, list[str | None]], label_map: Mapping[str, str] | None
) -> dict[str, list[str | None] | list[float | None]]:
    """The schema columns a manifest provides, normalised; unknown labels are warned about."""
    columns: dict[str, list[str | None] | list[float | None]] = {"path": raw["path"]}
    if "dataset" in raw:
        columns["dataset"] = [v or csv_path.stem for v in raw["dataset"]]
    if "subject" in raw:
        columns["subject"] = raw["subject"]
    if "expression" in raw:
        columns["expression"] = normalize_expressions(
            raw["expression"], label_map, source=str(csv_path)
        )
        columns["expression_source"] = raw["expression"]
    if "gender" in raw:
        columns["gender"] = [normalize_gender(v) for v in raw["gender"]]
        columns["gender_source"] = raw["gender"]
        unknown = Counter(
            v for v, g in zip(raw["gender"], columns["gender"], strict=True) if v and not g
        )
        warn_unknown("gender labels", unknown, str(csv_path), "use male/m/man or female/f/woman")
    for name in ("expression_source", "gender_source"):
        if name in raw:
            columns[name] = raw[name]
    if "ethnicity" in raw:
        ethnicity = [v.lower() if v else None for v in raw["ethnicity"]]
        columns["ethnicity"] = ethnicity
        columns["ethnicity_group"] = [ethnicity_group(v) for v in ethnicity]
    if "ethnicity_group" in raw:
        groups = raw["ethnicity_group"]
        columns["ethnicity_group"] = [v if v in ETHNICITY_GROUPS else None for v in groups]
        unknown = Counter(v for v in groups if v and v not in ETHNICITY_GROUPS)
        warn_unknown(
            "ethnicity_group labels", unknown, str(csv_path), f"use {', '.join(ETHNICITY_GROUPS)}"
        )
    if "age" in raw:
        columns["age"] = _ages(csv_path, raw["age"])
    return columns


def _ages(csv_path: Path, values: list[str | None]) -> list[float | None]:
    """Ages in years; anything that is not a finite number is a :class:`DatasetLayoutError`."""
    ages: list[float | None] = []
    bad: list[str] = []
    for value in values:
        try:
            age = None if value is None else float(value)
        except ValueError:
            age = math.nan
        if age is not None and not math.isfinite(age):
            bad.append(str(value))
        ages.append(age)
    if bad:
        raise DatasetLayoutError(
            f"manifest {csv_path}: non-numeric ages {bad[:3]}; expected numbers (years)"
        )
    return ages
