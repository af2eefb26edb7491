"""PyTorch parts of the methods that retrain the recognizer's upper part: the CosFace identity
head, and batched forward passes over (possibly memory-mapped, float16) feature maps."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class MarginCosineHead(nn.Module):
    """CosFace's large-margin cosine softmax over identities: logits ``s (cos(u, w_k) - m
    [k = y])``, how face recognizers such as SFace are trained. The class weights start at the
    given centres (each person's mean embedding), so training starts where the recognizer is."""

    def __init__(self, centres: torch.Tensor, scale: float, margin: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(F.normalize(centres, dim=1))
        self.scale, self.margin = float(scale), float(margin)

    def forward(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cosine = F.normalize(u, dim=1) @ F.normalize(self.weight, dim=1).T
        if y is not None:
            cosine = cosine - self.margin * F.one_hot(y, cosine.shape[1]).to(cosine.dtype)
        return self.scale * cosine


def gather(features: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """Rows of a (possibly memory-mapped, float16) feature array as a float32 tensor; ``rows``
    must be sorted (reads in file order)."""
    return torch.from_numpy(np.asarray(features[rows], dtype=np.float32))


@torch.no_grad()
def embed(
    net: nn.Module, features: np.ndarray, rows: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """Unit-length outputs of ``net`` on ``features[rows]`` (``rows`` sorted), in batches
    padded to ``batch_size`` so that a row's output never depends on the rows beside it."""
    was_training = net.training
    net.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        x = gather(features, chunk)
        if len(x) < batch_size:
            x = torch.cat([x, x.new_zeros((batch_size - len(x), *x.shape[1:]))])
        out.append(F.normalize(net(x), dim=1)[: len(chunk)])
    net.train(was_training)
    if not out:
        return np.empty((0, 0), np.float32)
    return torch.cat(out).numpy()
