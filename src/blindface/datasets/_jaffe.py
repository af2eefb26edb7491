"""JAFFE: 10 Japanese women posing 6 basic expressions and neutral (Lyons et al. 1998)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from blindface.datasets._layout import (
    Layout,
    entries,
    flat_image_folder,
    join_posix,
    relative_posix,
    reports_problems,
)
from blindface.datasets._schema import make_table, normalize_expression, warn_skipped

# KA.AN1.39.tiff = subject KA, expression AN, take 1, picture number 39
_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.tiff?$", re.IGNORECASE)
# The JAFFE expression codes, as words for the shared synonym table.
_CODES = {
    "NE": "neutral",
    "HA": "happy",
    "SA": "sad",
    "SU": "surprise",
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
}


def _images_dir(folder: Path) -> Path | None:
    return flat_image_folder(folder, _NAME, "jaffedbase", "jaffe")


JAFFE = Layout(
    title="JAFFE",
    folders=("jaffe", "jaffedbase"),
    expected="jaffedbase/<SS>.<EX><take>.<number>.tiff (e.g. KA.AN1.39.tiff)",
    looks_like=lambda folder: _images_dir(folder) is not None,
)


@reports_problems
def load_jaffe(root: str | os.PathLike[str]) -> pd.DataFrame:
    """JAFFE table: labels from the file names (``KA.AN1.39.tiff`` = subject KA, angry).

    Every subject is a Japanese woman: gender ``female``, ethnicity ``japanese``, group
    ``east_asian``. Extra columns: ``take`` and ``picture`` (the numbers in the name).
    """
    root = Path(root)
    folder = JAFFE.locate(root)
    images = _images_dir(folder)
    if images is None:
        raise JAFFE.error(folder, "found no JAFFE image files")
    prefix = relative_posix(images, root)
    rows: dict[str, list] = {
        k: [] for k in ("path", "subject", "expression", "expression_source", "take", "picture")
    }
    bad: list[str] = []
    for entry in entries(images):
        if not entry.is_file() or Path(entry.name).suffix.lower() not in {".tif", ".tiff"}:
            continue
        match = _NAME.match(entry.name)
        if match is None or match.group(2).upper() not in _CODES:
            bad.append(entry.name)
            continue
        code = match.group(2).upper()
        rows["path"].append(join_posix(prefix, entry.name))
        rows["subject"].append(match.group(1).upper())
        rows["expression"].append(normalize_expression(_CODES[code]))
        rows["expression_source"].append(code)
        rows["take"].append(int(match.group(3)))
        rows["picture"].append(int(match.group(4)))
    warn_skipped(
        "JAFFE files with a malformed name",
        bad,
        f"<SS>.<EX><take>.<number>.tiff with EX in {sorted(_CODES)}",
    )
    n = len(rows["path"])
    rows |= {
        "gender": ["female"] * n,
        "gender_source": ["female"] * n,
        "ethnicity": ["japanese"] * n,
        "ethnicity_group": ["east_asian"] * n,
    }
    return make_table("jaffe", rows, {"take": "Int64", "picture": "Int64"})
