"""``blindface audit`` on stores built from synthetic embeddings: both threats, before/after."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from blindface.audit import AuditError, audit, write_audit
from blindface.cli import app
from blindface.store import write_store

EXPRESSIONS = ("neutral", "happy", "sad")


def _store(path, *, n_people=16, per=2, shift=0.8, d=16, seed=0):
    """People x expressions x ``per`` images: a person's centre plus an expression shift."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(len(EXPRESSIONS), d))
    rows, vectors = [], []
    for p in range(n_people):
        centre = 3.0 * rng.normal(size=d)
        for k, name in enumerate(EXPRESSIONS):
            for i in range(per):
                rows.append({"path": f"{p}_{k}_{i}.png", "subject": f"P{p}", "expression": name})
                vectors.append(centre + shift * directions[k] + 0.05 * rng.normal(size=d))
    X = np.asarray(vectors, dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    table = pd.DataFrame(rows).astype("string")
    write_store(path, table, X, metadata={"embedder": "synthetic", "dim": d})
    return path, X, table


QUICK = {"probes": ("logreg", "knn"), "tune": False, "n_splits": 4, "n_bootstrap": 100}


def test_audit_reads_the_shift_and_reports_both_threats(tmp_path):
    path, _, _ = _store(tmp_path / "faces.parquet")
    result = audit([path], **QUICK)
    frame = result.leakage
    assert set(frame["threat"]) == {"population", "relative"}
    relative = frame[(frame["threat"] == "relative") & (frame["probe"] == "logreg")].iloc[0]
    assert relative["balanced_accuracy"] > 90.0  # the enrolled neutral photo lays it bare
    assert relative["balanced_ci_low"] <= relative["balanced_accuracy"]
    assert relative["balanced_accuracy"] <= relative["balanced_ci_high"]
    assert relative["balanced_chance"] == pytest.approx(100 / 3)  # chance is 1 / classes
    assert frame["diff"].isna().all()  # nothing to compare x with
    assert result.config["classes"] == {"happy": 32, "neutral": 32, "sad": 32}
    assert "neutral image" in result.config["relative_reference"]
    assert result.strongest.empty and result.identity.empty  # no blinder: nothing to compare
    paths = write_audit(result, tmp_path / "report")
    saved = json.loads(paths["json"].read_text())
    assert len(saved["leakage"]) == 4
    assert "relative threat" in paths["markdown"].read_text()
    assert paths["png"].stat().st_size > 5_000


def test_audit_after_a_blinder_shows_diff(tmp_path):
    import blindface

    path, X, table = _store(tmp_path / "faces.parquet")
    model = blindface.LEACE().fit(X, expression=table["expression"].to_numpy(dtype=object))
    model.save(tmp_path / "leace")
    result = audit([path], [tmp_path / "leace"], **QUICK)
    after = result.leakage[result.leakage["representation"] != "x"]
    assert len(after) == 4 and after["diff"].notna().all()
    population = after[(after["threat"] == "population") & (after["probe"] == "logreg")]
    assert population["diff"].iloc[0] > 50.0  # LEACE removes the linear population signal
    strongest = result.strongest.set_index("threat")
    assert set(strongest.index) == {"population", "relative"}
    assert (strongest["attacker"] == "probe").all()
    row = strongest.loc["population"]
    best = max(
        after[after["threat"] == "population"]["balanced_accuracy"]
    )  # the best probe after blinding is what the strongest attacker reports
    assert row["best_after"] == pytest.approx(best)
    assert row["diff_ci_low"] <= row["diff"] <= row["diff_ci_high"]
    identity = result.identity.set_index("far")
    assert 1e-3 in identity.index or len(identity) == 1  # FAR 0.1 % where the pairs allow
    assert (identity["n_genuine_pairs"] > 0).all()


def test_audit_refuses_what_it_cannot_measure(tmp_path):
    path, _, _ = _store(tmp_path / "faces.parquet", n_people=3)
    with pytest.raises(AuditError, match="people-disjoint 5-fold audit needs at least 5"):
        audit([path], n_splits=5, probes=("logreg",), tune=False)
    with pytest.raises(AuditError, match="no column 'Smiling'"):
        audit([path], label="Smiling", probes=("logreg",), tune=False)
    one, _, table = _store(tmp_path / "one.parquet")
    single = tmp_path / "single.parquet"
    X = np.eye(16, dtype=np.float32)[np.arange(len(table)) % 16]
    write_store(single, table.assign(expression="happy"), X, metadata={"embedder": "s", "dim": 16})
    with pytest.raises(AuditError, match="at least 2 classes"):
        audit([single], probes=("logreg",), tune=False)


def test_audit_command_writes_the_report(tmp_path):
    path, _, _ = _store(tmp_path / "faces.parquet")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "--embeddings",
            str(path),
            "--out",
            str(out),
            "--probes",
            "logreg",
            "--no-tune",
            "--folds",
            "4",
            "--no-progress",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[: result.output.rindex("}") + 1])["config"]["people"] == 16
    assert {p.name for p in out.iterdir()} == {"audit.json", "audit.md", "audit.png"}
    bad = CliRunner().invoke(
        app, ["audit", "--embeddings", str(path), "--out", str(out), "--threat", "nosy"]
    )
    assert bad.exit_code != 0 and "unknown threat" in bad.output


def _pairs_store(path, *, n_people=20, d=16, seed=1):
    """One neutral and one happy image per person (a smile shift within each person)."""
    rng = np.random.default_rng(seed)
    smile = rng.normal(size=d)
    rows, vectors = [], []
    for p in range(n_people):
        centre = 3.0 * rng.normal(size=d)
        for name, shift in (("NE", 0.0), ("HA", 1.0)):
            rows.append({"path": f"{p}_{name}.png", "subject": f"P{p}", "expression": name})
            vectors.append(centre + shift * smile + 0.05 * rng.normal(size=d))
    X = np.asarray(vectors, dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    table = pd.DataFrame(rows).astype("string")
    write_store(path, table, X, metadata={"embedder": "synthetic", "dim": d})
    return path


def test_one_neutral_and_one_other_per_person_is_scored_in_the_symmetric_view(tmp_path):
    path = _pairs_store(tmp_path / "pairs.parquet")
    label_map = {"NE": "neutral", "HA": "happy"}
    result = audit([path], label_map=label_map, **QUICK)
    relative = result.leakage[result.leakage["threat"] == "relative"]
    assert len(relative) == 2 and (relative["n"] == 40).all()  # both images of each pair
    assert relative["balanced_accuracy"].max() > 90.0
    assert result.config["views"]["relative"] == "symmetric"
    assert "symmetric view" in result.config["relative_reference"]


def test_a_reference_value_the_column_lacks_is_refused(tmp_path):
    path = _pairs_store(tmp_path / "pairs.parquet")
    label_map = {"NE": "neutral", "HA": "happy"}
    with pytest.raises(AuditError, match=r"--reference 'banana' is not a value of 'expression'"):
        audit([path], label_map=label_map, reference_value="banana", **QUICK)
    # case-insensitive match of a value the column holds
    result = audit([path], label_map=label_map, reference_value="HAPPY", **QUICK)
    assert result.config["reference_value"] == "happy"


def test_public_faces_add_the_transfer_and_inversion_attackers(tmp_path):
    import blindface

    path, X, table = _store(tmp_path / "faces.parquet", seed=0)
    public, Xp, tablep = _store(tmp_path / "public.parquet", seed=0, n_people=20)
    expression = tablep["expression"].to_numpy(dtype=object)
    blindface.LEACE().fit(Xp, expression=expression).save(tmp_path / "leace")
    result = audit([path], [tmp_path / "leace"], public=[public], **QUICK)
    attackers = result.strongest.groupby("threat")["attacker"].apply(set).to_dict()
    assert attackers == {t: {"probe", "transfer", "inversion"} for t in ("population", "relative")}
    transfer = result.strongest.set_index(["threat", "attacker"]).loc[("population", "transfer")]
    assert transfer["best_before"] > 75.0  # the public faces share the expression code
    paths = write_audit(result, tmp_path / "report")
    assert "| inversion |" in paths["markdown"].read_text()


def test_two_stores_with_the_same_subject_ids_are_different_people(tmp_path):
    """Pooled stores qualify person ids by their store (or dataset): P0 of one store is not P0
    of the other, so no person is on both sides of a fold."""
    one, _, _ = _store(tmp_path / "one.parquet", n_people=6, seed=1)
    two, _, _ = _store(tmp_path / "two.parquet", n_people=6, seed=2)
    result = audit([one, two], probes=("logreg",), tune=False, n_splits=4, n_bootstrap=0)
    assert result.config["people"] == 12
    assert result.leakage["n_people"].max() == 12


@pytest.mark.parametrize("n_people", [2, 3, 4])
def test_folds_sets_how_many_people_the_audit_needs(tmp_path, n_people):
    """--folds 2 audits 2 to 4 people (the people check used to ask for 5 whatever --folds)."""
    path, _, _ = _store(tmp_path / "faces.parquet", n_people=n_people)
    args = ["audit", "--embeddings", str(path), "--out", str(tmp_path / "report")]
    args += ["--probes", "logreg", "--no-tune", "--folds", "2", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    too_few = CliRunner().invoke(app, [*args[:-2], "3", "--no-progress"])
    if n_people < 3:
        assert too_few.exit_code == 2 and "3-fold audit needs at least 3" in too_few.output
