"""Fit a blinding method on embedding stores: in memory, or streamed part by part (locally or
one Ray task per store file) for the methods that need only means and covariances."""

from __future__ import annotations

import functools
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._io import save_figure
from blindface._provenance import OverlapWarning, common_identity, identity_of
from blindface.blinding import (
    Blinder,
    MomentStatistics,
    StreamingBlinder,
    fit_statistics,
    get_method,
)
from blindface.blinding._params import check_params
from blindface.blinding._weighting import WEIGHTINGS, Weighting, weighted_rows
from blindface.blinding.formats._persistence import CURVES_NAME, check_model_folder
from blindface.pipelines._rows import EXPRESSION, label_columns, read_labelled, row_labels
from blindface.store import (
    count_parts,
    is_store_folder,
    iter_store_batches,
    read_metadata,
    store_digest,
)
from blindface.store._ray import ray_session

#: The columns a fit reads from a store besides a label's and a person's (the content hashes
#: find the same image in two stores); the others are never read.
FIT_COLUMNS = ("content_hash",)
#: How each role of a source store is given on the command line (named by the output guard).
ROLE_FLAGS = {"expression": "--embeddings", "identity": "--identity-embeddings", "adapt": "--adapt"}

StorePaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class SourceSummary:
    """What one store contributed to a fit."""

    path: str
    role: str  # "expression", "identity" or "adapt" (the user's own stores)
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
    path: Path, part: int, label: str | None, label_map: Mapping[str, str] | None
) -> tuple[MomentStatistics | None, _Tally]:
    """One pass over one file of a store: the statistics of its embedded rows (None when it
    has none) and its tally (a Ray task when the engine is ``ray``)."""
    statistics: MomentStatistics | None = None
    tally = _Tally()
    present = read_metadata(path).get("columns")
    wanted = [*label_columns(label), *FIT_COLUMNS]
    columns = [name for name in wanted if present is None or name in present]
    for X, table in iter_store_batches(path, embedded_only=True, part=part, columns=columns):
        expression, subject = row_labels(table, str(path), label=label, label_map=label_map)
        tally.add(expression, subject, table)
        statistics = statistics or MomentStatistics.empty(X.shape[1])
        statistics.update(X, expression, subject)
    return statistics, tally


def _label(role: str, use_identity_expressions: bool) -> str | None:
    """What a source store's rows are labelled with: identity stores' expressions are dropped
    unless asked for; a user's own (``adapt``) stores keep theirs."""
    keep = role in ("expression", "adapt") or use_identity_expressions
    return EXPRESSION if keep else None


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
    jobs = [
        (path, role, part, _label(role, use_identity_expressions))
        for path, role in sources
        for part in range(count_parts(path))
    ]
    if engine == "ray":
        with ray_session(address, num_cpus=2) as ray:
            task = ray.remote(_accumulate_part)
            results = ray.get(
                [task.remote(path, part, label, label_map) for path, _, part, label in jobs]
            )
    else:
        results = [_accumulate_part(path, part, label, label_map) for path, _, part, label in jobs]
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
    adapt: StorePaths | None = None,
    weighting: Weighting | None = None,
    allow_embedder_mismatch: bool = False,
) -> StoreFit:
    """Fit ``method`` on the union of embedding stores and save it into ``out``.

    ``embeddings`` (one store, several, or folders of stores) holds the expression-labelled
    rows (and possibly subjects); ``identity_embeddings`` adds identity rows (e.g. LFW), whose
    expression labels are dropped unless ``use_identity_expressions``. Rows are read with
    :func:`~blindface.pipelines.read_labelled`: the ``expression`` column normalised
    (``label_map`` first; unknown labels become missing, with a warning that counts them),
    else CelebA's yes/no ``Smiling`` by one rule (True ``happy``, False ``neutral``); people
    are ``dataset:subject``. The methods that need only means
    and covariances (LEACE, WithinSubjectProjection) stream the stores with flat memory, on
    this machine (``engine="local"``) or one Ray task per store file (``engine="ray"``,
    ``address`` of a cluster or a local instance); the others read the rows into memory.
    Writes the model and, for the iterative methods, a ``training_curves.png`` as the folder
    ``out``, atomically; ``out`` is checked before any work (it may not be or hold one of the
    stores, nor hold files other than a model's), and so are the parameters.

    ``adapt`` (the user's own stores) joins the fit as sources of their own: their expression
    labels where they have them (few-shot), their identities where they do not (the methods
    that collapse a person's photos use those). ``weighting``: ``"rows"`` (every row once) or
    ``"balanced"`` (every store weighs the same, whatever its row count; see
    :func:`~blindface.blinding._weighting.weighted_rows`); the default is ``"balanced"`` with
    ``adapt`` (a hundred of a user's people would otherwise be drowned by the public sets'
    thousands) and ``"rows"`` without. Each store is one source.

    The stores must hold embeddings of one embedder (an :class:`EmbedderMismatchError` names
    two that differ, unless ``allow_embedder_mismatch``); the model records it and the stores
    (``fitted_on_``), so that ``transform`` and ``audit`` can refuse other embedders' stores.
    Stores sharing images or people raise an :class:`OverlapWarning`.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    weighting = weighting or ("balanced" if adapt is not None else "rows")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    model = get_method(method).create()
    settings = dict(params or {})
    if "verbose" in model.get_params():
        settings.setdefault("verbose", int(progress))
    check_params(type(model), settings)
    model.set_params(**settings)
    sources, embedder = fit_sources(
        embeddings, identity_embeddings, adapt, out, allow_embedder_mismatch
    )
    if isinstance(model, StreamingBlinder) and weighting == "rows":
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
            why = (
                "balanced weighting reads the rows into memory"
                if isinstance(model, StreamingBlinder)
                else f"{method} trains on the rows themselves (SGD or probes)"
            )
            raise ValueError(f"{why}: it fits on this machine; use --engine local")
        parts, tallies = [], {}
        for path, role in sources:
            rows = read_labelled(
                path,
                label=_label(role, use_identity_expressions),
                label_map=label_map,
                columns=FIT_COLUMNS,
            )
            parts.append((rows.X, rows.labels, rows.people, np.full(len(rows), str(path), object)))
            tally = tallies.setdefault((str(path), role), _Tally())
            tally.add(rows.labels, rows.people, rows.table)
        dims = {p[0].shape[1] for p in parts}
        if len(dims) > 1:
            raise ValueError(f"the stores hold embeddings of different dimensions {sorted(dims)}")
        source = np.concatenate([p[3] for p in parts])
        keep = weighted_rows(source, weighting)
        model.fit(
            np.concatenate([p[0] for p in parts])[keep],
            expression=np.concatenate([p[1] for p in parts])[keep],
            subject=np.concatenate([p[2] for p in parts])[keep],
            source=source[keep],
        )
    return save_fit(model, sources, tallies, embedder, out)


def fit_sources(
    embeddings: StorePaths,
    identity_embeddings: StorePaths | None,
    adapt: StorePaths | None,
    out: str | os.PathLike[str],
    allow_embedder_mismatch: bool,
) -> tuple[list[tuple[Path, str]], Any]:
    """The stores of a fit with their roles (expression, identity, adapt), once ``out`` is
    checked against them, and the one embedder they share (see ``common_identity``)."""
    sources = [(p, "expression") for p in store_files(embeddings)]
    if identity_embeddings is not None:
        sources += [(p, "identity") for p in store_files(identity_embeddings)]
    if adapt is not None:
        sources += [(p, "adapt") for p in store_files(adapt)]
    check_model_folder(out, inputs=[(ROLE_FLAGS[role], path) for path, role in sources])
    identities = [(str(path), identity_of(read_metadata(path))) for path, _ in sources]
    return sources, common_identity(identities, allow=allow_embedder_mismatch)


def save_fit(
    model: Any,
    sources: Sequence[tuple[Path, str]],
    tallies: Mapping[tuple[str, str], _Tally],
    embedder: Any,
    out: str | os.PathLike[str],
) -> StoreFit:
    """Warn about overlapping sources, record the embedder and the stores in ``model``, save
    it (with its training curves) to ``out`` and summarise what it was fitted on."""
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
    from matplotlib.figure import Figure  # lazy: matplotlib takes 0.4 s to import

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
