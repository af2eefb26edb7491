"""LEACE in closed form: the least-squares linear eraser of a concept, from moments.

Belrose et al. 2023, "LEACE: Perfect linear concept erasure in closed form" (NeurIPS), Theorem
4.3: with ``Sigma_xx`` the covariance of ``x``, ``Sigma_xz`` its cross-covariance with the
one-hot concept ``z`` and ``W = (Sigma_xx^{1/2})^+`` the whitening, the eraser

    x -> x - W^+ P W (x - E[x]),    P = the orthogonal projection onto colspace(W Sigma_xz),

leaves every class of ``z`` with the same mean (no linear classifier beats a constant one) and
moves ``x`` as little as possible in the ``Sigma_xx``-norm. It is computed from the count, the
mean, the centred scatter and the centred cross-products, so a fit streamed over batches (and
merged across partitions) equals the in-memory one. The options and numerics are those of
``concept_erasure.LeaceFitter`` (its ``shrinkage``, ``svd_tol``, ``constrain_cov_trace``;
``method="orth"`` takes ``W = I``), computed here in NumPy, float64, without its private state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

METHODS = ("leace", "orth")


@dataclass(frozen=True)
class Eraser:
    """``x -> x - proj_left @ proj_right @ (x - mean)``: ``proj_left`` is ``(d, r)``,
    ``proj_right`` ``(r, d)``, ``mean`` the point the map keeps (zeros when not affine)."""

    proj_left: np.ndarray
    proj_right: np.ndarray
    mean: np.ndarray

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """The same map as ``x -> weight @ x + bias``: ``(weight, bias)``."""
        removed = self.proj_left @ self.proj_right
        return np.eye(len(removed)) - removed, removed @ self.mean


def leace_eraser(
    n: int,
    mean: np.ndarray,
    scatter: np.ndarray | None,
    cross: np.ndarray,
    *,
    method: str = "leace",
    affine: bool = True,
    constrain_cov_trace: bool = True,
    shrinkage: bool = True,
    svd_tol: float = 0.01,
) -> Eraser:
    """The LEACE eraser of ``n`` rows with ``mean``, centred ``scatter`` (``sum (x - mean)
    (x - mean)^T``; unused by ``method="orth"``) and centred ``cross`` products with the one-hot
    concept (``sum (x - mean) (z - mean_z)^T``, shape ``(d, k)``).

    Raises
    ------
    ValueError
        An unknown ``method``, fewer than 2 rows, or ``svd_tol <= 0``.
    numpy.linalg.LinAlgError
        A covariance whose eigendecomposition does not converge.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if n < 2:
        raise ValueError(f"LEACE needs at least 2 rows, got {n}")
    if not svd_tol > 0:
        raise ValueError(f"svd_tol must be > 0, got {svd_tol}")
    d = len(mean)
    eye = np.eye(d)
    sigma_xz = np.asarray(cross, np.float64) / (n - 1)
    sigma = _covariance(np.asarray(scatter, np.float64), n, shrinkage) if method == "leace" else eye
    if method == "leace":
        whiten, unwhiten = _whitening(sigma)
    else:
        whiten, unwhiten = eye, eye
    u, s, _ = np.linalg.svd(whiten @ sigma_xz, full_matrices=False)
    u = u * (s > svd_tol)  # directions too weak to erase are dropped
    proj_left, proj_right = unwhiten @ u, u.T @ whiten
    if constrain_cov_trace and method == "leace":
        proj_left, proj_right = _keep_trace(sigma, u, proj_left, proj_right)
    bias = np.asarray(mean, np.float64) if affine else np.zeros(d)
    return Eraser(proj_left, proj_right, bias)


def fit_eraser(X: np.ndarray, codes: np.ndarray, n_classes: int, **options: Any) -> Eraser:
    """:func:`leace_eraser` of the rows ``X`` labelled with class ``codes`` in
    ``range(n_classes)`` (``options``: its keyword arguments)."""
    X = np.asarray(X, np.float64)
    mean = X.mean(axis=0)
    centred = X - mean
    one_hot = np.eye(n_classes)[np.asarray(codes, dtype=np.intp)]
    return leace_eraser(len(X), mean, centred.T @ centred, centred.T @ one_hot, **options)


def _covariance(scatter: np.ndarray, n: int, shrinkage: bool) -> np.ndarray:
    """The covariance estimate: symmetrised, then shrunk (Ledoit-Wolf-style, towards a multiple
    of the identity) or with Bessel's correction."""
    symmetric = (scatter + scatter.T) / 2
    if not shrinkage:
        return symmetric / (n - 1)
    return _optimal_linear_shrinkage(symmetric / n, n)


def _optimal_linear_shrinkage(S: np.ndarray, n: int) -> np.ndarray:
    """``alpha S + beta (tr(S) / p) I`` with the coefficients that are optimal in the Frobenius
    norm as the dimension and the sample size grow together (Bai et al., arXiv:1308.2608), as
    ``concept_erasure.shrinkage.optimal_linear_shrinkage`` computes them."""
    p = S.shape[-1]
    eps = np.finfo(S.dtype).eps
    trace = np.trace(S)
    target = np.eye(p) * trace / p
    target_sq = np.sum(target**2)
    product = np.trace(S @ target)
    top = trace * trace * target_sq / n
    bottom = np.sum(S**2) * target_sq - product * product
    alpha = 1 - (top + eps) / (bottom + eps)
    beta = (1 - alpha) * (product + eps) / (target_sq + eps)
    return alpha * S + beta * target


def _whitening(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Sigma^{1/2})^+`` and ``Sigma^{1/2}``, eigenvalues below the pseudo-inverse threshold
    treated as zero."""
    values, vectors = np.linalg.eigh(sigma)
    kept = values > values[-1] * len(values) * np.finfo(values.dtype).eps
    roots = np.sqrt(np.clip(values, 0.0, None))
    inverse = np.zeros_like(roots)
    inverse[kept] = 1.0 / roots[kept]
    return (vectors * inverse) @ vectors.T, (vectors * np.where(kept, roots, 0.0)) @ vectors.T


def _keep_trace(
    sigma: np.ndarray, u: np.ndarray, left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Factors of an eraser that never increases the covariance trace: the LEACE map itself
    when it does not, else its mix with the orthogonal projection ``I - u u^T`` whose trace is
    the original's (as ``LeaceFitter`` mixes; the mix's factors are written down exactly)."""
    eye = np.eye(len(sigma))
    projection = eye - left @ right
    old, new = np.trace(sigma), np.trace(projection @ sigma @ projection.T)
    if new <= old:
        return left, right
    orthogonal = eye - u @ u.T
    a, b = new, 2 * np.trace(projection @ sigma @ orthogonal.T)
    c = np.trace(orthogonal @ sigma @ orthogonal.T)
    root = np.sqrt(max(4 * old * a - 4 * old * b + 4 * old * c - 4 * a * c + b**2, 0.0))
    low = (-b / 2 + c - root / 2) / (a - b + c)
    high = (-b / 2 + c + root / 2) / (a - b + c)
    alpha = float(np.clip(low if low > 0 else high, 0.0, 1.0))
    # I - (alpha P + (1 - alpha) Q) = alpha (left @ right) + (1 - alpha) u u^T
    return np.hstack([alpha * left, (1 - alpha) * u]), np.vstack([right, u.T])
