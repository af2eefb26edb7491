"""CSV manifests: row order, line numbers in messages, labels that are not known."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from blindface.datasets import DatasetLayoutError, DatasetWarning, load_manifest


def write(root: Path, text: str, *images: str) -> Path:
    for image in images:
        (root / image).parent.mkdir(parents=True, exist_ok=True)
        (root / image).write_bytes(b"")
    (root / "m.csv").write_text(text)
    return root / "m.csv"


def test_rows_keep_manifest_order(tmp_path: Path) -> None:
    path = write(
        tmp_path, "path,subject\nz.jpg,1\na.jpg,2\nm/b.jpg,3\n", "z.jpg", "a.jpg", "m/b.jpg"
    )
    table = load_manifest(path)
    assert table["path"].tolist() == ["z.jpg", "a.jpg", "m/b.jpg"]
    assert table.index.tolist() == [0, 1, 2]


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "path,subject\na.jpg,1\n\n,2\nb.jpg,3,extra\n", "a.jpg")
    with pytest.raises(DatasetLayoutError, match=r"lines \[5\] do not have 2 fields"):
        load_manifest(path)
    path.write_text("path,subject\na.jpg,1\n\n,2\n")
    with pytest.raises(DatasetLayoutError, match=r"empty path on lines \[4\]"):
        load_manifest(path)


def test_semicolon_separator_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "path;expression\na.jpg;happy\n", "a.jpg")
    with pytest.raises(DatasetLayoutError, match=r"no 'path' column .*\(it uses ';' as separator"):
        load_manifest(path)


def test_unknown_gender_and_group_are_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "path,gender,ethnicity_group\na.jpg,F,east_asian\nb.jpg,x,martian\nc.jpg,x,\n",
        "a.jpg", "b.jpg", "c.jpg",
    )  # fmt: skip
    with pytest.warns(DatasetWarning) as record:
        table = load_manifest(path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert messages[0].startswith(f"2 gender labels in {path} are not known")
    assert "'x' x2" in messages[0] and "male/m/man or female/f/woman" in messages[0]
    assert messages[1].startswith(f"1 ethnicity_group labels in {path} are not known")
    assert table["gender"].tolist() == ["female", pd.NA, pd.NA]
    assert table["ethnicity_group"].tolist() == ["east_asian", pd.NA, pd.NA]


@pytest.mark.parametrize("age", ["nan", "inf", "thirty"])
def test_ages_must_be_finite_numbers(tmp_path: Path, age: str) -> None:
    path = write(tmp_path, f"path,age\na.jpg,{age}\n", "a.jpg")
    with pytest.raises(DatasetLayoutError, match=rf"non-numeric ages \['{age}'\]"):
        load_manifest(path)


def test_missing_manifest_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"manifest .*nowhere\.csv does not exist"):
        load_manifest(tmp_path / "nowhere.csv")
    with pytest.raises(DatasetLayoutError, match=r"is a folder; give the file itself"):
        load_manifest(tmp_path)


def test_quoted_fields_and_backslashes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'path,note\r\nsub\\a.jpg,"two\r\nlines, and a comma"\r\nb.jpg,plain\r\n',
        "sub/a.jpg", "b.jpg",
    )  # fmt: skip
    table = load_manifest(path)
    assert table["path"].tolist() == ["sub/a.jpg", "b.jpg"]
    assert table["note"].tolist() == ["two\r\nlines, and a comma", "plain"]
