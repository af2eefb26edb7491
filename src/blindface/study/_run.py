"""``blindface reproduce``: the whole study, end to end, resumable.

embed (cached stores) -> in-domain blinders (fit on a fixed half of each expression dataset's
people) -> leave-one-dataset-out blinders (fit on every other dataset) -> leakage under the
population and relative threat models on people no blinder saw, and the utility of the same
blinders -> figures -> Table II -> ``report.md`` and ``results.json``.

Every fitted blinder is cached by a key over everything its fit depends on; every finished block
of rows is saved in ``REPORT_DIR/stages/``; a rerun skips finished work.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from blindface._io import write_json
from blindface._version import __version__
from blindface.blinding import get_method
from blindface.study._data import (
    DATASETS,
    EXPRESSION_DATASETS,
    StudyData,
    embed_study_data,
    fit_halves,
    fit_set,
)
from blindface.study._evaluate import leakage_rows, paper_protocol_rows, task_rows, utility_rows
from blindface.study._figures import figures
from blindface.study._fitting import Fitted, fit_blinder
from blindface.study._report import write_report
from blindface.study._rows import Row, Rows, with_diffs
from blindface.study._settings import Study
from blindface.study._table2 import table2
from blindface.study._tasks import LEAKAGE_TASKS, UTILITY_TASKS

Log = Callable[[str], None]

#: What each missing dataset costs the report.
MISSING_ROWS = {
    "jaffe": "the JAFFE leakage rows and its leave-one-out blinder",
    "ckplus": "the CK+ leakage rows, its leave-one-out blinder and the figures' CK+ panels",
    "taiwanese": "the Taiwanese leakage rows and its leave-one-out blinder",
    "lfw": "identity verification, the LFW fitting identities and smiling rows",
    "utkface": "the gender and ethnicity rows",
    "celeba": "the CelebA smiling rows, its fitting identities and Table II",
}
#: Fields a leakage row shares with its baseline (``method == "none"``) for Diff.
LEAKAGE_MATCH = ("setting", "heldout_dataset", "dataset", "task", "threat", "probe", "protocol")
#: Utility rows are the same for every setting's baseline: same pairs, same images.
UTILITY_MATCH = ("dataset", "task", "probe", "protocol")


def _evaluate(
    rows: Rows,
    *,
    setting: str,
    heldout: str | None,
    method: str,
    transform: Callable[[np.ndarray], np.ndarray] | None,
    data: StudyData,
    exclude: Mapping[str, frozenset[str]],
    datasets: tuple[str, ...],
    study: Study,
    log: Log,
) -> None:
    """Leakage rows of every task on ``datasets`` and the utility rows, for one representation."""
    settings = study.settings
    base = {"setting": setting, "heldout_dataset": heldout, "method": method}
    for task in LEAKAGE_TASKS:
        if task.dataset not in datasets:
            continue
        key = {**base, "dataset": task.dataset, "task": task.label}
        threats = [t for t in ("population", "relative") if not rows.select(**key, threat=t)]
        if not threats:
            continue
        picked = task_rows(
            task,
            data,
            exclude_people=exclude.get(task.dataset, frozenset()),
            max_images=settings.max_eval_images,
            seed=study.seed,
        )
        if picked is None:
            continue
        log(
            f"{setting}{'/' + heldout if heldout else ''}: {method} on {task.key} "
            f"({len(picked)} images)"
        )
        X = picked.X if transform is None else transform(picked.X)
        new = leakage_rows(picked, X, study=study, threats=threats)  # type: ignore[arg-type]
        if setting == "in_domain" and settings.random_80_20 and "population" in threats:
            new += paper_protocol_rows(picked, X, study=study)
        rows.add({**key, **r} for r in new)
    for utility in UTILITY_TASKS:
        key = {**base, "dataset": utility.dataset, "task": utility.name}
        if rows.select(**key) or (method == "none" and setting != "in_domain"):
            continue
        rows.add(
            {**key, "threat": None, **r}
            for r in utility_rows(utility, data, transform, study=study)
        )


def _fit_all(
    study: Study, data: StudyData, people: Mapping[str, frozenset[str] | None], label: str, log: Log
) -> dict[str, Fitted]:
    fitset = fit_set(data, people)
    return {m: fit_blinder(m, fitset, study, log, label=label) for m in study.method_names}


def run_study(study: Study, log: Log = print, data: StudyData | None = None) -> dict[str, Any]:
    """Run every stage; write ``report.md``, ``results.json`` and the figures to ``study.out``.

    ``data`` replaces the embedding stage (tests inject synthetic embeddings).
    """
    started = time.perf_counter()
    study.out.mkdir(parents=True, exist_ok=True)
    stages = study.out / "stages"
    data = data if data is not None else embed_study_data(study, log)
    missing = [n for n in DATASETS if n not in data.datasets]
    for name in missing:
        log(
            f"skipped: {name} is not under {study.data_root}; "
            f"{MISSING_ROWS[name]} cannot be computed"
        )
    present = tuple(n for n in EXPRESSION_DATASETS if n in data.datasets)
    halves = fit_halves(data, study.seed)
    fit_times: dict[str, dict[str, float]] = {}

    indomain = _fit_all(study, data, {n: halves[n] for n in present}, "in-domain", log)
    fit_times["in_domain"] = {m: f.seconds for m, f in indomain.items()}
    table1 = Rows(stages / "table1.json")
    for method in ["none", *indomain]:
        _evaluate(
            table1,
            setting="in_domain",
            heldout=None,
            method=method,
            transform=None if method == "none" else indomain[method].transform,
            data=data,
            exclude=halves,
            datasets=present,
            study=study,
            log=log,
        )

    lodo = Rows(stages / "lodo.json")
    if study.settings.lodo:
        for heldout in present:
            others = {n: None for n in present if n != heldout}
            if not others:
                continue
            models = _fit_all(study, data, others, f"held out {heldout}", log)
            fit_times[f"lodo_{heldout}"] = {m: f.seconds for m, f in models.items()}
            for method in ["none", *models]:
                _evaluate(
                    lodo,
                    setting="lodo",
                    heldout=heldout,
                    method=method,
                    transform=None if method == "none" else models[method].transform,
                    data=data,
                    exclude={},
                    datasets=(heldout,),
                    study=study,
                    log=log,
                )

    table1_rows = _diffs(table1.rows)
    lodo_rows = _diffs(
        lodo.rows + [r for r in table1.rows if r["method"] == "none" and r["threat"] is None]
    )
    made = figures(data, halves, indomain, table1_rows, lodo_rows, study, log)
    t2 = Rows(stages / "table2.json")
    table2(data, indomain, study, t2, log)
    results = {
        "lodo": [r for r in lodo_rows if r.get("setting") == "lodo" and r.get("threat")],
        "lodo_utility": [
            r for r in lodo_rows if r.get("setting") == "lodo" and not r.get("threat")
        ],
        "table1": table1_rows,
        "table2": t2.rows,
        "figures": made,
        "config": _config(study, data, halves, fit_times),
        "seconds": round(time.perf_counter() - started, 1),
        "missing": {n: MISSING_ROWS[n] for n in missing},
    }
    write_json(study.out / "results.json", results)
    write_report(results, study.out / "report.md")
    log(f"wrote {study.out / 'report.md'} and {study.out / 'results.json'}")
    return results


def _diffs(rows: list[Row]) -> list[Row]:
    """Diff of every leakage row against its baseline, and of every utility row against x."""
    scored = [r for r in rows if r.get("probe") is not None]
    leakage = with_diffs([r for r in scored if r.get("threat")], same=LEAKAGE_MATCH)
    utility = with_diffs([r for r in scored if not r.get("threat")], same=UTILITY_MATCH)
    return leakage + utility


def _config(
    study: Study, data: StudyData, halves: Mapping[str, frozenset[str]], fit_times: dict
) -> dict[str, Any]:
    methods = study.method_names
    return {
        "embedder": study.embedder,
        "quick": study.quick,
        "seed": study.seed,
        "methods": {m: get_method(m).kind for m in methods},
        "settings": asdict(study.settings),
        "fit_seconds": fit_times,
        "dataset_counts": {n: dict(e.counts) for n, e in data.datasets.items()},
        "people": {
            n: {
                "images": len(e.table),
                "people": int(e.table["subject"].nunique()),
                "in_domain_fit_people": len(halves.get(n, ())),
                "never_fit_people": len(data.reserved_people.get(n, ())),
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
