"""Learning not to Learn's pieces: the residual feature network, its heads, its losses and its
validation probe (the estimator and its training loop are in :mod:`._lnl`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from blindface.blinding._validation import split_rows


class CosineHead(nn.Module):
    """Normalised softmax: logits ``s * cos(z, w_k)``."""

    def __init__(self, centres: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(F.normalize(centres, dim=1))
        self.scale = float(scale)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).T


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
