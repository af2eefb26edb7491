"""A retrained recognizer (``lnl``) as a user runs it from stores: embed a few faces, fit
``lnl`` on their images, embed with the blinded recognizer (``blinded:MODEL_DIR``), export it
as ONNX; and what refuses it (transform, audit, a store of another embedder)."""

from __future__ import annotations

import hashlib

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from typer.testing import CliRunner

import blindface
from blindface._provenance import EmbedderMismatchError
from blindface.cli import app
from blindface.datasets import load_dataset
from blindface.faces import (
    EmbedderError,
    embedder_label,
    embedder_names,
    face_crops,
    get_embedder,
    sface_features,
)
from blindface.pipelines import BlindedEmbedder, fit_recognizer_stores
from blindface.store import read_metadata, read_store, write_store
from blindface.testing import make_embeddings

FIT = ["cut=54", "max_iter=1", "batch_size=8", "validation_fraction=0.3", "far=0.1"]


def _run(*args: str):
    result = CliRunner().invoke(app, [*args], env={"COLUMNS": "300"})
    return result.exit_code, result.output


def test_blinded_is_a_registered_embedder_name():
    assert "blinded:MODEL_DIR" in embedder_names()
    label = embedder_label("blinded:/models/lnl")
    assert label.startswith("blinded-lnl-") and len(label) == len("blinded-lnl-") + 8
    with pytest.raises(EmbedderError, match="no saved model"):
        get_embedder("blinded:/nowhere")


def test_a_frozen_blinder_is_not_an_embedder(tmp_path):
    from blindface.blinding import LEACE

    data = make_embeddings(n_features=8, n_identity_subjects=4, n_emotion_subjects=4)
    folder = LEACE().fit(data.X, expression=data.expression).save(tmp_path / "leace")
    with pytest.raises(EmbedderError, match="blinds embeddings"):
        get_embedder(f"blinded:{folder}")


def test_a_fit_is_refused_before_any_work(tmp_path):
    data = make_embeddings(n_features=8, n_identity_subjects=4, n_emotion_subjects=4)
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(len(data.X))]})
    store = write_store(tmp_path / "dlib.parquet", table, data.X, metadata={"embedder": "dlib"})
    with pytest.raises(ValueError, match="leace blinds embeddings"):
        fit_recognizer_stores("leace", store, tmp_path / "m", data_root=tmp_path)
    with pytest.raises(EmbedderMismatchError, match="retrains SFace"):
        fit_recognizer_stores("lnl", store, tmp_path / "m", data_root=tmp_path)
    assert not (tmp_path / "m").exists()


@pytest.mark.data
@pytest.mark.slow
def test_fit_embed_and_export_a_blinded_recognizer(data_dir, tmp_path):
    table = load_dataset("jaffe", data_dir)
    table = table[table["expression"].isin(["neutral", "happy", "sad"])]
    table = table[table["subject"].isin(sorted(table["subject"].unique())[:4])]
    table = table.groupby(["subject", "expression"]).head(2)
    manifest = tmp_path / "faces.csv"
    table[["path", "subject", "expression"]].to_csv(manifest, index=False)
    root, cache, store = str(data_dir), str(tmp_path / "cache"), tmp_path / "faces.parquet"
    code, output = _run("embed", str(manifest), "--data-root", root, "--out", str(store),
                        "--jobs", "1", "--no-progress")  # fmt: skip
    assert code == 0, output

    model_dir = tmp_path / "lnl"
    fit = ["fit", "--method", "lnl", "--embeddings", str(store), "--out", str(model_dir),
           "--cache-dir", cache, "--jobs", "1", "--no-progress"]  # fmt: skip
    for param in FIT:
        fit += ["--param", param]
    code, output = _run(*fit, "--data-root", str(tmp_path))
    assert code == 2 and "images whose faces the store holds are not under" in output
    code, output = _run(*fit, "--data-root", root, "--engine", "ray")
    assert code == 2 and "use --engine local" in output
    code, output = _run(*fit, "--data-root", root)
    assert code == 0, output
    assert "SFace feature maps -> 128 dims" in output
    assert (model_dir / "training_curves.png").is_file()
    model = blindface.load(model_dir)
    assert model.fitted_on_ is not None and model.fitted_on_["embedder"]["embedder"] == "sface"

    blinded = tmp_path / "blinded.parquet"
    embedder = f"blinded:{model_dir}"
    code, output = _run("embed", str(manifest), "--data-root", root, "--out", str(blinded),
                        "--embedder", embedder, "--jobs", "2", "--no-progress")  # fmt: skip
    assert code == 0, output
    meta = read_metadata(blinded)
    settings = meta["settings"]
    weights = (model_dir / "weights.safetensors").read_bytes()
    assert settings["model_sha256"] == hashlib.sha256(weights).hexdigest()
    assert settings["base_recognizer"] == "face_recognition_sface_2021dec_int8bq.onnx"
    assert settings["method"] == "LearningNotToLearnEndToEnd" and settings["cut"] == 54
    stored = read_store(store)
    maps = sface_features(stored.table, root, cache, cut=54, n_jobs=1, progress=False)
    got = read_store(blinded)
    assert list(got.table["face_status"]) == list(stored.table["face_status"])
    np.testing.assert_allclose(got.embeddings[got.ok], model.transform(maps), atol=2e-3)

    onnx_path = tmp_path / "blinded.onnx"
    code, output = _run("export-recognizer", "--model", str(model_dir), "--out", str(onnx_path))
    assert code == 0, output
    code, output = _run("export-recognizer", "--model", str(model_dir), "--out", str(manifest))
    assert code == 2 and "not a blindface ONNX recognizer" in output  # the output guard
    # the exported graph on the faces' own crops, as the Python path embeds them
    crops = face_crops(table, root, cache, n_jobs=1, progress=False).crops()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    faces = crops.transpose(0, 3, 1, 2).astype(np.float32)
    onnx_out = np.concatenate([session.run(None, {"face": face[None]})[0] for face in faces])
    assert np.abs(onnx_out - BlindedEmbedder(model_dir).model.embed_crops(crops)).max() < 1e-3

    code, output = _run("transform", "--model", str(model_dir), "--embeddings", str(store),
                        "--out", str(tmp_path / "t.parquet"), "--no-progress")  # fmt: skip
    assert code == 2 and "embeds images, not a store of embeddings" in output
    code, output = _run("audit", "--embeddings", str(store), "--model", str(model_dir),
                        "--out", str(tmp_path / "audit"), "--folds", "2")  # fmt: skip
    assert code == 2 and "retrained the recognizer" in output
    code, output = _run("embed", str(manifest), "--out", str(tmp_path / "x.parquet"),
                        "--embedder", f"blinded:{tmp_path}")  # fmt: skip
    assert code != 0 and "no saved model" in output
