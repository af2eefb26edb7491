"""Within-subject projection: remove the directions in which one person's face varies."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import ClassVar

import numpy as np

from blindface.blinding import _params as P
from blindface.blinding._base import AffineBlinder, FitInput
from blindface.blinding._streaming import MomentStatistics
from blindface.blinding._validation import require_counts
from blindface.blinding.formats._persistence import AttributeKind, Shape


class WithinSubjectProjection(AffineBlinder):
    """Project out the top principal directions of within-subject variation.

    Identity lives in the variation between subjects; an expression is variation within one
    subject. The method estimates the subspace of within-subject variation from subjects
    photographed with several expressions and removes it:
    ``phi(x) = (I - U U^T) (x - mean_)``, with ``U`` the top ``n_components`` right singular
    vectors of the emotion rows minus the mean of their own subject. This is the nuisance
    attribute projection of speaker verification (Solomonoff et al. 2005), with the expression
    as the nuisance; unlike LEACE and INLP it needs no probe and also removes expression codes
    that are not linearly separable, as long as they live in the estimated subspace.

    Rows with a subject and an expression are the emotion rows; subjects with a single emotion
    row carry no within-subject variation and are dropped, so the fit needs subjects with
    several expressions each (CK+, JAFFE, CFEE). Rows with a subject but no expression (LFW,
    DiveFace) are the identity rows: ``mean_`` is their mean (the mean of all rows when there
    are none), so the projection is taken around a general face mean. The output has the input
    dimension and is centred on ``mean_``; ``weight_`` is an orthogonal projection, so the map
    is idempotent on centred data: ``transform(transform(X) + mean_) == transform(X)``.
    Deterministic (one eigendecomposition). It needs only means and scatter matrices, so it also
    fits in one pass over batches (:func:`~blindface.blinding.fit_streaming`), a subject's rows
    possibly spread over several batches.

    Output: centred on ``mean_`` and not re-normalised. Centring on a general face mean is what
    makes cosine comparisons work after the projection (the constant part of every embedding is
    removed rather than left to dominate the cosine).

    Trade-off, measured by the research experiment on the SFace fixture with 64 components
    (blinder fitted on other people than those probed): LFW verification 98.51 -> 98.09 %;
    CK+ expression accuracy of people never seen, MLP 67.6 -> 32.0, SVM 71.0 -> 31.3, random
    forest 58.6 -> 28.6, logistic regression 70.4 -> 28.8, kNN 61.6 -> 23.5 % (chance 22.9 %).
    It costs some gender and ethnicity information (UTKFace MLP: gender 93.1 -> 90.2 %,
    ethnicity 87.8 -> 82.2 %). Centring on the identity-row mean before projecting kept LFW
    verification 0.4 points higher than projecting raw embeddings.

    Parameters
    ----------
    n_components : int or None, default=None
        Dimension of the removed subspace, ``1 <= n_components < n_features`` and at most the
        rank of the within-subject residuals; ``None``: half the input dimension (64 for
        128-d SFace embeddings, the setting measured above).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, d)
        Orthonormal rows spanning the removed within-subject subspace, strongest first.
    mean_ : ndarray of shape (d,)
        The mean subtracted before projecting.
    weight_ : ndarray of shape (d, d)
        The projection ``I - components_.T @ components_`` (symmetric, idempotent).
    bias_ : ndarray of shape (d,)
        ``-weight_ @ mean_``, so that ``transform(X) = X @ weight_.T + bias_``.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Share of the within-subject variance along each removed direction.
    n_subjects_ : int
        Subjects with at least two emotion rows (those the subspace was estimated from).
    classes_ : ndarray
        Expression classes seen in fit.
    n_features_in_ : int

    References
    ----------
    A. Solomonoff, W. M. Campbell and I. Boardman, "Advances in channel compensation for SVM
    speaker recognition", ICASSP 2005 (nuisance attribute projection).
    """

    _arrays: ClassVar[Mapping[str, Shape]] = {
        "weight_": ("out", "in"),
        "bias_": ("out",),
        "components_": (None, "in"),
        "mean_": ("in",),
        "explained_variance_ratio_": (None,),
    }
    _attributes: ClassVar[Mapping[str, AttributeKind]] = {
        "classes_": "labels",
        "n_subjects_": "int",
    }

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {"n_components": P.Range(1, 65_536)}

    def __init__(self, *, n_components: int | None = None) -> None:
        self.n_components = n_components

    def _fit(self, data: FitInput) -> None:
        """Estimate the within-subject subspace from the rows with a subject and an expression."""
        self._check_n_components(data.n_features)
        statistics = MomentStatistics.empty(data.n_features)
        self._fit_statistics(statistics.add(data.X, data.expression, data.subject))

    def _check_n_components(self, d: int) -> int:
        k = d // 2 if self.n_components is None else self.n_components
        if not isinstance(k, Integral) or isinstance(k, bool) or not 1 <= k < d:
            raise ValueError(
                f"n_components={k!r} must be an integer with 1 <= n_components < "
                f"n_features={d} (the number of removed directions)"
            )
        return int(k)

    def _fit_statistics(self, statistics: MomentStatistics) -> WithinSubjectProjection:
        """Fit from accumulated statistics (see :func:`~blindface.blinding.fit_streaming`).

        The within-subject scatter is the emotion rows' scatter minus the between-subject part,
        ``S = sum (x - m)(x - m)^T - sum_s n_s (m_s - m)(m_s - m)^T``; a subject with one
        emotion row adds nothing to it, so such subjects drop out by themselves.
        """
        d = statistics.n_features
        k = self._check_n_components(d)
        groups = statistics.classes
        classes = groups.labels()
        require_counts(np.array([groups.counts[c] for c in classes.tolist()]), "expression")
        subjects = statistics.subjects
        counts = np.array(list(subjects.counts.values()), dtype=np.int64)
        n_subjects = int((counts >= 2).sum())
        if n_subjects == 0:
            raise ValueError(
                "WithinSubjectProjection needs subjects with several expressions: no subject "
                f"has 2 or more rows with an expression label ({statistics.emotion.n} rows have "
                "both a subject and an expression); pass subject= for the emotion rows"
            )
        emotion = statistics.emotion
        scatter = emotion.scatter.copy()
        for key, count in subjects.counts.items():
            offset = subjects.sums[key] / count - emotion.mean
            scatter -= count * np.outer(offset, offset)
        variance, vectors = np.linalg.eigh((scatter + scatter.T) / 2)
        variance, vectors = np.clip(variance[::-1], 0.0, None), vectors[:, ::-1]
        n_rows = int(counts[counts >= 2].sum())
        tol = np.sqrt(variance[0]) * max(n_rows, d) * np.finfo(np.float32).eps
        rank = int((np.sqrt(variance) > tol).sum())
        if k > rank:
            raise ValueError(
                f"n_components={k} exceeds the rank {rank} of the within-subject variation "
                f"({n_rows} emotion rows of {n_subjects} subjects): lower n_components "
                "or add subjects with more expressions"
            )
        components = vectors[:, :k].T
        # a fixed sign per direction (largest entry positive): the same model for any batching
        signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
        components *= signs[:, None]
        if statistics.n_identity:
            mean = statistics.identity_sum / statistics.n_identity
        else:
            mean = statistics.all_sum / statistics.n_all
        projection = np.eye(d) - components.T @ components
        self._set_fitted(
            d,
            classes,
            components_=components.astype(np.float32),
            mean_=mean.astype(np.float32),
            weight_=projection.astype(np.float32),
            bias_=(-projection @ mean).astype(np.float32),
            explained_variance_ratio_=(variance[:k] / variance.sum()).astype(np.float32),
            n_subjects_=n_subjects,
        )
        return self
