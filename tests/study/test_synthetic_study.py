"""A tiny synthetic study end to end: no face data, every stage, the schema, resumability."""

from __future__ import annotations

import json
from dataclasses import replace

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
    attack_probes=("logreg",),
    n_bootstrap=50,
    max_eval_images=None,
    sweep_images=None,
    selection_identity_images=None,
    utility_images=None,
    fairness_repetitions=1,
    suppression_fractions=(0.0, 0.5),
    suppression_draws=1,
    tsne_points=60,
    sweeps={
        "leace": ({}, {"weighting": "balanced"}),
        "within_subject": ({"n_components": 2}, {"n_components": 8}),
        "invariant": ({"invariance_weight": 10.0},),
    },
    blinder_params={"invariant": {"max_iter": 2, "steps_per_iter": 5}},
)


def test_fit_sets_never_touch_reserved_people(synthetic_data):
    fitset = fit_set(synthetic_data, ("jaffe", "lfw"))
    reserved = {f"lfw:{p}" for p in synthetic_data.reserved_people["lfw"]}
    assert not set(fitset.subject) & reserved
    assert fitset.sources == {"jaffe": 12 * 8, "lfw": 20 * 4}
    assert set(fitset.source) == {"jaffe", "lfw"}
    without = synthetic_data.without("lfw")
    assert "lfw" not in without.datasets and without.pairs is None
    assert "lfw" not in without.reserved_people


def _run(tmp_path, data: StudyData, methods: tuple[str, ...], **spies) -> tuple[Study, dict]:
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
    strongest = pd.DataFrame(results["strongest"])
    heldout = {"jaffe", "taiwanese", "lfw"}
    # every expression dataset is held out once, under both threats, by every attacker
    assert set(strongest["heldout_dataset"]) == heldout
    assert set(strongest["threat"]) == {"population", "relative"}
    assert set(strongest["attacker"]) == {"probe", "transfer", "inversion"}
    assert set(strongest["method"]) == {"leace", "within_subject", "recommended"}
    assert (strongest["dataset"] == strongest["heldout_dataset"]).all()
    # balanced chance is 1 / classes, and the planted shift is read from x
    expression = strongest[strongest["task"] == "expression"]
    assert np.allclose(expression["chance"], 100 / len(EXPRESSIONS))
    relative = strongest[(strongest["threat"] == "relative") & (strongest["attacker"] == "probe")]
    assert relative["best_before"].min() > 60.0 and relative["readable"].all()
    known = strongest[strongest["diff"].notna()]
    assert (known["diff_ci_low"] <= known["diff"] + 1e-9).all()
    assert (known["diff"] <= known["diff_ci_high"] + 1e-9).all()
    # the selection: each fold, each method and the recommended one, with every candidate
    selection = pd.DataFrame(results["selection"])
    assert set(selection["heldout_dataset"]) == heldout
    assert set(selection["scope"]) == {"leace", "within_subject", "recommended"}
    sweep = selection[selection["scope"] == "within_subject"].iloc[0]
    assert [c["label"] for c in sweep["candidates"]] == ["n_components=2", "n_components=8"]
    assert all(len(c["validations"]) == 2 for c in sweep["candidates"])  # two other sources
    # the curves hold every candidate on every held-out dataset
    curves = pd.DataFrame(results["curves"])
    assert set(curves["label"]) == {
        "default",
        "weighting=balanced",
        "n_components=2",
        "n_components=8",
    }
    # identity at the operating point, and the pooled headline
    utility = pd.DataFrame(results["utility"])
    assert {"lfw"} == set(utility["identity_set"]) and (utility["far"] > 0).all()
    pooled = pd.DataFrame(results["pooled"])
    assert {"leace", "within_subject", "recommended"} == set(pooled["method"])
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Headline: unseen datasets" in report and "within_subject" in report
    for figure in results["figures"].values():
        assert (tmp_path / "report" / figure).stat().st_size > 1000
    # a rerun resumes: nothing is fitted again, and the numbers are the same
    messages: list[str] = []
    again = run_study(study, log=messages.append, data=synthetic_data)
    assert not [m for m in messages if m.startswith("fitting ")]
    assert again["strongest"] == results["strongest"]
    assert again["selection"] == results["selection"]


def test_no_scored_person_is_in_the_fit_set_of_its_blinder(tmp_path, synthetic_data, monkeypatch):
    """Every attack on a blinder scores people that blinder was never fit on."""
    from blindface.study import _evaluate, _run

    fitted_people: dict[str, set[str]] = {}
    original_fit = _run.fit_blinders

    def spy_fit(jobs, study, log):
        done = original_fit(jobs, study, log)
        for job, model in zip(jobs, done, strict=True):
            fitted_people[model.folder.name] = set(job.fitset.subject.astype(str))
        return done

    scored: list[tuple[str, set[str]]] = []
    original_attack = _evaluate.Evaluator.probe_attack

    def spy_attack(self, rows, rep, threat, **kwargs):
        scored.append((rep.key, set(rows.groups)))
        return original_attack(self, rows, rep, threat, **kwargs)

    monkeypatch.setattr(_run, "fit_blinders", spy_fit)
    monkeypatch.setattr(_evaluate.Evaluator, "probe_attack", spy_attack)
    _run_study = _run.run_study
    study = Study(
        data_root=tmp_path,
        out=tmp_path / "report",
        cache_dir=tmp_path / "cache",
        methods=("leace",),
        settings_override=TINY,
        n_jobs=1,
    )
    _run_study(study, log=lambda message: None, data=synthetic_data)
    checked = [(key, people) for key, people in scored if key in fitted_people]
    assert len(checked) > 10
    for key, people in checked:
        assert not people & fitted_people[key], key


def test_the_heldout_dataset_never_reaches_its_selection(tmp_path, synthetic_data):
    """Scrambling the held-out dataset's embeddings changes nothing in its fold's selection."""
    _, first = _run(tmp_path / "a", synthetic_data, ("within_subject",))
    jaffe = synthetic_data.datasets["jaffe"]
    rng = np.random.default_rng(5)
    scrambled = rng.normal(size=jaffe.X.shape).astype(np.float32)
    scrambled /= np.linalg.norm(scrambled, axis=1, keepdims=True)
    changed = StudyData(
        datasets={**synthetic_data.datasets, "jaffe": replace(jaffe, X=scrambled)},
        pairs=synthetic_data.pairs,
        reserved_people=synthetic_data.reserved_people,
    )
    _, second = _run(tmp_path / "b", changed, ("within_subject",))

    def fold(results, name):
        return [r for r in results["selection"] if r["heldout_dataset"] == name]

    assert fold(first, "jaffe") == fold(second, "jaffe")
    assert fold(first, "lfw") != fold(second, "lfw")  # jaffe does validate the other folds


def test_the_study_runs_on_512_d_embeddings(tmp_path):
    """Embedders such as ArcFace give 512-d vectors: every stage must follow the dimension."""
    _, results = _run(tmp_path, _synthetic(512), ("invariant",))
    strongest = pd.DataFrame(results["strongest"])
    assert "invariant" in set(strongest["method"])
    relative = strongest[(strongest["threat"] == "relative") & (strongest["attacker"] == "probe")]
    assert relative["best_before"].max() > 60.0  # the 512-d planted shift is read from x
    models = list((tmp_path / "cache" / "models").glob("invariant-*"))
    assert models and all(
        json.loads((m / "config.json").read_text())["n_features_in"] == 512 for m in models
    )
