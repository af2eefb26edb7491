"""Learning not to Learn's pieces: the residual feature network, its heads, its losses and its
validation probe (the estimator and its training loop are in :mod:`._lnl`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from blindface.blinding import _torch
from blindface.blinding._base import Layer, fold
from blindface.blinding._validation import split_rows


class Residual(nn.Module):
    """``x + r(x)`` with the last layer of ``r`` at zero: the identity map at initialisation."""

    def __init__(self, d: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.branch = _torch.mlp((d, *hidden, d), activation)
        last = _torch.linear_layers(self.branch)[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class CosineHead(nn.Module):
    """Normalised softmax: logits ``s * cos(z, w_k)``."""

    def __init__(self, centres: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(F.normalize(centres, dim=1))
        self.scale = float(scale)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).T


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


def neg_entropy(h: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Mean ``sum_b q log q`` of ``h``'s posterior, with ``h``'s parameters held fixed."""
    frozen = {name: p.detach() for name, p in h.named_parameters()}
    frozen.update(dict(h.named_buffers()))
    log_q = torch.log_softmax(functional_call(h, frozen, (z,)), dim=1)
    return (log_q.exp() * log_q).sum(dim=1).mean()


def split_by_subject(
    rows: np.ndarray,
    codes: np.ndarray,
    subjects: np.ndarray,
    fraction: float,
    rng: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Train / validation expression rows with no subject on both sides where every row has a
    subject and there are enough subjects; otherwise a stratified split of the rows."""
    groups = subjects[rows]
    unique = np.unique(groups)
    if (groups < 0).any() or len(unique) < 4:
        return split_rows(rows, codes[rows], fraction, rng)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    n_val = min(len(unique) - 2, max(2, round(fraction * len(unique))))
    held = rng.permutation(unique)[:n_val]
    is_val = np.isin(groups, held)
    return rows[~is_val], rows[is_val]


def probe_accuracy(
    Z_train: np.ndarray, y_train: np.ndarray, Z_val: np.ndarray, y_val: np.ndarray
) -> float:
    """Held-out accuracy of the better of two fresh probes, a linear one (shrinkage LDA) and a
    non-linear one (5-NN on standardised features), both cheap enough to run every epoch; nan
    without validation rows."""
    if len(y_val) == 0 or len(np.unique(y_train)) < 2:
        return float("nan")
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probes = (
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
        make_pipeline(StandardScaler(), KNeighborsClassifier(min(5, len(y_train)))),
    )
    return max(float(p.fit(Z_train, y_train).score(Z_val, y_val)) for p in probes)
