"""PyTorch layers of the trained methods: dense stacks, their weights as arrays, and the
modules the methods share (a folded linear network, a frozen standardisation, a cosine head)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"identity": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(
    sizes: Sequence[int], activation: str = "relu", *, final_activation: bool = False
) -> nn.Sequential:
    """Dense layers ``sizes[0] -> sizes[1] -> ...`` with ``activation`` between them."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``net`` in order."""
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def layer_arrays(net: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """Copies of the ``(weight, bias)`` of every ``nn.Linear`` layer of ``net``, in order: the
    snapshot the training loop keeps of the best iteration."""
    return [
        (m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
        for m in linear_layers(net)
    ]


def check_layer_sizes(
    sizes: Sequence[int] | int, name: str, *, allow_empty: bool = True
) -> tuple[int, ...]:
    """``sizes`` (ints, or one int) as a tuple of positive ints, or a ``ValueError``."""
    items = [sizes] if isinstance(sizes, int | np.integer) else sizes
    try:
        out = tuple(int(s) for s in items)
    except TypeError as err:
        raise ValueError(f"{name} must be a sequence of layer widths, got {sizes!r}") from err
    if any(s <= 0 for s in out) or (not out and not allow_empty):
        raise ValueError(f"{name} must hold positive layer widths, got {sizes!r}")
    return out


def folded(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear network as one affine map ``(W, b)``, differentiable: the same function and
    gradients as the layer-by-layer forward pass, at a fraction of its cost for wide layers."""
    layers = linear_layers(net)
    weight, bias = layers[0].weight, layers[0].bias
    for layer in layers[1:]:
        weight, bias = layer.weight @ weight, layer.weight @ bias + layer.bias
    return weight, bias


class Standardize(nn.Module):
    """Frozen per-feature standardisation with the statistics of ``Z``."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, Z: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", Z.mean(dim=0))
        self.register_buffer("scale", Z.std(dim=0).clamp_min(1e-6))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.scale


def isometric_network(sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear layers initialised (semi-)orthogonally with zero bias: ``phi_0`` keeps distances
    whenever the widths never shrink below the input dimension."""
    net = mlp(sizes, "identity")
    for layer in linear_layers(net):
        nn.init.orthogonal_(layer.weight)
        nn.init.zeros_(layer.bias)
    return net


class CosineHead(nn.Module):
    """Normalised softmax: logits ``s * cos(z, w_k)``."""

    def __init__(self, centres: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(F.normalize(centres, dim=1))
        self.scale = float(scale)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).T
