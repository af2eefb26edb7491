"""Fixtures for the blinding tests: small synthetic embeddings with a planted expression signal."""

from __future__ import annotations

import pytest
import torch

from blindface.blinding import (
    INLP,
    LEACE,
    ExpressionInvariantMap,
    LearningNotToLearn,
    SensitiveNets,
    WithinPersonCollapse,
    WithinSubjectProjection,
)
from blindface.testing import make_embeddings


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """Small networks: one thread avoids thread-pool overhead dominating on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def linear_data():
    return make_embeddings(
        n_features=32, n_identity_subjects=150, n_emotion_subjects=30, images_per_expression=2
    )


@pytest.fixture(scope="session")
def tiny_data():
    """A few rows in 8 dimensions: enough to exercise the API quickly."""
    return make_embeddings(
        n_features=8,
        n_identity_subjects=12,
        images_per_subject=3,
        n_emotion_subjects=6,
        n_expressions=3,
        random_state=1,
    )


TINY = {
    "SensitiveNets": lambda: SensitiveNets(
        hidden_layer_sizes=(16, 16), max_iter=2, epochs=1, classifier_epochs=3, random_state=0
    ),
    "LearningNotToLearn": lambda: LearningNotToLearn(
        hidden_layer_sizes=(12,), max_iter=2, random_state=0
    ),
    "LEACE": lambda: LEACE(),
    "INLP": lambda: INLP(max_iter=3, random_state=0),
    "WithinSubjectProjection": lambda: WithinSubjectProjection(n_components=2),
    "ExpressionInvariantMap": lambda: ExpressionInvariantMap(
        hidden_layer_sizes=(16,), max_iter=2, steps_per_iter=5, batch_size=16, random_state=0
    ),
    "WithinPersonCollapse": lambda: WithinPersonCollapse(
        hidden_layer_sizes=(16,), max_iter=2, steps_per_iter=5, batch_people=8, random_state=0
    ),
}


@pytest.fixture(scope="session")
def fitted(tiny_data):
    """One fitted model per method on ``tiny_data``."""
    return {
        name: make().fit(tiny_data.X, expression=tiny_data.expression, subject=tiny_data.subject)
        for name, make in TINY.items()
    }
