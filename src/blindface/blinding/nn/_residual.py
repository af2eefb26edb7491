"""The residual map ``x + r(x)`` shared by the trained non-linear methods (Learning not to
Learn, ExpressionInvariantMap): a PyTorch module that starts as the identity, and its fitted
layers as plain dense layers for the NumPy / ONNX inference path."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from blindface.blinding._base import Layer, fold
from blindface.blinding.nn import _layers


class Residual(nn.Module):
    """``x + r(x)`` with the last layer of ``r`` at zero: the identity map at initialisation."""

    def __init__(self, d: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.branch = _layers.mlp((d, *hidden, d), activation)
        last = _layers.linear_layers(self.branch)[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def residual_layers(
    coefs: list[np.ndarray], intercepts: list[np.ndarray], activation: str
) -> list[Layer]:
    """``x + r(x)`` as plain dense layers: hidden units ``[r's units, relu(x), relu(-x)]`` carry
    the skip path (``x = relu(x) - relu(-x)``); an affine branch folds into one layer."""
    d = coefs[0].shape[1]
    eye = np.eye(d, dtype=coefs[0].dtype)
    if len(coefs) == 1 or activation == "identity":
        weight, bias = fold(coefs, intercepts)
        return [((np.eye(d) + weight).astype(eye.dtype), bias.astype(eye.dtype), "identity")]
    layers = []
    last = len(coefs) - 1
    for i, (w, b) in enumerate(zip(coefs, intercepts, strict=True)):
        if i == 0:
            w_full = np.vstack([w, eye, -eye])
        elif i < last:
            w_full = _block_diag(w, np.eye(2 * d, dtype=eye.dtype))
        else:
            w_full = np.hstack([w, eye, -eye])
        b_full = b if i == last else np.concatenate([b, np.zeros(2 * d, dtype=b.dtype)])
        layers.append((w_full, b_full, "relu" if i < last else "identity"))
    return layers


def _block_diag(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]), dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    out[a.shape[0] :, a.shape[1] :] = b
    return out
