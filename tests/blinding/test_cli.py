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


def _write_store(path, X, expression, subject, failed=()):
    n, d = X.shape
    ok = ~np.isin(np.arange(n), failed)
    values = pa.array(X.reshape(-1).astype(np.float32))
    table = pa.table(
        {
            "dataset": ["synthetic"] * n,
            "subject": pa.array(list(subject), pa.string()),
            "expression": pa.array(list(expression), pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(values, d, mask=pa.array(~ok)),
            "face_status": ["detected" if o else "failed" for o in ok],
            "face_reason": [None if o else "no face" for o in ok],
            "content_hash": [f"h{i}" for i in range(n)],
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
        ("sensitivenets", ["hidden_layer_sizes=16,16", "max_rounds=2", "classifier_epochs=3"]),
        ("lnl", ["hidden_layer_sizes=12", "max_epochs=2"]),
        ("leace", []),
        ("inlp", ["n_iterations=3"]),
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
        method in ("sensitivenets", "lnl", "inlp")
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
    assert result.exit_code == 2 and "method must be one of" in result.output


def test_export_recognizer_cli(tmp_path):
    from blindface.blinding import INLP
    from blindface.blinding._synthetic import make_embeddings

    data = make_embeddings(n_features=128, n_identity_subjects=5, n_emotion_subjects=6)
    INLP(n_iterations=2, random_state=0).fit(data.X, expression=data.expression).save(
        tmp_path / "m"
    )
    out = tmp_path / "rec.onnx"
    result = CliRunner().invoke(
        app, ["export-recognizer", "--model", str(tmp_path / "m"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1_000_000  # SFace's weights are inside
