"""LEACE: closed-form linear concept erasure of the expression (Belrose et al. 2023)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from concept_erasure import LeaceEraser, LeaceFitter
from numpy.typing import ArrayLike
from sklearn.utils.validation import check_is_fitted

from blindface.blinding._base import AffineBlinder
from blindface.blinding._validation import check_embeddings, encode_labels, require_classes


class LEACE(AffineBlinder):
    """Least-squares concept erasure of the expression, fitted with ``concept-erasure``.

    After erasure no linear classifier predicts the expression better than a constant one (on
    the fitting distribution) while the embeddings move as little as possible. Only the rows
    with an expression label are used (one-hot targets); ``subject`` is accepted and ignored.

    Parameters
    ----------
    method : {"leace", "orth"}, default="leace"
        LEACE's oblique projection, or the simpler orthogonal projection.
    affine : bool, default=True
        Keep the unconditional mean of the embeddings.
    constrain_cov_trace : bool, default=True
        Never increase the covariance trace (mixes towards the orthogonal projection if needed;
        the map is then no longer exactly idempotent).
    shrinkage : bool, default=True
        Ledoit-Wolf-style shrinkage of the covariance estimate.
    svd_tol : float, default=0.01
        Singular values below it are treated as zero.

    Attributes
    ----------
    proj_left_, proj_right_ : ndarray of shape (d, r)
        The eraser's factors: its projection is ``I - proj_left_ @ proj_right_.T``.
    mean_ : ndarray of shape (d,)
        The eraser's bias (mean of the fitted rows; zeros when ``affine=False``).
    weight_, bias_ : ndarray
        The same map as ``X @ weight_.T + bias_`` (what ``transform`` applies).
    classes_ : ndarray
        Expression classes seen in fit.
    n_features_in_ : int
    """

    _array_attributes: ClassVar[tuple[str, ...]] = (
        "weight_",
        "bias_",
        "proj_left_",
        "proj_right_",
        "mean_",
    )
    _json_attributes: ClassVar[tuple[str, ...]] = ("classes_",)

    def __init__(
        self,
        *,
        method: str = "leace",
        affine: bool = True,
        constrain_cov_trace: bool = True,
        shrinkage: bool = True,
        svd_tol: float = 0.01,
    ) -> None:
        self.method = method
        self.affine = affine
        self.constrain_cov_trace = constrain_cov_trace
        self.shrinkage = shrinkage
        self.svd_tol = svd_tol

    def fit(
        self,
        X: ArrayLike,
        y: None = None,
        *,
        expression: ArrayLike,
        subject: ArrayLike | None = None,
    ) -> LEACE:
        """Fit the eraser on the rows of ``X`` that have an ``expression`` label."""
        X = check_embeddings(X)
        n, d = X.shape
        expr = encode_labels(expression, n, "expression")
        encode_labels(subject, n, "subject")  # validated for a clear error, otherwise unused
        require_classes(expr, "expression")
        if self.method not in ("leace", "orth"):
            raise ValueError(f"method must be 'leace' or 'orth', got {self.method!r}")
        rows = expr.present
        x = torch.from_numpy(X[rows]).double()
        z = torch.nn.functional.one_hot(torch.from_numpy(expr.codes[rows]), len(expr.classes))
        fitter = LeaceFitter.fit(
            x,
            z.double(),
            method=self.method,
            affine=self.affine,
            constrain_cov_trace=self.constrain_cov_trace,
            shrinkage=self.shrinkage,
            svd_tol=self.svd_tol,
        )
        eraser = fitter.eraser
        left = eraser.proj_left.numpy()
        right = eraser.proj_right.numpy()  # LeaceEraser stores it as (r, d)
        mean = eraser.bias.numpy() if eraser.bias is not None else np.zeros(d)
        self.proj_left_ = left
        self.proj_right_ = np.ascontiguousarray(right.T)
        self.mean_ = mean
        removed = left @ right
        self.weight_ = (np.eye(d) - removed).astype(np.float32)
        self.bias_ = (removed @ mean).astype(np.float32)
        self.classes_ = expr.classes
        self.n_features_in_ = d
        return self

    @property
    def eraser_(self) -> LeaceEraser:
        """The fitted ``concept_erasure.LeaceEraser`` (float64), rebuilt from the stored arrays."""
        check_is_fitted(self)
        return LeaceEraser(
            torch.from_numpy(np.asarray(self.proj_left_, np.float64)),
            torch.from_numpy(np.asarray(self.proj_right_, np.float64).T.copy()),
            torch.from_numpy(np.asarray(self.mean_, np.float64)),
        )
