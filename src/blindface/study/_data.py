"""The study's data: embed each dataset once, then decide who fits the blinders and who tests them.

Rules that keep every number honest:

- The people of the LFW verification pairs never fit a blinder (identity is measured on them),
  nor do the CelebA people of Table II's test split, nor anyone in UTKFace (gender and
  ethnicity are measured there): they are *reserved*, and no selection score reads them either.
- Leave-one-dataset-out: the blinder for held-out dataset D is fit on every eligible person of
  the other datasets and evaluated on the people of D; whatever is chosen for that blinder is
  chosen on ``data.without(D)``, so D cannot reach the choice.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from blindface._seeds import derive
from blindface.datasets import (
    DatasetLayoutError,
    DatasetWarning,
    find_datasets,
    load_dataset,
    load_lfw_pairs,
)
from blindface.faces import embedder_label
from blindface.pipelines import read_labelled, row_labels
from blindface.store import embed_dataset, read_metadata
from blindface.study._fairness import split_celeba_subjects
from blindface.study._settings import Study

Log = Callable[[str], None]

#: Every dataset the study reads, in the order it embeds them.
DATASETS: tuple[str, ...] = ("jaffe", "ckplus", "taiwanese", "lfw", "utkface", "celeba")
#: Datasets with expression labels: they fit blinders and each is held out once.
EXPRESSION_DATASETS: tuple[str, ...] = ("jaffe", "ckplus", "taiwanese", "lfw", "celeba")


@dataclass(frozen=True)
class Embedded:
    """One dataset's usable rows: its table and the matching embeddings (failed faces dropped)."""

    table: pd.DataFrame
    X: np.ndarray
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyData:
    """The embedded datasets, the verification pairs and the people no blinder may see."""

    datasets: Mapping[str, Embedded]
    pairs: pd.DataFrame | None = None
    reserved_people: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def without(self, name: str) -> StudyData:
        """The same data with dataset ``name`` removed entirely (what a selection for the
        fold that holds ``name`` out may see)."""
        return StudyData(
            datasets={k: v for k, v in self.datasets.items() if k != name},
            pairs=None if name == "lfw" else self.pairs,
            reserved_people={k: v for k, v in self.reserved_people.items() if k != name},
        )

    def fit_eligible(self, name: str) -> np.ndarray:
        """Rows of dataset ``name`` whose person may fit a blinder."""
        table = self.datasets[name].table
        reserved = self.reserved_people.get(name, frozenset())
        eligible = table["subject"].notna() & ~table["subject"].astype(str).isin(reserved)
        return eligible.to_numpy(dtype=bool, copy=True)


# -- embedding -------------------------------------------------------------------------------


@functools.cache
def verification_pairs(data_root: Path) -> pd.DataFrame:
    """The LFW pairs of the identity rows: View-2 ``pairs.txt`` (10 official folds) when present,
    else View-1 DevTest; only pairs with both images (the loader warns once about the rest)."""
    with warnings.catch_warnings():
        # the fixture lacks some pair images: the count is reported with the verification rows
        warnings.simplefilter("ignore", DatasetWarning)
        try:
            return load_lfw_pairs(data_root, view="view2")
        except DatasetLayoutError:
            return load_lfw_pairs(data_root, view="devtest")


def sample_people(subjects: pd.Series, n: int, seed: int) -> set[str]:
    """Whole people, in a seeded random order, while their images add up to at most ``n``:
    subsets stay people-disjoint."""
    names = subjects.dropna().astype(str)
    sizes = names.value_counts()
    order = np.random.default_rng(seed).permutation(np.asarray(sorted(sizes.index), dtype=object))
    total = np.cumsum([int(sizes[p]) for p in order])
    return {str(p) for p, t in zip(order, total, strict=True) if t <= n}


#: The fewest images a sampled person keeps (when the cap has to drop people instead).
MIN_IMAGES_PER_PERSON = 6


def spread_sample(subject: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Which rows to keep for about ``n`` images over as many people as possible: each person
    keeps at most ``c`` images, ``c`` the largest cap that fits ``n`` (at least
    :data:`MIN_IMAGES_PER_PERSON`; below that, people are dropped in a seeded order), and a
    person's kept images go round their labels, so each keeps as many expressions as it can.

    Probes are scored on people they did not train on, so the number of people, not of images,
    sets how well an accuracy is known; sampling whole people would keep only a handful of a
    posed set's people (a Taiwanese performer has 42 images)."""
    rng = np.random.default_rng(seed)
    names, codes = np.unique(subject, return_inverse=True)
    rows_of = np.split(np.argsort(codes, kind="stable"), np.cumsum(np.bincount(codes))[:-1])
    people = [rows_of[i] for i in rng.permutation(len(names))]
    sizes = np.array([len(rows) for rows in people])
    cap = max(
        (c for c in range(1, int(sizes.max(initial=0)) + 1) if np.minimum(sizes, c).sum() <= n),
        default=1,
    )
    cap = max(cap, MIN_IMAGES_PER_PERSON)
    keep = np.zeros(len(subject), dtype=bool)
    total = 0
    for rows in people:
        take = _round_robin(rows[rng.permutation(len(rows))], labels, cap, rng)
        if total + len(take) > n and total:
            break
        keep[take] = True
        total += len(take)
    return keep


def _round_robin(
    rows: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """The first ``k`` of ``rows`` taken one label at a time, in turn (labels in random order)."""
    by_label: dict[str, list[int]] = {}
    for r in rows:
        by_label.setdefault(str(labels[r]), []).append(int(r))
    queues = [by_label[key] for key in rng.permutation(sorted(by_label))]
    out: list[int] = []
    while len(out) < k and any(queues):
        for queue in queues:
            if queue and len(out) < k:
                out.append(queue.pop(0))
    return np.asarray(sorted(out), dtype=int)


def _sample_people(table: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """Whole people up to about ``n`` images (seeded)."""
    if n is None or len(table) <= n:
        return table
    take = sample_people(pd.Series(table["subject"]), n, seed)
    keep = table["subject"].astype(str).isin(take).to_numpy()
    return table.iloc[np.flatnonzero(keep)].reset_index(drop=True)


def _sample_rows(table: pd.DataFrame, n: int | None, seed: int, stratify: str) -> pd.DataFrame:
    if n is None or len(table) <= n:
        return table
    labels = table[stratify].astype(str).fillna("NA").to_numpy()
    rows, _ = train_test_split(
        np.arange(len(table)), train_size=n, stratify=labels, random_state=seed
    )
    return table.iloc[np.sort(rows)].reset_index(drop=True)


def _lfw_subset(
    table: pd.DataFrame, pairs: pd.DataFrame, people: int | None, seed: int
) -> pd.DataFrame:
    """Every image of the verification pairs' people, plus ``people`` other identities."""
    if people is None:
        return table
    needed = set(pairs["path_a"]) | set(pairs["path_b"])
    test_people = set(table.loc[table["path"].isin(needed), "subject"])
    others = sorted(set(table["subject"].dropna()) - test_people)
    chosen = set(np.random.default_rng(seed).permutation(others)[:people]) if others else set()
    keep = table["subject"].isin(test_people | chosen).to_numpy()
    return table.iloc[np.flatnonzero(keep)].reset_index(drop=True)


def embed_study_data(study: Study, log: Log) -> StudyData:
    """Load each dataset found under the data root, embed it (cached) and keep usable rows."""
    settings = study.settings
    found = find_datasets(study.data_root)
    log(f"datasets found under {study.data_root}: {', '.join(found) or 'none'}")
    pairs = verification_pairs(study.data_root) if "lfw" in found else None
    subsets: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
        "utkface": lambda t: _sample_rows(
            t, settings.utkface_images, derive(study.seed, "utkface-rows"), "ethnicity"
        ),
        "celeba": lambda t: _sample_people(
            t, settings.celeba_images, derive(study.seed, "celeba-people")
        ),
    }
    if pairs is not None:
        subsets["lfw"] = lambda t: _lfw_subset(
            t, pairs, settings.lfw_identity_people, derive(study.seed, "lfw-identity-people")
        )
    label = embedder_label(study.embedder)
    suffix = "-quick" if study.quick else ""
    datasets: dict[str, Embedded] = {}
    for name in DATASETS:
        if name not in found:
            continue
        table = subsets.get(name, lambda t: t)(load_dataset(name, study.data_root))
        out = study.cache / "embeddings" / f"{name}-{label}{suffix}.parquet"
        log(f"embedding {name}: {len(table)} images with {study.embedder} -> {out}")
        embed_dataset(
            table, study.data_root, out, embedder=study.embedder, n_jobs=study.n_jobs, progress=True
        )
        rows = read_labelled(out, label=None)
        meta = read_metadata(out)
        counts = {"images": meta["n_images"], **meta["face_status_counts"]}
        datasets[name] = Embedded(table=rows.table, X=rows.X, counts=counts)
    reserved: dict[str, frozenset[str]] = {}
    if "lfw" in datasets and pairs is not None:
        lfw = datasets["lfw"].table
        paths = set(pairs["path_a"]) | set(pairs["path_b"])
        reserved["lfw"] = frozenset(lfw.loc[lfw["path"].isin(paths), "subject"].astype(str))
    if "celeba" in datasets:
        celeba = datasets["celeba"].table
        _, test_rows = split_celeba_subjects(celeba, random_state=study.seed)
        reserved["celeba"] = frozenset(celeba["subject"].iloc[test_rows].astype(str))
    if "utkface" in datasets:
        reserved["utkface"] = frozenset(datasets["utkface"].table["subject"].dropna().astype(str))
    return StudyData(datasets=datasets, pairs=pairs, reserved_people=reserved)


# -- who fits, who evaluates -------------------------------------------------------------------


@dataclass(frozen=True)
class FitSet:
    """The rows a blinder is fit on: embeddings, expression (None where unknown), subject
    (dataset-qualified) and source (the dataset of each row)."""

    X: np.ndarray
    expression: np.ndarray
    subject: np.ndarray
    source: np.ndarray
    sources: Mapping[str, int]

    @property
    def n_people(self) -> int:
        return int(pd.Series(self.subject).nunique())


def fit_set(data: StudyData, sources: Sequence[str]) -> FitSet:
    """Rows of the eligible (not reserved) people of each dataset in ``sources``, labelled as
    :func:`~blindface.pipelines.row_labels` reads them."""
    parts, counts = [], {}
    for name in sources:
        emb = data.datasets[name]
        rows = data.fit_eligible(name)
        expression, subject = row_labels(emb.table.iloc[np.flatnonzero(rows)], name)
        parts.append((emb.X[rows], expression, subject, np.full(int(rows.sum()), name, object)))
        counts[name] = int(rows.sum())
    if not parts:
        raise RuntimeError("no dataset with expression labels: there is nothing to fit on")
    return FitSet(
        X=np.concatenate([p[0] for p in parts]).astype(np.float32),
        expression=np.concatenate([p[1] for p in parts]),
        subject=np.concatenate([p[2] for p in parts]),
        source=np.concatenate([p[3] for p in parts]),
        sources=counts,
    )
