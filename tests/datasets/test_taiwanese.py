"""The Taiwanese performers loader: synthetic trees, a stand-in for xlrd, and the real data."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from blindface.datasets import (
    PERFORMANCE_TYPES,
    SCHEMA_COLUMNS,
    DatasetLayoutError,
    DatasetWarning,
    find_datasets,
    load_dataset,
    load_taiwanese,
)

NAMES = ["0101a02.jpg", "0111b01.jpg", "0121c03.jpg", "0131g02.jpg", "1201002.jpg", "2523f10.jpg"]
HEADER = ["file_name", "Self_evaluate", "Observer_Count", "maxIntCategory", "maxInt", "EntropyVal"]
INFO_ROWS = [
    HEADER,
    ["", "", "", "", "", ""],  # the second header line of the release (category names)
    ["0101a02.tif", "N/A", 100.0, 1.0, 0.62, 1.58],
    ["0111b01.tif", 5.0, 100.0, 1.0, 0.95, 0.2],
    ["0121c03.tif", 4.0, 100.0, 3.0, 0.55, 1.1],
    ["0131g02.tif", 4.0, 100.0, 6.0, 0.8, 0.7],
    ["1201a02.tif", "N/A", 100.0, 2.0, 0.69, 2.12],  # the file is 1201002.jpg
    ["2523f10.tif", 3.0, 100.0, "", "", ""],
]


def tree(root: Path, names: list[str] = NAMES, info: bool = True) -> Path:
    folder = root / "Taiwanese" / "faces_256x256"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")
    if info:
        (root / "Taiwanese" / "Image_info.xls").write_bytes(b"stand-in")
    return root


@pytest.fixture
def fake_xlrd(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An ``xlrd`` whose workbook is :data:`INFO_ROWS`; records the paths it opened."""
    opened: list[str] = []
    sheet = types.SimpleNamespace(nrows=len(INFO_ROWS), row_values=lambda r: INFO_ROWS[r])

    def open_workbook(path: str) -> types.SimpleNamespace:
        opened.append(path)
        return types.SimpleNamespace(sheet_by_index=lambda i: sheet)

    monkeypatch.setitem(sys.modules, "xlrd", types.SimpleNamespace(open_workbook=open_workbook))
    return opened


def test_names_and_perceived_labels(tmp_path: Path, fake_xlrd: list[str]) -> None:
    table = load_dataset("taiwanese", tree(tmp_path))
    assert fake_xlrd == [str(tmp_path / "Taiwanese" / "Image_info.xls")]
    assert tuple(table.columns[: len(SCHEMA_COLUMNS)]) == SCHEMA_COLUMNS
    assert table["path"].tolist() == [f"Taiwanese/faces_256x256/{n}" for n in NAMES]
    assert table["subject"].tolist() == ["01", "01", "01", "01", "12", "25"]
    assert table["expression"].tolist() == [
        "neutral", "happy", "sad", "surprise", "neutral", "fear",
    ]  # fmt: skip
    assert table["expression_source"].tolist() == ["a", "b", "c", "g", "0", "f"]
    assert table["performance_type"].tolist() == [0, 1, 2, 3, 0, 2]
    assert table["performance_type_name"].tolist() == [
        "neutral", "theatrical", "facs", "personal_event", "neutral", "facs",
    ]  # fmt: skip
    assert table["view"].tolist() == [1, 1, 1, 1, 1, 3]
    assert table["take"].tolist() == [2, 1, 3, 2, 2, 10]
    assert table["perceived_expression"].tolist() == [
        "happy", "happy", "angry", "surprise", "sad", pd.NA,
    ]  # fmt: skip
    assert table["perceived_intensity"].tolist() == [0.62, 0.95, 0.55, 0.8, 0.69, pd.NA]
    assert table["perceived_entropy"].tolist() == [1.58, 0.2, 1.1, 0.7, 2.12, pd.NA]
    assert set(table["ethnicity"]) == {"taiwanese"}
    assert set(table["ethnicity_group"]) == {"east_asian"}
    assert table["gender"].isna().all()
    assert table["performance_type"].dtype == "Int64"
    assert table["perceived_intensity"].dtype == "Float64"


def test_malformed_names_and_unlisted_images(tmp_path: Path, fake_xlrd: list[str]) -> None:
    names = ["0111b01.jpg", "0111h01.jpg", "0111001.jpg", "0141b01.jpg", "0112b07.jpg"]
    with pytest.warns(DatasetWarning) as record:
        table = load_taiwanese(tree(tmp_path, names))
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert messages[0].startswith("skipped 3 Taiwanese files with a malformed name")
    assert "0111001.jpg, 0111h01.jpg, 0141b01.jpg" in messages[0]  # 0 is neutral in type 0 only
    assert messages[1].startswith("1 Taiwanese images are not listed in")
    assert "(0112b07.jpg); their perceived_* columns are left missing" in messages[1]
    assert table["path"].str.rsplit("/", n=1).str[-1].tolist() == ["0111b01.jpg", "0112b07.jpg"]
    assert table["perceived_expression"].tolist() == ["happy", pd.NA]


def test_without_xlrd_one_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xlrd", None)  # import xlrd raises ImportError
    with pytest.warns(DatasetWarning) as record:
        table = load_taiwanese(tree(tmp_path))
    assert len(record) == 1
    message = str(record[0].message)
    assert "Image_info.xls holds the perceived expressions but reading .xls files needs xlrd" in (
        message
    )
    assert "pip install 'blindface[xls]'" in message
    assert len(table) == len(NAMES)
    assert table["perceived_expression"].isna().all()
    assert table["expression"].notna().all()


def test_without_image_info(tmp_path: Path, fake_xlrd: list[str]) -> None:
    table = load_taiwanese(tree(tmp_path, info=False) / "Taiwanese")
    assert fake_xlrd == []
    assert table["path"].iloc[0] == "faces_256x256/0101a02.jpg"
    assert table["perceived_intensity"].isna().all()


def test_damaged_image_info(tmp_path: Path) -> None:
    pytest.importorskip("xlrd")
    root = tree(tmp_path)
    with pytest.warns(DatasetWarning) as record:
        table = load_taiwanese(root)
    assert len(record) == 1
    message = str(record[0].message)
    assert f"{root / 'Taiwanese' / 'Image_info.xls'} cannot be read as a legacy Excel" in message
    assert "restore the file from the release" in message
    assert table["perceived_expression"].isna().all() and len(table) == len(NAMES)


def test_image_info_without_needed_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [["file_name", "maxInt"], ["0101a02.tif", 0.5]]
    sheet = types.SimpleNamespace(nrows=len(rows), row_values=lambda r: rows[r])
    book = types.SimpleNamespace(sheet_by_index=lambda i: sheet)
    monkeypatch.setitem(sys.modules, "xlrd", types.SimpleNamespace(open_workbook=lambda p: book))
    with pytest.warns(DatasetWarning, match=r"has no column maxIntCategory, EntropyVal"):
        table = load_taiwanese(tree(tmp_path))
    assert table["perceived_intensity"].isna().all()


def test_layout_errors(tmp_path: Path) -> None:
    (tmp_path / "taiwanese" / "faces_256x256").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="Taiwanese at .*found no Taiwanese image files"):
        load_taiwanese(tmp_path)
    assert find_datasets(tmp_path) == ["taiwanese"]
    assert PERFORMANCE_TYPES == ("neutral", "theatrical", "facs", "personal_event")


@pytest.mark.data
def test_real_taiwanese(data_dir: Path) -> None:
    pytest.importorskip("xlrd")
    table = load_dataset("taiwanese", data_dir)
    assert len(table) == 1_232
    assert table["subject"].nunique() == 29
    assert "04" not in set(table["subject"])
    counts = table["expression"].value_counts().to_dict()
    assert counts == {
        "neutral": 78, "happy": 226, "sad": 197, "angry": 200,
        "disgust": 198, "fear": 151, "surprise": 182,
    }  # fmt: skip
    assert table["performance_type"].value_counts().to_dict() == {0: 78, 1: 355, 2: 455, 3: 344}
    assert (table["view"] == 1).all()
    per_subject = table.groupby("subject")["expression"]
    assert per_subject.nunique().eq(7).sum() == 28
    assert "fear" not in set(table.loc[table["subject"] == "23", "expression"])
    assert per_subject.size().min() == 31 and per_subject.size().max() == 54
    zero_coded = table[table["expression_source"] == "0"]
    assert zero_coded["path"].str[-11:].tolist() == [
        "1201002.jpg", "1201009.jpg", "1201010.jpg", "1301001.jpg", "1301002.jpg",
        "1301003.jpg", "1801001.jpg", "1801004.jpg", "1801007.jpg",
    ]  # fmt: skip
    assert set(zero_coded["expression"]) == {"neutral"}
    # every image has its Image_info.xls row (the nine are listed as 1201a02.tif etc.)
    assert table["perceived_expression"].notna().all()
    row = table[table["path"].str.endswith("1201002.jpg")].iloc[0]
    assert (row["perceived_expression"], row["perceived_intensity"]) == ("happy", 0.69)
    assert row["perceived_entropy"] == 2.12
    assert table["perceived_expression"].value_counts().to_dict() == {
        "happy": 335, "angry": 240, "sad": 233, "surprise": 218, "disgust": 180, "fear": 26,
    }  # fmt: skip
    posed = table[table["expression"] != "neutral"]
    agree = posed["expression"] == posed["perceived_expression"]
    assert int(agree.sum()) == 896  # of 1,154 posed emotions (77.6%); fear is read as fear 23/151
    assert int(agree[posed["expression"] == "happy"].sum()) == 226
