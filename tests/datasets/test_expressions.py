"""Expression harmonisation across datasets, label maps, and the binary smiling task."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

from blindface.datasets import (
    CFEE_CATEGORIES,
    CKPLUS_CODES,
    EXPRESSION_SYNONYMS,
    EXPRESSIONS,
    PERCEIVED_CATEGORIES,
    DatasetWarning,
    load_dataset,
    normalize_expression,
    normalize_expressions,
    smiling,
)
from blindface.datasets._jaffe import _CODES as JAFFE_CODES
from blindface.datasets._taiwanese import _POSED as TAIWANESE_POSED


def mapped(labels: Iterable[str]) -> list[str | None]:
    return [normalize_expression(label) for label in labels]


def test_every_dataset_vocabulary_maps_through_the_synonym_table() -> None:
    assert set(EXPRESSION_SYNONYMS.values()) == set(EXPRESSIONS)
    assert mapped(JAFFE_CODES.values()) == [
        "neutral", "happy", "sad", "surprise", "angry", "disgust", "fear",
    ]  # fmt: skip
    assert mapped(CKPLUS_CODES) == [
        "neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise",
    ]  # fmt: skip
    assert mapped(CFEE_CATEGORIES[:7]) == [
        "neutral", "happy", "sad", "fear", "angry", "surprise", "disgust",
    ]  # fmt: skip
    assert mapped(CFEE_CATEGORIES[7:]) == [None] * 15
    assert mapped(TAIWANESE_POSED.values()) == [
        "neutral", "happy", "sad", "angry", "disgust", "fear", "surprise",
    ]  # fmt: skip
    assert mapped(PERCEIVED_CATEGORIES) == [
        "happy", "sad", "angry", "disgust", "fear", "surprise",
    ]  # fmt: skip
    lfw_labels = ["neutral", "happiness", "surprise", "anger", "sadness", "disgust", "fear"]
    assert mapped([*lfw_labels, "contempt", "HAPPINESS"]) == [
        "neutral", "happy", "surprise", "angry", "sad", "disgust", "fear", "contempt", "happy",
    ]  # fmt: skip


def test_normalize_expressions_label_map_and_counts() -> None:
    labels = ["Grumpy", "grumpy ", "happy-ish", None, "", "Joy"]
    with pytest.warns(DatasetWarning) as record:
        out = normalize_expressions(labels, {"GRUMPY": "angry"}, source="votes.csv")
    assert out == ["angry", "angry", None, None, None, "happy"]
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith("2 expression labels in votes.csv are not known")
    assert "'happy-ish' x1, '' x1" in message
    with pytest.raises(ValueError, match=r"maps onto unknown expressions \{'x': 'cranky'\}"):
        normalize_expressions(["x"], {"x": "cranky"})


def test_smiling_from_expressions_and_attribute() -> None:
    table = pd.DataFrame(
        {"expression": pd.array(["happy", "neutral", "sad", None, "contempt"], dtype="string")},
        index=[10, 11, 12, 13, 14],
    )
    label = smiling(table)
    assert label.dtype == "boolean" and label.name == "smiling"
    assert label.index.tolist() == [10, 11, 12, 13, 14]
    assert label.tolist() == [True, False, pd.NA, pd.NA, pd.NA]
    table["Smiling"] = pd.array([False, True, True, None, False], dtype="boolean")
    assert smiling(table).tolist() == [False, True, True, pd.NA, False]
    with pytest.raises(ValueError, match="neither an 'expression' nor a 'Smiling' column"):
        smiling(pd.DataFrame({"path": ["a.jpg"]}))


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "smiles", "still", "unknown"),
    [
        ("jaffe", 31, 30, 152),
        ("lfw", 4_342, 5_530, 649),
        ("celeba", 2_893, 3_377, 0),
        ("taiwanese", 226, 78, 928),
        ("ckplus", 207, 0, 774),
    ],
)
def test_smiling_on_real_tables(
    data_dir: Path, name: str, smiles: int, still: int, unknown: int
) -> None:
    label = smiling(load_dataset(name, data_dir))
    assert label.dtype == "boolean"
    assert (int(label.eq(True).sum()), int(label.eq(False).sum())) == (smiles, still)
    assert int(label.isna().sum()) == unknown
