"""Identity at the operating point a recognizer runs at: TAR at a fixed FAR, over all pairs.

Face recognition accepts a pair when its cosine similarity passes a threshold set for a false
accept rate (FAR) such as 0.1 %; the true accept rate (TAR) at that threshold is what a blinder
must keep. Every genuine (same person) and impostor (different people) pair among a set of
images is scored; the loss a blinder costs comes with a bootstrap interval over *people*
(people drawn with replacement, both representations rescored on the same draw).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PairScores", "operating_point", "pair_scores", "tar_at_far"]

#: FARs reported where the impostor pairs suffice (:data:`MIN_FALSE_ACCEPTS` above threshold).
FARS: tuple[float, ...] = (1e-3, 1e-4)
#: Impostor pairs a FAR needs above its threshold to be estimated at all.
MIN_FALSE_ACCEPTS = 10


@dataclass(frozen=True)
class PairScores:
    """Cosine scores of every genuine and every impostor pair among some images.

    ``genuine_person`` is the person (code) of each genuine pair; ``impostor_a`` /
    ``impostor_b`` the two people of each impostor pair; ``images_per_person`` counts images.
    """

    genuine: np.ndarray
    genuine_person: np.ndarray
    impostor: np.ndarray
    impostor_a: np.ndarray
    impostor_b: np.ndarray
    images_per_person: np.ndarray


def pair_scores(X: ArrayLike, subject: ArrayLike) -> PairScores:
    """Score every pair of rows of ``X`` (cosine similarity; rows are L2-normalised here)."""
    X = np.asarray(X, dtype=np.float64)
    people = np.asarray(subject, dtype=object)
    if X.ndim != 2 or len(X) != len(people):
        raise ValueError(f"X must be 2-D with one subject per row, got {X.shape}, {people.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if not np.isfinite(X).all() or (norms == 0).any():
        raise ValueError("X has non-finite or all-zero rows (failed faces?): drop them first")
    _, codes = np.unique(people.astype(str), return_inverse=True)
    unit = X / norms
    a, b = np.triu_indices(len(unit), k=1)
    scores = (unit @ unit.T)[a, b]  # the Gram matrix once, then its upper triangle
    same = codes[a] == codes[b]
    if not same.any():
        raise ValueError("no person has two or more images: identity needs same-person pairs")
    if same.all():
        raise ValueError("every image is the same person: identity needs several people")
    return PairScores(
        genuine=scores[same].astype(np.float64),
        genuine_person=codes[a][same],
        impostor=scores[~same].astype(np.float64),
        impostor_a=codes[a][~same],
        impostor_b=codes[b][~same],
        images_per_person=np.bincount(codes),
    )


def tar_at_far(genuine: ArrayLike, impostor: ArrayLike, far: float) -> float:
    """Percent of ``genuine`` scores above the threshold that accepts a fraction ``far`` of the
    ``impostor`` scores."""
    impostor = np.asarray(impostor, dtype=np.float64)
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far}")
    threshold = float(np.quantile(impostor, 1.0 - far, method="higher"))
    return float(np.mean(np.asarray(genuine) > threshold) * 100.0)


class _Resampler:
    """TAR at one FAR on resamples of people, by weights: a genuine pair weighs its person's
    draw count, an impostor pair the product of its two people's. Only the highest impostor
    scores can hold a resample's threshold, so only they are kept, with the total weight."""

    def __init__(self, pairs: PairScores, far: float) -> None:
        keep = min(len(pairs.impostor), int(10 * far * len(pairs.impostor)) + 2000)
        top = np.argpartition(-pairs.impostor, keep - 1)[:keep]
        order = top[np.argsort(-pairs.impostor[top], kind="stable")]
        self.far = far
        self.pairs = pairs
        self.top_scores = pairs.impostor[order]
        self.top_a = pairs.impostor_a[order]
        self.top_b = pairs.impostor_b[order]

    def tar(self, weights: np.ndarray) -> np.ndarray:
        """TAR (percent) for each row of ``weights`` (resamples x people), in chunks."""
        pairs = self.pairs
        out = np.empty(len(weights))
        for start in range(0, len(weights), 32):
            W = weights[start : start + 32]
            counts = W * pairs.images_per_person  # each person's weighted images
            total = (counts.sum(axis=1) ** 2 - np.sum(counts**2, axis=1)) / 2.0
            accepted = np.cumsum(W[:, self.top_a] * W[:, self.top_b], axis=1)
            position = (accepted <= (self.far * total)[:, None]).sum(axis=1)
            threshold = self.top_scores[np.minimum(position, len(self.top_scores) - 1)]
            genuine = W[:, pairs.genuine_person]
            passed = (genuine * (pairs.genuine[None, :] > threshold[:, None])).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start : start + 32] = passed / genuine.sum(axis=1) * 100.0
        return out


def operating_point(
    before: ArrayLike,
    after: ArrayLike,
    subject: ArrayLike,
    *,
    fars: Sequence[float] = FARS,
    n_resamples: int = 500,
    random_state: int = 0,
) -> list[dict[str, float | int]]:
    """TAR before and after blinding at each FAR the impostor pairs can estimate, and the loss
    (``before - after``, points) with its 95 % bootstrap interval over people.

    ``before`` and ``after`` are two representations of the same images (rows), ``subject``
    their people. A FAR is reported when at least :data:`MIN_FALSE_ACCEPTS` impostor pairs lie
    above its threshold; on a set too small for any of ``fars``, the smallest FAR it can
    estimate is reported instead (the row's ``far`` says which). Also returns the pair counts.
    """
    people = np.asarray(subject, dtype=object)
    first, second = pair_scores(before, people), pair_scores(after, people)
    smallest = MIN_FALSE_ACCEPTS / len(first.impostor)
    estimable = [far for far in fars if far >= smallest]
    fars = estimable or ([smallest] if smallest < 1.0 else [])
    n_people = len(first.images_per_person)
    rng = np.random.default_rng(random_state)
    draws = rng.multinomial(n_people, np.full(n_people, 1.0 / n_people), size=n_resamples)
    rows: list[dict[str, float | int]] = []
    for far in fars:
        tar_before = tar_at_far(first.genuine, first.impostor, far)
        tar_after = tar_at_far(second.genuine, second.impostor, far)
        a, b = _Resampler(first, far), _Resampler(second, far)
        weights = draws.astype(np.float64)
        losses = a.tar(weights) - b.tar(weights)
        losses = losses[np.isfinite(losses)]
        low, high = np.percentile(losses, [2.5, 97.5]) if len(losses) else (np.nan, np.nan)
        rows.append(
            {
                "far": far,
                "tar_before": tar_before,
                "tar_after": tar_after,
                "loss": tar_before - tar_after,
                "loss_ci_low": float(low),
                "loss_ci_high": float(high),
                "n_genuine_pairs": int(len(first.genuine)),
                "n_impostor_pairs": int(len(first.impostor)),
                "n_people": int(n_people),
            }
        )
    return rows
