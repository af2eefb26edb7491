"""Bring your own recognizer: ``onnx:PATH`` on SFace's own file and on models built here."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from blindface.faces import (
    ARCFACE_TEMPLATE,
    EmbedderError,
    OnnxModelError,
    embed_files,
    get_embedder,
    read_image,
    sface_model_paths,
)

from .conftest import sample_files


def write_model(
    path,
    *,
    shape=("N", 3, 112, 112),
    dim=512,
    n_outputs=1,
    n_inputs=1,
    input_type=TensorProto.FLOAT,
    identity=False,
    seed=0,
):
    """A random recognizer ``face [shape] -> embedding [N, dim]`` (8 x 8 stride-8 convolution,
    flatten, dense), or with ``identity`` just the flattened input."""
    rng = np.random.default_rng(seed)
    side = shape[-1] if isinstance(shape[-1], int) else 112
    nodes, initializers, first = [], [], "face"
    if n_inputs == 2:
        nodes.append(helper.make_node("Mul", ["face", "extra"], ["scaled"]))
        first = "scaled"
    if identity:
        nodes.append(helper.make_node("Flatten", [first], ["embedding"]))
    else:
        flat = 8 * (side // 8) ** 2
        weights = {
            "w_conv": rng.standard_normal((8, shape[1] if len(shape) > 1 else 3, 8, 8)),
            "w_dense": rng.standard_normal((flat, dim)) / np.sqrt(flat),
        }
        initializers = [
            numpy_helper.from_array(value.astype(np.float32), name)
            for name, value in weights.items()
        ]
        nodes += [
            helper.make_node("Conv", [first, "w_conv"], ["conv"], strides=[8, 8]),
            helper.make_node("Flatten", ["conv"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w_dense"], ["embedding"]),
        ]
    inputs = [helper.make_tensor_value_info("face", input_type, list(shape))]
    if n_inputs == 2:
        inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    output_type = input_type if identity else TensorProto.FLOAT
    outputs = [helper.make_tensor_value_info("embedding", output_type, None)]
    if n_outputs == 2:
        outputs.append(helper.make_tensor_value_info("flat", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "recognizer", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


# -- SFace's own file through the generic path -----------------------------------------------


@pytest.mark.data
def test_sface_file_through_the_generic_path_matches_the_builtin_sface(data_dir):
    paths = [
        *sample_files(data_dir, "lfw", 8, step=97),
        *sample_files(data_dir, "jaffe", 8, step=11),
        *sample_files(data_dir, "utkface", 8, step=97),
    ]
    images = [read_image(path) for path in paths]
    builtin = get_embedder("sface", backend="opencv").embed_many(images)
    generic = get_embedder(
        f"onnx:{sface_model_paths()[1]}", normalization="none", color_order="RGB", input_size=112
    )
    assert generic.dim == 128 and generic.batch_size == 1  # SFace's batch is fixed at 1
    cosines = []
    for ref, res in zip(builtin, generic.embed_many(images), strict=True):
        assert ref.status == res.status == "detected"
        cosines.append(float(ref.embedding @ res.embedding))
    assert min(cosines) >= 0.9999, min(cosines)


# -- a random 512-d recognizer ---------------------------------------------------------------


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("onnx") / "random512.onnx")


def test_metadata_of_a_random_512_d_model(random_model):
    embedder = get_embedder(f"onnx:{random_model}", batch_size=4)
    assert embedder.dim == 512 and embedder.name == f"onnx:{random_model}"
    assert embedder.weights_hash == hashlib.sha256(random_model.read_bytes()).hexdigest()
    settings = json.loads(json.dumps(embedder.settings))
    expected = {
        "recognizer": "random512.onnx",
        "input_size": 112,
        "crop_size": 112,
        "template": ARCFACE_TEMPLATE.tolist(),
        "color_order": "RGB",
        "normalization": "arcface",
        "l2_normalize": True,
        "batch_size": 4,
        "providers": ["CPUExecutionProvider"],
        "input": "RGB (x - 127.5) / 127.5, NCHW float32",
    }
    assert {key: settings[key] for key in expected} == expected
    assert len(settings["detector_sha256"]) == 64 and "score_threshold" in settings


@pytest.mark.data
def test_a_random_512_d_model_embeds_through_the_workers(random_model, data_dir):
    paths = sample_files(data_dir, "utkface", 5, step=53) + sample_files(data_dir, "lfw", 5)
    here = list(embed_files(paths, f"onnx:{random_model}", n_jobs=1, batch_size=4))
    pooled = list(embed_files(paths, f"onnx:{random_model}", n_jobs=2, chunk_size=3, batch_size=4))
    for a, b in zip(here, pooled, strict=True):
        assert a.path == b.path and a.status == b.status == "detected", a.reason
        assert a.embedding is not None and a.embedding.shape == (512,)
        assert abs(float(np.linalg.norm(a.embedding)) - 1) < 1e-5
        np.testing.assert_array_equal(a.embedding, b.embedding)


@pytest.mark.data
def test_fixed_batch_and_raw_output(tmp_path, data_dir):
    path = write_model(tmp_path / "fixed.onnx", shape=(1, 3, 112, 112), dim=64, seed=1)
    images = [read_image(p) for p in sample_files(data_dir, "lfw", 3)]
    unit = get_embedder(f"onnx:{path}").embed_many(images)
    raw = get_embedder(f"onnx:{path}", l2_normalize=False).embed_many(images)
    for a, b in zip(unit, raw, strict=True):
        assert a.embedding is not None and b.embedding is not None
        norm = float(np.linalg.norm(b.embedding))
        assert abs(norm - 1) > 1e-3
        np.testing.assert_allclose(b.embedding / norm, a.embedding, atol=1e-6)


# -- preprocessing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"normalization": "none"}, lambda crop: crop),
        ({"normalization": "none", "color_order": "BGR"}, lambda crop: crop[..., ::-1]),
        ({}, lambda crop: (crop - 127.5) / 127.5),
    ],
    ids=["rgb-raw", "bgr-raw", "rgb-arcface"],
)
def test_the_model_reads_the_crop_as_configured(tmp_path, options, expected):
    path = write_model(tmp_path / "identity.onnx", identity=True)
    embedder = get_embedder(f"onnx:{path}", **options)
    crop = np.random.default_rng(2).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    seen = embedder._forward([crop])
    want = expected(crop.astype(np.float32)).transpose(2, 0, 1).reshape(1, -1)
    np.testing.assert_allclose(seen, want, rtol=1e-6)


def test_input_size_and_template(tmp_path):
    path = write_model(tmp_path / "r128.onnx", shape=("N", 3, 128, 128), dim=16)
    embedder = get_embedder(f"onnx:{path}", input_size=128)
    assert embedder.crop_size == 128  # insightface's norm_crop for 128: shifted 8 px right
    np.testing.assert_allclose(embedder.template, ARCFACE_TEMPLATE + [8, 0])
    custom = ARCFACE_TEMPLATE * 1.1
    assert get_embedder(f"onnx:{path}", input_size=128, template=custom).settings["template"] == (
        custom.tolist()
    )
    with pytest.raises(EmbedderError, match="no standard ArcFace template"):
        get_embedder(f"onnx:{path}", input_size=100)


# -- models and options that cannot be used ---------------------------------------------------


def _not_onnx(path):
    path.write_text("hello, I am not a model\n")


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_not_onnx, "not an ONNX model"),
        (_empty, "not an ONNX model"),
        (lambda p: write_model(p, n_outputs=2), r"has 2 outputs \(embedding, flat\); expected one"),
        (lambda p: write_model(p, n_inputs=2), r"has 2 inputs \(face, extra\); expected one image"),
        (lambda p: write_model(p, shape=("N", 1, 112, 112)), "has shape N x 1 x 112 x 112"),
        (lambda p: write_model(p, shape=(1, 3, 128, 128)), "input_size is 112.*input_size=128"),
        (lambda p: write_model(p, shape=("N", 37632), identity=True), "has shape N x 37632"),
        (
            lambda p: write_model(p, input_type=TensorProto.UINT8, identity=True),
            "is tensor.uint8.; expected float32 or float16",
        ),
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "not a file"),
    ],
    ids=[
        "text",
        "empty",
        "two-outputs",
        "two-inputs",
        "one-channel",
        "other-size",
        "flat-input",
        "uint8-input",
        "missing",
        "folder",
    ],
)
def test_a_bad_model_file_is_named_with_what_was_expected(tmp_path, make, message):
    path = tmp_path / "model.onnx"
    make(path)
    with pytest.raises(OnnxModelError, match=message) as info:
        get_embedder(f"onnx:{path}")
    assert info.value.path == str(path) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"color_order": "RGBA"}, "color_order must be one of RGB, BGR"),
        ({"normalization": "imagenet"}, "normalization must be one of arcface, none"),
        ({"providers": ["NoSuchExecutionProvider"]}, "not available"),
        ({"batch_size": 8}, "fixed at 1"),
        ({"template": [[1, 2]]}, "5 x 2"),
    ],
)
def test_bad_options(tmp_path, options, message):
    path = write_model(tmp_path / "fixed.onnx", shape=(1, 3, 112, 112), dim=8)
    with pytest.raises(EmbedderError, match=message):
        get_embedder(f"onnx:{path}", **options)


def test_a_worker_that_cannot_build_its_embedder_raises_the_error(tmp_path):
    with pytest.raises(OnnxModelError, match="file not found"):
        list(embed_files([tmp_path / "a.jpg"], f"onnx:{tmp_path / 'gone.onnx'}", n_jobs=2))
