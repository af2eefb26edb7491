"""The white-box inversion attacker: rebuild the real embedding from the blinded one.

An attacker who holds the published blinder embeds unlabelled public faces, blinds them, and
learns ``g: phi(x) -> x``. It then reads the expression from ``g(phi(x))`` with a probe trained
on real embeddings (:func:`~blindface.evaluation.attack` with ``X_fit``). A blinder that only
*hides* the expression (a rotation, a scaling an MLP probe on ``phi(x)`` might miss) loses to
it; one that removed the expression does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Inversion", "fit_inversion"]

#: Public rows an inversion is fit on at most (a seeded sample beyond that).
MAX_ROWS = 2500
VALIDATION_FRACTION = 0.15


@dataclass(frozen=True)
class Inversion:
    """A fitted ``g: phi(x) -> x``: the best, on held-out public rows, of a ridge regression
    and RBF kernel ridge regressions (``kind``), with its held-out cosine to the real
    embedding."""

    model: Any
    kind: str
    validation_cosine: float

    def transform(self, blinded: ArrayLike) -> np.ndarray:
        """The rebuilt embeddings ``g(phi(x))``."""
        return np.asarray(self.model.predict(np.asarray(blinded, dtype=np.float64)))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(np.mean(np.sum(a * b, axis=1)))


def fit_inversion(blinded: ArrayLike, real: ArrayLike, *, random_state: int = 0) -> Inversion:
    """Learn ``g: phi(x) -> x`` from unlabelled public faces (``blinded[i] = phi(real[i])``):
    a linear ridge regression, and RBF kernel ridge regressions (any smooth inverse) at three
    bandwidths and two ridges, the best on held-out rows kept."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Z = np.asarray(blinded, dtype=np.float64)
    X = np.asarray(real, dtype=np.float64)
    if Z.ndim != 2 or X.ndim != 2 or len(Z) != len(X) or len(X) < 20:
        raise ValueError(
            f"an inversion needs matching 2-D blinded and real rows (20 or more), got "
            f"{Z.shape} and {X.shape}"
        )
    rng = np.random.default_rng(random_state)
    rows = rng.permutation(len(X))[:MAX_ROWS]
    n_val = max(5, int(VALIDATION_FRACTION * len(rows)))
    val, fit = rows[:n_val], rows[n_val:]
    candidates: dict[str, Any] = {
        "ridge": make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 7)))
    }
    scaled = StandardScaler().fit(Z[fit])
    sample = np.asarray(scaled.transform(Z[fit][:500]), dtype=np.float64)
    squared = np.square(sample[:, np.newaxis, :] - sample[np.newaxis, :, :]).sum(axis=2)
    median = float(np.median(squared[np.triu_indices(len(sample), k=1)])) or 1.0
    for bandwidth in (0.5, 1.0, 2.0):
        for alpha in (0.01, 0.1):
            candidates[f"kernel ridge (bandwidth {bandwidth}, alpha {alpha})"] = make_pipeline(
                StandardScaler(),
                KernelRidge(kernel="rbf", gamma=1.0 / (bandwidth * median)).set_params(
                    alpha=alpha  # the stubs type alpha as int; scikit-learn takes a float
                ),
            )
    scored = []
    for kind, model in candidates.items():
        model.fit(Z[fit], X[fit])
        scored.append((_cosine(model.predict(Z[val]), X[val]), kind, model))
    cosine, kind, model = max(scored, key=lambda item: item[0])
    return Inversion(model, kind, cosine)
