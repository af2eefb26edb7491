"""How the trained methods draw their training rows: P x K batches of people, and the train /
validation splits that keep each person on one side."""

from __future__ import annotations

import numpy as np

from blindface.blinding._validation import split_rows

#: Images per person in a P x K batch (FaceNet-style: ``batch_size // 4`` people x 4 images).
IMAGES_PER_PERSON = 4


def pk_batch(groups: list[np.ndarray], batch_size: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows of ``batch_size // 4`` (at least 2) random people of ``groups`` (each person's
    rows), up to :data:`IMAGES_PER_PERSON` random rows each: the triplet batches of
    SensitiveNets and the identity batches of ExpressionInvariantMap."""
    n_subjects = min(len(groups), max(2, batch_size // IMAGES_PER_PERSON))
    chosen = rng.choice(len(groups), n_subjects, replace=False)
    rows = [
        rng.choice(groups[g], min(IMAGES_PER_PERSON, len(groups[g])), replace=False) for g in chosen
    ]
    return np.concatenate(rows)


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


def split_people(
    subject: np.ndarray, has_expression: np.ndarray, fraction: float, rng: np.random.RandomState
) -> np.ndarray:
    """The validation mask of a fit on people: ``fraction`` of the people with an
    expression-labelled row and of the others (at least one of each group of two or more), all
    their rows. ``subject`` holds codes (``-1``: no subject); rows without one always train."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    known = subject >= 0
    expressive = np.unique(subject[known & has_expression])
    others = np.setdiff1d(np.unique(subject[known]), expressive)
    held: list[np.ndarray] = []
    for group in (expressive, others):
        if len(group) >= 2:
            held.append(rng.permutation(group)[: max(1, round(fraction * len(group)))])
    return known & np.isin(subject, np.concatenate(held) if held else np.array([], np.int64))
