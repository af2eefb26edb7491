"""Saved models that cannot fool the loader: every malformed model is one ModelError naming the
file; the same fit gives the same bytes; files are 0644; a broken model is never exported."""

from __future__ import annotations

import hashlib
import json
import stat

import numpy as np
import pytest
import safetensors.numpy

import blindface
from blindface.blinding import INLP, LEACE, ModelError, export_recognizer
from blindface.testing import make_embeddings


@pytest.fixture(scope="module")
def data():
    return make_embeddings(
        n_features=8, n_identity_subjects=4, n_emotion_subjects=6, random_state=3
    )


@pytest.fixture()
def saved(data, tmp_path):
    model = INLP(max_iter=2, random_state=0).fit(data.X, expression=data.expression)
    return model.save(tmp_path / "model")


def _config(folder):
    return json.loads((folder / "config.json").read_text())


def _write_config(folder, config):
    (folder / "config.json").write_text(json.dumps(config))


def _rewrite_weights(folder, tensors, metadata=None):
    """Replace the weights and fix the checksum, as an attacker or a buggy writer would."""
    if metadata is None:
        with open(folder / "weights.safetensors", "rb") as handle:
            header = json.loads(handle.read(8 + 10_000)[8:].split(b"}}", 1)[0] + b"}}")
        metadata = header.get("__metadata__")
    blob = safetensors.numpy.save(tensors, metadata=metadata)
    (folder / "weights.safetensors").write_bytes(blob)
    config = _config(folder)
    config["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    _write_config(folder, config)


def _arrays(folder):
    return safetensors.numpy.load((folder / "weights.safetensors").read_bytes())


def _load_fails(folder, match):
    with pytest.raises(ModelError, match=match) as info:
        blindface.load(folder)
    assert str(folder) in str(info.value)  # names the file


def test_corrupt_json(saved):
    (saved / "config.json").write_text("{not json")
    _load_fails(saved, "not valid JSON")


def test_wrong_format(saved):
    _write_config(saved, {**_config(saved), "format": "something-else"})
    _load_fails(saved, "not a blindface blinding model config")


def test_config_not_an_object(saved):
    (saved / "config.json").write_text("[1, 2]")
    _load_fails(saved, "not a blindface blinding model config")


def test_newer_format_version(saved):
    _write_config(saved, {**_config(saved), "format_version": 99})
    _load_fails(saved, "newer blindface")


def test_format_version_not_an_integer(saved):
    _write_config(saved, {**_config(saved), "format_version": "2"})
    _load_fails(saved, "format_version must be an integer")


def test_unknown_method(saved):
    _write_config(saved, {**_config(saved), "method": "Nope"})
    _load_fails(saved, "holds a 'Nope' model")


def test_undeclared_param(saved):
    config = _config(saved)
    config["params"]["exec"] = "import os"
    _write_config(saved, config)
    _load_fails(saved, r"unknown parameter\(s\) \['exec'\]")


@pytest.mark.parametrize(("name", "value"), [("max_iter", "20"), ("C", [1]), ("max_iter", True)])
def test_wrong_param_type(saved, name, value):
    config = _config(saved)
    config["params"][name] = value
    _write_config(saved, config)
    _load_fails(saved, f"parameter {name}=")


def test_state_cannot_override_the_weights(saved):
    config = _config(saved)
    config["state"] = {"weight_": {"__ndarray__": [[0.0]], "dtype": "<f4"}}
    _write_config(saved, config)
    _load_fails(saved, r"unexpected entries \['state'\]")


def test_huge_dtype_string_is_refused(saved):
    config = _config(saved)
    config["state"] = {"classes_": {"__ndarray__": [], "dtype": "(999999999,)f8" + " " * 42}}
    _write_config(saved, config)
    _load_fails(saved, "unexpected entries")


def test_weights_dtype_must_be_float32(saved):
    arrays = {k: v.astype(np.float64) for k, v in _arrays(saved).items()}
    _rewrite_weights(saved, arrays)
    _load_fails(saved, "not float32")


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "sub/w.safetensors", "..", ""])
def test_weights_file_must_stay_in_the_folder(saved, name):
    _write_config(saved, {**_config(saved), "weights_file": name})
    _load_fails(saved, "weights_file")


def test_symlink_out_of_the_folder(saved, tmp_path):
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes((saved / "weights.safetensors").read_bytes())
    (saved / "link.safetensors").symlink_to(outside)
    _write_config(saved, {**_config(saved), "weights_file": "link.safetensors"})
    _load_fails(saved, "outside the model folder")


def test_missing_weights(saved):
    (saved / "weights.safetensors").unlink()
    _load_fails(saved, "is missing")


def test_checksum_mismatch(saved):
    blob = (saved / "weights.safetensors").read_bytes()
    (saved / "weights.safetensors").write_bytes(blob[:-4] + b"\0\0\0\0")
    _load_fails(saved, "checksum differs")


def test_garbage_weights_with_a_matching_checksum(saved):
    blob = b"\xff" * 64
    (saved / "weights.safetensors").write_bytes(blob)
    _write_config(saved, {**_config(saved), "weights_sha256": hashlib.sha256(blob).hexdigest()})
    _load_fails(saved, "is corrupt")


def test_nan_weights_at_load(saved):
    arrays = _arrays(saved)
    arrays["weight_"][0, 0] = np.nan
    _rewrite_weights(saved, arrays)
    _load_fails(saved, "NaN or inf")


def test_nan_weights_at_save(data, tmp_path):
    model = INLP(max_iter=2, random_state=0).fit(data.X, expression=data.expression)
    model.weight_[0, 0] = np.inf
    with pytest.raises(ModelError, match="NaN or inf"):
        model.save(tmp_path / "m")
    assert not (tmp_path / "m" / "config.json").exists()


@pytest.mark.parametrize(
    ("name", "shape"), [("weight_", (8, 7)), ("bias_", (9,)), ("weight_", (8, 8, 1))]
)
def test_wrong_array_shape(saved, name, shape):
    arrays = _arrays(saved)
    arrays[name] = np.zeros(shape, np.float32)
    _rewrite_weights(saved, arrays)
    _load_fails(saved, f"array {name} has shape")


def test_wrong_dimension_in_the_config(saved):
    _write_config(saved, {**_config(saved), "n_features_in": 9})
    _load_fails(saved, "has shape")
    _write_config(saved, {**_config(saved), "n_features_in": 8.0})
    _load_fails(saved, "n_features_in must be a positive integer")


def test_missing_or_extra_arrays(saved):
    arrays = _arrays(saved)
    _rewrite_weights(saved, {**arrays, "extra": np.zeros(2, np.float32)})
    _load_fails(saved, "unexpected arrays")
    _rewrite_weights(saved, {"bias_": arrays["bias_"]})
    _load_fails(saved, "lacks the array 'weight_'")


def test_fitted_attributes_are_checked(saved):
    _rewrite_weights(saved, _arrays(saved), metadata={"blindface": json.dumps({"x": 1})})
    _load_fails(saved, "metadata is not that of")


def test_same_fit_same_bytes(data, tmp_path):
    digests = []
    for i in range(2):
        model = LEACE().fit(data.X, expression=data.expression)
        folder = model.save(tmp_path / f"m{i}")
        digests.append(
            [
                hashlib.sha256((folder / n).read_bytes()).hexdigest()
                for n in sorted(p.name for p in folder.iterdir())
            ]
        )
    assert digests[0] == digests[1]


def test_files_are_0644(saved):
    for path in saved.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_export_recognizer_refuses_a_broken_model(tmp_path):
    data = make_embeddings(n_features=128, n_identity_subjects=5, n_emotion_subjects=6)
    model = LEACE().fit(data.X, expression=data.expression)
    model.bias_ = np.full_like(model.bias_, np.nan)  # NaN weights
    with pytest.raises(ValueError, match="NaN or inf"):
        export_recognizer(model, tmp_path / "r.onnx")
    model = LEACE().fit(data.X, expression=data.expression)
    model.bias_ = model.bias_[:-1]  # wrong shape
    with pytest.raises(ValueError):
        export_recognizer(model, tmp_path / "r.onnx")
    assert not (tmp_path / "r.onnx").exists()
