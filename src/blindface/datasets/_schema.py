"""The uniform image table: column names, label vocabularies, normalisation and construction."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "angry",
    "disgust",
    "fear",
    "contempt",
)
"""The 8 normalised expression names, in this order."""

ETHNICITY_GROUPS: tuple[str, ...] = ("east_asian", "sub_saharan_south_indian", "caucasian")
"""The three DiveFace ethnic groups used by the paper."""

GENDERS: tuple[str, ...] = ("male", "female")

SCHEMA_COLUMNS: tuple[str, ...] = (
    "dataset",
    "path",
    "subject",
    "expression",
    "expression_source",
    "gender",
    "gender_source",
    "ethnicity",
    "ethnicity_group",
    "age",
)
"""Columns every table has, in this order; dataset-specific columns follow."""

EXPRESSION_SYNONYMS: dict[str, str] = {
    # neutral
    "neutral": "neutral",
    "normal": "neutral",
    "calm": "neutral",
    # happy
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "smile": "happy",
    "smiling": "happy",
    # sad
    "sad": "sad",
    "sadness": "sad",
    # surprise
    "surprise": "surprise",
    "surprised": "surprise",
    # angry
    "angry": "angry",
    "anger": "angry",
    # disgust
    "disgust": "disgust",
    "disgusted": "disgust",
    # fear
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    # contempt
    "contempt": "contempt",
    "contemptuous": "contempt",
}
"""The one mapping of raw expression labels onto :data:`EXPRESSIONS` (keys lower-case, spaces
and hyphens as ``_``). Every loader, the CSV manifest and ``blindface fit`` use it; anything else
needs a label map (``--label-map FILE``)."""


def _expression_key(label: object) -> str:
    return "_".join(str(label).strip().lower().replace("-", " ").split())


_GENDER_ALIASES: dict[str, str] = {
    "male": "male",
    "m": "male",
    "man": "male",
    "female": "female",
    "f": "female",
    "woman": "female",
}

ETHNICITY_TO_GROUP: dict[str, str] = {
    "white": "caucasian",
    "caucasian": "caucasian",
    "black": "sub_saharan_south_indian",
    "indian": "sub_saharan_south_indian",
    "south_indian": "sub_saharan_south_indian",
    "sub_saharan": "sub_saharan_south_indian",
    "sub_saharan_south_indian": "sub_saharan_south_indian",
    "asian": "east_asian",
    "east_asian": "east_asian",
    "japanese": "east_asian",
    "chinese": "east_asian",
    "korean": "east_asian",
}
"""Source ethnicity labels (lower-case) that map onto one of :data:`ETHNICITY_GROUPS`."""


class DatasetLayoutError(Exception):
    """A dataset folder does not have the expected layout (names what is missing and expected)."""


class DatasetWarning(UserWarning):
    """Some files or rows of a dataset were skipped (malformed name, missing image, ...)."""


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def normalize_expression(label: Any, label_map: Mapping[str, str] | None = None) -> str | None:
    """Map a raw expression label (``"Happiness"``, ``"Joy"``, ``"surprised"``) to one of
    :data:`EXPRESSIONS`, or ``None`` when missing or not known.

    ``label_map`` (raw label -> one of :data:`EXPRESSIONS`) is consulted first, with the same
    case- and space-insensitive matching as :data:`EXPRESSION_SYNONYMS`.
    """
    if _is_missing(label):
        return None
    key = _expression_key(label)
    if label_map:
        mapped = {_expression_key(k): v for k, v in label_map.items()}.get(key)
        if mapped is not None:
            return mapped
    return EXPRESSION_SYNONYMS.get(key)


def normalize_expressions(
    labels: Iterable[Any], label_map: Mapping[str, str] | None = None, *, source: str = ""
) -> list[str | None]:
    """:func:`normalize_expression` of every label; labels that are present but unknown become
    ``None`` and are reported in one :class:`DatasetWarning` with their counts (never silently).

    ``source`` names where the labels come from (a file) in the warning.
    """
    if label_map:
        bad = {k: v for k, v in label_map.items() if v not in EXPRESSIONS}
        if bad:
            raise ValueError(
                f"label map {source or ''} maps onto unknown expressions {bad}; "
                f"targets must be one of {', '.join(EXPRESSIONS)}"
            )
    out: list[str | None] = []
    unknown: Counter[str] = Counter()
    for label in labels:
        value = normalize_expression(label, label_map)
        if value is None and not _is_missing(label):
            unknown[str(label)] += 1
        out.append(value)
    if unknown:
        listed = ", ".join(f"{k!r} x{n}" for k, n in unknown.most_common(10))
        where = f" in {source}" if source else ""
        warnings.warn(
            f"{sum(unknown.values())} expression labels{where} are not known and were left "
            f"missing: {listed}; map them with a label map (--label-map FILE: CSV raw,expression "
            f"or JSON {{raw: expression}}) onto {', '.join(EXPRESSIONS)}",
            DatasetWarning,
            stacklevel=2,
        )
    return out


def normalize_gender(label: Any) -> str | None:
    """Map ``male/m/man`` and ``female/f/woman`` (any case) to ``male``/``female``, else
    ``None``."""
    if _is_missing(label):
        return None
    return _GENDER_ALIASES.get(str(label).strip().lower())


def ethnicity_group(ethnicity: Any) -> str | None:
    """The :data:`ETHNICITY_GROUPS` entry of a lower-case source ethnicity label, or ``None``."""
    if _is_missing(ethnicity):
        return None
    return ETHNICITY_TO_GROUP.get(str(ethnicity).strip().lower().replace(" ", "_"))


def warn_skipped(what: str, examples: Sequence[str], expected: str) -> None:
    """One :class:`DatasetWarning` naming how many items were skipped, a few examples, and why."""
    if not examples:
        return
    shown = ", ".join(examples[:3]) + (", ..." if len(examples) > 3 else "")
    warnings.warn(
        f"skipped {len(examples)} {what} ({shown}); expected {expected}",
        DatasetWarning,
        stacklevel=3,
    )


def make_table(
    dataset: str,
    columns: Mapping[str, Iterable[Any]],
    extra_dtypes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Build a schema table: all :data:`SCHEMA_COLUMNS` (missing ones filled with NA), nullable
    dtypes, then the dataset-specific ``extra_dtypes`` columns; one row per image, sorted by path.
    ``dataset`` fills the ``dataset`` column unless ``columns`` has one."""
    extra_dtypes = dict(extra_dtypes or {})
    data = {name: list(values) for name, values in columns.items()}
    n = len(data["path"])
    data.setdefault("dataset", [dataset] * n)
    frame: dict[str, pd.Series] = {}
    for name in SCHEMA_COLUMNS:
        values = data.get(name, [None] * n)
        dtype = "Float64" if name == "age" else "string"
        frame[name] = pd.Series(values, dtype=dtype)
    for name, dtype in extra_dtypes.items():
        frame[name] = pd.Series(data[name], dtype=dtype)
    unknown = set(data) - set(SCHEMA_COLUMNS) - set(extra_dtypes)
    if unknown:
        raise ValueError(f"columns without a dtype: {sorted(unknown)}")
    table = pd.DataFrame(frame)
    return table.sort_values("path", kind="stable", ignore_index=True)
