"""Synthetic SFace feature maps (1024 x 7 x 7) with a planted identity and expression signal.

Each map is a random linear image (fixed, seeded) of a small latent code: the person's 16-d
identity, the expression's 4-d direction and 8-d noise, scaled to the size of SFace's real maps
(root mean square about 0.7). Through SFace's own projection (the
upper part at ``cut=54``) both signals reach the embedding: a fresh probe reads the expression
on people it never saw, and people are told apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPRESSIONS = ("neutral", "happy", "sad", "surprise")
SHAPE = (1024, 7, 7)


@dataclass(frozen=True)
class PlantedMaps:
    X: np.ndarray  # float16 maps
    expression: np.ndarray
    subject: np.ndarray


def make_maps(
    seed: int, *, people: int = 30, per_expression: int = 3, expression_scale: float = 1.0
) -> PlantedMaps:
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).standard_normal((28, int(np.prod(SHAPE)))).astype(np.float32)
    directions = np.random.default_rng(98).standard_normal((len(EXPRESSIONS), 4))
    identities = rng.standard_normal((people, 16))
    n_rows = people * len(EXPRESSIONS) * per_expression
    subject = np.repeat(np.arange(people), len(EXPRESSIONS) * per_expression)
    codes = np.tile(np.repeat(np.arange(len(EXPRESSIONS)), per_expression), people)
    latent = np.concatenate(
        [
            identities[subject],
            expression_scale * directions[codes],
            0.3 * rng.standard_normal((n_rows, 8)),
        ],
        axis=1,
    )
    X = (0.16 * latent.astype(np.float32) @ basis).reshape(n_rows, *SHAPE)  # rms ~0.7, as SFace
    return PlantedMaps(
        X=X.astype(np.float16),
        expression=np.array([EXPRESSIONS[c] for c in codes], dtype=object),
        subject=np.array([f"s{seed}-p{s}" for s in subject], dtype=object),
    )
