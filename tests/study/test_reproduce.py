"""The study runner: honest splits, resumable rows, Diff, the report, and ``--quick`` end to end."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from blindface.cli import app
from blindface.study import RESULTS_SCHEMA, Candidate, Scored, choose, verification_pairs
from blindface.study._report import per_dataset_table, pooled_table, table2_markdown


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


def test_choose_maximises_removal_within_the_budget():
    def scored(label, removed, loss):
        validation = {"removed": removed, "tar_loss": loss}
        return Scored(Candidate.of("m", {"w": label}), (validation, validation))

    weak, middle, strong = scored(1, 20.0, 0.1), scored(3, 40.0, 0.4), scored(10, 70.0, 2.0)
    assert choose([weak, middle, strong], 0.5) == (middle, True)
    assert choose([weak, middle, strong], 5.0) == (strong, True)
    # nothing within the budget: the one that loses least, flagged
    assert choose([middle, strong], 0.05) == (middle, False)


def test_report_tables_show_every_method_and_the_paper_number():
    config = {"methods": {"leace": "baseline", "invariant": "beyond"}}
    pooled = [
        {
            "method": m,
            "threat": t,
            "attacker": "probe",
            "diff": d,
            "diff_ci_low": d - 5,
            "diff_ci_high": d + 5,
            "n_cells": 6,
            "tar_loss_lfw": 0.25,
            "worst_attribute_diff": 3.0,
            "fit_seconds": 1.5,
        }
        for m, d in (("leace", 12.0), ("invariant", 40.0), ("recommended", 40.0))
        for t in ("population", "relative")
    ]
    text = pooled_table(pooled, config)
    assert text.index("| recommended |") < text.index("| leace |") < text.index("| invariant |")
    assert "| leace | 12 [7, 17] (6) | 12 [7, 17] (6) | 0.25 | 3 | 1.5 |" in text
    base = {"setting": "lodo", "heldout_dataset": "ckplus", "dataset": "ckplus"}
    strongest = [
        {
            **base,
            "method": "leace",
            "task": "expression",
            "threat": t,
            "attacker": "probe",
            "best_before": 70.0,
            "best_after": 40.0,
            "chance": 14.3,
            "diff": 54.0,
            "readable": t == "population",
        }
        for t in ("population", "relative")
    ]
    table = per_dataset_table(strongest, config)
    assert "| x: best probe (chance) | 70.0 (14) / 70.0 (14) |" in table
    assert "| leace | 54 / n.r. |" in table
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

    strongest = results["strongest"]
    assert {r["method"] for r in strongest} == {"recommended", *METHODS}
    assert {r["heldout_dataset"] for r in strongest} == {
        "jaffe",
        "ckplus",
        "taiwanese",
        "lfw",
        "celeba",
    }
    assert {r["threat"] for r in strongest} == {"population", "relative"}
    assert {r["attacker"] for r in strongest} == {"probe", "transfer", "inversion"}
    ckplus = [
        r
        for r in strongest
        if r["dataset"] == "ckplus" and r["threat"] == "relative" and r["attacker"] == "probe"
    ]
    assert max(r["best_before"] - r["chance"] for r in ckplus) > 15  # x leaks the expression
    lfw = [r for r in results["utility"] if r["identity_set"] == "lfw" and r["far"] == 1e-3]
    assert lfw and min(r["tar_before"] for r in lfw) > 90.0  # SFace at FAR 0.1 % on LFW
    assert {r["heldout_dataset"] for r in results["selection"]} == {
        r["heldout_dataset"] for r in strongest
    }
    assert {(r["representation"], r["training"]) for r in results["table2"]} >= {
        ("x", "unbiased"),
        ("x", "biased"),
    }
    report = (out / "report.md").read_text()
    assert "Headline: unseen datasets" in report and "Table II" in report
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
    said = " ".join(result.output.split())  # the log wraps its lines at the console's width
    assert "celeba is not under" in said and "Table II" in said
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert set(results["missing"]) == {"ckplus", "taiwanese", "lfw", "utkface", "celeba"}
    assert "needs 3 or more expression datasets" in said
    assert results["strongest"] == [] and results["table2"] == []
    assert "celeba is missing" in (out / "report.md").read_text()
