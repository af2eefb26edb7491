"""Face verification accuracy with the LFW protocol (identity utility of a representation)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["cosine_scores", "identity_separation", "verification_accuracy"]


def cosine_scores(emb_a: ArrayLike, emb_b: ArrayLike) -> np.ndarray:
    """Cosine similarity of each row of ``emb_a`` with the same row of ``emb_b``.

    Both arrays are L2-normalised here, so raw (unnormalised or blinded) embeddings can be passed.
    """
    a = np.asarray(emb_a, dtype=np.float64)
    b = np.asarray(emb_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"emb_a and emb_b must be 2-D arrays of the same shape, got {a.shape} and {b.shape}"
        )
    bad = ~(np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1))
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} of {len(a)} pairs have a non-finite embedding (a failed face?); "
            "drop those pairs first, e.g. with the store's `ok` mask"
        )
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    zero = (na == 0) | (nb == 0)
    if zero.any():
        raise ValueError(f"{int(zero.sum())} pairs have an all-zero embedding: cosine is undefined")
    return np.einsum("ij,ij->i", a, b) / (na * nb)


def _best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy of ``score > threshold`` on these pairs.

    Candidates are the midpoints between consecutive distinct sorted scores (plus one below the
    minimum and one above the maximum, so "all same" and "all different" are possible); the first
    best candidate (lowest threshold) wins.
    """
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    y = same[order]
    values, starts = np.unique(s, return_index=True)
    # Threshold just below the group starting at starts[j]: the pairs before it are "different".
    neg_before = np.concatenate([[0], np.cumsum(~y)])[starts]
    pos_from = y.sum() - np.concatenate([[0], np.cumsum(y)])[starts]
    correct = np.concatenate([neg_before + pos_from, [(~y).sum()]])
    below = values[0] - 1.0 if len(values) else 0.0
    candidates = np.concatenate([[below], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    return float(candidates[int(np.argmax(correct))])


def verification_accuracy(
    emb_a: ArrayLike,
    emb_b: ArrayLike,
    same: ArrayLike,
    *,
    folds: ArrayLike | None = None,
    n_folds: int = 10,
    random_state: int = 0,
) -> tuple[float, float]:
    """Pair verification accuracy (mean and std over folds, percent), LFW protocol.

    Scores are cosine similarities of the paired embeddings. For each test fold the decision
    threshold is the one that maximises accuracy on the other folds; the test fold is then
    scored with it, so no threshold ever sees its own test pairs.

    Parameters
    ----------
    emb_a, emb_b : array of shape (n_pairs, dim)
        Embeddings of the two faces of each pair (normalised here).
    same : array of bool, shape (n_pairs,)
        True when both faces are the same person.
    folds : array of int, shape (n_pairs,), optional
        Fold of each pair (LFW View-2 has 10 official folds). When None, pairs are assigned to
        ``n_folds`` folds by a seeded stratified K-fold.
    n_folds : int
        Number of folds when ``folds`` is None.
    random_state : int
        Seed of the fold assignment when ``folds`` is None.

    Returns
    -------
    mean, std : float
        Mean and (population) standard deviation of the per-fold accuracies, in percent.
    """
    scores = cosine_scores(emb_a, emb_b)
    y = np.asarray(same).astype(bool)
    if y.shape != scores.shape:
        raise ValueError(f"same has shape {y.shape}, expected ({len(scores)},)")
    if folds is None:
        from sklearn.model_selection import StratifiedKFold

        fold_of = np.empty(len(y), dtype=int)
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
        for k, (_, test) in enumerate(splitter.split(scores, y)):
            fold_of[test] = k
    else:
        fold_of = np.asarray(folds)
        if fold_of.shape != scores.shape:
            raise ValueError(f"folds has shape {fold_of.shape}, expected ({len(scores)},)")
    fold_ids = np.unique(fold_of)
    if len(fold_ids) < 2:
        raise ValueError("need at least two folds: the threshold is chosen on the other folds")
    accuracies = []
    for k in fold_ids:
        test = fold_of == k
        threshold = _best_threshold(scores[~test], y[~test])
        accuracies.append(np.mean((scores[test] > threshold) == y[test]) * 100.0)
    return float(np.mean(accuracies)), float(np.std(accuracies))


def identity_separation(
    X: ArrayLike,
    subject: ArrayLike,
    *,
    far: float = 0.001,
    max_impostor_pairs: int = 200_000,
    random_state: int = 0,
) -> dict[str, float | int]:
    """How well cosine similarity of ``X`` tells the same person from different people.

    Every same-person pair is scored, with up to ``max_impostor_pairs`` random different-person
    pairs (seeded). Returns ``roc_auc`` (percent), ``tar_at_far`` (percent of same-person pairs
    accepted at the threshold that accepts a fraction ``far`` of different-person pairs), the
    ``threshold`` and the pair counts. Use it on a store's own faces, where no official pair list
    exists.
    """
    from sklearn.metrics import roc_auc_score

    X = np.asarray(X, dtype=np.float64)
    people = np.asarray(subject, dtype=object)
    if X.ndim != 2 or len(X) != len(people):
        raise ValueError(f"X must be 2-D with one subject per row, got {X.shape}, {people.shape}")
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far}")
    _, codes = np.unique(people.astype(str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    genuine_a, genuine_b = [], []
    for members in np.split(order, bounds):
        if len(members) > 1:
            a, b = np.triu_indices(len(members), k=1)
            genuine_a.append(members[a])
            genuine_b.append(members[b])
    if not genuine_a:
        raise ValueError("no person has two or more images: identity utility needs them")
    ga, gb = np.concatenate(genuine_a), np.concatenate(genuine_b)
    rng = np.random.default_rng(random_state)
    n_draw = min(max_impostor_pairs * 2, len(X) * (len(X) - 1))
    ia, ib = rng.integers(0, len(X), n_draw), rng.integers(0, len(X), n_draw)
    keep = codes[ia] != codes[ib]
    ia, ib = ia[keep][:max_impostor_pairs], ib[keep][:max_impostor_pairs]
    if len(ia) == 0:
        raise ValueError("every row is the same person: identity utility needs several people")
    genuine = cosine_scores(X[ga], X[gb])
    impostor = cosine_scores(X[ia], X[ib])
    scores = np.concatenate([genuine, impostor])
    same = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    threshold = float(np.quantile(impostor, 1.0 - far, method="higher"))
    return {
        "roc_auc": float(roc_auc_score(same, scores) * 100.0),
        "tar_at_far": float(np.mean(genuine > threshold) * 100.0),
        "far": far,
        "threshold": threshold,
        "n_genuine_pairs": int(len(genuine)),
        "n_impostor_pairs": int(len(impostor)),
    }
