"""SensitiveNets' pieces: the folded linear network, ``w3``'s frozen standardisation, P x K
triplet batches, the losses and the compact isometric coordinates (the estimator and its
training are in :mod:`._sensitivenets`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from blindface.blinding.nn import _torch

#: images per subject in a triplet batch (FaceNet-style P x K sampling)
_IMAGES_PER_SUBJECT = 4


def folded(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear network as one affine map ``(W, b)``, differentiable: the same function and
    gradients as the layer-by-layer forward pass, at a fraction of its cost for wide layers."""
    layers = _torch.linear_layers(net)
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
    net = _torch.mlp(sizes, "identity")
    for layer in _torch.linear_layers(net):
        nn.init.orthogonal_(layer.weight)
        nn.init.zeros_(layer.bias)
    return net


def pk_batch(groups: list[np.ndarray], batch_size: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows of ``batch_size // 4`` random subjects, up to 4 random rows each."""
    n_subjects = min(len(groups), max(2, batch_size // _IMAGES_PER_SUBJECT))
    chosen = rng.choice(len(groups), n_subjects, replace=False)
    rows = [
        rng.choice(groups[g], min(_IMAGES_PER_SUBJECT, len(groups[g])), replace=False)
        for g in chosen
    ]
    return np.concatenate(rows)


def semihard_triplet_loss(z: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Triplet loss with online semi-hard negatives (FaceNet; TensorFlow Addons' variant).

    For every anchor-positive pair the negative is the closest one farther than the positive;
    when none is, the farthest negative. Distances are squared Euclidean.
    """
    dist = torch.cdist(z, z).pow(2)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(z), dtype=torch.bool)
    negative = ~same
    d_ap = dist[:, :, None]
    d_an = dist[:, None, :]
    semihard = negative[:, None, :] & (d_an > d_ap)
    outside = torch.where(semihard, d_an, torch.full_like(d_an, torch.inf)).amin(dim=2)
    inside = torch.where(negative, dist, torch.full_like(dist, -torch.inf)).amax(dim=1)
    chosen = torch.where(semihard.any(dim=2), outside, inside[:, None])
    return F.relu(dist - chosen + margin)[positive].mean()


def explained_variance(u: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Share of the variance of the rows ``u`` explained by their class ``y``: between-class
    scatter over total scatter (0 when every class has the same mean)."""
    counts = torch.bincount(y, minlength=n_classes).clamp_min(1).to(u.dtype)
    means = torch.zeros(n_classes, u.shape[1], dtype=u.dtype).index_add_(0, y, u) / counts[:, None]
    centre = u.mean(dim=0)
    between = (counts[:, None] * (means - centre).pow(2)).sum()
    return between / (u - centre).pow(2).sum().clamp_min(torch.finfo(u.dtype).tiny)


def compact_linear(weight: np.ndarray) -> np.ndarray:
    """Isometric ``d_in``-dimensional coordinates of the linear map ``v -> W v``: with
    ``W = U S V^T`` (thin SVD), ``V S V^T``, so ``|V S V^T v| = |W v|`` for every ``v``;
    unchanged when ``W`` has no more rows than columns.

    Of all isometric coordinates (``R S V^T`` for any rotation ``R``) these stay closest to
    the input's own coordinates, so a probe that standardises each output feature sees them as
    it sees the input (axes along ``W``'s singular vectors would put every direction that ``W``
    shrinks in a feature of its own, which standardisation blows back up).
    """
    d_out, d_in = weight.shape
    if d_out <= d_in:
        return weight
    _, s, vt = np.linalg.svd(weight, full_matrices=False)
    return (vt.T * s) @ vt
