"""LEACE: closed-form linear concept erasure of the expression (Belrose et al. 2023)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from blindface.blinding import _params as P
from blindface.blinding._base import AffineBlinder, FitInput
from blindface.blinding._eraser import leace_eraser
from blindface.blinding._streaming import MomentStatistics
from blindface.blinding._validation import require_counts
from blindface.blinding.formats._persistence import Shape

if TYPE_CHECKING:
    from concept_erasure import LeaceEraser


class LEACE(AffineBlinder):
    """Least-squares concept erasure of the expression (the closed form of Belrose et al.).

    After erasure no linear classifier predicts the expression better than a constant one (on
    the fitting distribution) while the embeddings move as little as possible. Only the rows
    with an expression label are used (one-hot targets); ``subject`` is accepted and ignored.

    The eraser needs only means and covariances, so it also fits in one pass over batches
    (:func:`~blindface.blinding.fit_streaming`), with the statistics of partitions mergeable;
    it is computed as ``concept-erasure``'s ``LeaceFitter`` computes it, with the same
    options. The output keeps the input's geometry (the map moves each embedding as little as
    possible, mean kept), so it is compared by cosine like the embedding it replaces; it is not
    re-normalised.

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

    proj_left_: np.ndarray
    proj_right_: np.ndarray
    mean_: np.ndarray

    _arrays: ClassVar[Mapping[str, Shape]] = {
        "weight_": ("out", "in"),
        "bias_": ("out",),
        "proj_left_": ("in", None),
        "proj_right_": ("in", None),
        "mean_": ("in",),
    }

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {
        "method": P.Range(choices=("leace", "orth")),
        "svd_tol": P.Range(0, 1),
    }

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

    def _fit(self, data: FitInput) -> None:
        """Fit the eraser on the rows of ``X`` that have an ``expression`` label."""
        statistics = MomentStatistics.empty(data.n_features)
        self._fit_statistics(statistics.add(data.X, data.expression, data.subject))

    def _fit_statistics(self, statistics: MomentStatistics) -> LEACE:
        """Fit from accumulated statistics (see :func:`~blindface.blinding.fit_streaming`):
        the eraser needs only the expression rows' mean, covariance and class sums."""
        moments, groups = statistics.expression, statistics.classes
        classes = groups.labels()
        counts = np.array([groups.counts[c] for c in classes.tolist()], dtype=np.float64)
        require_counts(counts, "expression")
        sums = np.stack([groups.sums[c] for c in classes.tolist()])
        eraser = leace_eraser(
            moments.n,
            moments.mean,
            moments.scatter,
            (sums - counts[:, None] * moments.mean).T,
            method=self.method,
            affine=self.affine,
            constrain_cov_trace=self.constrain_cov_trace,
            shrinkage=self.shrinkage,
            svd_tol=self.svd_tol,
        )
        weight, bias = eraser.affine()
        self._set_fitted(
            statistics.n_features,
            classes,
            proj_left_=eraser.proj_left.astype(np.float32),
            proj_right_=np.ascontiguousarray(eraser.proj_right.T, dtype=np.float32),
            mean_=eraser.mean.astype(np.float32),
            weight_=weight.astype(np.float32),
            bias_=bias.astype(np.float32),
        )
        return self

    @property
    def eraser_(self) -> LeaceEraser:
        """The fitted ``concept_erasure.LeaceEraser`` (float64), rebuilt from the stored arrays."""
        import torch  # lazy: only this view of the fitted eraser needs PyTorch
        from concept_erasure import LeaceEraser

        check_is_fitted(self)
        return LeaceEraser(
            torch.from_numpy(np.asarray(self.proj_left_, np.float64)),
            torch.from_numpy(np.asarray(self.proj_right_, np.float64).T.copy()),
            torch.from_numpy(np.asarray(self.mean_, np.float64)),
        )
