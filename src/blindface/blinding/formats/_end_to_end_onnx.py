"""ONNX graphs of a recognizer retrained above a cut: the trained upper part alone, or SFace's
own graph up to the cut followed by it, as one recognizer (aligned face -> blinded embedding).

Graph building and its check only: it knows SFace's split (:func:`blindface.faces.split_sface`)
and torch layers, not the estimators.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from blindface._onnxruntime import inference_session
from blindface.blinding.formats._onnx import DEFAULT_OPSET, FACE_INPUT_NAME, OUTPUT_NAME
from blindface.faces._sface_split import SFaceSplit, SFaceUpper

FEATURES_INPUT_NAME = "features"
_PREFIX = "blinding/"


def _upper_nodes(
    upper: SFaceUpper, source: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The nodes and weights computing ``upper`` on the tensor ``source``, then the L2
    normalisation, into :data:`OUTPUT_NAME`."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    current = source

    def weight(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), _PREFIX + name))
        return _PREFIX + name

    for i, layer in enumerate(upper.layers):
        out = f"{_PREFIX}layer{i}"
        if isinstance(layer, nn.Conv2d):
            padding = layer.padding
            if not isinstance(padding, tuple):
                raise TypeError("SFace's convolutions have explicit padding")
            w = weight(f"layer{i}.weight", layer.weight.detach().numpy())
            b = weight(f"layer{i}.bias", _bias(layer))
            node = helper.make_node(
                "Conv",
                [current, w, b],
                [out],
                kernel_shape=list(layer.kernel_size),
                strides=list(layer.stride),
                pads=[*padding, *padding],
                dilations=list(layer.dilation),
                group=layer.groups,
            )
        elif isinstance(layer, nn.PReLU):
            slope = layer.weight.detach().numpy().reshape(-1, 1, 1)
            node = helper.make_node("PRelu", [current, weight(f"layer{i}.slope", slope)], [out])
        elif isinstance(layer, nn.Flatten):
            node = helper.make_node("Flatten", [current], [out], axis=1)
        elif isinstance(layer, nn.Linear):
            w = weight(f"layer{i}.weight", layer.weight.detach().numpy())
            b = weight(f"layer{i}.bias", _bias(layer))
            node = helper.make_node("Gemm", [current, w, b], [out], transB=1)
        else:
            raise TypeError(f"no ONNX translation of {type(layer).__name__}")
        nodes.append(node)
        current = out
    nodes.append(helper.make_node("LpNormalization", [current], [OUTPUT_NAME], axis=1, p=2))
    return nodes, inits


def _bias(layer: nn.Conv2d | nn.Linear) -> np.ndarray:
    if layer.bias is None:
        raise TypeError("SFace's layers all have a bias")
    return layer.bias.detach().numpy()


def upper_graph(
    upper: SFaceUpper, feature_shape: tuple[int, int, int], *, opset: int = DEFAULT_OPSET
) -> onnx.ModelProto:
    """``features [N, C, H, W]`` (the maps at the cut) -> ``blinded [N, 128]``, unit length."""
    nodes, inits = _upper_nodes(upper, FEATURES_INPUT_NAME)
    features = helper.make_tensor_value_info(
        FEATURES_INPUT_NAME, TensorProto.FLOAT, ["N", *feature_shape]
    )
    graph = helper.make_graph(
        nodes,
        "blindface_upper",
        [features],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", upper.dim])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.producer_name = "blindface"
    return model


def end_to_end_graph(upper: SFaceUpper, split: SFaceSplit) -> onnx.ModelProto:
    """One graph: aligned face ``[1, 3, 112, 112]`` (RGB, float 0..255) -> blinded embedding
    ``[1, 128]``: SFace's own nodes (int8 weights as shipped) up to the cut, then ``upper``
    and the L2 normalisation."""
    sface = onnx.load(split.path)
    graph = sface.graph
    needed = {split.cut_tensor}
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    kept.reverse()
    weights = {t.name for t in graph.initializer}
    (face,) = [i.name for i in graph.input if i.name in needed and i.name not in weights]
    for node in kept:
        node.input[:] = [FACE_INPUT_NAME if name == face else name for name in node.input]
    nodes, inits = _upper_nodes(upper, split.cut_tensor)
    merged = helper.make_graph(
        [*kept, *nodes],
        "blindface_blinded_recognizer",
        [helper.make_tensor_value_info(FACE_INPUT_NAME, TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, upper.dim])],
        initializer=[t for t in graph.initializer if t.name in needed] + inits,
    )
    model = helper.make_model(merged, opset_imports=list(sface.opset_import))
    model.ir_version = sface.ir_version
    model.producer_name = "blindface"
    return model


def check_end_to_end(
    graph: onnx.ModelProto, embed_crops: Callable[[np.ndarray], np.ndarray], *, atol: float = 1e-3
) -> float:
    """Run the recognizer ``graph`` with onnxruntime on three probe faces and compare it with
    ``embed_crops`` (the PyTorch model); the largest difference, or a ``ValueError`` saying
    what differs (an output of another shape, NaN or inf, a gap above ``atol``)."""
    try:
        session = inference_session(graph.SerializeToString())
    except Exception as err:  # onnxruntime raises its own error types
        raise ValueError(f"onnxruntime cannot run the recognizer graph: {err}") from None
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 112, 112, 3)).astype(np.uint8)
    crops[0] = np.linspace(0, 255, 112 * 112 * 3).reshape(112, 112, 3).astype(np.uint8)
    expected = embed_crops(crops)
    gap = 0.0
    for crop, want in zip(crops, expected, strict=True):
        blob = crop.transpose(2, 0, 1)[None].astype(np.float32)
        got = np.asarray(session.run(None, {FACE_INPUT_NAME: blob})[0])
        if got.shape != (1, len(want)):
            raise ValueError(f"the graph outputs {got.shape}, the model (1, {len(want)})")
        if not np.isfinite(got).all():
            raise ValueError("the graph outputs NaN or inf on a probe face")
        gap = max(gap, float(np.abs(got[0] - want).max()))
    if gap > atol:
        raise ValueError(f"the graph differs from the PyTorch model by {gap:.2g} on a probe face")
    return gap
