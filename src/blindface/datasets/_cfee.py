"""CFEE: Compound Facial Expressions of Emotion (Du, Tao & Martinez, PNAS 2014).

The database (230 subjects x 22 categories) is distributed by the OSU CBCSL as
``CFEE_Database_230/<dd-dd>/Images<k>/<cc>_<sss>_<n>.jpg``: ``cc`` is the two-digit category
(01-22), ``sss`` the three-digit subject, ``n`` an image number; the ``<dd-dd>`` and
``Images<k>`` folders only split the files into archives, so they are not used as labels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from blindface.datasets._layout import (
    IMAGE_SUFFIXES,
    Layout,
    entries,
    join_posix,
    relative_posix,
    reports_problems,
    subdirs,
    walk,
)
from blindface.datasets._schema import make_table, normalize_expression, warn_skipped

_NAME = re.compile(r"^(\d{2})_(\d{3})_(\d+)\.(jpe?g|png|tiff?|bmp)$", re.IGNORECASE)
_RANGE_FOLDER = re.compile(r"^\d{2}-\d{2}$")

CFEE_CATEGORIES: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "fearful",
    "angry",
    "surprised",
    "disgusted",
    "happily surprised",
    "happily disgusted",
    "sadly fearful",
    "sadly angry",
    "sadly surprised",
    "sadly disgusted",
    "fearfully angry",
    "fearfully surprised",
    "fearfully disgusted",
    "angrily surprised",
    "angrily disgusted",
    "disgustedly surprised",
    "appalled",
    "hatred",
    "awed",
)
"""CFEE categories 01-22 in the order of Du, Tao & Martinez (2014), Fig. 1 / Table 1:
neutral, the 6 basic and the 15 compound expressions."""


def _has_images(folder: Path) -> bool:
    return any(e.is_file() and _NAME.match(e.name) for e in entries(folder))


def _looks_like(folder: Path) -> bool:
    for sub in subdirs(folder):
        name = sub.name.lower()
        if name.startswith("cfee_database") or _RANGE_FOLDER.match(name):
            return True
        if name.startswith("images") and _has_images(sub):
            return True
    return _has_images(folder)


CFEE = Layout(
    title="CFEE",
    folders=("cfee", "CFEE_Database_230"),
    expected=(
        "CFEE_Database_230/<dd-dd>/Images<k>/<category 01-22>_<subject ###>_<n>.jpg "
        "(e.g. 01-04/Images1/02_339_3470.jpg)"
    ),
    looks_like=_looks_like,
)


@reports_problems
def load_cfee(root: str | os.PathLike[str]) -> pd.DataFrame:
    """CFEE table: subject and category from each file name, anywhere below the CFEE folder.

    ``expression_source`` is the category name (:data:`CFEE_CATEGORIES`); ``expression`` is
    set for neutral and the 6 basic categories (happy, sad, fear, angry, surprise, disgust)
    and NA for the 15 compound ones. Extra column: ``category`` (1-22). Gender and ethnicity
    are not labelled (NA).
    """
    root = Path(root)
    folder = CFEE.locate(root)
    rows: dict[str, list] = {
        k: [] for k in ("path", "subject", "expression", "expression_source", "category")
    }
    bad: list[str] = []
    for directory, files in walk(folder):
        prefix = relative_posix(directory, root)
        for name in (e.name for e in files):
            if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            match = _NAME.match(name)
            if match is None or not 1 <= int(match.group(1)) <= len(CFEE_CATEGORIES):
                bad.append(name)
                continue
            category = int(match.group(1))
            source = CFEE_CATEGORIES[category - 1]
            rows["path"].append(join_posix(prefix, name))
            rows["subject"].append(match.group(2))
            rows["expression"].append(normalize_expression(source))
            rows["expression_source"].append(source)
            rows["category"].append(category)
    warn_skipped(
        "CFEE image files with a malformed name",
        bad,
        "<category 01-22>_<subject ###>_<n>.jpg",
    )
    if not rows["path"]:
        raise CFEE.error(folder, "found no CFEE image files")
    return make_table("cfee", rows, {"category": "Int64"})
