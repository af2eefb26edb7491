"""The embedder registry: names, building by name, factories for worker processes, the CLI."""

from __future__ import annotations

import pickle

import pytest
from typer.testing import CliRunner

from blindface.cli import app
from blindface.faces import (
    EMBEDDER_NAMES,
    EmbedderError,
    OnnxEmbedder,
    OnnxModelError,
    SFaceEmbedder,
    check_embedder_name,
    embedder_factory,
    embedder_label,
    get_embedder,
    sface_model_paths,
)


def test_names():
    assert EMBEDDER_NAMES == ("sface", "dlib", "onnx:PATH")


def test_unknown_embedder():
    with pytest.raises(EmbedderError, match="unknown embedder 'facenet'; expected one of sface"):
        get_embedder("facenet")
    with pytest.raises(ValueError, match="needs a model file"):
        embedder_factory("onnx:")


def test_by_name_records_options_and_an_instance_passes_through():
    embedder = get_embedder("SFace", backend="opencv", score_threshold=0.7)
    assert isinstance(embedder, SFaceEmbedder) and embedder.name == "sface"
    assert embedder.options == {"backend": "opencv", "score_threshold": 0.7}
    assert embedder.settings["score_threshold"] == 0.7
    assert get_embedder(embedder) is embedder
    with pytest.raises(EmbedderError, match="not to an instance"):
        get_embedder(embedder, backend="opencv")


def test_onnx_names_a_file(tmp_path):
    recognizer = sface_model_paths()[1]
    embedder = get_embedder(f"onnx:{recognizer}", normalization="none")
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.name == f"onnx:{recognizer}" and embedder.options == {"normalization": "none"}
    rebuilt = get_embedder(embedder.name, **embedder.options)
    assert rebuilt.settings == embedder.settings


def test_factories_pickle_for_the_workers():
    recognizer = sface_model_paths()[1]
    for name in ("sface", "dlib", f"onnx:{recognizer}"):
        factory = pickle.loads(pickle.dumps(embedder_factory(name)))
        assert callable(factory)
    rebuilt = pickle.loads(pickle.dumps(embedder_factory(f"onnx:{recognizer}")))(
        normalization="none"
    )
    assert rebuilt.name == f"onnx:{recognizer}"


def test_check_name_loads_nothing_but_finds_a_missing_file(tmp_path):
    assert check_embedder_name("dlib") == "dlib"
    with pytest.raises(OnnxModelError, match="file not found"):
        check_embedder_name(f"onnx:{tmp_path / 'missing.onnx'}")


def test_labels_are_file_name_safe(tmp_path):
    assert embedder_label("sface") == "sface" and embedder_label("dlib") == "dlib"
    one = embedder_label(f"onnx:{tmp_path / 'a' / 'w600k r50.onnx'}")
    other = embedder_label(f"onnx:{tmp_path / 'b' / 'w600k r50.onnx'}")
    assert one.startswith("onnx-w600k_r50-") and one != other
    assert all(c.isalnum() or c in "._-" for c in one)
    with pytest.raises(EmbedderError):
        embedder_label("facenet")


@pytest.mark.parametrize(
    ("command", "embedder", "message"),
    [
        (["embed", "jaffe", "--out", "x.parquet"], "facenet", "unknown embedder 'facenet'"),
        (["embed", "jaffe", "--out", "x.parquet"], "onnx:missing.onnx", "file not found"),
        (["reproduce", "--out", "report"], "onnx:", "needs a model file"),
    ],
)
def test_cli_rejects_a_bad_embedder_before_doing_anything(
    tmp_path, monkeypatch, command, embedder, message
):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [*command, "--embedder", embedder], terminal_width=200)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not list(tmp_path.iterdir())
