"""Fitting from statistics accumulated in one pass over batches, mergeable across partitions.

The methods that need only means and covariances (LEACE, WithinSubjectProjection) fit from a
:class:`MomentStatistics`: counts, means and centred scatter matrices (Chan et al.'s parallel
update, in float64), per-expression sums and per-subject sums. Their in-memory ``fit`` is the
same computation on one batch, so :func:`fit_streaming` over any batching gives the same model
(to rounding). Statistics of partitions combine with :meth:`MomentStatistics.merge` (e.g. one
per Ray task)::

    parts = [accumulate(LEACE(), batches_of(p)) for p in partitions]
    model = fit_statistics(LEACE(), functools.reduce(MomentStatistics.merge, parts))

The trained methods (SensitiveNets, Learning not to Learn, INLP) need the rows themselves
(SGD, probes fitted on them): they fit on an in-memory sample, and these functions refuse them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from blindface.blinding._base import Blinder
from blindface.blinding._validation import Labels, check_embeddings, encode_labels

Batch = tuple[ArrayLike, ArrayLike, ArrayLike | None]


@dataclass
class Moments:
    """Count, mean and centred scatter ``sum (x - mean)(x - mean)^T`` of some rows."""

    n: int
    mean: np.ndarray
    scatter: np.ndarray

    @classmethod
    def empty(cls, d: int) -> Moments:
        return cls(0, np.zeros(d), np.zeros((d, d)))

    @classmethod
    def of(cls, X: np.ndarray) -> Moments:
        mean = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
        centred = X - mean
        return cls(len(X), mean, centred.T @ centred)

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of rows (Chan, Golub and LeVeque's pairwise update)."""
        n = self.n + other.n
        if not self.n or not other.n:
            return self if other.n == 0 else other
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.n * other.n / n)
        return Moments(n, mean, scatter)


@dataclass
class GroupSums:
    """Row count and sum of ``x`` per label value (expression class or subject)."""

    counts: dict[object, int] = field(default_factory=dict)
    sums: dict[object, np.ndarray] = field(default_factory=dict)

    def add(self, X: np.ndarray, values: np.ndarray) -> None:
        if not len(values):
            return
        keys, inverse = np.unique(values, return_inverse=True)
        totals = np.zeros((len(keys), X.shape[1]))
        np.add.at(totals, inverse, X)
        for key, count, total in zip(keys.tolist(), np.bincount(inverse), totals, strict=True):
            self.counts[key] = self.counts.get(key, 0) + int(count)
            self.sums[key] = self.sums[key] + total if key in self.sums else total

    def merge(self, other: GroupSums) -> GroupSums:
        out = GroupSums(dict(self.counts), dict(self.sums))
        for key, count in other.counts.items():
            out.counts[key] = out.counts.get(key, 0) + count
            out.sums[key] = out.sums[key] + other.sums[key] if key in out.sums else other.sums[key]
        return out

    def labels(self) -> np.ndarray:
        """The label values, sorted as :func:`encode_labels` sorts classes."""
        return np.unique(np.array(list(self.counts)))


@dataclass
class MomentStatistics:
    """Everything LEACE and WithinSubjectProjection fit from, accumulated batch by batch.

    ``expression``: moments of the rows with an expression; ``emotion``: moments of the rows
    with an expression and a subject; ``identity_sum`` / ``all_sum``: sums of the rows with a
    subject and no expression / of all rows; ``classes``: sums per expression; ``subjects``:
    sums per subject over the emotion rows.
    """

    n_features: int
    expression: Moments
    emotion: Moments
    n_identity: int = 0
    identity_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_all: int = 0
    all_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    classes: GroupSums = field(default_factory=GroupSums)
    subjects: GroupSums = field(default_factory=GroupSums)

    @classmethod
    def empty(cls, n_features: int) -> MomentStatistics:
        return cls(
            n_features,
            Moments.empty(n_features),
            Moments.empty(n_features),
            identity_sum=np.zeros(n_features),
            all_sum=np.zeros(n_features),
        )

    def update(
        self, X: ArrayLike, expression: ArrayLike, subject: ArrayLike | None = None
    ) -> MomentStatistics:
        """Add a batch of rows (labels may be missing: None / NaN / pd.NA); return ``self``."""
        arr = check_embeddings(X, n_features=self.n_features, owner="these statistics")
        n = len(arr)
        return self.add(
            arr, encode_labels(expression, n, "expression"), encode_labels(subject, n, "subject")
        )

    def add(self, X: np.ndarray, expression: Labels, subject: Labels) -> MomentStatistics:
        """:meth:`update` with checked ``X`` and encoded labels."""
        X64 = X.astype(np.float64)
        has_expr, has_subj = expression.present, subject.present
        both = has_expr & has_subj
        identity = has_subj & ~has_expr
        self.expression = self.expression.merge(Moments.of(X64[has_expr]))
        self.emotion = self.emotion.merge(Moments.of(X64[both]))
        self.n_identity += int(identity.sum())
        self.identity_sum = self.identity_sum + X64[identity].sum(axis=0)
        self.n_all += len(X64)
        self.all_sum = self.all_sum + X64.sum(axis=0)
        self.classes.add(X64[has_expr], expression.classes[expression.codes[has_expr]])
        self.subjects.add(X64[both], subject.classes[subject.codes[both]])
        return self

    def merge(self, other: MomentStatistics) -> MomentStatistics:
        """The statistics of both sets of rows (e.g. two partitions)."""
        if other.n_features != self.n_features:
            raise ValueError(
                f"cannot merge statistics of {self.n_features}-d and {other.n_features}-d rows"
            )
        return MomentStatistics(
            self.n_features,
            self.expression.merge(other.expression),
            self.emotion.merge(other.emotion),
            self.n_identity + other.n_identity,
            self.identity_sum + other.identity_sum,
            self.n_all + other.n_all,
            self.all_sum + other.all_sum,
            self.classes.merge(other.classes),
            self.subjects.merge(other.subjects),
        )


@runtime_checkable
class StreamingBlinder(Protocol):
    """A blinder that fits from :class:`MomentStatistics`."""

    def _fit_statistics(self, statistics: MomentStatistics) -> Blinder: ...


def accumulate(estimator: Blinder, batches: Iterable[Batch]) -> MomentStatistics:
    """One pass over ``batches`` of ``(X, expression, subject)``: their statistics."""
    _check_streaming(estimator)
    statistics: MomentStatistics | None = None
    for X, expression, subject in batches:
        arr = check_embeddings(X)
        if statistics is None:
            statistics = MomentStatistics.empty(arr.shape[1])
        statistics.update(arr, expression, subject)
    if statistics is None:
        raise ValueError("batches yielded no rows: nothing to fit")
    return statistics


def fit_statistics(estimator: Blinder, statistics: MomentStatistics) -> Blinder:
    """Fit ``estimator`` from accumulated (possibly merged) statistics; return it."""
    return _check_streaming(estimator)._fit_statistics(statistics)


def fit_streaming(estimator: Blinder, batches: Iterable[Batch]) -> Blinder:
    """Fit ``estimator`` in one pass over ``batches`` of ``(X, expression, subject)``.

    Equals ``estimator.fit(X, expression=..., subject=...)`` on all rows at once (to rounding),
    whatever the batching; a subject's rows may span batches. Only for the methods that need
    just means and covariances (LEACE, WithinSubjectProjection); the trained methods raise a
    ``TypeError``: fit them on an in-memory sample of the rows.
    """
    return fit_statistics(estimator, accumulate(estimator, batches))


def _check_streaming(estimator: Blinder) -> StreamingBlinder:
    estimator.check_params()
    if not isinstance(estimator, StreamingBlinder):
        raise TypeError(
            f"{type(estimator).__name__} trains on the rows themselves (SGD or probes), not on "
            "means and covariances: it cannot fit from a stream; fit it on an in-memory sample "
            "(e.g. a few tens of thousands of rows) with estimator.fit(X, expression=..., "
            "subject=...)"
        )
    return estimator
