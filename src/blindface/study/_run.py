"""``blindface reproduce``: the whole study, end to end, resumable.

embed (cached stores) -> fit every candidate of every method's sweep on every fit set the
protocol needs (the sources but one: the leave-one-dataset-out blinders; the sources but two:
the inner validation blinders) -> for each held-out dataset D, choose each method's operating
point and the ``recommended`` one by inner leave-one-source-out on the other sources only ->
score every candidate on D (the trade-off curves) and the chosen ones with every attacker, both
threat models, identity at a fixed FAR and gender/ethnicity -> the library defaults (the same
choice over all sources) fit on everything for Table II and the figures -> ``results.json``
and ``report.md``.

Fits are cached by a key over everything they depend on, every attack by its inputs
(:class:`~blindface.study._scores.ScoreCache`): a rerun skips finished work.
"""

from __future__ import annotations

import itertools
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from blindface._io import write_json
from blindface._version import __version__
from blindface.blinding import get_method
from blindface.evaluation import (
    THREATS,
    ProbeScores,
    Strongest,
    pooled_diff,
    score_table,
    strongest_attacker,
)
from blindface.faces import embedder_label
from blindface.study._data import (
    DATASETS,
    EXPRESSION_DATASETS,
    StudyData,
    embed_study_data,
    fit_set,
)
from blindface.study._evaluate import RAW, Evaluator, Representation, selection_score
from blindface.study._figures import figures
from blindface.study._fitting import FitJob, Fitted, candidate_label, fit_blinders
from blindface.study._report import write_report
from blindface.study._scores import ScoreCache
from blindface.study._selection import Candidate, Scored, selection_record
from blindface.study._settings import Study
from blindface.study._table2 import table2
from blindface.study._tasks import ATTRIBUTE_TASKS, IDENTITY_SETS

Log = Callable[[str], None]
NONE = Candidate("none")

#: What each missing dataset costs the report.
MISSING_ROWS = {
    "jaffe": "the JAFFE leakage rows and its leave-one-out blinders",
    "ckplus": "the CK+ leakage rows, its leave-one-out blinders and the figures' CK+ panels",
    "taiwanese": "the Taiwanese leakage rows and its leave-one-out blinders",
    "lfw": "identity at the LFW operating point, the LFW fitting identities and smiling rows",
    "utkface": "the gender and ethnicity rows",
    "celeba": "the CelebA smiling rows, its identities, its fitting rows and Table II",
}


@dataclass(frozen=True)
class Fold:
    """One leave-one-dataset-out fold: the held-out dataset and the blinders fit without it."""

    heldout: str
    sources: tuple[str, ...]


def run_study(study: Study, log: Log = print, data: StudyData | None = None) -> dict[str, Any]:
    """Run every stage; write ``report.md``, ``results.json`` and the figures to ``study.out``.

    ``data`` replaces the embedding stage (tests inject synthetic embeddings).
    """
    started = time.perf_counter()
    study.out.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else embed_study_data(study, log)
    missing = [n for n in DATASETS if n not in data.datasets]
    for name in missing:
        log(f"skipped: {name} is not under {study.data_root}; {MISSING_ROWS[name]} are lost")
    sources = tuple(n for n in EXPRESSION_DATASETS if n in data.datasets)
    if len(sources) < 3:
        log(
            f"leave-one-dataset-out with nested selection needs 3 or more expression datasets "
            f"(one held out, one validating, one fitting); found {list(sources) or 'none'}: "
            "no blinder is fitted or scored"
        )
        results = _results(study, data, sources, {}, started, missing)
        write_json(study.out / "results.json", results)
        write_report(results, study.out / "report.md")
        return results
    cache = ScoreCache(study.cache / "scores" / _cache_name(study))
    evaluator = Evaluator(study, data, cache)
    candidates = {m: [Candidate.of(m, p) for p in study.candidates(m)] for m in study.method_names}
    flat = [c for group in candidates.values() for c in group]
    folds = [Fold(d, tuple(s for s in sources if s != d)) for d in sources]

    fitted, fit_seconds = _fit_everything(study, data, sources, flat, log)

    def model(fit_sources: Sequence[str], candidate: Candidate) -> Fitted:
        return fitted[(tuple(fit_sources), candidate)]

    selection: list[dict[str, Any]] = []
    chosen: dict[str, dict[str, Candidate]] = {}
    for fold in folds:
        log(f"selection for held-out {fold.heldout}: inner leave-one-source-out on {fold.sources}")
        inner = Evaluator(study, data.without(fold.heldout), cache)
        scored = {}
        for candidate in flat:
            validations = []
            for validation in fold.sources:
                rest = tuple(s for s in fold.sources if s != validation)
                rep = model(rest, candidate).representation
                validations.append(selection_score(inner, validation, rep))
            scored[candidate] = Scored(candidate, tuple(validations))
        chosen[fold.heldout] = {}
        for method, group in candidates.items():
            record = selection_record(
                fold.heldout, method, [scored[c] for c in group], study.settings.max_identity_loss
            )
            selection.append(record)
            chosen[fold.heldout][method] = Candidate.of(method, record["choice"]["params"])
        baseline = Scored(NONE, tuple({"removed": 0.0, "tar_loss": 0.0} for _ in fold.sources))
        options = [baseline, *scored.values()]
        record = selection_record(
            fold.heldout, "recommended", options, study.settings.max_identity_loss
        )
        selection.append(record)
        choice = record["choice"]
        chosen[fold.heldout]["recommended"] = Candidate.of(choice["method"], choice["params"])

    curves: list[dict[str, Any]] = []
    outer_scores: dict[Candidate, list[Mapping[str, Any]]] = {c: [] for c in flat}
    for fold in folds:
        log(f"trade-off curves on held-out {fold.heldout}: {len(flat)} candidates")
        for candidate in flat:
            rep = model(fold.sources, candidate).representation
            curves.extend(_curve_rows(evaluator, fold, candidate, rep))
            outer_scores[candidate].append(selection_score(evaluator, fold.heldout, rep))

    strongest_rows: list[dict[str, Any]] = []
    probe_rows: list[dict[str, Any]] = []
    utility: list[dict[str, Any]] = []
    attributes: list[dict[str, Any]] = []
    cells: dict[tuple[str, str, str], list[Strongest]] = {}
    for fold in folds:
        picks = chosen[fold.heldout]
        for candidate in sorted(set(picks.values()), key=lambda c: (c.method, c.label)):
            # ``none`` (recommended when no blinder keeps identity within the budget) is x
            rep = RAW if candidate == NONE else model(fold.sources, candidate).representation
            log(f"held-out {fold.heldout}: {candidate.method} {candidate.label}, every attacker")
            names = [m for m, c in picks.items() if c == candidate]
            base = {"setting": "lodo", "heldout_dataset": fold.heldout}
            found = _headline(evaluator, fold, rep, study)
            for (task, threat, attacker, dataset, view), (result, per_probe) in found.items():
                row = {
                    **base,
                    "dataset": dataset,
                    "task": task,
                    "threat": threat,
                    "attacker": attacker,
                    "view": view,
                    "params": dict(candidate.params),
                    "label": candidate.label,
                    **result.record(),
                }
                for name in names:
                    method_name = "recommended" if name == "recommended" else candidate.method
                    extra = (
                        {"recommended_method": candidate.method} if name == "recommended" else {}
                    )
                    strongest_rows.append({**row, "method": method_name, **extra})
                    cells.setdefault((method_name, threat, attacker), []).append(result)
                    if attacker == "probe":
                        probe_rows.extend(
                            {**r, **base, "method": method_name, "dataset": dataset, "task": task}
                            for r in per_probe
                        )
            for name in IDENTITY_SETS:
                for r in evaluator.identity_rows(name, rep):
                    for method_name in _names(names, candidate):
                        utility.append(
                            {**base, "method": method_name, "label": candidate.label, **r}
                        )
            for task in ATTRIBUTE_TASKS:
                result = evaluator.attribute(task, rep)
                if result is None:
                    continue
                for method_name in _names(names, candidate):
                    attributes.append(
                        {
                            **base,
                            "method": method_name,
                            "dataset": task.dataset,
                            "task": task.name,
                            "threat": "population",
                            "attacker": "probe",
                            "label": candidate.label,
                            **result.record(),
                        }
                    )

    defaults = []
    for method, group in candidates.items():
        record = selection_record(
            None,
            method,
            [Scored(c, tuple(outer_scores[c])) for c in group],
            study.settings.max_identity_loss,
        )
        defaults.append(record)
    final_jobs = [
        FitJob(r["scope"], r["choice"]["params"], fit_set(data, sources), "all sources")
        for r in defaults
    ]
    final = {f.method: f for f in fit_blinders(final_jobs, study, log)}

    pooled = _pooled(cells, utility, attributes, chosen, fit_seconds, folds)
    made = figures(data, evaluator, folds, chosen, model, curves, final, study, log)
    table2_rows = table2(data, final, study, cache, log)
    sections = {
        "pooled": pooled,
        "strongest": strongest_rows,
        "leakage": probe_rows,
        "utility": utility,
        "attributes": attributes,
        "selection": selection,
        "curves": curves,
        "defaults": defaults,
        "table2": table2_rows,
        "figures": made,
    }
    results = _results(study, data, sources, sections, started, missing, fit_seconds)
    write_json(study.out / "results.json", results)
    write_report(results, study.out / "report.md")
    log(f"wrote {study.out / 'report.md'} and {study.out / 'results.json'}")
    return results


def _results(
    study: Study,
    data: StudyData,
    sources: Sequence[str],
    sections: Mapping[str, Any],
    started: float,
    missing: Sequence[str],
    fit_seconds: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """``results.json``: every section (empty when not computed), the config, the time."""
    empty: dict[str, Any] = {
        key: [] for key in ("pooled", "strongest", "leakage", "utility", "attributes")
    }
    empty |= {key: [] for key in ("selection", "curves", "defaults", "table2")}
    return {
        **empty,
        "figures": {},
        **sections,
        "config": _config(study, data, sources, fit_seconds or {}),
        "seconds": round(time.perf_counter() - started, 1),
        "missing": {n: MISSING_ROWS[n] for n in missing},
    }


def _names(names: Sequence[str], candidate: Candidate) -> list[str]:
    return ["recommended" if n == "recommended" else candidate.method for n in names]


def _fit_everything(
    study: Study,
    data: StudyData,
    sources: tuple[str, ...],
    flat: Sequence[Candidate],
    log: Log,
) -> tuple[dict[tuple[tuple[str, ...], Candidate], Fitted], dict[str, dict[str, float]]]:
    """Every candidate on every fit set: the sources but one (outer) and but two (inner)."""
    fit_sets = [
        tuple(s for s in sources if s not in held)
        for k in (1, 2)
        for held in itertools.combinations(sources, k)
    ]
    jobs, keys = [], []
    for fit_sources in fit_sets:
        fitset = fit_set(data, fit_sources)
        held = "+".join(s for s in sources if s not in fit_sources)
        for candidate in flat:
            jobs.append(FitJob(candidate.method, candidate.params, fitset, f"without {held}"))
            keys.append((fit_sources, candidate))
    done = fit_blinders(jobs, study, log)
    fitted = dict(zip(keys, done, strict=True))
    seconds: dict[str, dict[str, float]] = {}
    for (fit_sources, candidate), f in fitted.items():
        if len(fit_sources) == len(sources) - 1:
            held = next(s for s in sources if s not in fit_sources)
            seconds.setdefault(f"lodo_{held}", {})[f"{candidate.method} {candidate.label}"] = round(
                f.seconds, 2
            )
    return fitted, seconds


def _curve_rows(
    evaluator: Evaluator, fold: Fold, candidate: Candidate, rep: Representation
) -> list[dict[str, Any]]:
    """One candidate on the held-out dataset: the sweep attackers' strongest Diff per task and
    threat, and the TAR at FAR 0.1 % loss on each identity set (a point of a trade-off curve)."""
    settings = evaluator.settings
    losses = {
        name: evaluator.tar_loss(evaluator.identity_images(name), rep, 1e-3)
        for name in IDENTITY_SETS
    }
    rows = []
    for task in evaluator.tasks_of(fold.heldout):
        task_rows = evaluator.rows(task, "eval")
        if task_rows is None:
            continue
        for threat in THREATS:
            kwargs = {"probes": settings.sweep_probes, "tune": settings.tune_sweep_probes}
            try:
                before = evaluator.probe_attack(task_rows, RAW, threat, **kwargs)
                after = evaluator.probe_attack(task_rows, rep, threat, **kwargs)
            except ValueError:
                continue
            result = strongest_attacker(
                before, after, n_resamples=200, random_state=evaluator.study.seed
            )
            rows.append(
                {
                    "heldout_dataset": fold.heldout,
                    "method": candidate.method,
                    "params": dict(candidate.params),
                    "label": candidate.label,
                    "dataset": task.dataset,
                    "task": task.label,
                    "threat": threat,
                    "diff": result.record()["diff"],
                    "readable": result.readable,
                    **{f"tar_loss_{name}": value for name, value in losses.items()},
                }
            )
    return rows


def _headline(
    evaluator: Evaluator, fold: Fold, rep: Representation, study: Study
) -> dict[tuple[str, str, str, str, str], tuple[Strongest, list[dict[str, Any]]]]:
    """Every attacker under both threats on every task of the held-out dataset: the strongest
    attacker's result and, for the probe attacker, every probe's row."""
    settings = study.settings
    out = {}
    inversion = None

    def get_inversion():
        nonlocal inversion
        if inversion is None:
            inversion = evaluator.fit_inversion(rep, fold.sources)
        return inversion

    for task in evaluator.tasks_of(fold.heldout):
        rows = evaluator.rows(task, "eval")
        if rows is None:
            continue
        for threat in THREATS:
            pairs: dict[str, tuple[ProbeScores, ProbeScores] | None] = {}
            try:
                headline = {"probes": settings.probes, "tune": settings.tune_probes}
                cheap = {"probes": settings.attack_probes, "tune": False}
                if "probe" in settings.attackers:
                    pairs["probe"] = (
                        evaluator.probe_attack(rows, RAW, threat, **headline),
                        evaluator.probe_attack(rows, rep, threat, **headline),
                    )
                if "transfer" in settings.attackers:
                    before = evaluator.transfer_attack(rows, task, RAW, threat)
                    after = evaluator.transfer_attack(rows, task, rep, threat)
                    pairs["transfer"] = None if before is None or after is None else (before, after)
                if "inversion" in settings.attackers:
                    pairs["inversion"] = (
                        evaluator.probe_attack(rows, RAW, threat, **cheap),
                        evaluator.inversion_attack(rows, rep, threat, get_inversion),
                    )
            except ValueError:  # too few people for the folds under this threat
                continue
            view = evaluator.view_rule(rows, threat)
            for attacker, pair in pairs.items():
                if pair is None:
                    continue
                before, after = pair
                result = strongest_attacker(
                    before, after, n_resamples=settings.n_bootstrap, random_state=study.seed
                )
                per_probe: list[dict[str, Any]] = []
                if attacker == "probe":
                    table = score_table(
                        after, n_bootstrap=settings.n_bootstrap, random_state=study.seed
                    )
                    per_probe = [
                        {
                            "threat": threat,
                            "view": view,
                            "probe": r["probe"],
                            "accuracy": r["accuracy"],
                            "balanced_accuracy": r["balanced_accuracy"],
                            "balanced_ci_low": r["balanced_ci_low"],
                            "balanced_ci_high": r["balanced_ci_high"],
                            "chance": r["chance"],
                            "balanced_chance": r["balanced_chance"],
                            "before_balanced_accuracy": before.balanced_accuracy(r["probe"]),
                            "n": r["n"],
                            "n_people": r["n_people"],
                        }
                        for r in table.to_dict("records")
                    ]
                out[(task.label, threat, attacker, task.dataset, view)] = (result, per_probe)
    return out


def _pooled(
    cells: Mapping[tuple[str, str, str], list[Strongest]],
    utility: Sequence[Mapping[str, Any]],
    attributes: Sequence[Mapping[str, Any]],
    chosen: Mapping[str, Mapping[str, Candidate]],
    fit_seconds: Mapping[str, Mapping[str, float]],
    folds: Sequence[Fold],
) -> list[dict[str, Any]]:
    """The headline: per method (and ``recommended``), threat and attacker, the mean Diff over
    the held-out cells where x is readable, with its interval; the mean TAR loss on LFW at
    FAR 0.1 %; the worst gender/ethnicity Diff; the mean fit time of the chosen points."""
    methods = list(dict.fromkeys(m for m, _, _ in cells))
    out = []
    for method in methods:
        tar = [
            float(r["loss"])
            for r in utility
            if r["method"] == method and r["identity_set"] == "lfw" and r["far"] == 1e-3
        ]
        worst = [
            float(r["diff"])
            for r in attributes
            if r["method"] == method and r.get("diff") is not None
        ]
        times = []
        for fold in folds:
            candidate = chosen[fold.heldout].get(method)
            if candidate is not None and candidate != NONE:
                label = f"{candidate.method} {candidate.label}"
                times.append(fit_seconds.get(f"lodo_{fold.heldout}", {}).get(label))
        known_times = [t for t in times if t is not None]
        for (m, threat, attacker), results in cells.items():
            if m != method:
                continue
            diff, low, high, n = pooled_diff(results)
            out.append(
                {
                    "method": method,
                    "threat": threat,
                    "attacker": attacker,
                    "diff": None if not np.isfinite(diff) else round(diff, 2),
                    "diff_ci_low": None if not np.isfinite(low) else round(low, 2),
                    "diff_ci_high": None if not np.isfinite(high) else round(high, 2),
                    "n_cells": n,
                    "n_unreadable": sum(1 for r in results if not r.readable),
                    "tar_loss_lfw": round(float(np.mean(tar)), 3) if tar else None,
                    "worst_attribute_diff": round(max(worst), 2) if worst else None,
                    "fit_seconds": round(float(np.mean(known_times)), 1) if known_times else None,
                }
            )
    return out


def _cache_name(study: Study) -> str:
    return f"{embedder_label(study.embedder)}-seed{study.seed}"


def _config(
    study: Study,
    data: StudyData,
    sources: Sequence[str],
    fit_seconds: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    methods = study.method_names
    return {
        "embedder": study.embedder,
        "quick": study.quick,
        "seed": study.seed,
        "sources": list(sources),
        "methods": {m: get_method(m).kind for m in methods},
        "candidates": {m: [candidate_label(p) for p in study.candidates(m)] for m in methods},
        "settings": asdict(study.settings),
        "fit_seconds": fit_seconds,
        "dataset_counts": {n: dict(e.counts) for n, e in data.datasets.items()},
        "people": {
            n: {
                "images": len(e.table),
                "people": int(e.table["subject"].nunique()),
                "reserved_people": len(data.reserved_people.get(n, ())),
            }
            for n, e in data.datasets.items()
        },
        "versions": {
            "blindface": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
