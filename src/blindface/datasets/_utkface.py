"""UTKFace (Zhang et al. 2017): age, gender and race in the file name, no identities."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from blindface.datasets._layout import (
    IMAGE_SUFFIXES,
    Layout,
    entries,
    flat_image_folder,
    join_posix,
    relative_posix,
    reports_problems,
)
from blindface.datasets._schema import ethnicity_group, make_table, warn_skipped

# 25_1_3_20170119171230138.jpg.chip.jpg = age 25, female, Indian, date taken
_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_(\d+)\.jpg(\.chip\.jpg)?$", re.IGNORECASE)
_GENDERS = ("male", "female")
RACES: tuple[str, ...] = ("white", "black", "asian", "indian", "others")
"""UTKFace race codes 0-4, as the lower-case ``ethnicity`` labels."""


def _images_dir(folder: Path) -> Path | None:
    return flat_image_folder(folder, _NAME, "UTKFace", "crop_part1")


UTKFACE = Layout(
    title="UTKFace",
    folders=("utkface", "UTKFace"),
    expected="UTKFace/<age>_<gender 0|1>_<race 0-4>_<date>.jpg.chip.jpg",
    looks_like=lambda folder: _images_dir(folder) is not None,
)


@reports_problems
def load_utkface(root: str | os.PathLike[str]) -> pd.DataFrame:
    """UTKFace table: age, gender (0 male, 1 female) and race (0 White, 1 Black, 2 Asian,
    3 Indian, 4 Others) from the file names; subject NA (no identity labels).

    Groups: white -> caucasian, black and indian -> sub_saharan_south_indian, asian ->
    east_asian, others -> NA. Files with a malformed name (e.g. no race field) are skipped
    with one warning.
    """
    root = Path(root)
    folder = UTKFACE.locate(root)
    images = _images_dir(folder)
    if images is None:
        raise UTKFACE.error(folder, "found no UTKFace image files")
    prefix = relative_posix(images, root)
    rows: dict[str, list] = {k: [] for k in ("path", "age", "gender_source", "ethnicity")}
    bad: list[str] = []
    for entry in entries(images):
        if not entry.is_file() or Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        match = _NAME.match(entry.name)
        if match is None:
            bad.append(entry.name)
            continue
        rows["path"].append(join_posix(prefix, entry.name))
        rows["age"].append(float(match.group(1)))
        rows["gender_source"].append(match.group(2))
        rows["ethnicity"].append(RACES[int(match.group(3))])
    warn_skipped(
        "UTKFace files with a malformed name",
        bad,
        "<age>_<gender 0|1>_<race 0-4>_<date>.jpg.chip.jpg",
    )
    rows["gender"] = [_GENDERS[int(g)] for g in rows["gender_source"]]
    rows["ethnicity_group"] = [ethnicity_group(e) for e in rows["ethnicity"]]
    return make_table("utkface", rows)
