"""The uniform image table: column names, label vocabularies, normalisation and construction."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

#: The expression of an enrolled (reference) photo: the relative threat model, the blinders
#: that model it and the audit all compare a face with the person's neutral one.
NEUTRAL = "neutral"

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
    "taiwanese": "east_asian",
}
"""Source ethnicity labels (lower-case) that map onto one of :data:`ETHNICITY_GROUPS`."""


class DatasetLayoutError(Exception):
    """A dataset folder or label file (manifest, label map) does not have the expected layout
    or encoding; the message names the file, what is wrong and what was expected."""


class DatasetWarning(UserWarning):
    """Some files or rows of a dataset were skipped or labels left missing (malformed name,
    missing image, unreadable folder, unknown label, ...)."""


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _map_keys(label_map: Mapping[str, str] | None) -> dict[str, str]:
    """``label_map`` keyed like :data:`EXPRESSION_SYNONYMS` (case- and space-insensitive)."""
    return {_expression_key(k): v for k, v in (label_map or {}).items()}


def normalize_expression(label: Any, label_map: Mapping[str, str] | None = None) -> str | None:
    """Map a raw expression label (``"Happiness"``, ``"Joy"``, ``"surprised"``) to one of
    :data:`EXPRESSIONS`, or ``None`` when missing or not known.

    ``label_map`` (raw label -> one of :data:`EXPRESSIONS`) is consulted first, with the same
    case- and space-insensitive matching as :data:`EXPRESSION_SYNONYMS`.
    """
    return _normalize(label, _map_keys(label_map))


def _normalize(label: Any, keyed_map: Mapping[str, str]) -> str | None:
    if _is_missing(label):
        return None
    key = _expression_key(label)
    return keyed_map.get(key) or EXPRESSION_SYNONYMS.get(key)


def warn_unknown(what: str, unknown: Counter[str], source: str, fix: str) -> None:
    """One :class:`DatasetWarning` counting the labels (``what``) that were left missing."""
    if not unknown:
        return
    listed = ", ".join(f"{k!r} x{n}" for k, n in unknown.most_common(10))
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    where = f" in {source}" if source else ""
    warnings.warn(
        f"{sum(unknown.values())} {what}{where} are not known and were left missing: "
        f"{listed}{more}; {fix}",
        DatasetWarning,
        stacklevel=3,
    )


def normalize_expressions(
    labels: Iterable[Any], label_map: Mapping[str, str] | None = None, *, source: str = ""
) -> list[str | None]:
    """:func:`normalize_expression` of every label; labels that are present but unknown become
    ``None`` and are reported in one :class:`DatasetWarning` with their counts (never silently).

    ``source`` names where the labels come from (a file) in the warning. Raises
    :class:`ValueError` when ``label_map`` maps onto a name that is not in :data:`EXPRESSIONS`.
    """
    bad = {k: v for k, v in (label_map or {}).items() if v not in EXPRESSIONS}
    if bad:
        raise ValueError(
            f"label map{f' for {source}' if source else ''} maps onto unknown expressions "
            f"{bad}; targets must be one of {', '.join(EXPRESSIONS)}"
        )
    keyed_map = _map_keys(label_map)
    out: list[str | None] = []
    unknown: Counter[str] = Counter()
    for label in labels:
        value = _normalize(label, keyed_map)
        if value is None and not _is_missing(label):
            unknown[str(label)] += 1
        out.append(value)
    warn_unknown(
        "expression labels",
        unknown,
        source,
        "map them with a label map (--label-map FILE: CSV raw,expression or JSON "
        f"{{raw: expression}}) onto {', '.join(EXPRESSIONS)}",
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
    shown = ", ".join(examples[:5]) + (", ..." if len(examples) > 5 else "")
    warnings.warn(
        f"skipped {len(examples)} {what} ({shown}); expected {expected}",
        DatasetWarning,
        stacklevel=3,
    )


def make_table(
    dataset: str,
    columns: Mapping[str, Iterable[Any]],
    extra_dtypes: Mapping[str, str] | None = None,
    *,
    sort: bool = True,
) -> pd.DataFrame:
    """Build a schema table: all :data:`SCHEMA_COLUMNS` (missing ones filled with NA), nullable
    dtypes, then the dataset-specific ``extra_dtypes`` columns; one row per image, sorted by path
    (``sort=False`` keeps the given order, as manifests do). ``dataset`` fills the ``dataset``
    column unless ``columns`` has one."""
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
    return table.sort_values("path", kind="stable", ignore_index=True) if sort else table
