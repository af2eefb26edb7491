"""`blindface fit` / `transform` / `export-recognizer` on small Parquet stores."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import blindface
from blindface.cli import app
from blindface.store import read_store


def _write_store(path, X, expression, subject, failed=(), dataset="synthetic"):
    n, d = X.shape
    ok = ~np.isin(np.arange(n), failed)
    values = pa.array(X.reshape(-1).astype(np.float32))
    columns = {} if dataset is None else {"dataset": [dataset] * n}
    table = pa.table(
        {
            **columns,
            "subject": pa.array(list(subject), pa.string()),
            "expression": pa.array(list(expression), pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(values, d, mask=pa.array(~ok)),
            "face_status": ["detected" if o else "failed" for o in ok],
            "face_reason": [None if o else "no face" for o in ok],
            "content_hash": [f"{path.stem}-{i}" for i in range(n)],
        }
    )
    meta = {b"blindface": json.dumps({"embedder": "synthetic", "dim": d}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


@pytest.fixture()
def stores(tiny_data, tmp_path):
    emo = tiny_data.is_emotion_row
    expression_store = _write_store(
        tmp_path / "expr.parquet",
        tiny_data.X[emo],
        tiny_data.expression[emo],
        tiny_data.subject[emo],
        failed=(2,),
    )
    identity_store = _write_store(
        tmp_path / "ids.parquet",
        tiny_data.X[~emo],
        [None] * int((~emo).sum()),
        tiny_data.subject[~emo],
    )
    return expression_store, identity_store


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("sensitivenets", ["hidden_layer_sizes=16,16", "max_iter=2", "classifier_epochs=3"]),
        ("lnl_frozen", ["hidden_layer_sizes=12", "max_iter=2"]),
        ("leace", []),
        ("inlp", ["max_iter=3"]),
        ("within_subject", ["n_components=2"]),
    ],
)
def test_fit_then_transform(stores, tmp_path, method, params):
    expression_store, identity_store = stores
    model_dir = tmp_path / "model"
    args = [
        "fit",
        "--method",
        method,
        "--embeddings",
        str(expression_store),
        "--out",
        str(model_dir),
    ]
    args += ["--identity-embeddings", str(identity_store)]
    for p in params:
        args += ["--param", p]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    model = blindface.load(model_dir)
    assert (model_dir / "training_curves.png").is_file() == (
        method in ("sensitivenets", "lnl_frozen", "inlp")
    )

    out = tmp_path / "blinded.parquet"
    result = CliRunner().invoke(
        app,
        [
            "transform",
            "--model",
            str(model_dir),
            "--embeddings",
            str(expression_store),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    source, blinded = read_store(expression_store), read_store(out)
    assert blinded.embeddings.shape == (len(source), model.n_features_out_)
    assert np.isnan(blinded.embeddings[2]).all() and not blinded.ok[2]
    np.testing.assert_allclose(
        blinded.embeddings[blinded.ok], model.transform(source.embeddings[source.ok]), atol=1e-6
    )
    assert blinded.metadata["blinding"]["method"] == type(model).__name__
    assert list(blinded.table["subject"]) == list(source.table["subject"])


def test_fit_reports_bad_input(stores, tmp_path):
    result = CliRunner().invoke(
        app, ["fit", "--method", "nope", "--embeddings", str(stores[0]), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "nope" in result.output


def _fit(args, tmp_path):
    result = CliRunner().invoke(app, ["fit", "--out", str(tmp_path / "m"), *args])
    return result


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("max_iter=abc", "max_iter='abc' is not a valid value: expected int"),
        ("max_iter=2.5", "expected int"),
        ("nope=1", "has no parameter 'nope'"),
        ("max_iter", "expected KEY=VALUE"),
    ],
)
def test_param_errors_name_the_value(stores, tmp_path, param, message):
    result = _fit(["--method", "inlp", "--embeddings", str(stores[0]), "--param", param], tmp_path)
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_params_parse_by_declared_type():
    from blindface.cli._blinding import _parse_params

    params = _parse_params(
        ["hidden_layer_sizes=[8, 4]", "learning_rate=0.5", "compact=false", "neutral=0"],
        "sensitivenets",
    )
    assert params == {
        "hidden_layer_sizes": (8, 4),
        "learning_rate": 0.5,
        "compact": False,
        "neutral": 0,
    }
    assert _parse_params(["hidden_layer_sizes=16,16"], "lnl_frozen") == {
        "hidden_layer_sizes": (16, 16)
    }
    assert _parse_params(["cut=54", "emotion_hidden=()"], "lnl") == {
        "cut": 54,
        "emotion_hidden": (),
    }
    assert _parse_params(["tolerance=none", "C=2"], "inlp") == {"tolerance": None, "C": 2.0}


def test_repeated_stores_and_folders_are_all_used(tiny_data, tmp_path):
    emo = np.flatnonzero(tiny_data.is_emotion_row)
    half = len(emo) // 2
    folder = tmp_path / "stores"
    folder.mkdir()
    for name, rows in (("a", emo[:half]), ("b", emo[half:])):
        X, e, s = tiny_data.X[rows], tiny_data.expression[rows], tiny_data.subject[rows]
        _write_store(folder / f"{name}.parquet", X, e, s)
    ids = np.flatnonzero(~tiny_data.is_emotion_row)
    joy = np.array(["Joy"] * len(ids), dtype=object)  # identity rows' labels are dropped
    _write_store(tmp_path / "ids.parquet", tiny_data.X[ids], joy, tiny_data.subject[ids])
    args = ["--method", "leace", "--identity-embeddings", str(tmp_path / "ids.parquet")]
    result = _fit([*args, "--embeddings", str(folder)], tmp_path)
    assert result.exit_code == 0, result.output
    assert f"fitted on {len(emo) + len(ids)} rows" in result.output
    assert "a.parquet (expression)" in result.output and "b.parquet (expression)" in result.output
    assert "happy" in result.output and "ids.parquet (identity)" in result.output
    repeated = [
        "--embeddings",
        str(folder / "a.parquet"),
        "--embeddings",
        str(folder / "b.parquet"),
        "--use-identity-expressions",
    ]
    result = _fit([*args, *repeated], tmp_path)
    assert result.exit_code == 0, result.output
    n_happy = int((tiny_data.expression[emo] == "happy").sum())
    assert f"happy {n_happy + len(ids)}" in result.output  # Joy is happy


def test_unknown_labels_warn_and_the_label_map_maps(tiny_data, tmp_path):
    from blindface.datasets import DatasetWarning
    from blindface.pipelines import fit_stores

    emo = np.flatnonzero(tiny_data.is_emotion_row)
    expression = tiny_data.expression[emo].copy()
    expression[:3] = "banana"
    expression[3:5] = "Joy"
    store = _write_store(
        tmp_path / "e.parquet", tiny_data.X[emo], expression, tiny_data.subject[emo]
    )
    with pytest.warns(DatasetWarning, match="'banana' x3"):
        fitted = fit_stores("leace", store, tmp_path / "m", progress=False)
    assert list(fitted.model.classes_) == ["happy", "neutral", "sad"]  # no banana, no Joy
    label_map = tmp_path / "map.json"
    label_map.write_text(json.dumps({"banana": "sad"}))
    result = _fit(
        ["--method", "leace", "--embeddings", str(store), "--label-map", str(label_map)], tmp_path
    )
    assert result.exit_code == 0, result.output


def test_a_store_without_dataset_column_keeps_every_subject(tiny_data, tmp_path):
    """Regression: a length-1 Series aligned with row 0 only, dropping 63 of 64 subjects."""
    from blindface.pipelines import read_labelled

    ids = np.flatnonzero(~tiny_data.is_emotion_row)
    path = _write_store(
        tmp_path / "ids.parquet",
        tiny_data.X[ids],
        [None] * len(ids),
        tiny_data.subject[ids],
        dataset=None,
    )
    rows = read_labelled(path, label=None)
    assert list(rows.people) == [f"{path}:{s}" for s in tiny_data.subject[ids]]


def test_export_recognizer_cli(tmp_path):
    from blindface.blinding import INLP
    from blindface.testing import make_embeddings

    data = make_embeddings(n_features=128, n_identity_subjects=5, n_emotion_subjects=6)
    INLP(max_iter=2, random_state=0).fit(data.X, expression=data.expression).save(tmp_path / "m")
    out = tmp_path / "rec.onnx"
    result = CliRunner().invoke(
        app, ["export-recognizer", "--model", str(tmp_path / "m"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1_000_000  # SFace's weights are inside


def test_fit_seed_sets_the_model(stores, tmp_path):
    """--seed reaches the method: two seeds give two models, one seed the same bytes."""
    params = ["hidden_layer_sizes=8", "max_iter=1", "steps_per_iter=2", "batch_size=8"]
    weights = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        args = ["--method", "invariant", "--embeddings", str(stores[0]), "--seed", seed]
        args += ["--identity-embeddings", str(stores[1])]
        for p in params:
            args += ["--param", p]
        result = CliRunner().invoke(app, ["fit", "--out", str(tmp_path / name), *args])
        assert result.exit_code == 0, result.output
        weights[name] = (tmp_path / name / "weights.safetensors").read_bytes()
    assert weights["a"] == weights["b"]
    assert weights["a"] != weights["c"]
