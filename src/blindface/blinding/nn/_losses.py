"""Losses and gradient tricks of the trained methods: gradient reversal and its ramp, the
similarity gap, a Gaussian mutual-information surrogate, the semi-hard triplet loss, the share
of variance a class explains, and a posterior's negative entropy."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity on the forward pass; multiplies the gradient by ``-scale`` on the way back."""
    return _GradientReversal.apply(x, float(scale))


def dann_ramp(progress: float) -> float:
    """Ganin & Lempitsky's ramp ``2 / (1 + exp(-10 p)) - 1``: 0 at the start, -> 1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def similarity_gap(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared gap between the pairwise cosine similarities of ``z`` and of ``x``."""
    zn, xn = nn.functional.normalize(z, dim=1), nn.functional.normalize(x, dim=1)
    return nn.functional.mse_loss(zn @ zn.T, xn @ xn.T)


def gaussian_mi(z: torch.Tensor, y: torch.Tensor, n_classes: int, shrinkage: float) -> torch.Tensor:
    """Mutual information between ``z`` and the class ``y`` if each class were Gaussian with a
    shared covariance: ``(log det S_total - log det S_within) / 2``, both shrunk towards
    ``shrinkage * mean variance * I`` (invariant to invertible linear maps of ``z`` when
    ``shrinkage`` is 0). The mean variance is taken over ``min(n, D)`` directions, the most the
    rows can span, so that wide features (``D`` above the number of rows) get the same ridge as
    narrow ones.

    With fewer rows than dimensions it is computed exactly from the ``n x n`` Gram matrices
    (``log det(r I + A^T A / n) = D log r + log det(I + A A^T / (n r))``), so wide features
    cost no ``D x D`` determinant.
    """
    n, dim = z.shape
    counts = torch.bincount(y, minlength=n_classes).clamp_min(1).to(z.dtype)
    means = torch.zeros(n_classes, dim, dtype=z.dtype).index_add_(0, y, z) / counts[:, None]
    total = z - z.mean(dim=0)
    within = z - means[y]
    ridge = shrinkage * total.pow(2).sum() / (n * min(n, dim))
    if n < dim:
        eye = torch.eye(n, dtype=z.dtype)
        scale = n * ridge.clamp_min(torch.finfo(z.dtype).tiny)
        return 0.5 * (
            torch.logdet(eye + total @ total.T / scale)
            - torch.logdet(eye + within @ within.T / scale)
        )
    eye = torch.eye(dim, dtype=z.dtype)
    s_total = total.T @ total / n + ridge * eye
    s_within = within.T @ within / n + ridge * eye
    return 0.5 * (torch.logdet(s_total) - torch.logdet(s_within))


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


def neg_entropy(h: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Mean ``sum_b q log q`` of ``h``'s posterior, with ``h``'s parameters held fixed."""
    frozen = {name: p.detach() for name, p in h.named_parameters()}
    frozen.update(dict(h.named_buffers()))
    log_q = torch.log_softmax(functional_call(h, frozen, (z,)), dim=1)
    return (log_q.exp() * log_q).sum(dim=1).mean()
