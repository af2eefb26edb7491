"""The SFace recognizer rebuilt in PyTorch from the same ONNX file, for fast batched bfloat16.

SFace (a MobileFaceNet) is one straight chain of Conv -> BatchNorm -> PReLU blocks, then
Flatten -> Gemm -> BatchNorm. This module reads that chain from the ONNX graph (dequantising
the block-quantised int8 weights exactly as ``DequantizeLinear`` does), folds each BatchNorm
into the convolution before it, and runs it channels-last under bfloat16 autocast. On a CPU
with native bfloat16 (AVX512-BF16 / AMX) this is about twice as fast as OpenCV's float32
forward; the embeddings agree with it to a cosine similarity of about 0.9997.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

_Layer = TypeVar("_Layer", bound=nn.Conv2d | nn.Linear)


def bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 natively through oneDNN."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int, block: int):
    """ONNX ``DequantizeLinear`` (opset 21, optional blocked scales) in NumPy."""
    if block:
        index = [slice(None)] * q.ndim
        index[axis] = slice(0, q.shape[axis])
        scale = np.repeat(scale, block, axis=axis)[tuple(index)]
        zero = np.repeat(zero, block, axis=axis)[tuple(index)]
    elif scale.ndim == 1 and q.ndim > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q.astype(np.float32) - zero.astype(np.float32)) * scale).astype(np.float32)


Step = tuple[str, list[np.ndarray], dict[str, Any], str]
"""One operator of the chain: its type, its constant inputs (weights), its attributes and the
name of its output tensor in the ONNX graph."""


def load_sface_torch(onnx_path: str) -> SFaceNet:
    """The SFace network of ``onnx_path`` as an eval-mode ``torch.nn.Module`` (float32)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(onnx_path).graph
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    steps: list[Step] = []
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear":
            q, scale, zero = (values[name] for name in node.input)
            axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
            values[node.output[0]] = _dequantize(q, scale, zero, axis, block)
        elif node.op_type == "Reshape" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]].reshape(values[node.input[1]])
        elif node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(attrs["value"])
        else:
            params = [values[name] for name in node.input[1:] if name in values]
            steps.append((node.op_type, params, attrs, node.output[0]))
    return SFaceNet(steps).eval()


class SFaceNet(nn.Module):
    """The sequential SFace chain with BatchNorm folded into the preceding layer.

    ``outputs[i]`` names the ONNX tensor that ``layers[i]`` computes (for a folded BatchNorm,
    the BatchNorm's output), so the network can be cut at the same place in both.
    """

    def __init__(self, steps: list[Step]) -> None:
        super().__init__()
        self.shift, self.scale = 0.0, 1.0
        layers: list[nn.Module] = []
        self.outputs: list[str] = []
        for op, params, attrs, output in steps:
            if op == "Sub":
                self.shift = float(np.asarray(params[0]).ravel()[0])
            elif op == "Mul":
                self.scale = float(np.asarray(params[0]).ravel()[0])
            elif op == "Conv":
                weight = torch.from_numpy(params[0])
                groups = attrs.get("group", 1)
                height, width = weight.shape[2:]
                stride_y, stride_x = attrs.get("strides", (1, 1))
                pad_y, pad_x = attrs.get("pads", (0, 0, 0, 0))[:2]
                conv = nn.Conv2d(
                    weight.shape[1] * groups,
                    weight.shape[0],
                    (height, width),
                    stride=(stride_y, stride_x),
                    padding=(pad_y, pad_x),
                    groups=groups,
                    bias=True,
                )
                bias = torch.from_numpy(params[1]) if len(params) > 1 else None
                layers.append(_with_weights(conv, weight, bias))
                self.outputs.append(output)
            elif op == "Gemm":
                weight = torch.from_numpy(params[0])
                if not attrs.get("transB", 0):
                    weight = weight.T
                linear = nn.Linear(weight.shape[1], weight.shape[0])
                layers.append(_with_weights(linear, weight, torch.from_numpy(params[1])))
                self.outputs.append(output)
            elif op == "BatchNormalization":
                gamma, beta, mean, var = (torch.from_numpy(p) for p in params)
                factor = gamma / torch.sqrt(var + attrs.get("epsilon", 1e-5))
                shift = beta - mean * factor
                last = layers[-1]
                if isinstance(last, nn.Conv2d | nn.Linear) and last.bias is not None:
                    shape = (-1,) + (1,) * (last.weight.dim() - 1)
                    weight = last.weight.data * factor.view(shape)
                    layers[-1] = _with_weights(last, weight, last.bias.data * factor + shift)
                    self.outputs[-1] = output
                else:
                    layers.append(_Affine(factor, shift))
                    self.outputs.append(output)
            elif op == "PRelu":
                prelu = nn.PReLU(int(np.asarray(params[0]).size))
                prelu.weight.data = torch.from_numpy(np.asarray(params[0]).ravel()).clone()
                layers.append(prelu)
                self.outputs.append(output)
            elif op == "Flatten":
                layers.append(nn.Flatten(1))
                self.outputs.append(output)
            elif op != "Dropout":
                raise ValueError(f"unexpected operator {op} in the SFace graph")
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.shift) * self.scale)


def _with_weights(layer: _Layer, weight: torch.Tensor, bias: torch.Tensor | None) -> _Layer:
    """``layer`` holding copies of ``weight`` and ``bias`` (zeros when ``None``)."""
    if bias is None:
        bias = torch.zeros(weight.shape[0])
    layer.weight = nn.Parameter(weight.clone().contiguous(), requires_grad=False)
    layer.bias = nn.Parameter(bias.clone(), requires_grad=False)
    return layer


class _Affine(nn.Module):
    """A per-channel scale and shift (a BatchNorm that cannot be folded)."""

    factor: torch.Tensor
    shift: torch.Tensor

    def __init__(self, factor: torch.Tensor, shift: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("factor", factor)
        self.register_buffer("shift", shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.factor.view(shape) + self.shift.view(shape)
