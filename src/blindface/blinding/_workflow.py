"""Store-to-store workflows behind the command line: fit on Parquet stores, blind a store."""

from __future__ import annotations

import functools
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._io import save_figure
from blindface._provenance import OverlapWarning, common_identity, identity_of
from blindface.blinding._base import Blinder
from blindface.blinding._params import check_params
from blindface.blinding._persistence import CURVES_NAME, check_model_folder
from blindface.blinding._registry import get_method
from blindface.blinding._streaming import MomentStatistics

#: The columns a fit reads from a store (those it has; the content hashes find the same image in
#: two stores); the others are never read.
LABEL_COLUMNS = ("dataset", "subject", "expression", "content_hash")

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


def _labels(
    table: pd.DataFrame, source: str, *, keep_expressions: bool, label_map: Mapping[str, str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised expressions and dataset-qualified subjects of a store's rows (object arrays,
    None where missing)."""
    from blindface.datasets import normalize_expressions

    n = len(table)
    if keep_expressions and "expression" in table:
        expression = np.array(
            normalize_expressions(table["expression"], label_map, source=source), dtype=object
        )
    else:
        expression = np.full(n, None, dtype=object)
    if "subject" in table:
        if "dataset" in table:
            dataset = table["dataset"].astype("string")
        else:  # one index: a bare Series would align with row 0 only
            dataset = pd.Series(Path(source).stem, index=table.index, dtype="string")
        # subjects of different datasets are different people even when their ids coincide
        qualified = dataset + ":" + table["subject"].astype("string")
        subject = np.array([None if pd.isna(v) else str(v) for v in qualified], dtype=object)
    else:
        subject = np.full(n, None, dtype=object)
    return expression, subject


def _labelled_rows(
    path: Path, *, keep_expressions: bool, label_map: Mapping[str, str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Embeddings of a store's embedded faces, with their labels (see :func:`_labels`) and
    their table rows."""
    from blindface.store import read_store

    store = read_store(path, columns=list(LABEL_COLUMNS))
    ok = store.ok
    table = store.table.iloc[np.flatnonzero(ok)].reset_index(drop=True)
    expression, subject = _labels(
        table, str(path), keep_expressions=keep_expressions, label_map=label_map
    )
    return store.embeddings[ok], expression, subject, table


@dataclass
class _Tally:
    """Rows, people, images (content hashes) and expression counts of a source, gathered batch
    by batch."""

    rows: int = 0
    people: set[str] = field(default_factory=set)
    classes: Counter[str] = field(default_factory=Counter)
    images: set[str] = field(default_factory=set)

    def add(self, expression: np.ndarray, subject: np.ndarray, table: pd.DataFrame) -> None:
        self.rows += len(expression)
        self.people.update(s for s in subject if s is not None)
        self.classes.update(e for e in expression if e is not None)
        if "content_hash" in table:
            self.images.update(h for h in table["content_hash"] if isinstance(h, str))

    def merge(self, other: _Tally) -> _Tally:
        return _Tally(
            self.rows + other.rows,
            self.people | other.people,
            self.classes + other.classes,
            self.images | other.images,
        )

    def summary(self, path: str, role: str) -> SourceSummary:
        return SourceSummary(
            path, role, self.rows, len(self.people), dict(sorted(self.classes.items()))
        )


def _accumulate_part(
    model: Blinder,
    path: Path,
    part: int,
    keep_expressions: bool,
    label_map: Mapping[str, str] | None,
) -> tuple[MomentStatistics | None, _Tally]:
    """One pass over one file of a store: its statistics for ``model`` and its tally (a Ray
    task when the engine is ``ray``)."""
    from blindface.blinding._streaming import accumulate
    from blindface.store import iter_store_batches, read_metadata

    tally = _Tally()
    present = read_metadata(path).get("columns", LABEL_COLUMNS)
    columns = [name for name in LABEL_COLUMNS if name in present]

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for X, table in iter_store_batches(path, embedded_only=True, part=part, columns=columns):
            expression, subject = _labels(
                table, str(path), keep_expressions=keep_expressions, label_map=label_map
            )
            tally.add(expression, subject, table)
            yield X, expression, subject

    try:
        return accumulate(model, batches()), tally
    except ValueError as error:  # a part with no embedded row adds nothing
        if "no rows" in str(error):
            return None, tally
        raise


def _fit_streaming(
    model: Blinder,
    sources: list[tuple[Path, str]],
    *,
    use_identity_expressions: bool,
    label_map: Mapping[str, str] | None,
    engine: str,
    address: str | None,
) -> dict[tuple[str, str], _Tally]:
    """Fit a moments-only method in one pass over every store file, locally or one Ray task per
    file; the merged statistics give the same model as an in-memory fit."""
    from blindface.blinding._streaming import fit_statistics
    from blindface.store import count_parts

    jobs = [
        (path, role, part, role == "expression" or use_identity_expressions)
        for path, role in sources
        for part in range(count_parts(path))
    ]
    if engine == "ray":
        from blindface.store._ray import ray_session

        with ray_session(address, num_cpus=2) as ray:
            task = ray.remote(_accumulate_part)
            results = ray.get(
                [task.remote(model, path, part, keep, label_map) for path, _, part, keep in jobs]
            )
    else:
        results = [
            _accumulate_part(model, path, part, keep, label_map) for path, _, part, keep in jobs
        ]
    parts = [stats for stats, _ in results if stats is not None]
    if not parts:
        raise ValueError("the stores hold no embedded row: nothing to fit on")
    if len({p.n_features for p in parts}) > 1:
        dims = sorted({p.n_features for p in parts})
        raise ValueError(f"the stores hold embeddings of different dimensions {dims}")
    fit_statistics(model, functools.reduce(lambda a, b: a.merge(b), parts))
    tallies: dict[tuple[str, str], _Tally] = {}
    for (path, role, _, _), (_, tally) in zip(jobs, results, strict=True):
        key = (str(path), role)
        tallies[key] = tallies[key].merge(tally) if key in tallies else tally
    return tallies


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
    engine: str = "local",
    address: str | None = None,
    allow_embedder_mismatch: bool = False,
) -> StoreFit:
    """Fit ``method`` on the union of embedding stores and save it into ``out``.

    ``embeddings`` (one store, several, or folders of stores) holds the expression-labelled
    rows (and possibly subjects); ``identity_embeddings`` adds identity rows (e.g. LFW), whose
    expression labels are dropped unless ``use_identity_expressions``. Expression labels go
    through :func:`blindface.datasets.normalize_expressions` (``label_map`` first); unknown
    labels become missing, with a warning that counts them. The methods that need only means
    and covariances (LEACE, WithinSubjectProjection) stream the stores with flat memory, on
    this machine (``engine="local"``) or one Ray task per store file (``engine="ray"``,
    ``address`` of a cluster or a local instance); the others read the rows into memory.
    Writes the model and, for the iterative methods, a ``training_curves.png`` as the folder
    ``out``, atomically; ``out`` is checked before any work (it may not be or hold one of the
    stores, nor hold files other than a model's).

    The stores must hold embeddings of one embedder (an :class:`EmbedderMismatchError` names
    two that differ, unless ``allow_embedder_mismatch``); the model records it and the stores
    (``fitted_on_``), so that ``transform`` and ``audit`` can refuse other embedders' stores.
    Stores sharing images or people raise an :class:`OverlapWarning`.
    """
    from blindface.blinding._streaming import StreamingBlinder
    from blindface.store import read_metadata, store_digest

    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    model = get_method(method).create()
    settings = dict(params or {})
    if "verbose" in model.get_params():
        settings.setdefault("verbose", int(progress))
    check_params(type(model), settings)
    model.set_params(**settings)
    sources = [(p, "expression") for p in store_files(embeddings)]
    if identity_embeddings is not None:
        sources += [(p, "identity") for p in store_files(identity_embeddings)]
    flags = {"expression": "--embeddings", "identity": "--identity-embeddings"}
    check_model_folder(out, inputs=[(flags[role], path) for path, role in sources])
    identities = [(str(path), identity_of(read_metadata(path))) for path, _ in sources]
    embedder = common_identity(identities, allow=allow_embedder_mismatch)
    if isinstance(model, StreamingBlinder):
        tallies = _fit_streaming(
            model,
            sources,
            use_identity_expressions=use_identity_expressions,
            label_map=label_map,
            engine=engine,
            address=address,
        )
    else:
        if engine == "ray":
            raise ValueError(
                f"{method} trains on the rows themselves (SGD or probes): it fits on this "
                "machine from an in-memory sample; use --engine local"
            )
        parts, tallies = [], {}
        for path, role in sources:
            keep = role == "expression" or use_identity_expressions
            X, expression, subject, table = _labelled_rows(
                path, keep_expressions=keep, label_map=label_map
            )
            parts.append((X, expression, subject))
            tally = tallies.setdefault((str(path), role), _Tally())
            tally.add(expression, subject, table)
        dims = {p[0].shape[1] for p in parts}
        if len(dims) > 1:
            raise ValueError(f"the stores hold embeddings of different dimensions {sorted(dims)}")
        model.fit(
            np.concatenate([p[0] for p in parts]),
            expression=np.concatenate([p[1] for p in parts]),
            subject=np.concatenate([p[2] for p in parts]),
        )
    _warn_overlaps(tallies)
    model.fitted_on_ = {
        "embedder": embedder,
        "stores": [{"name": path.name, "digest": store_digest(path)} for path, _ in sources],
    }
    history = getattr(model, "history_", None)

    def curves(folder: Path) -> None:
        if history:
            plot_history(history, folder / CURVES_NAME, title=type(model).__name__)

    model.save(out, extra=curves)
    summaries = tuple(tally.summary(path, role) for (path, role), tally in tallies.items())
    total = functools.reduce(lambda a, b: a.merge(b), tallies.values())
    classes = dict(sorted(total.classes.items()))
    return StoreFit(model, summaries, total.rows, len(total.people), classes)


def _warn_overlaps(tallies: Mapping[tuple[str, str], _Tally]) -> None:
    """One :class:`OverlapWarning` per pair of sources that share images or people."""
    items = list(tallies.items())
    for index, ((first, _), a) in enumerate(items):
        for (second, _), b in items[index + 1 :]:
            images, people = len(a.images & b.images), sorted(a.people & b.people)
            if images or people:
                shown = ", ".join(people[:3]) + (" ..." if len(people) > 3 else "")
                warnings.warn(
                    f"{first} and {second} share {images} images and {len(people)} people"
                    f"{f' ({shown})' if people else ''}: they are counted twice, and a store "
                    "you later audit must not be among the fitting stores; remove the duplicate",
                    OverlapWarning,
                    stacklevel=3,
                )


def plot_history(history: Iterable[Mapping[str, Any]], path: Path, *, title: str) -> Path:
    """One small panel per numeric quantity of a training history (per iteration), as PNG."""
    from matplotlib.figure import Figure

    history = list(history)
    step_key = next(iter(history[0]))
    keys = [k for h in history for k, v in h.items() if k != step_key and _is_number(v)]
    keys = list(dict.fromkeys(keys))
    fig = Figure(figsize=(3.2 * max(1, len(keys)), 2.8))
    axes = fig.subplots(1, max(1, len(keys)), squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=False):
        points = [(h[step_key], h[key]) for h in history if key in h]
        ax.plot(*zip(*points, strict=True), marker="o")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel(step_key)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
