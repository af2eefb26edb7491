"""One rule turns a store's rows into labelled rows, for `blindface fit`, audit and the study:
the expression (CelebA's yes/no Smiling as happy / neutral) and dataset-qualified people."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from blindface.cli import app
from blindface.datasets import expression_labels, person_ids
from blindface.pipelines import read_labelled
from blindface.store import write_store


def _celeba_like(path, n_people=12, per=4, d=8, seed=0):
    """A CelebA-like store: subjects and the yes/no Smiling attribute, no expression labels."""
    rng = np.random.default_rng(seed)
    smiling = np.tile([True, False], n_people * per // 2)
    X = rng.normal(size=(len(smiling), d)) + 2.0 * smiling[:, None] * rng.normal(size=d)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    table = pd.DataFrame(
        {
            "dataset": pd.array(["celeba"] * len(smiling), dtype="string"),
            "path": pd.array([f"{i:06d}.jpg" for i in range(len(smiling))], dtype="string"),
            "subject": pd.array([str(i // per) for i in range(len(smiling))], dtype="string"),
            "expression": pd.array([None] * len(smiling), dtype="string"),
            "Smiling": pd.array(smiling, dtype="boolean"),
        }
    )
    return write_store(path, table, X, metadata={"embedder": "synthetic"})


def test_smiling_is_happy_or_neutral_where_a_row_has_no_expression():
    table = pd.DataFrame(
        {
            "expression": pd.array(["Joy", None, "sad", None], dtype="string"),
            "Smiling": pd.array([False, True, None, False], dtype="boolean"),
        }
    )
    assert list(expression_labels(table)) == ["happy", "happy", "sad", "neutral"]


def test_people_are_qualified_by_dataset_else_by_source():
    table = pd.DataFrame(
        {
            "subject": pd.array(["1", "1", None], dtype="string"),
            "dataset": pd.array(["jaffe", None, "jaffe"], dtype="string"),
        }
    )
    assert list(person_ids(table, "a.parquet")) == ["jaffe:1", "a.parquet:1", None]


def test_a_celeba_store_reads_smiling_as_expressions(tmp_path):
    rows = read_labelled(_celeba_like(tmp_path / "celeba.parquet"))
    assert set(rows.labels) == {"happy", "neutral"}
    assert rows.people[0] == "celeba:0"


def test_reading_only_the_label_columns_keeps_the_rule(tmp_path):
    """fit and audit read only the columns of their label and people (and those they name):
    CelebA's Smiling still counts as the expression, people keep their dataset, and the other
    columns never leave the file."""
    path = _celeba_like(tmp_path / "celeba.parquet")
    everything = read_labelled(path)
    only = read_labelled(path, columns=())
    assert list(only.labels) == list(everything.labels)
    assert list(only.people) == list(everything.people)
    assert "path" in everything.table and "path" not in only.table
    assert "path" in read_labelled(path, label=None, columns=["path"]).table
    smiling = read_labelled(path, label="Smiling", columns=())
    assert set(smiling.labels) == {"True", "False"} and "expression" not in smiling.table


def test_cli_fit_of_a_celeba_store_uses_smiling_like_the_study(tmp_path):
    store = _celeba_like(tmp_path / "celeba.parquet")
    args = ["fit", "--method", "leace", "--embeddings", str(store), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "fitted on 48 rows, 12 people; expression classes: happy 24, neutral 24" in (
        " ".join(result.output.split())
    )
