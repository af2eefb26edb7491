"""Synthetic face embeddings with a known truth, for tests and benchmarks of the blinding methods.

Each subject is a random centre; each image adds a planted expression signal and noise, and the
rows are L2-normalised like SFace embeddings. Emotion rows (think CFEE / JAFFE / CK+) carry an
expression label and their subject; identity rows (think LFW / DiveFace) carry only a subject,
though their faces still show a (hidden) expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "angry", "disgust", "fear")


@dataclass(frozen=True)
class SyntheticEmbeddings:
    """Embeddings ``X`` with fit labels (``None`` where hidden) and the full truth."""

    X: np.ndarray
    expression: np.ndarray  # object array: label or None
    subject: np.ndarray  # object array: label or None
    true_expression: np.ndarray
    true_subject: np.ndarray
    is_emotion_row: np.ndarray


def make_embeddings(
    *,
    n_features: int = 128,
    n_identity_subjects: int = 200,
    images_per_subject: int = 5,
    n_emotion_subjects: int = 30,
    images_per_expression: int = 1,
    n_expressions: int = 7,
    signal: float = 0.6,
    noise: float = 0.5,
    nonlinear: bool = False,
    random_state: int = 0,
) -> SyntheticEmbeddings:
    """Identity clusters plus a planted expression signal.

    Subject centres have unit norm, the noise has expected norm ``noise``.
    ``nonlinear=False``: expression ``k`` adds ``signal * e_k`` for a random unit vector ``e_k``
    (a linear probe reads it). ``nonlinear=True``: it adds ``± signal * e_k`` with a random sign
    (zero mean for every class: a linear probe cannot read it, an MLP can).
    """
    rng = np.random.default_rng(random_state)
    d = n_features
    directions = rng.standard_normal((n_expressions, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)

    def expression_part(codes: np.ndarray) -> np.ndarray:
        sign = rng.choice([-1.0, 1.0], len(codes)) if nonlinear else np.ones(len(codes))
        return signal * sign[:, None] * directions[codes]

    n_subjects = n_identity_subjects + n_emotion_subjects
    centres = rng.standard_normal((n_subjects, d))
    expression_space = np.linalg.qr(directions.T)[0]
    centres -= centres @ expression_space @ expression_space.T  # the truth: expression ⟂ identity
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    id_subject = np.repeat(np.arange(n_identity_subjects), images_per_subject)
    emo_subject = np.repeat(
        np.arange(n_identity_subjects, n_subjects), n_expressions * images_per_expression
    )
    emo_codes = np.tile(
        np.repeat(np.arange(n_expressions), images_per_expression), n_emotion_subjects
    )
    id_codes = rng.integers(0, n_expressions, len(id_subject))
    subjects = np.concatenate([id_subject, emo_subject])
    codes = np.concatenate([id_codes, emo_codes])
    jitter = rng.standard_normal((len(codes), d)) * (noise / np.sqrt(d))
    X = centres[subjects] + expression_part(codes) + jitter
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    names = np.array(EXPRESSIONS[:n_expressions] if n_expressions <= 7 else range(n_expressions))
    true_expression = names[codes].astype(object)
    true_subject = np.array([f"s{s:05d}" for s in subjects], dtype=object)
    is_emotion = np.arange(len(codes)) >= len(id_subject)
    expression = np.where(is_emotion, true_expression, np.array(None, dtype=object))
    return SyntheticEmbeddings(
        X=X.astype(np.float32),
        expression=expression,
        subject=true_subject.copy(),
        true_expression=true_expression,
        true_subject=true_subject,
        is_emotion_row=is_emotion,
    )
