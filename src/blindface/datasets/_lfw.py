"""LFW (Huang et al. 2007): identities, optional expression labels and the official pair lists."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from blindface.datasets._layout import (
    IMAGE_SUFFIXES,
    Layout,
    child,
    entries,
    join_posix,
    relative_posix,
    reports_problems,
    subdirs,
)
from blindface.datasets._schema import (
    DatasetLayoutError,
    make_table,
    normalize_expressions,
    warn_skipped,
)
from blindface.datasets._text import read_csv, read_text

_IMAGE = re.compile(r"^(.+)_(\d{4})\.(jpe?g|png)$", re.IGNORECASE)
_IMAGE_FOLDERS = ("lfw", "lfw-deepfunneled", "lfw_funneled", "lfw-funneled", "lfw-a")
PAIR_FILES = {"devtrain": "pairsDevTrain.txt", "devtest": "pairsDevTest.txt", "view2": "pairs.txt"}
LABELS_FILE = "expressions.csv"


def _is_person(folder: Path) -> bool:
    return any(
        (m := _IMAGE.match(e.name)) is not None and m.group(1) == folder.name
        for e in entries(folder)
    )


def _is_people_root(folder: Path) -> bool:
    """A folder of ``<Name>/<Name>_NNNN.jpg`` identity folders (checks the first few)."""
    return any(_is_person(sub) for _, sub in zip(range(5), subdirs(folder), strict=False))


def _images_dir(folder: Path) -> Path | None:
    inner = child(folder, *_IMAGE_FOLDERS)
    if inner is not None and _is_people_root(inner):
        return inner
    return folder if _is_people_root(folder) else None


LFW = Layout(
    title="LFW",
    folders=("lfw",),
    expected=(
        "lfw/<Name>/<Name>_NNNN.jpg, optionally expressions.csv (image,emotion) and the pair "
        "lists pairsDevTrain.txt, pairsDevTest.txt, pairs.txt beside lfw/"
    ),
    looks_like=lambda folder: _images_dir(folder) is not None,
)


def _locate(root: Path) -> tuple[Path, Path]:
    folder = LFW.locate(root)
    images = _images_dir(folder)
    if images is None:
        raise LFW.error(folder, "found no <Name>/<Name>_NNNN.jpg identity folders")
    return folder, images


def _read_labels(path: Path) -> dict[str, str]:
    """``expressions.csv`` as ``{"<Name>/<Name>_NNNN.jpg": emotion}``; the first labelled row
    of an image wins, empty emotions are no label."""
    header, rows = read_csv(path, "LFW labels")
    if not {"image", "emotion"} <= set(header):
        raise DatasetLayoutError(
            f"LFW labels {path}: header {header}; expected columns image,emotion "
            "with image as <Name>/<Name>_NNNN.jpg"
        )
    image, emotion = header.index("image"), header.index("emotion")
    if short := [n for n, row in rows if len(row) <= max(image, emotion)]:
        raise DatasetLayoutError(
            f"LFW labels {path}: lines {short[:5]} have no {header[max(image, emotion)]} "
            "field; expected image,emotion on every line"
        )
    labels: dict[str, str] = {}
    for _, row in rows:
        if row[emotion].strip():
            labels.setdefault(row[image].strip(), row[emotion].strip())
    return labels


@reports_problems
def load_lfw(root: str | os.PathLike[str]) -> pd.DataFrame:
    """LFW table: one row per ``lfw/<Name>/<Name>_NNNN.jpg``, subject = Name.

    Expression labels come from ``expressions.csv`` (``image,emotion``, image relative to the
    image folder; UTF-8, else read as Latin-1 with a warning) beside the image folder when
    present; images without a label get NA, unknown labels NA with one warning.
    Extra column: ``image_number`` (the NNNN of the name).
    """
    root = Path(root)
    folder, images = _locate(root)
    labels_file = child(folder, LABELS_FILE, kind="file")
    labels = _read_labels(labels_file) if labels_file is not None else {}
    prefix = relative_posix(images, root)
    rows: dict[str, list] = {
        k: [] for k in ("path", "subject", "expression_source", "image_number")
    }
    bad: list[str] = []
    for person in subdirs(images):
        for entry in entries(person):
            if not entry.is_file() or Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            match = _IMAGE.match(entry.name)
            if match is None or match.group(1) != person.name:
                bad.append(f"{person.name}/{entry.name}")
                continue
            rows["path"].append(join_posix(prefix, person.name, entry.name))
            rows["subject"].append(person.name)
            rows["expression_source"].append(labels.get(f"{person.name}/{entry.name}"))
            rows["image_number"].append(int(match.group(2)))
    warn_skipped("LFW files with a malformed name", bad, "<Name>/<Name>_NNNN.jpg")
    rows["expression"] = normalize_expressions(rows["expression_source"], source=str(labels_file))
    return make_table("lfw", rows, {"image_number": "Int64"})


def _parse_pairs(path: Path, view: str) -> list[tuple[int, bool, str, int, str, int]]:
    """``(fold, same, name_a, i, name_b, j)`` per line of an official LFW pair list."""
    text = read_text(path, "LFW pair list")
    lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, fields) for n, fields in lines if fields]

    def fail(message: str) -> DatasetLayoutError:
        return DatasetLayoutError(
            f"LFW pair list {path}: {message}; expected a count line ('N' for View-1, "
            "'10 300' for View-2), then per fold N matched lines 'name<TAB>i<TAB>j' followed "
            "by N mismatched lines 'name1<TAB>i<TAB>name2<TAB>j'"
        )

    if not lines:
        raise fail("the file is empty")
    header = lines[0][1]
    if not all(h.isdigit() for h in header) or len(header) != (2 if view == "view2" else 1):
        raise fail(f"line 1 is {' '.join(header)!r}, not a count line")
    n_folds, n = (int(header[0]), int(header[1])) if view == "view2" else (1, int(header[0]))
    body = lines[1:]
    if len(body) != 2 * n * n_folds:
        raise fail(f"{len(body)} pair lines where the count line announces {2 * n * n_folds}")
    pairs = []
    for k, (number, fields) in enumerate(body):
        fold, same = k // (2 * n), (k % (2 * n)) < n
        try:
            if same and len(fields) == 3:
                pairs.append((fold, True, fields[0], int(fields[1]), fields[0], int(fields[2])))
            elif not same and len(fields) == 4:
                pairs.append((fold, False, fields[0], int(fields[1]), fields[2], int(fields[3])))
            else:
                raise ValueError
        except ValueError:
            kind = "matched 'name i j'" if same else "mismatched 'name1 i name2 j'"
            raise fail(f"line {number} {' '.join(fields)!r} is not a {kind} pair") from None
    return pairs


@reports_problems
def load_lfw_pairs(
    root: str | os.PathLike[str], view: Literal["devtrain", "devtest", "view2"] = "devtest"
) -> pd.DataFrame:
    """An official LFW pair list as a table of image pairs.

    Parameters
    ----------
    root : path
        The data root (holding ``lfw/``) or the LFW folder itself.
    view : {"devtrain", "devtest", "view2"}
        View-1 ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` or View-2 ``pairs.txt`` (10 folds).

    Returns
    -------
    pandas.DataFrame
        Columns ``path_a``, ``path_b`` (relative to ``root``, like ``path`` in the image table),
        ``same`` (bool) and ``fold`` (0 for View-1, 0..9 for View-2), in file order. Pairs
        with a missing image are skipped with a warning; ``df.attrs["skipped"]`` counts them.
    """
    if view not in PAIR_FILES:
        raise ValueError(f"view must be one of {sorted(PAIR_FILES)}, got {view!r}")
    root = Path(root)
    folder, images = _locate(root)
    name = PAIR_FILES[view]
    path = child(folder, name, kind="file") or child(images, name, kind="file")
    if path is None:
        raise LFW.error(folder, f"found no {name} (the {view} pair list)")
    prefix = relative_posix(images, root)
    columns: dict[str, list] = {"path_a": [], "path_b": [], "same": [], "fold": []}
    skipped: list[str] = []
    pairs = _parse_pairs(path, view)
    for fold, same, name_a, i, name_b, j in pairs:
        a = join_posix(prefix, name_a, f"{name_a}_{i:04d}.jpg")
        b = join_posix(prefix, name_b, f"{name_b}_{j:04d}.jpg")
        if not ((root / a).is_file() and (root / b).is_file()):
            skipped.append(f"{name_a} {i} {name_b} {j}")
            continue
        columns["path_a"].append(a)
        columns["path_b"].append(b)
        columns["same"].append(same)
        columns["fold"].append(fold)
    warn_skipped(
        f"of {len(pairs)} LFW pairs in {path.name} with a missing image",
        skipped,
        "both images under lfw/<name>/<name>_NNNN.jpg",
    )
    table = pd.DataFrame(
        {
            "path_a": pd.Series(columns["path_a"], dtype="string"),
            "path_b": pd.Series(columns["path_b"], dtype="string"),
            "same": np.array(columns["same"], dtype=bool),
            "fold": np.array(columns["fold"], dtype=np.int64),
        }
    )
    table.attrs["skipped"] = len(skipped)
    return table
