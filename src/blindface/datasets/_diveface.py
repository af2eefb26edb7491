"""DiveFace (Morales et al. 2020): MegaFace identities balanced over gender x 3 ethnic groups.

As distributed by BiDA Lab the images sit in one folder per class, ``4K_120/<class>/
<identity>/<image>.jpg``, with classes ``HA4K_120``, ``HB4K_120``, ``HN4K_120``, ``MA4K_120``,
``MB4K_120``, ``MN4K_120``: H (hombre) male / M (mujer) female x A asian / B blanco (white) /
N negro (black). The repository script ``create_diveface.py`` instead builds
``<class>/<identity>/<image>.jpg`` with classes ``Group1_Male`` ... ``Group3_Female``
(Group 1 East Asian, 2 Sub-Saharan and South Indian, 3 Caucasian). Both are read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
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
)
from blindface.datasets._schema import ethnicity_group, make_table, warn_skipped

_CODED = re.compile(r"^([HM])([ABN])\d+K(_\d+)?$", re.IGNORECASE)
_GROUPED = re.compile(r"^Group([123])_(Male|Female)(_balanced)?$", re.IGNORECASE)
_GENDER_CODES = {"H": "male", "M": "female"}
_ETHNICITY_CODES = {"A": "asian", "B": "caucasian", "N": "black"}
_GROUP_ETHNICITY = {"1": "asian", "2": "black", "3": "caucasian"}


def _class_labels(name: str) -> tuple[str, str] | None:
    """``(gender, ethnicity)`` of a DiveFace class folder name, or ``None``."""
    if match := _CODED.match(name):
        return _GENDER_CODES[match.group(1).upper()], _ETHNICITY_CODES[match.group(2).upper()]
    if match := _GROUPED.match(name):
        return match.group(2).lower(), _GROUP_ETHNICITY[match.group(1)]
    return None


def _class_dirs(folder: Path) -> list[tuple[Path, tuple[str, str]]]:
    """Class folders with their ``(gender, ethnicity)``, directly in ``folder`` or one level
    down (``4K_120/HA4K_120``)."""

    def labelled(candidates: Iterator[Path]) -> list[tuple[Path, tuple[str, str]]]:
        return [(c, labels) for c in candidates if (labels := _class_labels(c.name))]

    found = labelled(subdirs(folder))
    if not found:
        found = labelled(c for sub in subdirs(folder) for c in subdirs(sub))
    return found


DIVEFACE = Layout(
    title="DiveFace",
    folders=("diveface", "DiveFace"),
    expected=(
        "<class>/<identity>/<image>.jpg with class folders HA4K_120, HB4K_120, HN4K_120, "
        "MA4K_120, MB4K_120, MN4K_120 (optionally inside 4K_120/) or Group1_Male ... "
        "Group3_Female"
    ),
    looks_like=lambda folder: bool(_class_dirs(folder)),
)


@reports_problems
def load_diveface(root: str | os.PathLike[str]) -> pd.DataFrame:
    """DiveFace table: subject = identity folder, gender and ethnicity from the class folder.

    ``ethnicity`` is ``asian``, ``black`` or ``caucasian``; ``ethnicity_group`` maps them to
    ``east_asian``, ``sub_saharan_south_indian`` and ``caucasian``. Expression is NA. Extra
    column: ``group`` (the class folder name).
    """
    root = Path(root)
    folder = DIVEFACE.locate(root)
    classes = _class_dirs(folder)
    if not classes:
        raise DIVEFACE.error(folder, "found no class folders")
    rows: dict[str, list] = {
        k: [] for k in ("path", "subject", "gender", "gender_source", "ethnicity", "group")
    }
    bad: list[str] = []
    for class_dir, (gender, ethnicity) in classes:
        for entry in entries(class_dir):
            if entry.is_file():
                bad.append(f"{class_dir.name}/{entry.name}")
                continue
            identity = Path(entry.path)
            prefix = relative_posix(identity, root)
            for image in entries(identity):
                if image.is_file() and Path(image.name).suffix.lower() in IMAGE_SUFFIXES:
                    rows["path"].append(join_posix(prefix, image.name))
                    rows["subject"].append(identity.name)
                    rows["gender"].append(gender)
                    rows["gender_source"].append(class_dir.name)
                    rows["ethnicity"].append(ethnicity)
                    rows["group"].append(class_dir.name)
    warn_skipped("DiveFace files outside an identity folder", bad, "<class>/<identity>/<image>.jpg")
    if not rows["path"]:
        raise DIVEFACE.error(folder, "found class folders but no <identity>/<image> files")
    rows["ethnicity_group"] = [ethnicity_group(e) for e in rows["ethnicity"]]
    return make_table("diveface", rows, {"group": "string"})
