"""Store-to-store workflows behind the command line: fit on Parquet stores, blind a store."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._io import save_figure
from blindface.blinding._base import Blinder
from blindface.blinding._registry import get_method

CURVES_NAME = "training_curves.png"

StorePaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class SourceSummary:
    """What one store contributed to a fit."""

    path: str
    role: str  # "expression" or "identity"
    rows: int
    people: int
    classes: dict[str, int]

    def describe(self) -> str:
        classes = ", ".join(f"{k} {v}" for k, v in self.classes.items()) or "no expression labels"
        return f"{self.path} ({self.role}): {self.rows} rows, {self.people} people; {classes}"


@dataclass(frozen=True)
class StoreFit:
    """A model fitted by :func:`fit_stores` and what it was fitted on."""

    model: Blinder
    sources: tuple[SourceSummary, ...]
    rows: int
    people: int
    classes: dict[str, int]

    def describe(self) -> list[str]:
        """Lines for a person: the totals, then one per source store."""
        classes = ", ".join(f"{k} {v}" for k, v in self.classes.items())
        total = f"fitted on {self.rows} rows, {self.people} people; expression classes: {classes}"
        return [total, *(f"  {s.describe()}" for s in self.sources)]


def store_files(paths: StorePaths) -> list[Path]:
    """The stores named by ``paths``: files and partitioned stores as given, other folders as
    the stores they hold (``*.parquet`` files and partitioned store folders)."""
    from blindface.store import is_store_folder

    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir() and not is_store_folder(item):
            found = sorted(
                p for p in item.iterdir() if p.suffix == ".parquet" or is_store_folder(p)
            )
            if not found:
                raise FileNotFoundError(
                    f"{item} is a folder without embedding stores (*.parquet files or "
                    "partitioned store folders)"
                )
            files.extend(found)
        else:
            files.append(item)
    return files


def _labelled_rows(
    path: Path, *, keep_expressions: bool, label_map: Mapping[str, str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings of a store's embedded faces, normalised expressions and dataset-qualified
    subjects (object arrays, None where missing)."""
    from blindface.datasets import normalize_expressions
    from blindface.store import read_store

    store = read_store(path)
    ok = store.ok
    table = store.table[ok].reset_index(drop=True)
    n = len(table)
    if keep_expressions and "expression" in table:
        expression = np.array(
            normalize_expressions(table["expression"], label_map, source=str(path)), dtype=object
        )
    else:
        expression = np.full(n, None, dtype=object)
    if "subject" in table:
        if "dataset" in table:
            dataset = table["dataset"].astype("string")
        else:  # one index: a bare Series would align with row 0 only
            dataset = pd.Series(path.stem, index=table.index, dtype="string")
        # subjects of different datasets are different people even when their ids coincide
        qualified = dataset + ":" + table["subject"].astype("string")
        subject = np.array([None if pd.isna(v) else str(v) for v in qualified], dtype=object)
    else:
        subject = np.full(n, None, dtype=object)
    return store.embeddings[ok], expression, subject


def fit_stores(
    method: str,
    embeddings: StorePaths,
    out: str | os.PathLike[str],
    *,
    identity_embeddings: StorePaths | None = None,
    params: Mapping[str, Any] | None = None,
    progress: bool = True,
    use_identity_expressions: bool = False,
    label_map: Mapping[str, str] | None = None,
) -> StoreFit:
    """Fit ``method`` on the union of embedding stores and save it into ``out``.

    ``embeddings`` (one store, several, or folders of stores) holds the expression-labelled
    rows (and possibly subjects); ``identity_embeddings`` adds identity rows (e.g. LFW), whose
    expression labels are dropped unless ``use_identity_expressions``. Expression labels go
    through :func:`blindface.datasets.normalize_expressions` (``label_map`` first); unknown
    labels become missing, with a warning that counts them. Writes the model and, for the
    iterative methods, a ``training_curves.png`` into ``out``.
    """
    entry = get_method(method)
    sources = [(p, "expression") for p in store_files(embeddings)]
    if identity_embeddings is not None:
        sources += [(p, "identity") for p in store_files(identity_embeddings)]
    parts, summaries = [], []
    for path, role in sources:
        keep = role == "expression" or use_identity_expressions
        X, expression, subject = _labelled_rows(path, keep_expressions=keep, label_map=label_map)
        parts.append((X, expression, subject))
        summaries.append(_summary(str(path), role, expression, subject))
    dims = {p[0].shape[1] for p in parts}
    if len(dims) > 1:
        raise ValueError(f"the stores hold embeddings of different dimensions {sorted(dims)}")
    X = np.concatenate([p[0] for p in parts])
    expression = np.concatenate([p[1] for p in parts])
    subject = np.concatenate([p[2] for p in parts])
    model = entry.create()
    settings = dict(params or {})
    if "verbose" in model.get_params():
        settings.setdefault("verbose", int(progress))
    model.set_params(**settings)
    model.fit(X, expression=expression, subject=subject)
    directory = model.save(out)
    history = getattr(model, "history_", None)
    if history:
        plot_history(history, directory / CURVES_NAME, title=type(model).__name__)
    total = _summary("", "", expression, subject)
    return StoreFit(model, tuple(summaries), total.rows, total.people, total.classes)


def _summary(path: str, role: str, expression: np.ndarray, subject: np.ndarray) -> SourceSummary:
    counts = Counter(e for e in expression if e is not None)
    people = len({s for s in subject if s is not None})
    return SourceSummary(path, role, len(expression), people, dict(sorted(counts.items())))


def plot_history(history: Iterable[Mapping[str, Any]], path: Path, *, title: str) -> Path:
    """One small panel per recorded quantity of a training history, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = list(history)
    step_key = next(iter(history[0]))
    keys = [k for h in history for k in h if k != step_key]
    keys = list(dict.fromkeys(keys))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        points = [(h[step_key], h[key]) for h in history if key in h]
        ax.plot(*zip(*points, strict=True), marker="o")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel(step_key)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
