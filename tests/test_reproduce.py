"""The study runner: honest splits, resumable rows, Diff, the report, and ``--quick`` end to end."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from blindface.cli import app
from blindface.report import table1_markdown, table2_markdown
from blindface.reproduce import (
    RESULTS_SCHEMA,
    Embedded,
    Rows,
    Study,
    _celeba_subset,
    split_people,
    verification_pairs,
    with_diffs,
)


def _emotion_table(dataset: str, n_subjects: int, per_subject: int) -> Embedded:
    rng = np.random.default_rng(0)
    rows = [
        {
            "path": f"{dataset}/{s}_{i}.png",
            "subject": f"S{s:03d}",
            "expression": ["happy", "sad", "neutral"][i % 3],
        }
        for s in range(n_subjects)
        for i in range(per_subject)
    ]
    table = pd.DataFrame(rows)
    return Embedded(table=table, X=rng.normal(size=(len(table), 8)).astype(np.float32), counts={})


def test_split_people_never_shares_a_subject_between_fit_and_evaluation(tmp_path):
    data = {"ckplus": _emotion_table("ckplus", 20, 6), "jaffe": _emotion_table("jaffe", 10, 6)}
    split = split_people(data, Study(data_root=tmp_path, out=tmp_path))
    for name in ("ckplus", "jaffe"):
        evaluated = set(split.emotion_eval[name][0]["subject"])
        fitted = {
            s.split(":", 1)[1] for s in split.emotion_fit["subject"] if s.startswith(name + ":")
        }
        assert evaluated and fitted
        assert not evaluated & fitted
        assert len(evaluated) + len(fitted) == data[name].table["subject"].nunique()
    assert len(split.emotion_fit) == len(split.emotion_fit_X)


def test_verification_pairs_prefer_view2_and_fall_back_to_devtest(tmp_path):
    for name, n in {"Ann_Lee": 2, "Bo_Li": 2}.items():
        folder = tmp_path / "lfw" / "lfw" / name
        folder.mkdir(parents=True)
        for i in range(1, n + 1):
            (folder / f"{name}_{i:04d}.jpg").write_bytes(b"")
    view1 = "1\nAnn_Lee\t1\t2\nAnn_Lee\t1\tBo_Li\t1\n"
    (tmp_path / "lfw" / "pairsDevTest.txt").write_text(view1)
    assert verification_pairs(tmp_path)["fold"].tolist() == [0, 0]
    view2 = "2\t1\nAnn_Lee\t1\t2\nAnn_Lee\t2\tBo_Li\t1\nBo_Li\t1\t2\nBo_Li\t2\tAnn_Lee\t1\n"
    (tmp_path / "lfw" / "pairs.txt").write_text(view2)
    verification_pairs.cache_clear()
    assert verification_pairs(tmp_path)["fold"].tolist() == [0, 0, 1, 1]


def test_with_diffs_follows_the_paper_definition():
    rows = [
        {
            "method": "none",
            "task": "emotion",
            "dataset": "ck",
            "probe": "mlp",
            "protocol": "subject_disjoint",
            "accuracy": 80.0,
            "std": 1.0,
            "chance": 20.0,
            "diff": None,
        },
        {
            "method": "leace",
            "task": "emotion",
            "dataset": "ck",
            "probe": "mlp",
            "protocol": "subject_disjoint",
            "accuracy": 35.0,
            "std": 1.0,
            "chance": 20.0,
            "diff": None,
        },
    ]
    out = with_diffs(rows)
    assert out[0]["diff"] is None
    assert out[1]["diff"] == pytest.approx(75.0)


def test_rows_resume_from_disk(tmp_path):
    rows = Rows(tmp_path / "t.json")
    rows.add(
        [
            {
                "method": "none",
                "task": "identity",
                "dataset": "lfw",
                "probe": "verification",
                "protocol": "subject_disjoint",
                "accuracy": 98.0,
            }
        ]
    )
    again = Rows(tmp_path / "t.json")
    assert again.done(
        method="none",
        task="identity",
        dataset="lfw",
        probe="verification",
        protocol="subject_disjoint",
    )
    assert not again.done(
        method="leace",
        task="identity",
        dataset="lfw",
        probe="verification",
        protocol="subject_disjoint",
    )


def test_celeba_subset_keeps_whole_identities():
    table = pd.DataFrame(
        {
            "subject": np.repeat([f"p{i}" for i in range(30)], 10),
            "path": [f"{i}.jpg" for i in range(300)],
        }
    )
    subset = _celeba_subset(table, 95, seed=0)
    assert len(subset) == 90
    assert (subset["subject"].value_counts() == 10).all()


def test_report_tables_show_every_method_and_the_paper_number():
    t1 = with_diffs(
        [
            {
                "method": m,
                "task": "emotion",
                "dataset": "ckplus",
                "probe": p,
                "protocol": "subject_disjoint",
                "accuracy": a,
                "std": 2.0,
                "chance": 25.0,
                "diff": None,
                "n": 100,
            }
            for m, a in (("none", 75.0), ("leace", 30.0))
            for p in ("mlp", "svm")
        ]
    )
    text = table1_markdown(t1)
    assert "| leace | 30.0 ± 2.0 (Diff 90 %)" in text
    t2 = table2_markdown(
        [
            {
                "representation": "x",
                "training": "biased",
                "accuracy": 70.0,
                "tpr_smiling": 80.0,
                "tpr_not_smiling": 60.0,
                "equal_opportunity": 80.0,
                "std": 1.0,
            }
        ]
    )
    assert "| x | biased | 70.0" in text + t2 and "82.5" in t2


@pytest.mark.data
@pytest.mark.slow
def test_reproduce_quick_end_to_end(data_dir, tmp_path):
    out, cache = tmp_path / "report", tmp_path / "cache"
    result = CliRunner().invoke(
        app,
        [
            "reproduce",
            "--data-root",
            str(data_dir),
            "--out",
            str(out),
            "--quick",
            "--cache-dir",
            str(cache),
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    methods = {r["method"] for r in results["table1"]}
    assert methods == {"none", "sensitivenets", "lnl", "leace", "inlp"}
    assert {r["method"] for r in results["table1_beyond_paper"]} == {"within_subject"}
    tasks = {r["task"] for r in results["table1"]}
    assert tasks == {
        "identity",
        "gender",
        "ethnicity",
        "emotion",
        "transfer_lfw_happy",
        "transfer_celeba_smiling",
    }
    baseline = next(
        r for r in results["table1"] if r["method"] == "none" and r["task"] == "identity"
    )
    assert baseline["accuracy"] > 95.0  # SFace separates identities on LFW
    emotion = [
        r
        for r in results["table1"]
        if r["method"] == "none" and r["task"] == "emotion" and r["dataset"] == "ckplus"
    ]
    assert all(r["accuracy"] > r["chance"] + 15 for r in emotion)  # x leaks expression
    assert {(r["representation"], r["training"]) for r in results["table2"]} >= {
        ("x", "unbiased"),
        ("x", "biased"),
    }
    report = (out / "report.md").read_text()
    assert "Table I" in report and "Table II" in report
    for rel in results["figures"].values():
        assert (out / rel).stat().st_size > 10_000


@pytest.mark.data
@pytest.mark.slow
def test_reproduce_skips_missing_datasets_and_says_which_rows(data_dir, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "jaffe").symlink_to(data_dir / "jaffe", target_is_directory=True)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["reproduce", "--data-root", str(root), "--out", str(out), "--quick"]
        + ["--cache-dir", str(tmp_path / "cache")],
    )
    assert result.exit_code == 0, result.output
    assert "celeba is not under" in result.output and "Table II" in result.output
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert set(results["missing"]) == {"ckplus", "lfw", "utkface", "celeba"}
    assert {(r["task"], r["dataset"]) for r in results["table1"]} == {("emotion", "jaffe")}
    assert results["table2"] == []
    assert "celeba is missing" in (out / "report.md").read_text()
