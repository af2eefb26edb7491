"""The study runner: honest splits, resumable rows, Diff, the report, and ``--quick`` end to end."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from blindface.cli import app
from blindface.study import RESULTS_SCHEMA, Rows, verification_pairs, with_diffs
from blindface.study._report import detail_tables, summary_table, table2_markdown


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
    base = {"setting": "lodo", "dataset": "ck", "task": "expression", "threat": "relative"}
    rows = [
        {**base, "method": "none", "probe": "mlp", "accuracy": 80.0, "chance": 20.0},
        {**base, "method": "leace", "probe": "mlp", "accuracy": 35.0, "chance": 20.0},
        {**base, "method": "leace", "probe": "svm", "accuracy": 35.0, "chance": 20.0},
    ]
    out = with_diffs(rows, same=("setting", "dataset", "task", "threat", "probe"))
    assert out[0]["diff"] is None
    assert out[1]["diff"] == pytest.approx(75.0)
    assert out[2]["diff"] is None  # no baseline row for this probe


def test_rows_resume_from_disk(tmp_path):
    rows = Rows(tmp_path / "t.json")
    key = {"setting": "lodo", "heldout_dataset": "jaffe", "method": "none", "threat": "relative"}
    rows.add([{**key, "probe": "mlp", "accuracy": 98.0}])
    again = Rows(tmp_path / "t.json")
    assert again.done(**key, probe="mlp")
    assert not again.done(**{**key, "method": "leace"}, probe="mlp")
    assert len(again.select(**key)) == 1


def test_report_tables_show_every_method_and_the_paper_number():
    base = {"setting": "lodo", "heldout_dataset": "ckplus", "dataset": "ckplus"}
    base |= {"task": "expression", "protocol": "subject_disjoint", "std": 2.0, "n": 100}
    rows = [
        {
            **base,
            "method": m,
            "probe": p,
            "threat": t,
            "accuracy": a,
            "chance": 25.0,
            "ci_low": a - 3,
            "ci_high": a + 3,
            "n_people": 20,
        }
        for m, a in (("none", 75.0), ("leace", 30.0))
        for p in ("mlp", "svm")
        for t in ("population", "relative")
    ]
    rows = with_diffs(rows, same=("dataset", "task", "threat", "probe"))
    config = {"methods": {"leace": "baseline"}}
    text = detail_tables(rows, config, by="heldout_dataset")
    assert "| leace | 30.0 [27.0, 33.0] (90 %)" in text
    assert "relative threat" in text
    summary = summary_table(rows, [], config)
    assert "| leace | 90 / 90 |" in summary
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
        ],
        config,
    )
    assert "| x | biased | 70.0" in t2 and "82.5" in t2


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
    from blindface.blinding import METHODS

    lodo = results["lodo"]
    assert {r["method"] for r in lodo} == {"none", *METHODS}
    assert {r["heldout_dataset"] for r in lodo} == {"jaffe", "ckplus", "taiwanese", "lfw", "celeba"}
    assert {r["threat"] for r in lodo} == {"population", "relative"}
    identity = [r for r in results["table1"] if r["method"] == "none" and r["task"] == "identity"]
    assert identity[0]["accuracy"] > 95.0  # SFace separates identities on LFW
    ckplus = [
        r
        for r in lodo
        if r["method"] == "none" and r["dataset"] == "ckplus" and r["threat"] == "relative"
    ]
    assert max(r["accuracy"] - r["chance"] for r in ckplus) > 15  # x leaks the expression
    assert {(r["representation"], r["training"]) for r in results["table2"]} >= {
        ("x", "unbiased"),
        ("x", "biased"),
    }
    report = (out / "report.md").read_text()
    assert "Leave-one-dataset-out" in report and "Table II" in report
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
    assert set(results["missing"]) == {"ckplus", "taiwanese", "lfw", "utkface", "celeba"}
    assert {(r["task"], r["dataset"]) for r in results["table1"]} == {
        ("expression", "jaffe"),
        ("smiling", "jaffe"),
    }
    assert results["lodo"] == []  # nothing to fit on when the one dataset is held out
    assert results["table2"] == []
    assert "celeba is missing" in (out / "report.md").read_text()
