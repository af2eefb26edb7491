"""Saving without pickle, loading, corruption handling and ONNX export."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

import blindface
from blindface.blinding import INLP, LEACE, SensitiveNets, export_recognizer

from .conftest import TINY

METHODS = list(TINY)


@pytest.mark.parametrize("name", METHODS)
def test_save_load_gives_identical_transform(fitted, tiny_data, tmp_path, name):
    model = fitted[name]
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "weights.safetensors",
    ]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["method"] == name and config["n_features_in"] == 8
    assert config["library_version"] == blindface.__version__
    loaded = blindface.load(tmp_path / "m")
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.transform(tiny_data.X), model.transform(tiny_data.X))
    assert list(loaded.classes_) == list(model.classes_)
    if hasattr(model, "history_"):
        assert loaded.history_ == model.history_
    again = type(model).load(tmp_path / "m" / "config.json")
    np.testing.assert_array_equal(again.transform(tiny_data.X), model.transform(tiny_data.X))


@pytest.mark.parametrize("name", METHODS)
def test_no_pickle_anywhere(fitted, tiny_data, tmp_path, monkeypatch, name):
    """The files are JSON and safetensors (not a pickle, not a torch zip), and loading never
    unpickles anything."""
    import pickle

    import torch

    fitted[name].save(tmp_path)
    blob = (tmp_path / "weights.safetensors").read_bytes()
    header = int.from_bytes(blob[:8], "little")
    assert json.loads(blob[8 : 8 + header])  # a safetensors header: a JSON object
    assert not blob.startswith((b"\x80", b"PK\x03\x04"))  # pickle protocol / torch.save zip
    json.loads((tmp_path / "config.json").read_text())

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model must not unpickle")

    for module, attr in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler")):
        monkeypatch.setattr(module, attr, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = blindface.load(tmp_path)
    np.testing.assert_array_equal(
        loaded.transform(tiny_data.X), fitted[name].transform(tiny_data.X)
    )


def test_loading_another_method_is_refused(fitted, tmp_path):
    fitted["INLP"].save(tmp_path)
    with pytest.raises(ValueError, match="holds a 'INLP' model, not one of SensitiveNets"):
        SensitiveNets.load(tmp_path)
    assert isinstance(INLP.load(tmp_path), INLP)


def test_corrupt_files_are_reported(fitted, tmp_path):
    fitted["LEACE"].save(tmp_path)
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7] + b"garbage")
    with pytest.raises(ValueError, match="checksum differs"):
        LEACE.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        blindface.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no saved blinding model"):
        blindface.load(tmp_path / "absent")


def test_save_is_atomic_and_overwrites(fitted, tmp_path):
    fitted["LEACE"].save(tmp_path)
    fitted["INLP"].save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "weights.safetensors"]
    assert isinstance(blindface.load(tmp_path), INLP)


@pytest.mark.parametrize("name", METHODS)
def test_export_onnx_matches_transform(fitted, tiny_data, tmp_path, name):
    model = fitted[name]
    path = model.export_onnx(tmp_path / "blind.onnx")
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["embedding"]
    assert [o.name for o in session.get_outputs()] == ["blinded"]
    (out,) = session.run(None, {"embedding": tiny_data.X})
    np.testing.assert_allclose(out, model.transform(tiny_data.X), atol=1e-5)


def test_export_recognizer_matches_the_python_path(linear_data, tmp_path):
    """SFace (cv2.dnn) + L2 norm + transform == the composed ONNX graph in onnxruntime."""
    cv2 = pytest.importorskip("cv2")
    from blindface.blinding.formats._onnx import sface_recognizer_path
    from blindface.testing import make_embeddings

    data = make_embeddings(n_features=128, n_identity_subjects=20, n_emotion_subjects=6)
    model = LEACE().fit(data.X, expression=data.expression)
    model.save(tmp_path / "model")
    path = export_recognizer(tmp_path / "model", tmp_path / "recognizer.onnx")
    session = ort.InferenceSession(str(path))
    net = cv2.dnn.readNet(str(sface_recognizer_path()))
    rng = np.random.default_rng(0)
    for _ in range(2):
        face = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)  # an aligned RGB face crop
        blob = face.transpose(2, 0, 1)[None].astype(np.float32)
        net.setInput(blob, "data")
        embedding = net.forward().reshape(1, -1)
        embedding /= np.linalg.norm(embedding)
        (out,) = session.run(None, {"face": blob})
        np.testing.assert_allclose(out, model.transform(embedding), atol=1e-4)


def test_export_recognizer_needs_a_128d_model(fitted, tmp_path):
    with pytest.raises(ValueError, match="SFace gives 128-d"):
        export_recognizer(fitted["LEACE"], tmp_path / "r.onnx")
