"""Taiwanese professional performers (Chen, Cho & Tseng 2013): the posed expression is in each
file name, the expression observers perceived in ``Image_info.xls``.

The release is ``faces_256x256/<id><type><view><expr><nn>.jpg`` (``0121c01.jpg``): performer
id 01-30, performance type (0 neutral/calm, 1 theatrical, 2 Ekman's FACS criteria, 3 personal
event), view (1 front, 2 three-quarter, 3 profile), posed expression ``a``-``g`` and take
number. Nine neutral files carry ``0`` instead of ``a`` as expression (``1201002.jpg``);
``Image_info.xls`` lists every image as ``.tif`` and those nine as ``1201a02.tif``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from blindface.datasets._layout import (
    IMAGE_SUFFIXES,
    Layout,
    child,
    entries,
    flat_image_folder,
    join_posix,
    relative_posix,
    reports_problems,
)
from blindface.datasets._schema import (
    DatasetWarning,
    ethnicity_group,
    make_table,
    normalize_expression,
    warn_skipped,
)

_NAME = re.compile(r"^(\d{2})([0-3])([1-3])([a-g0])(\d{2})\.(jpe?g|png|tiff?|bmp)$", re.IGNORECASE)
# The posed-expression letters of the file names (Readme.txt), as words for the synonym table.
_POSED = {
    "a": "neutral",
    "b": "happy",
    "c": "sad",
    "d": "angry",
    "e": "disgusted",
    "f": "fearful",
    "g": "surprised",
}
PERFORMANCE_TYPES: tuple[str, ...] = ("neutral", "theatrical", "facs", "personal_event")
"""Names of the performance types 0-3 (calm, theatrical, Ekman's FACS criteria, personal
event), the ``performance_type_name`` column."""
PERCEIVED_CATEGORIES: tuple[str, ...] = (
    "happy",
    "sad",
    "angry",
    "disgusted",
    "fearful",
    "surprised",
)
"""``maxIntCategory`` 1-6 of ``Image_info.xls`` (observers had no neutral category)."""
IMAGE_INFO = "Image_info.xls"
# Image_info.xls columns read: image, perceived category (1-6), its intensity, observers' entropy
_INFO_COLUMNS = ("file_name", "maxIntCategory", "maxInt", "EntropyVal")
_INSTALL = "pip install 'blindface[xls]' (or pip install xlrd)"
_EXTRA = {
    "performance_type": "Int64",
    "performance_type_name": "string",
    "view": "Int64",
    "take": "Int64",
    "perceived_expression": "string",
    "perceived_intensity": "Float64",
    "perceived_entropy": "Float64",
}


def _images_dir(folder: Path) -> Path | None:
    return flat_image_folder(folder, _NAME, "faces_256x256", "faces")


TAIWANESE = Layout(
    title="Taiwanese",
    folders=("taiwanese",),
    expected=(
        "faces_256x256/<id 01-30><type 0-3><view 1-3><expression a-g><take NN>.jpg "
        f"(e.g. 0121c01.jpg), optionally {IMAGE_INFO} beside it"
    ),
    looks_like=lambda folder: _images_dir(folder) is not None,
)


@dataclass(frozen=True)
class Perceived:
    """What the observers of one image reported (``Image_info.xls``)."""

    expression: str | None
    intensity: float | None
    entropy: float | None


def _number(value: object) -> float | None:
    """A spreadsheet cell as a float; blank, ``N/A`` and text are None."""
    return float(value) if isinstance(value, (int, float)) else None


def _perceived_labels(rows: Sequence[Sequence[object]], source: str) -> dict[str, Perceived]:
    """The perceived labels of ``Image_info.xls`` rows (the header row first), keyed by the
    image name without suffix, lower-case (``0121c01``).

    A sheet without the needed columns gives ``{}`` and one :class:`DatasetWarning` naming
    ``source``.
    """
    header = [str(cell).strip() for cell in rows[0]] if rows else []
    if missing := [name for name in _INFO_COLUMNS if name not in header]:
        warnings.warn(
            f"{source} has no column {', '.join(missing)} in its first row (found {header[:8]}); "
            "the perceived_* columns are left missing: use the Image_info.xls of the release",
            DatasetWarning,
            stacklevel=3,
        )
        return {}
    file, category, intensity, entropy = (header.index(name) for name in _INFO_COLUMNS)
    labels: dict[str, Perceived] = {}
    for row in rows[1:]:
        name = str(row[file]).strip().lower()
        if not name:
            continue
        code = _number(row[category])
        expression = None
        if code is not None and code in range(1, len(PERCEIVED_CATEGORIES) + 1):
            expression = normalize_expression(PERCEIVED_CATEGORIES[int(code) - 1])
        labels[name.rsplit(".", 1)[0]] = Perceived(
            expression=expression,
            intensity=_number(row[intensity]),
            entropy=_number(row[entropy]),
        )
    return labels


def _read_image_info(path: Path) -> dict[str, Perceived]:
    """:func:`_perceived_labels` of the first sheet of ``path``; ``{}`` with one warning when
    xlrd is not installed or the file cannot be read."""
    try:
        import xlrd
    except ImportError:
        warnings.warn(
            f"{path} holds the perceived expressions but reading .xls files needs xlrd: "
            f"{_INSTALL}; the perceived_* columns are left missing",
            DatasetWarning,
            stacklevel=4,
        )
        return {}
    try:
        sheet = xlrd.open_workbook(str(path)).sheet_by_index(0)
        rows = [sheet.row_values(r) for r in range(sheet.nrows)]
    except Exception as error:  # xlrd raises many types on a damaged or mislabelled file
        warnings.warn(
            f"{path} cannot be read as a legacy Excel .xls file ({error}); the perceived_* "
            "columns are left missing: restore the file from the release",
            DatasetWarning,
            stacklevel=4,
        )
        return {}
    return _perceived_labels(rows, str(path))


@reports_problems
def load_taiwanese(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Taiwanese performers table: subject = performer id (``"01"``), posed expression from
    the file name (``expression_source`` the letter, ``0`` for the nine coded neutrals).

    Every performer is Taiwanese: ethnicity ``taiwanese``, group ``east_asian``; gender is
    not labelled (NA). Extra columns: ``performance_type`` (0-3) and ``performance_type_name``
    (:data:`PERFORMANCE_TYPES`), ``view`` (1 front), ``take``, and from ``Image_info.xls``
    when present ``perceived_expression`` (``maxIntCategory``; never neutral),
    ``perceived_intensity`` (``maxInt``) and ``perceived_entropy`` (``EntropyVal``), NA
    otherwise. Reading the .xls needs the optional xlrd (``pip install 'blindface[xls]'``).
    """
    root = Path(root)
    folder = TAIWANESE.locate(root)
    images = _images_dir(folder)
    if images is None:
        raise TAIWANESE.error(folder, "found no Taiwanese image files")
    info_file = child(folder, IMAGE_INFO, kind="file")
    perceived = _read_image_info(info_file) if info_file is not None else {}
    prefix = relative_posix(images, root)
    rows: dict[str, list] = {k: [] for k in ("path", "subject", "expression_source", *_EXTRA)}
    bad: list[str] = []
    unlisted: list[str] = []
    for entry in entries(images):
        if not entry.is_file() or Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        match = _NAME.match(entry.name)
        if match is None or (match.group(4) == "0" and match.group(2) != "0"):
            bad.append(entry.name)
            continue
        performer, kind, view, code, take = match.groups()[:5]
        code = code.lower()
        letter = "a" if code == "0" else code
        found = perceived.get(f"{performer}{kind}{view}{letter}{take}")
        if perceived and found is None:
            unlisted.append(entry.name)
        rows["path"].append(join_posix(prefix, entry.name))
        rows["subject"].append(performer)
        rows["expression_source"].append(code)
        rows["performance_type"].append(int(kind))
        rows["performance_type_name"].append(PERFORMANCE_TYPES[int(kind)])
        rows["view"].append(int(view))
        rows["take"].append(int(take))
        rows["perceived_expression"].append(found.expression if found else None)
        rows["perceived_intensity"].append(found.intensity if found else None)
        rows["perceived_entropy"].append(found.entropy if found else None)
    warn_skipped(
        "Taiwanese files with a malformed name",
        bad,
        "<id 01-30><type 0-3><view 1-3><expression a-g, or 0 for type 0><take NN>.jpg",
    )
    if unlisted:
        warnings.warn(
            f"{len(unlisted)} Taiwanese images are not listed in {info_file} "
            f"({', '.join(unlisted[:3])}{', ...' if len(unlisted) > 3 else ''}); their "
            "perceived_* columns are left missing",
            DatasetWarning,
            stacklevel=3,
        )
    if not rows["path"]:
        raise TAIWANESE.error(folder, "found no Taiwanese image files")
    n = len(rows["path"])
    rows["expression"] = [
        normalize_expression(_POSED["a" if c == "0" else c]) for c in rows["expression_source"]
    ]
    rows["ethnicity"] = ["taiwanese"] * n
    rows["ethnicity_group"] = [ethnicity_group("taiwanese")] * n
    return make_table("taiwanese", rows, _EXTRA)
