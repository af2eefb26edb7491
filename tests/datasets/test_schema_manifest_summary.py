"""Label normalisation, CSV manifests, summaries and the default data root."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindface.datasets import (
    EXPRESSIONS,
    SCHEMA_COLUMNS,
    DatasetLayoutError,
    DatasetWarning,
    default_data_root,
    ethnicity_group,
    load_manifest,
    normalize_expression,
    normalize_gender,
    summarize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Happiness", "happy"),
        ("HAPPINESS", "happy"),
        ("anger", "angry"),
        ("surprised", "surprise"),
        ("Sadness ", "sad"),
        ("fearful", "fear"),
        ("disgusted", "disgust"),
        ("contempt", "contempt"),
        ("happily surprised", None),
        ("", None),
        (None, None),
        (pd.NA, None),
        (float("nan"), None),
    ],
)
def test_normalize_expression(raw: object, expected: str | None) -> None:
    assert normalize_expression(raw) == expected


@given(st.sampled_from(EXPRESSIONS), st.sampled_from([str.lower, str.upper, str.title]))
def test_normalize_expression_is_idempotent_on_names(name: str, case) -> None:
    assert normalize_expression(case(name)) == name


def test_gender_and_ethnicity_group() -> None:
    assert [normalize_gender(g) for g in ["F", "male", "Woman", "x", None]] == [
        "female", "male", "female", None, None,
    ]  # fmt: skip
    assert [ethnicity_group(e) for e in ["White", "indian", "japanese", "others", None]] == [
        "caucasian", "sub_saharan_south_indian", "east_asian", None, None,
    ]  # fmt: skip


def write_images(root: Path, *paths: str) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"")


def test_manifest_normalises_known_columns(tmp_path: Path) -> None:
    write_images(tmp_path, "img/b.png", "img/a.png")
    (tmp_path / "faces.csv").write_text(
        "path,subject,expression,gender,ethnicity,age,split\n"
        "img/b.png,p2,Happiness,F,White,31,train\n"
        "img/a.png,p1,grumpy,m,,,test\n"
        "img/missing.png,p3,anger,f,Asian,20,train\n"
    )
    with pytest.warns(DatasetWarning) as record:
        table = load_manifest(tmp_path / "faces.csv")
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "skipped 1 manifest rows of faces.csv whose image does not exist" in messages[0]
    assert "img/missing.png" in messages[0]
    assert "1 expression labels in" in messages[1] and "'grumpy' x1" in messages[1]
    assert list(table.columns) == [*SCHEMA_COLUMNS, "split"]
    assert table["path"].tolist() == ["img/b.png", "img/a.png"]  # manifest order
    assert table["dataset"].tolist() == ["faces", "faces"]
    assert table["expression"].tolist() == ["happy", pd.NA]
    assert table["expression_source"].tolist() == ["Happiness", "grumpy"]
    assert table["gender"].tolist() == ["female", "male"]
    assert table["ethnicity"].tolist() == ["white", pd.NA]
    assert table["ethnicity_group"].tolist() == ["caucasian", pd.NA]
    assert table["age"].tolist() == [31.0, pd.NA]
    assert table["split"].tolist() == ["train", "test"]
    assert table.attrs == {"root": str(tmp_path), "skipped_rows": 1}


def test_manifest_root_and_errors(tmp_path: Path) -> None:
    write_images(tmp_path / "data", "x.jpg")
    (tmp_path / "m.csv").write_text("path,dataset\nx.jpg,mine\n")
    table = load_manifest(tmp_path / "m.csv", root=tmp_path / "data")
    assert table[["dataset", "path"]].values.tolist() == [["mine", "x.jpg"]]
    (tmp_path / "bad.csv").write_text("file,label\nx.jpg,happy\n")
    with pytest.raises(DatasetLayoutError, match="no 'path' column"):
        load_manifest(tmp_path / "bad.csv")
    (tmp_path / "age.csv").write_text("path,age\nx.jpg,thirty\n")
    with pytest.raises(DatasetLayoutError, match="non-numeric ages"):
        load_manifest(tmp_path / "age.csv", root=tmp_path / "data")


def test_summarize_small_table(tmp_path: Path) -> None:
    write_images(tmp_path, "1.jpg", "2.jpg", "3.jpg", "4.jpg")
    (tmp_path / "s.csv").write_text(
        "path,subject,expression,age\n"
        "1.jpg,a,sad,19\n2.jpg,a,happy,20\n3.jpg,b,happy,85\n4.jpg,,,\n"
    )
    summary = summarize(load_manifest(tmp_path / "s.csv"))
    assert summary == {
        "images": 4,
        "subjects": 2,
        "labels": {
            "expression": {"happy": 2, "sad": 1},
            "age": {"10-19": 1, "20-29": 1, "80+": 1},
        },
    }
    table = load_manifest(tmp_path / "s.csv")
    table["Smiling"] = pd.array([True, False, True, pd.NA], dtype="boolean")
    table["subject"] = pd.NA
    summary = summarize(table)
    assert summary["subjects"] is None
    assert summary["attributes"] == {"Smiling": 2}


def test_default_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLINDFACE_DATA", str(tmp_path / "env"))
    assert default_data_root() == tmp_path / "env"
    monkeypatch.delenv("BLINDFACE_DATA")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert default_data_root() is None
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert default_data_root() == tmp_path / "shared" / "data"
