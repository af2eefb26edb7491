"""Adapting a blinder to a user's own domain: leakage on their *other* people vs how many of their
people the blinder was fit with.

For a target set T (the Taiwanese performers, the CelebA identities): the blinder is fit on the
public sources without T (as in the study's leave-one-dataset-out fold for T, with the parameters
that fold's nested selection chose — read from ``docs/results/results.json``), plus k people of
T as a source of their own (every source weighs the same, ``weighting="balanced"``), either with
their expression labels (*labelled*) or with their identities only (*identity-only*: the
methods that collapse a person's photos use them, the linear erasers cannot). T's people are
split once: an adaptation pool and a fixed evaluation half that no fit ever sees. Scored: the
strongest attacker (logistic regression and RBF SVM, people-disjoint folds) under both threats
on the evaluation half, and the TAR at FAR 0.1 % lost on the evaluation half and on LFW.

    python benchmarks/adaptation.py [--data-root DIR] [--methods leace,collapse]

writes ``benchmarks/results/adaptation.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from blindface._io import write_json
from blindface.blinding import get_method
from blindface.blinding._weighting import weighted_rows
from blindface.datasets import default_data_root, expression_labels, person_ids
from blindface.evaluation import strongest_attacker
from blindface.study import EXPRESSION_DATASETS, Study, embed_study_data, fit_set
from blindface.study._evaluate import RAW, Evaluator, Representation, task_rows
from blindface.study._scores import ScoreCache
from blindface.study._tasks import LEAKAGE_TASKS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "adaptation.json"
COUNTS = {"taiwanese": (0, 5, 10, 14), "celeba": (0, 10, 25, 50, 100)}
PROBES = {"probes": ("logreg", "svm"), "tune": False}


def chosen_params(results: dict[str, Any], heldout: str, method: str) -> dict[str, Any]:
    """The parameters the study's nested selection chose for ``method`` on the fold that holds
    ``heldout`` out (the method's defaults when there is no study result)."""
    for record in results.get("selection", []):
        if record["heldout_dataset"] == heldout and record["scope"] == method:
            return {k: v for k, v in record["choice"]["params"].items() if k != "weighting"}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--methods", default="leace,collapse")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    study = Study(data_root=args.data_root, out=ROOT / "benchmarks" / "results", seed=args.seed)
    data = embed_study_data(study, print)
    evaluator = Evaluator(study, data, ScoreCache(study.cache / "scores" / "adaptation"))
    results_path = ROOT / "docs" / "results" / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for target, counts in COUNTS.items():
        if target not in data.datasets:
            continue
        emb = data.datasets[target]
        eligible = data.fit_eligible(target)
        people = np.array(sorted(set(emb.table["subject"][eligible].astype(str))))
        order = np.random.default_rng(args.seed).permutation(people)
        pool, held = order[: len(order) // 2], order[len(order) // 2 :]
        sources = [s for s in EXPRESSION_DATASETS if s in data.datasets and s != target]
        base = fit_set(data, sources)
        tasks = [t for t in LEAKAGE_TASKS if t.dataset == target]
        scored = {
            t.key: task_rows(
                t,
                data,
                exclude_people=frozenset(pool) | data.reserved_people.get(target, frozenset()),
                max_images=600,
                seed=args.seed,
            )
            for t in tasks
        }
        identity = emb.table["subject"].astype(str).isin(held).to_numpy() & eligible
        for method in args.methods.split(","):
            params = chosen_params(results, target, method)
            for mode in ("labelled", "identity_only"):
                for k in counts:
                    if k == 0 and mode == "identity_only":
                        continue
                    chosen = set(pool[:k])
                    take = emb.table["subject"].astype(str).isin(chosen).to_numpy() & eligible
                    table = emb.table.iloc[np.flatnonzero(take)]
                    expression = expression_labels(table, source=target)
                    if mode == "identity_only":
                        expression = np.full(len(table), None, dtype=object)
                    X = np.concatenate([base.X, emb.X[take]])
                    labels = np.concatenate([base.expression, expression])
                    subjects = np.concatenate([base.subject, person_ids(table, target)])
                    source = np.concatenate([base.source, np.full(len(table), target, object)])
                    keep = weighted_rows(source, "balanced")
                    estimator = get_method(method).create()
                    if "random_state" in estimator.get_params():
                        params = {"random_state": args.seed, **params}
                    estimator.set_params(**params)
                    tic = time.perf_counter()
                    estimator.fit(
                        X[keep],
                        expression=labels[keep],
                        subject=subjects[keep],
                        source=source[keep],
                    )
                    fit_seconds = time.perf_counter() - tic
                    key = f"{target}-{method}-{mode}-{k}-{args.seed}-{sorted(params.items())}"
                    rep = Representation(key, lambda f, m=estimator: m.transform(f.X))
                    cells = {}
                    for task in tasks:
                        task_data = scored[task.key]
                        if task_data is None:
                            continue
                        for threat in ("population", "relative"):
                            before = evaluator.probe_attack(task_data, RAW, threat, **PROBES)
                            after = evaluator.probe_attack(task_data, rep, threat, **PROBES)
                            result = strongest_attacker(before, after, n_resamples=300)
                            cells[f"{task.label}/{threat}"] = result.record()
                    held_images = (
                        evaluator.all_faces(target).take(identity),
                        emb.table["subject"].astype(str).to_numpy()[identity],
                    )
                    row = {
                        "target": target,
                        "method": method,
                        "params": params,
                        "mode": mode,
                        "people": k,
                        "adaptation_rows": int(take.sum()),
                        "evaluation_people": int(len(held)),
                        "cells": cells,
                        "tar_loss_target": evaluator.tar_loss(held_images, rep, 1e-3),
                        "tar_loss_lfw": evaluator.tar_loss(
                            evaluator.identity_images("lfw"), rep, 1e-3
                        ),
                        "fit_seconds": round(fit_seconds, 1),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    write_json(
        OUT,
        {
            "description": __doc__.split("\n\n")[0],
            "rows": rows,
            "seconds": round(time.perf_counter() - started, 1),
            "seed": args.seed,
        },
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
