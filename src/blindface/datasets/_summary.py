"""Counting what a dataset table holds: images, subjects, label distributions."""

from __future__ import annotations

import math
import os
import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd

from blindface.datasets._registry import find_datasets, load_dataset
from blindface.datasets._schema import EXPRESSIONS, DatasetLayoutError, DatasetWarning

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

LABEL_COLUMNS: tuple[str, ...] = ("expression", "gender", "ethnicity", "ethnicity_group", "age")


def _age_bucket(age: float) -> str:
    decade = int(math.floor(age / 10)) * 10
    return "80+" if decade >= 80 else f"{decade}-{decade + 9}"


def _counts(values: pd.Series, order: tuple[str, ...] | None = None) -> dict[str, int]:
    counts = values.dropna().astype(str).value_counts()
    if order is not None:
        keys = [k for k in order if k in counts.index] + sorted(set(counts.index) - set(order))
    else:
        keys = sorted(counts.index, key=lambda k: (-counts[k], k))
    return {k: int(counts[k]) for k in keys}


def summarize(table: pd.DataFrame) -> dict[str, Any]:
    """Counts of a dataset table, JSON-ready.

    Returns
    -------
    dict
        ``{"images": n, "subjects": n or None, "labels": {column: {value: count}}}`` for the
        label columns with at least one value (``expression`` in :data:`EXPRESSIONS` order,
        ``age`` bucketed by decade ``"20-29"`` ... ``"80+"``, others by decreasing count;
        missing values are not counted). Tables with boolean attribute columns (CelebA) also
        get ``"attributes": {name: number of positive images}``.
    """
    subjects = table["subject"].dropna() if "subject" in table else pd.Series([], dtype=object)
    labels: dict[str, dict[str, int]] = {}
    for column in LABEL_COLUMNS:
        if column not in table or not table[column].notna().any():
            continue
        values = table[column]
        if column == "age":
            decades = values.dropna().map(_age_bucket)
            ordered = sorted(set(decades), key=lambda b: int(b.split("-")[0].rstrip("+")))
            labels[column] = _counts(decades, tuple(ordered))
        else:
            labels[column] = _counts(values, EXPRESSIONS if column == "expression" else None)
    summary: dict[str, Any] = {
        "images": len(table),
        "subjects": int(subjects.nunique()) if len(subjects) else None,
        "labels": labels,
    }
    attributes = [c for c in table.columns if pd.api.types.is_bool_dtype(table[c])]
    if attributes:
        summary["attributes"] = {c: int(table[c].sum()) for c in attributes}
    return summary


def summarize_datasets(root: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{name: summarize(load_dataset(name, root))}`` for every dataset found under ``root``;
    a dataset that fails to load gets ``{"error": message}`` instead. The
    :class:`DatasetWarning` messages of loading a dataset (skipped files, unreadable folders,
    unknown labels) are not emitted but kept in its summary as ``"warnings": [message, ...]``.
    """
    summaries: dict[str, dict[str, Any]] = {}
    for name in find_datasets(root):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DatasetWarning)
            summary: dict[str, Any]
            try:
                summary = summarize(load_dataset(name, root))
            except DatasetLayoutError as error:
                summary = {"error": str(error)}
        for warning in caught:
            if not issubclass(warning.category, DatasetWarning):
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        if messages := [str(w.message) for w in caught if issubclass(w.category, DatasetWarning)]:
            summary["warnings"] = messages
        summaries[name] = summary
    return summaries


def summary_table(summaries: dict[str, dict[str, Any]]) -> Table:
    """A rich table of :func:`summarize_datasets` output, one row per dataset."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Datasets", show_lines=True)
    table.add_column("dataset", style="bold")
    table.add_column("images", justify="right")
    table.add_column("subjects", justify="right")
    table.add_column("labels")
    for name, summary in summaries.items():
        notes = [f"[yellow]warning[/yellow]: {escape(m)}" for m in summary.get("warnings", [])]
        if "error" in summary:
            error = f"[red]{escape(summary['error'])}[/red]"
            table.add_row(name, "-", "-", "\n".join([error, *notes]))
            continue
        lines = [
            f"[cyan]{column}[/cyan]: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
            for column, counts in summary["labels"].items()
        ]
        if "attributes" in summary:
            positives = ", ".join(f"{k} {v:,}" for k, v in summary["attributes"].items())
            lines.append(f"[cyan]attributes (positive)[/cyan]: {positives}")
        subjects = summary["subjects"]
        table.add_row(
            name,
            f"{summary['images']:,}",
            "-" if subjects is None else f"{subjects:,}",
            "\n".join(lines + notes) or "-",
        )
    return table
