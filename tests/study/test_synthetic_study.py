"""A tiny synthetic study end to end: no face data, every stage, the schema, resumability."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest

from blindface.study import (
    RESULTS_SCHEMA,
    Embedded,
    Study,
    StudyData,
    StudySettings,
    fit_halves,
    fit_set,
    run_study,
)

EXPRESSIONS = ("neutral", "happy", "sad", "surprise")


def _dataset(name: str, n_people: int, per_expression: int, rng, directions, *, d=32, **extra):
    rows, vectors = [], []
    for p in range(n_people):
        centre = rng.normal(size=d)
        for k, expression in enumerate(EXPRESSIONS):
            for i in range(per_expression):
                rows.append(
                    {
                        "dataset": name,
                        "path": f"{name}/{p:03d}_{k}_{i}.png",
                        "subject": f"P{p:03d}",
                        "expression": expression,
                        "sequence": f"P{p:03d}_{k}",
                        "gender": "female" if p % 2 else "male",
                        "ethnicity_group": ("east_asian", "caucasian")[p % 2],
                    }
                )
                vectors.append(centre + 0.8 * directions[k] + 0.05 * rng.normal(size=d))
    table = pd.DataFrame(rows).astype("string")
    X = np.asarray(vectors, dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return Embedded(table=table, X=X, counts={"images": len(table)})


def _synthetic(d: int) -> StudyData:
    """Four datasets of ``d``-dimensional embeddings with a planted expression shift."""
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(len(EXPRESSIONS), d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    datasets = {
        "jaffe": _dataset("jaffe", 12, 2, rng, directions, d=d),
        "taiwanese": _dataset("taiwanese", 12, 2, rng, directions, d=d),
        "lfw": _dataset("lfw", 30, 1, rng, directions, d=d),
        "utkface": _dataset("utkface", 30, 1, rng, directions, d=d),
    }
    lfw = datasets["lfw"].table
    first = lfw.groupby("subject")["path"].first()
    last = lfw.groupby("subject")["path"].last()
    people = sorted(first.index)[:10]
    same = pd.DataFrame({"path_a": first[people].to_numpy(), "path_b": last[people].to_numpy()})
    other = pd.DataFrame(
        {"path_a": first[people].to_numpy(), "path_b": last[people[1:] + people[:1]].to_numpy()}
    )
    pairs = pd.concat([same.assign(same=True), other.assign(same=False)], ignore_index=True)
    pairs["fold"] = 0
    return StudyData(
        datasets=datasets,
        pairs=pairs,
        reserved_people={
            "lfw": frozenset(people),
            "utkface": frozenset(datasets["utkface"].table["subject"]),
        },
    )


@pytest.fixture(scope="module")
def synthetic_data() -> StudyData:
    return _synthetic(32)


TINY = StudySettings(
    n_splits=3,
    probes=("logreg", "knn"),
    tune_probes=False,
    n_bootstrap=50,
    max_eval_images=None,
    utility_images=None,
    fairness_repetitions=1,
    suppression_fractions=(0.0, 0.5),
    suppression_draws=1,
    tsne_points=60,
)


def test_halves_and_fit_sets_never_touch_reserved_people(synthetic_data):
    halves = fit_halves(synthetic_data, seed=0)
    assert set(halves) == {"jaffe", "taiwanese", "lfw"}  # utkface is never an expression source
    assert not halves["lfw"] & synthetic_data.reserved_people["lfw"]
    fitset = fit_set(synthetic_data, {"jaffe": None, "lfw": halves["lfw"]})
    reserved = {f"lfw:{p}" for p in synthetic_data.reserved_people["lfw"]}
    assert not set(fitset.subject) & reserved
    assert fitset.sources == {"jaffe": 12 * 8, "lfw": 10 * 4}


def _run(tmp_path, data: StudyData, methods: tuple[str, ...]) -> tuple[Study, dict]:
    """The TINY study of ``methods`` on ``data``, and its results (checked against the schema)."""
    study = Study(
        data_root=tmp_path,
        out=tmp_path / "report",
        cache_dir=tmp_path / "cache",
        methods=methods,
        settings_override=TINY,
        n_jobs=1,
    )
    results = run_study(study, log=lambda message: None, data=data)
    jsonschema.validate(
        json.loads((tmp_path / "report" / "results.json").read_text()), RESULTS_SCHEMA
    )
    return study, results


def test_synthetic_study_end_to_end(tmp_path, synthetic_data):
    study, results = _run(tmp_path, synthetic_data, ("leace", "within_subject"))
    lodo = pd.DataFrame(results["lodo"])
    # every expression dataset is held out once, scored under both threats by every probe
    assert set(lodo["heldout_dataset"]) == {"jaffe", "taiwanese", "lfw"}
    assert set(lodo["threat"]) == {"population", "relative"}
    assert set(lodo["method"]) == {"none", "leace", "within_subject"}
    assert (lodo["dataset"] == lodo["heldout_dataset"]).all()
    baseline = lodo[lodo["method"] == "none"]
    assert baseline["diff"].isna().all() and baseline["readable"].notna().all()
    # Diff is given exactly where the baseline probe read the label above chance
    key = ["heldout_dataset", "dataset", "task", "threat", "probe"]
    blinded = lodo[lodo["method"] != "none"].merge(
        baseline[[*key, "readable"]], on=key, suffixes=("", "_x")
    )
    assert (blinded["diff"].notna() == blinded["readable_x"].astype(bool)).all()
    assert blinded["readable_x"].astype(bool).any()
    # the planted shift is read from x, and more so by the attacker with an enrolled photo
    relative = baseline[(baseline["threat"] == "relative") & (baseline["task"] == "expression")]
    assert relative["accuracy"].min() > 60.0
    utility = pd.DataFrame(results["lodo_utility"])
    assert {"identity", "gender", "ethnicity"} <= set(utility["task"])
    table1 = pd.DataFrame(results["table1"])
    assert {"in_domain"} == set(table1["setting"])
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Leave-one-dataset-out" in report and "within_subject" in report
    for figure in results["figures"].values():
        assert (tmp_path / "report" / figure).stat().st_size > 1000
    # a rerun resumes: nothing is fitted or scored again, and the numbers are the same
    messages: list[str] = []
    again = run_study(study, log=messages.append, data=synthetic_data)
    assert not [m for m in messages if ": fitting " in m]
    assert any(" reused from " in m for m in messages)
    assert again["lodo"] == results["lodo"]


def test_the_study_runs_on_512_d_embeddings(tmp_path):
    """Embedders such as ArcFace give 512-d vectors: every stage must follow the dimension."""
    _, results = _run(tmp_path, _synthetic(512), ("leace", "invariant"))
    lodo = pd.DataFrame(results["lodo"])
    assert set(lodo["method"]) == {"none", "leace", "invariant"}
    relative = lodo[(lodo["method"] == "none") & (lodo["threat"] == "relative")]
    assert relative["accuracy"].max() > 60.0  # the 512-d planted shift is read from x
    models = list((tmp_path / "cache" / "models").glob("invariant-*"))
    assert models and all(
        json.loads((m / "config.json").read_text())["n_features_in"] == 512 for m in models
    )
