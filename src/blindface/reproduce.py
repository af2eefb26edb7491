"""``blindface reproduce``: the paper's study, end to end, on the datasets found under a data root.

embed (cached stores) → split people into blinder-fit and evaluation sets → fit every blinding
method → Table I (leakage and utility) → figures → Table II (fairness) → ``report.md`` and
``results.json``.

The protocol keeps every number honest. Blinders are fit on the expression images of half of
the JAFFE and CK+ subjects and on LFW identities that are not in the verification pairs. Every
accuracy is then measured on people the blinder never saw: emotion probes are trained and
tested (subject-disjoint folds) on the other half of the subjects; identity on the LFW
verification pairs (View-2 ``pairs.txt`` when present, else View-1 DevTest); gender and
ethnicity on UTKFace; the transfer rows on LFW (happy vs neutral, people of the verification
pairs) and CelebA (smiling), datasets whose expressions the blinder never saw.

Every step is resumable: embeddings live in the store's cache, fitted blinders in the cache
folder, and each finished table row in ``REPORT_DIR/stages/``; a rerun skips finished work.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._version import __version__

#: The paper's two methods and the two closed-form baselines: the rows of ``table1``/``table2``.
METHODS = ("sensitivenets", "lnl", "leace", "inlp")
#: Methods beyond the paper; their rows go to ``table1_beyond_paper``/``table2_beyond_paper`` so
#: that ``table1``/``table2`` keep exactly the documented method names.
EXTRA_METHODS = ("within_subject",)
PROBES = ("mlp", "svm", "rf", "logreg", "knn")
EMOTION_DATASETS = ("ckplus", "jaffe")

Log = Callable[[str], None]

_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_PERCENT_OR_NULL = {"type": ["number", "null"]}
#: JSON Schema of ``results.json`` (the keys every run writes; rows may carry more keys).
RESULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["table1", "table2", "config"],
    "properties": {
        "table1": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "method",
                    "task",
                    "probe",
                    "protocol",
                    "accuracy",
                    "std",
                    "chance",
                    "diff",
                ],
                "properties": {
                    "method": {"enum": ["none", *METHODS]},
                    "task": {
                        "enum": [
                            "identity",
                            "gender",
                            "ethnicity",
                            "emotion",
                            "transfer_lfw_happy",
                            "transfer_celeba_smiling",
                        ]
                    },
                    "probe": {"enum": ["verification", *PROBES]},
                    "protocol": {"enum": ["subject_disjoint", "random_80_20"]},
                    "accuracy": _PERCENT,
                    "std": {"type": "number", "minimum": 0},
                    "chance": _PERCENT,
                    "diff": _PERCENT_OR_NULL,
                },
            },
        },
        "table2": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "representation",
                    "training",
                    "accuracy",
                    "tpr_smiling",
                    "tpr_not_smiling",
                    "equal_opportunity",
                    "std",
                ],
                "properties": {
                    "representation": {"enum": ["x", *METHODS]},
                    "training": {"enum": ["unbiased", "biased"]},
                    "accuracy": _PERCENT,
                    "tpr_smiling": _PERCENT,
                    "tpr_not_smiling": _PERCENT,
                    "equal_opportunity": _PERCENT,
                    "std": {"type": "number", "minimum": 0},
                },
            },
        },
        "config": {
            "type": "object",
            "required": ["embedder", "seed", "versions", "dataset_counts"],
        },
    },
}


@dataclass(frozen=True)
class StudySettings:
    """Sizes and seeds of one run: ``QUICK`` is what CI runs, ``FULL`` what docs/results holds."""

    n_splits: int = 5
    probes: tuple[str, ...] = PROBES
    tune_probes: bool = True
    lfw_identity_people: int | None = None
    utkface_images: int | None = 3000
    celeba_images: int | None = None
    transfer_images: int | None = 2000
    fairness_repetitions: int = 5
    suppression_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95)
    suppression_draws: int = 5
    tsne_points: int = 800
    random_80_20: bool = True
    blinder_params: dict[str, dict[str, Any]] = field(default_factory=dict)


FULL = StudySettings()
QUICK = StudySettings(
    n_splits=3,
    tune_probes=False,
    lfw_identity_people=250,
    utkface_images=600,
    transfer_images=600,
    fairness_repetitions=2,
    suppression_fractions=(0.0, 0.5, 0.9),
    suppression_draws=2,
    tsne_points=300,
    random_80_20=False,
    blinder_params={"sensitivenets": {"max_rounds": 2}},
)


@dataclass(frozen=True)
class Study:
    """Where a run reads and writes, and how big it is."""

    data_root: Path
    out: Path
    embedder: str = "sface"
    quick: bool = False
    seed: int = 0
    cache_dir: Path | None = None
    methods: tuple[str, ...] = (*METHODS, *EXTRA_METHODS)
    n_jobs: int = 2

    @property
    def settings(self) -> StudySettings:
        return QUICK if self.quick else FULL

    @property
    def cache(self) -> Path:
        """Embeddings and fitted blinders (derived from face data: never commit them)."""
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        env = os.environ.get("BLINDFACE_CACHE")
        return Path(env) if env else Path.home() / ".cache" / "blindface"


@dataclass(frozen=True)
class Embedded:
    """One dataset's usable rows: its table and the matching embeddings (failed faces dropped)."""

    table: pd.DataFrame
    X: np.ndarray
    counts: dict[str, int]


# -- stage 1: embeddings -------------------------------------------------------------------


@functools.cache
def verification_pairs(data_root: Path) -> pd.DataFrame:
    """The LFW pairs of the identity rows: View-2 ``pairs.txt`` (10 official folds) when present,
    else View-1 DevTest; only pairs with both images (the loader warns once about the rest)."""
    from blindface.datasets import DatasetLayoutError, load_lfw_pairs

    try:
        return load_lfw_pairs(data_root, view="view2")
    except DatasetLayoutError:
        return load_lfw_pairs(data_root, view="devtest")


def _lfw_subset(
    table: pd.DataFrame, data_root: Path, people: int | None, seed: int
) -> pd.DataFrame:
    """The LFW rows the study needs: every image of the verification pairs, plus (quick runs) the
    images of ``people`` other identities with two or more images for fitting blinders."""
    if people is None:
        return table
    pairs = verification_pairs(data_root)
    needed = set(pairs["path_a"]) | set(pairs["path_b"])
    test_people = set(table.loc[table["path"].isin(needed), "subject"])
    counts = table["subject"].value_counts()
    others = sorted(s for s in counts.index[counts >= 2] if s not in test_people)
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(others)[:people]) if others else set()
    keep = table["path"].isin(needed) | table["subject"].isin(chosen)
    return table[keep].reset_index(drop=True)


def _sample(
    table: pd.DataFrame, n: int | None, seed: int, stratify: str | None = None
) -> pd.DataFrame:
    """A seeded subset of ``n`` rows (stratified on a column when given), in path order."""
    if n is None or len(table) <= n:
        return table
    if stratify is None:
        idx = np.random.default_rng(seed).permutation(len(table))[:n]
    else:
        from sklearn.model_selection import train_test_split

        labels = table[stratify].astype(str).fillna("NA").to_numpy()
        idx, _ = train_test_split(
            np.arange(len(table)), train_size=n, stratify=labels, random_state=seed
        )
    return table.iloc[np.sort(idx)].reset_index(drop=True)


def embed_study_data(study: Study, log: Log) -> dict[str, Embedded]:
    """Load each dataset found under the data root, embed it (cached) and keep usable rows."""
    from blindface.datasets import find_datasets, load_dataset
    from blindface.store import embed_dataset, read_store

    settings = study.settings
    found = find_datasets(study.data_root)
    log(f"datasets found under {study.data_root}: {', '.join(found) or 'none'}")
    subsets: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
        "lfw": lambda t: _lfw_subset(t, study.data_root, settings.lfw_identity_people, study.seed),
        "utkface": lambda t: _sample(t, settings.utkface_images, study.seed, "ethnicity"),
        "celeba": lambda t: _celeba_subset(t, settings.celeba_images, study.seed),
    }
    suffix = "-quick" if study.quick else ""
    data: dict[str, Embedded] = {}
    for name in ("jaffe", "ckplus", "lfw", "utkface", "celeba"):
        if name not in found:
            continue
        table = load_dataset(name, study.data_root)
        table = subsets.get(name, lambda t: t)(table)
        out = study.cache / "embeddings" / f"{name}-{study.embedder}{suffix}.parquet"
        log(f"embedding {name}: {len(table)} images with {study.embedder} → {out}")
        embed_dataset(
            table, study.data_root, out, embedder=study.embedder, n_jobs=study.n_jobs, progress=True
        )
        store = read_store(out)
        counts = store.table["face_status"].value_counts().to_dict()
        counts = {str(k): int(v) for k, v in counts.items()}
        ok = np.asarray(store.ok, dtype=bool)
        data[name] = Embedded(
            table=store.table[ok].reset_index(drop=True),
            X=np.asarray(store.embeddings[ok], dtype=np.float32),
            counts={"images": len(store.table), **counts},
        )
    return data


def _celeba_subset(table: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """Whole identities of CelebA up to about ``n`` images (keeps identity-disjoint splits)."""
    if n is None or len(table) <= n:
        return table
    subjects = np.random.default_rng(seed).permutation(table["subject"].dropna().unique())
    sizes = table["subject"].value_counts()
    take = subjects[np.cumsum(sizes.loc[subjects].to_numpy()) <= n]
    return table[table["subject"].isin(set(take))].reset_index(drop=True)


# -- stage 2: who is used for what -----------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Which people fit the blinders and which evaluate them."""

    emotion_fit: pd.DataFrame
    emotion_fit_X: np.ndarray
    emotion_eval: dict[str, tuple[pd.DataFrame, np.ndarray]]
    identity_fit: pd.DataFrame
    identity_fit_X: np.ndarray
    lfw_test_people: frozenset[str]


def split_people(data: dict[str, Embedded], study: Study) -> Split:
    """Half of each emotion dataset's subjects fit the blinders, the other half evaluate them;
    LFW people outside the verification pairs give the blinders identities."""
    rng = np.random.default_rng(study.seed)
    fit_tables, fit_X, evaluation = [], [], {}
    for name in EMOTION_DATASETS:
        if name not in data:
            continue
        emb = data[name]
        labelled = emb.table["expression"].notna().to_numpy()
        table = emb.table[labelled].reset_index(drop=True)
        X = emb.X[labelled]
        subjects = np.asarray(sorted(table["subject"].unique()))
        fit_subjects = set(rng.permutation(subjects)[: len(subjects) // 2])
        is_fit = table["subject"].isin(fit_subjects).to_numpy()
        fit_tables.append(table[is_fit].assign(subject=lambda t, n=name: n + ":" + t["subject"]))
        fit_X.append(X[is_fit])
        evaluation[name] = (table[~is_fit].reset_index(drop=True), X[~is_fit])
    test_people: frozenset[str] = frozenset()
    identity = pd.DataFrame(columns=["subject"])
    identity_X = np.zeros((0, next(iter(data.values())).X.shape[1]), dtype=np.float32)
    if "lfw" in data:
        pairs = verification_pairs(study.data_root)
        lfw = data["lfw"]
        pair_paths = set(pairs["path_a"]) | set(pairs["path_b"])
        test_people = frozenset(lfw.table.loc[lfw.table["path"].isin(pair_paths), "subject"])
        others = ~lfw.table["subject"].isin(test_people)
        counts = lfw.table.loc[others, "subject"].value_counts()
        keep = (others & lfw.table["subject"].isin(counts.index[counts >= 2])).to_numpy()
        identity = lfw.table[keep].reset_index(drop=True)
        identity_X = lfw.X[keep]
    if not fit_tables:
        raise RuntimeError("no expression-labelled dataset (JAFFE or CK+) found: nothing to blind")
    return Split(
        emotion_fit=pd.concat(fit_tables, ignore_index=True),
        emotion_fit_X=np.concatenate(fit_X),
        emotion_eval=evaluation,
        identity_fit=identity,
        identity_fit_X=identity_X,
        lfw_test_people=test_people,
    )


# -- stage 3: fit the blinders ---------------------------------------------------------------


def _make_blinder(method: str, study: Study) -> Any:
    from blindface.blinding import get_method

    params = {"random_state": study.seed, **study.settings.blinder_params.get(method, {})}
    estimator = get_method(method).create()
    accepted = estimator.get_params()
    return estimator.set_params(**{k: v for k, v in params.items() if k in accepted})


def fit_blinders(split: Split, study: Study, log: Log) -> dict[str, Any]:
    """Fit (or reload from the cache) every method on the blinder-fit people."""
    import blindface

    X = np.concatenate([split.emotion_fit_X, split.identity_fit_X]).astype(np.float32)
    expression = np.concatenate(
        [
            split.emotion_fit["expression"].astype(object).to_numpy(),
            [None] * len(split.identity_fit),
        ]
    )
    subject = np.concatenate(
        [
            split.emotion_fit["subject"].astype(object).to_numpy(),
            ("lfw:" + split.identity_fit["subject"].astype(str)).to_numpy(dtype=object),
        ]
    )
    digest = hashlib.sha256(X.tobytes() + "|".join(map(str, expression)).encode()).hexdigest()[:12]
    models: dict[str, Any] = {}
    for method in study.methods:
        estimator = _make_blinder(method, study)
        key = hashlib.sha256(
            json.dumps(
                [digest, method, estimator.get_params()], sort_keys=True, default=str
            ).encode()
        ).hexdigest()[:16]
        folder = study.cache / "models" / f"{method}-{study.embedder}-{key}"
        if (folder / "config.json").exists():
            log(f"{method}: reusing the fitted model in {folder}")
            models[method] = blindface.load(folder)
            continue
        log(
            f"{method}: fitting on {len(X)} embeddings "
            f"({int(pd.notna(expression).sum())} with an expression)"
        )
        start = time.perf_counter()
        estimator.fit(X, expression=expression, subject=subject)
        seconds = time.perf_counter() - start
        log(f"{method}: fitted in {seconds:.1f} s")
        estimator.save(folder)
        models[method] = estimator
        _write_json(folder / "fit_time.json", {"seconds": seconds})
    return models


# -- stage 4: Table I ------------------------------------------------------------------------


class Rows:
    """Finished table rows, saved after each addition so that a rerun resumes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
        self._done = {self._key(r) for r in self.rows}

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple:
        return tuple(
            row.get(k)
            for k in (
                "method",
                "representation",
                "task",
                "dataset",
                "probe",
                "protocol",
                "training",
            )
        )

    def done(self, **key: Any) -> bool:
        probe = {
            k: key.get(k)
            for k in (
                "method",
                "representation",
                "task",
                "dataset",
                "probe",
                "protocol",
                "training",
            )
        }
        return self._key(probe) in self._done

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.rows.append(row)
            self._done.add(self._key(row))
        _write_json(self.path, self.rows)


def _blind(models: dict[str, Any], method: str, X: np.ndarray) -> np.ndarray:
    return X if method == "none" else np.asarray(models[method].transform(X), dtype=np.float32)


def _leakage_rows(
    rows: Rows,
    *,
    method: str,
    task: str,
    dataset: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    probes: Sequence[str],
    protocol: str,
    study: Study,
) -> None:
    from blindface.evaluation import leakage

    todo = [
        p
        for p in probes
        if not rows.done(method=method, task=task, dataset=dataset, probe=p, protocol=protocol)
    ]
    if not todo:
        return
    started = time.perf_counter()
    result = leakage(
        X,
        y,
        groups=groups if protocol == "subject_disjoint" else None,
        probes=todo,
        protocol=protocol,
        n_splits=study.settings.n_splits,
        random_state=study.seed,
        tune=study.settings.tune_probes,
        n_jobs=study.n_jobs,
    )
    rows.add(
        [
            {
                "method": method,
                "task": task,
                "dataset": dataset,
                "probe": str(r["probe"]),
                "protocol": protocol,
                "accuracy": float(r["accuracy"]),
                "std": float(r["std"]),
                "chance": float(r["chance"]),
                "diff": None,
                "n": int(len(y)),
                "seconds_all_probes": round(time.perf_counter() - started, 1),
            }
            for _, r in result.iterrows()
        ]
    )


def table1(
    data: dict[str, Embedded],
    split: Split,
    models: dict[str, Any],
    study: Study,
    rows: Rows,
    log: Log,
) -> None:
    """Leakage (emotion, transfer) and utility (identity, gender, ethnicity) for every
    representation, on people the blinders never saw."""
    from blindface.evaluation import verification_accuracy

    settings = study.settings
    protocols = ["subject_disjoint"] + (["random_80_20"] if settings.random_80_20 else [])
    representations = ["none", *models]
    for method in representations:
        log(f"Table I: {method}")
        if "lfw" in data and not rows.done(
            method=method,
            task="identity",
            dataset="lfw",
            probe="verification",
            protocol="subject_disjoint",
        ):
            pairs = verification_pairs(study.data_root)
            lfw = data["lfw"]
            index = pd.Series(np.arange(len(lfw.table)), index=lfw.table["path"].to_numpy())
            complete = pairs["path_a"].isin(index.index) & pairs["path_b"].isin(index.index)
            pairs = pairs[complete]
            Xb = _blind(models, method, lfw.X)
            mean, std = verification_accuracy(
                Xb[index[pairs["path_a"]].to_numpy()],
                Xb[index[pairs["path_b"]].to_numpy()],
                pairs["same"].to_numpy(),
                folds=pairs["fold"].to_numpy() if pairs["fold"].nunique() > 1 else None,
                random_state=study.seed,
            )
            rows.add(
                [
                    {
                        "method": method,
                        "task": "identity",
                        "dataset": "lfw",
                        "probe": "verification",
                        "protocol": "subject_disjoint",
                        "accuracy": mean,
                        "std": std,
                        "chance": 50.0,
                        "diff": None,
                        "n": int(len(pairs)),
                    }
                ]
            )
        for name, (table, X) in split.emotion_eval.items():
            for protocol in protocols:
                _leakage_rows(
                    rows,
                    method=method,
                    task="emotion",
                    dataset=name,
                    X=_blind(models, method, X),
                    y=table["expression"].astype(str).to_numpy(),
                    groups=table["subject"].astype(str).to_numpy(),
                    probes=settings.probes,
                    protocol=protocol,
                    study=study,
                )
        if "utkface" in data:
            utk = data["utkface"]
            Xb = _blind(models, method, utk.X)
            for task, column in (("gender", "gender"), ("ethnicity", "ethnicity_group")):
                known = utk.table[column].notna().to_numpy()
                _leakage_rows(
                    rows,
                    method=method,
                    task=task,
                    dataset="utkface",
                    X=Xb[known],
                    y=utk.table.loc[known, column].astype(str).to_numpy(),
                    groups=None,
                    probes=("mlp", "logreg"),
                    protocol="random_80_20",
                    study=study,
                )
        if "lfw" in data:
            lfw = data["lfw"]
            mask = (
                lfw.table["subject"].isin(split.lfw_test_people)
                & lfw.table["expression"].isin(["happy", "neutral"])
            ).to_numpy()
            idx = _subsample(np.flatnonzero(mask), settings.transfer_images, study.seed)
            if len(idx) and len(np.unique(lfw.table["expression"].to_numpy()[idx])) == 2:
                _leakage_rows(
                    rows,
                    method=method,
                    task="transfer_lfw_happy",
                    dataset="lfw",
                    X=_blind(models, method, lfw.X[idx]),
                    y=lfw.table["expression"].astype(str).to_numpy()[idx],
                    groups=lfw.table["subject"].astype(str).to_numpy()[idx],
                    probes=settings.probes,
                    protocol="subject_disjoint",
                    study=study,
                )
        if "celeba" in data:
            celeba = data["celeba"]
            idx = _subsample(np.arange(len(celeba.table)), settings.transfer_images, study.seed)
            _leakage_rows(
                rows,
                method=method,
                task="transfer_celeba_smiling",
                dataset="celeba",
                X=_blind(models, method, celeba.X[idx]),
                y=celeba.table["Smiling"].astype(str).to_numpy()[idx],
                groups=celeba.table["subject"].astype(str).to_numpy()[idx],
                probes=settings.probes,
                protocol="subject_disjoint",
                study=study,
            )


def _subsample(idx: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or len(idx) <= n:
        return idx
    return np.sort(np.random.default_rng(seed).permutation(idx)[:n])


def with_diffs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill ``diff`` = (before - after) / (before - chance) against the unblinded row."""
    from blindface.evaluation import diff

    base = {
        (r["task"], r["dataset"], r["probe"], r["protocol"]): r
        for r in rows
        if r["method"] == "none"
    }
    out = []
    for r in rows:
        before = base.get((r["task"], r["dataset"], r["probe"], r["protocol"]))
        value = None
        if before is not None and r["method"] != "none":
            d = diff(before["accuracy"], r["accuracy"], r["chance"])
            value = None if d is None or not np.isfinite(d) else float(d)
        out.append({**r, "diff": value})
    return out


# -- stage 5: figures ------------------------------------------------------------------------


def figures(
    data: dict[str, Embedded],
    split: Split,
    models: dict[str, Any],
    rows: list[dict[str, Any]],
    study: Study,
    log: Log,
) -> dict[str, str]:
    """t-SNE (Figs. 3, 5), feature suppression (Fig. 4), trade-off plot, training curves."""
    from blindface.evaluation import (
        chance_level,
        feature_suppression_curve,
        plot_suppression_curves,
        plot_tradeoff,
        plot_tsne,
    )

    settings = study.settings
    folder = study.out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    name = "ckplus" if "ckplus" in split.emotion_eval else next(iter(split.emotion_eval))
    table, X = split.emotion_eval[name]
    y = table["expression"].astype(str).to_numpy()
    groups = table["subject"].astype(str).to_numpy()
    reps = {"x": X, **{m: _blind(models, m, X) for m in models}}

    panels = {
        "tsne_embeddings": ("x and the blinded embeddings (Fig. 3)", lambda: reps),
        "tsne_emotion_features": (
            "an emotion classifier's hidden features f3 (Fig. 5)",
            lambda: {f"f3({k})": _emotion_features(v, y, study.seed) for k, v in reps.items()},
        ),
    }
    for figure, (what, representations) in panels.items():
        log(f"figures: t-SNE of {what}")
        path = folder / f"{figure}.png"
        plot_tsne(
            representations(), y, path, max_points=settings.tsne_points, random_state=study.seed
        )
        made[figure] = _rel(path, study)

    log("figures: emotion accuracy vs fraction of features suppressed (Fig. 4)")
    curves = {
        k: feature_suppression_curve(
            v,
            y,
            groups,
            fractions=settings.suppression_fractions,
            n_draws=settings.suppression_draws,
            probe="svm",
            n_splits=settings.n_splits,
            random_state=study.seed,
            n_jobs=study.n_jobs,
        )
        for k, v in reps.items()
    }
    made["feature_suppression"] = _rel(
        plot_suppression_curves(curves, folder / "feature_suppression.png", chance=chance_level(y)),
        study,
    )

    points = []
    for method in ["none", *models]:
        ver = _find(rows, method=method, task="identity", probe="verification")
        emo = _find(
            rows,
            method=method,
            task="emotion",
            dataset=name,
            probe="mlp",
            protocol="subject_disjoint",
        )
        if ver and emo:
            points.append(
                {
                    "method": "x" if method == "none" else method,
                    "utility": ver["accuracy"],
                    "leakage": emo["accuracy"],
                    "utility_std": ver["std"],
                    "leakage_std": emo["std"],
                }
            )
    if points:
        made["tradeoff"] = _rel(
            plot_tradeoff(
                points,
                folder / "tradeoff.png",
                chance=chance_level(y),
                leakage_label=f"Emotion accuracy, {name}, MLP (%)",
            ),
            study,
        )

    for method, model in models.items():
        history = getattr(model, "history_", None)
        if history:
            made[f"training_{method}"] = _rel(
                _plot_history(history, folder / f"training_{method}.png", method), study
            )
    return made


def _emotion_features(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Hidden-layer features of an MLP emotion classifier trained on ``X`` (the paper's f3)."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X)
    mlp = MLPClassifier(hidden_layer_sizes=(256,), max_iter=400, random_state=seed).fit(Z, y)
    return np.maximum(Z @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)


def _plot_history(history: Any, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(history)
    numeric = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and c not in ("round", "epoch")
    ]
    fig, axes = plt.subplots(1, len(numeric), figsize=(4 * len(numeric), 3.2), squeeze=False)
    x = frame["round"] if "round" in frame else frame["epoch"] if "epoch" in frame else frame.index
    for ax, column in zip(axes[0], numeric, strict=True):
        ax.plot(x, frame[column], marker="o", ms=3)
        ax.set_title(column)
        ax.set_xlabel(x.name if hasattr(x, "name") and x.name else "step")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: training history")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _find(rows: list[dict[str, Any]], **key: Any) -> dict[str, Any] | None:
    for r in rows:
        if all(r.get(k) == v for k, v in key.items()):
            return r
    return None


def _rel(path: Path, study: Study) -> str:
    return Path(path).relative_to(study.out).as_posix()


# -- stage 6: Table II -----------------------------------------------------------------------


def table2(
    data: dict[str, Embedded], models: dict[str, Any], study: Study, rows: Rows, log: Log
) -> None:
    """Attractiveness classifiers on CelebA trained on an unbiased and a smiling-biased set."""
    from blindface.evaluation import fairness_experiment

    if "celeba" not in data:
        return
    celeba = data["celeba"]
    runs = [("x", "unbiased"), ("x", "biased")] + [(m, "biased") for m in models]
    for representation, training in runs:
        if rows.done(representation=representation, training=training):
            continue
        log(f"Table II: {representation} ({training} training set)")
        transform = None if representation == "x" else models[representation].transform
        result = fairness_experiment(
            celeba.X,
            celeba.table,
            training=training,
            n_repetitions=study.settings.fairness_repetitions,
            transform=transform,
            random_state=study.seed,
        )
        row = {"representation": representation, "training": training}
        for metric in ("accuracy", "tpr_smiling", "tpr_not_smiling", "equal_opportunity"):
            row[metric] = float(result[metric])
            row[f"{metric}_std"] = float(result[f"{metric}_std"])
        row["std"] = row["accuracy_std"]
        row.update(
            n_train=int(result["n_train"]),
            n_test=int(result["n_test"]),
            repetitions=int(result["n_repetitions"]),
        )
        rows.add([row])


# -- the whole run ---------------------------------------------------------------------------


def run_study(study: Study, log: Log = print) -> dict[str, Any]:
    """Run every stage; write ``report.md``, ``results.json`` and the figures to ``study.out``."""
    from blindface.report import write_report

    started = time.perf_counter()
    study.out.mkdir(parents=True, exist_ok=True)
    stages = study.out / "stages"
    data = embed_study_data(study, log)
    missing = [n for n in ("jaffe", "ckplus", "lfw", "utkface", "celeba") if n not in data]
    for name in missing:
        log(
            f"skipped: {name} is not under {study.data_root}; "
            f"{_MISSING_ROWS[name]} cannot be computed"
        )
    split = split_people(data, study)
    models = fit_blinders(split, study, log)
    t1 = Rows(stages / "table1.json")
    table1(data, split, models, study, t1, log)
    rows1 = with_diffs(t1.rows)
    made = figures(data, split, models, rows1, study, log)
    t2 = Rows(stages / "table2.json")
    table2(data, models, study, t2, log)
    paper = {"none", "x", *METHODS}
    results = {
        "table1": [r for r in rows1 if r["method"] in paper],
        "table2": [r for r in t2.rows if r["representation"] in paper],
        "table1_beyond_paper": [r for r in rows1 if r["method"] not in paper],
        "table2_beyond_paper": [r for r in t2.rows if r["representation"] not in paper],
        "figures": made,
        "config": _config(study, data, split, models),
        "seconds": round(time.perf_counter() - started, 1),
        "missing": {n: _MISSING_ROWS[n] for n in missing},
    }
    _write_json(study.out / "results.json", results)
    write_report(results, study.out / "report.md")
    log(f"wrote {study.out / 'report.md'} and {study.out / 'results.json'}")
    return results


_MISSING_ROWS = {
    "jaffe": "the JAFFE emotion rows",
    "ckplus": "the CK+ emotion rows",
    "lfw": "identity verification, the identity triplets and the LFW transfer rows",
    "utkface": "the gender and ethnicity rows",
    "celeba": "the CelebA transfer rows and Table II",
}


def _config(
    study: Study, data: dict[str, Embedded], split: Split, models: dict[str, Any]
) -> dict[str, Any]:
    import sklearn
    import torch

    fit_times = {}
    for method in models:
        for folder in (study.cache / "models").glob(f"{method}-{study.embedder}-*"):
            path = folder / "fit_time.json"
            if path.exists():
                fit_times[method] = json.loads(path.read_text())["seconds"]
    return {
        "embedder": study.embedder,
        "quick": study.quick,
        "seed": study.seed,
        "methods": list(models),
        "settings": asdict(study.settings),
        "blinder_params": {m: _jsonable(models[m].get_params()) for m in models},
        "fit_seconds": fit_times,
        "dataset_counts": {n: e.counts for n, e in data.items()},
        "blinder_fit": {
            "emotion_images": len(split.emotion_fit),
            "emotion_subjects": int(split.emotion_fit["subject"].nunique()),
            "identity_images": len(split.identity_fit),
            "identity_subjects": int(split.identity_fit["subject"].nunique())
            if len(split.identity_fit)
            else 0,
        },
        "evaluation_subjects": {
            n: int(t["subject"].nunique()) for n, (t, _) in split.emotion_eval.items()
        },
        "versions": {
            "blindface": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
            "torch": torch.__version__,
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str) + "\n")
    os.replace(tmp, path)
