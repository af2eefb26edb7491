"""The loaders on the real fixture data (counts from /work/shared/data/README.md)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from blindface.datasets import (
    DATASET_NAMES,
    EXPRESSIONS,
    SCHEMA_COLUMNS,
    DatasetWarning,
    find_datasets,
    load_dataset,
    load_lfw_pairs,
    summarize,
)

pytestmark = pytest.mark.data
FIXTURE_DATASETS = ["jaffe", "ckplus", "lfw", "utkface", "celeba", "taiwanese"]


@pytest.fixture(scope="module")
def tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: load_dataset(name, data_dir) for name in FIXTURE_DATASETS}


def counts(table: pd.DataFrame, column: str) -> dict[str, int]:
    return {k: int(v) for k, v in table[column].value_counts(dropna=True).items()}


def test_find_datasets(data_dir: Path) -> None:
    assert find_datasets(data_dir) == FIXTURE_DATASETS


def test_all_six_load_fast(data_dir: Path) -> None:
    start = time.perf_counter()
    for name in FIXTURE_DATASETS:
        load_dataset(name, data_dir)
    assert time.perf_counter() - start < 10.0


@pytest.mark.parametrize("name", FIXTURE_DATASETS)
def test_schema_and_paths(tables: dict[str, pd.DataFrame], data_dir: Path, name: str) -> None:
    table = tables[name]
    assert tuple(table.columns[: len(SCHEMA_COLUMNS)]) == SCHEMA_COLUMNS
    assert (table["dataset"] == name).all()
    assert table["path"].is_unique and table["path"].is_monotonic_increasing
    assert table.index.equals(pd.RangeIndex(len(table)))
    assert set(table["expression"].dropna()) <= set(EXPRESSIONS)
    assert set(table["gender"].dropna()) <= {"male", "female"}
    for column in SCHEMA_COLUMNS[:-1]:
        assert table[column].dtype == "string", column
    assert table["age"].dtype == "Float64"
    for path in table["path"].iloc[:: max(1, len(table) // 50)]:
        assert (data_dir / path).is_file(), path
        assert "\\" not in path and not path.startswith("/")


def test_deterministic(tables: dict[str, pd.DataFrame], data_dir: Path) -> None:
    pd.testing.assert_frame_equal(load_dataset("ckplus", data_dir), tables["ckplus"])


def test_jaffe(tables: dict[str, pd.DataFrame]) -> None:
    table = tables["jaffe"]
    assert len(table) == 213
    assert counts(table, "subject") == {
        "KA": 23, "KL": 22, "KM": 22, "YM": 22, "MK": 21,
        "NA": 21, "TM": 21, "UY": 21, "KR": 20, "NM": 20,
    }  # fmt: skip
    assert counts(table, "expression_source") == {
        "FE": 32, "HA": 31, "SA": 31, "AN": 30, "NE": 30, "SU": 30, "DI": 29,
    }  # fmt: skip
    assert counts(table, "expression")["angry"] == 30
    assert counts(table, "expression")["neutral"] == 30
    assert set(table["gender"]) == {"female"}
    assert set(table["ethnicity"]) == {"japanese"}
    assert set(table["ethnicity_group"]) == {"east_asian"}
    row = table[table["path"] == "jaffe/jaffedbase/KA.AN1.39.tiff"].iloc[0]
    assert (row["subject"], row["take"], row["picture"]) == ("KA", 1, 39)


def test_ckplus48(tables: dict[str, pd.DataFrame]) -> None:
    table = tables["ckplus"]
    assert len(table) == 981
    assert table["subject"].nunique() == 118
    assert table["sequence"].nunique() == 327
    assert counts(table, "expression_source") == {
        "surprise": 249, "happy": 207, "disgust": 177, "anger": 135,
        "sadness": 84, "fear": 75, "contempt": 54,
    }  # fmt: skip
    assert counts(table, "expression")["angry"] == 135
    assert counts(table, "expression")["sad"] == 84
    row = table[table["path"] == "ckplus48/CK+48/anger/S010_004_00000017.png"].iloc[0]
    assert (row["subject"], row["sequence"], row["frame"]) == ("S010", "S010_004", 17)


def test_lfw(tables: dict[str, pd.DataFrame]) -> None:
    table = tables["lfw"]
    assert len(table) == 10_521
    assert table["subject"].nunique() == 3_343
    assert (table["subject"].value_counts() >= 2).sum() == 1_622
    assert table["subject"].value_counts().max() == 520
    assert counts(table, "expression_source") == {
        "neutral": 5530, "happiness": 4342, "surprise": 294, "anger": 201,
        "sadness": 94, "disgust": 10, "fear": 10, "contempt": 9,
    }  # fmt: skip
    assert counts(table, "expression")["happy"] == 4342
    assert table["expression"].isna().sum() == 31
    labelled = table.dropna(subset=["expression"])
    per_subject = labelled.groupby("subject")["expression"]
    assert (per_subject.size() >= 2).sum() == 1_616
    assert (per_subject.nunique() >= 2).sum() == 921


def test_utkface(tables: dict[str, pd.DataFrame]) -> None:
    table = tables["utkface"]
    assert len(table) == 6_000
    assert table["subject"].isna().all()
    assert counts(table, "gender") == {"female": 3_005, "male": 2_995}
    assert counts(table, "ethnicity") == {
        "white": 1_202, "black": 1_202, "asian": 1_202, "indian": 1_202, "others": 1_192,
    }  # fmt: skip
    assert counts(table, "ethnicity_group") == {
        "sub_saharan_south_indian": 2_404, "caucasian": 1_202, "east_asian": 1_202,
    }  # fmt: skip
    assert table["ethnicity_group"].isna().sum() == 1_192
    assert table["age"].min() == 16 and table["age"].max() == 80
    assert ((table["age"] >= 20) & (table["age"] <= 29)).sum() == 2_676
    assert (table["age"] >= 70).sum() == 210


def test_celeba(tables: dict[str, pd.DataFrame]) -> None:
    table = tables["celeba"]
    assert len(table) == 6_270
    assert table["subject"].nunique() == 299
    assert table["expression"].isna().all()
    attributes = table.columns[len(SCHEMA_COLUMNS) :]
    assert len(attributes) == 40 and attributes[0] == "5_o_Clock_Shadow"
    assert all(table[a].dtype == "boolean" for a in attributes)
    positives = {a: int(table[a].sum()) for a in ("Smiling", "Male", "Attractive", "Young")}
    assert positives == {"Smiling": 2_893, "Male": 2_488, "Attractive": 2_917, "Young": 5_139}
    assert int(table["Eyeglasses"].sum()) == 417
    assert counts(table, "gender") == {"female": 3_782, "male": 2_488}
    crosstab = pd.crosstab(table["gender"], table["Smiling"].astype(bool))
    assert crosstab.loc["female", True] == 1_941 and crosstab.loc["female", False] == 1_841
    assert crosstab.loc["male", True] == 952 and crosstab.loc["male", False] == 1_536
    row = table[table["path"] == "celeba/img_celeba_crop/000093.jpg"].iloc[0]
    assert row["subject"] == "7399"
    smiling = table.groupby("subject")["Smiling"].agg(lambda s: s.nunique())
    assert (smiling == 2).sum() == 276


def test_dataset_folder_as_root(data_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    direct = load_dataset("lfw", data_dir / "lfw")
    assert len(direct) == 10_521
    assert direct["path"].iloc[0] == "lfw/AJ_Cook/AJ_Cook_0001.jpg"
    assert direct["expression"].tolist() == tables["lfw"]["expression"].tolist()
    assert len(load_dataset("ckplus", data_dir / "ckplus48" / "CK+48")) == 981
    assert len(load_dataset("utkface", data_dir / "utkface")) == 6_000
    assert find_datasets(data_dir / "celeba") == ["celeba"]


@pytest.mark.parametrize(
    ("view", "matched", "mismatched", "skipped", "first"),
    [
        ("devtest", 471, 471, 58, ("Abdullah_Gul", 13, "Abdullah_Gul", 14)),
        ("devtrain", 1009, 1017, 174, ("Aaron_Peirsol", 1, "Aaron_Peirsol", 2)),
    ],
)
def test_lfw_view1_pairs(
    data_dir: Path, view: str, matched: int, mismatched: int, skipped: int, first: tuple
) -> None:
    with pytest.warns(DatasetWarning, match=f"skipped {skipped} of"):
        pairs = load_lfw_pairs(data_dir, view)
    assert int(pairs["same"].sum()) == matched
    assert int((~pairs["same"]).sum()) == mismatched
    assert pairs.attrs["skipped"] == skipped
    assert (pairs["fold"] == 0).all()
    assert all((data_dir / p).is_file() for p in pairs["path_a"].iloc[:20])
    name_a, i, name_b, j = first
    assert pairs["path_a"].iloc[0] == f"lfw/lfw/{name_a}/{name_a}_{i:04d}.jpg"
    assert pairs["path_b"].iloc[0] == f"lfw/lfw/{name_b}/{name_b}_{j:04d}.jpg"
    names_a = pairs["path_a"].str.split("/").str[2]
    names_b = pairs["path_b"].str.split("/").str[2]
    assert ((names_a == names_b) == pairs["same"]).all()


def test_summaries_match_readme(tables: dict[str, pd.DataFrame]) -> None:
    summaries = {name: summarize(table) for name, table in tables.items()}
    assert {n: (s["images"], s["subjects"]) for n, s in summaries.items()} == {
        "jaffe": (213, 10),
        "ckplus": (981, 118),
        "lfw": (10_521, 3_343),
        "utkface": (6_000, None),
        "celeba": (6_270, 299),
        "taiwanese": (1_232, 29),
    }
    assert summaries["celeba"]["attributes"]["Smiling"] == 2_893
    assert summaries["utkface"]["labels"]["age"]["20-29"] == 2_676
    assert list(summaries["lfw"]["labels"]["expression"]) == [
        e for e in EXPRESSIONS if e in summaries["lfw"]["labels"]["expression"]
    ]
    assert set(DATASET_NAMES) >= set(summaries)
