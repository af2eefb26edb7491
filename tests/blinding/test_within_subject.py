"""WithinSubjectProjection on embeddings with a planted within-subject expression subspace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from blindface.blinding import WithinSubjectProjection

N_EXPRESSIONS = 5
RANK = 4  # the planted expression offsets minus their mean span 4 dimensions


@dataclass(frozen=True)
class Planted:
    X: np.ndarray
    expression: np.ndarray  # fit labels: None on the identity rows
    subject: np.ndarray
    true_expression: np.ndarray
    is_emotion_row: np.ndarray
    basis: np.ndarray  # (d, RANK) orthonormal basis of the planted within-subject subspace


def make_planted(
    *,
    d: int = 32,
    n_identity: int = 120,
    images: int = 4,
    n_emotion: int = 40,
    signal: float = 0.6,
    noise: float = 0.3,
    seed: int = 0,
) -> Planted:
    """Unit subject centres + a linear expression offset in a RANK-dim subspace + noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, RANK)))[0]
    # the expressions are the vertices of a regular simplex (norm `signal`) in that subspace
    centring = np.eye(N_EXPRESSIONS) - 1 / N_EXPRESSIONS
    simplex = np.linalg.svd(centring)[0][:, :RANK] * np.sqrt(N_EXPRESSIONS / RANK)
    offsets = signal * simplex @ basis.T
    centres = rng.standard_normal((n_identity + n_emotion, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    id_subject = np.repeat(np.arange(n_identity), images)
    emo_subject = np.repeat(np.arange(n_identity, n_identity + n_emotion), N_EXPRESSIONS)
    subject = np.concatenate([id_subject, emo_subject])
    codes = np.concatenate(
        [
            rng.integers(0, N_EXPRESSIONS, len(id_subject)),  # identity rows show expressions too
            np.tile(np.arange(N_EXPRESSIONS), n_emotion),
        ]
    )
    noisy = rng.standard_normal((len(codes), d)) * noise / np.sqrt(d)
    X = (centres[subject] + offsets[codes] + noisy).astype(np.float32)
    is_emotion = np.arange(len(codes)) >= len(id_subject)
    true_expression = np.array([f"e{c}" for c in codes], dtype=object)
    return Planted(
        X=X,
        expression=np.where(is_emotion, true_expression, None),
        subject=np.array([f"s{s}" for s in subject], dtype=object),
        true_expression=true_expression,
        is_emotion_row=is_emotion,
        basis=basis,
    )


@pytest.fixture(scope="module")
def planted():
    return make_planted()


@pytest.fixture(scope="module")
def model(planted):
    return WithinSubjectProjection(n_components=RANK).fit(
        planted.X, expression=planted.expression, subject=planted.subject
    )


def _fit(X, expression, subject, n_components=RANK):
    return WithinSubjectProjection(n_components=n_components).fit(
        X, expression=expression, subject=subject
    )


def _probes(Z: np.ndarray, data: Planted) -> tuple[float, float]:
    """Held-out-subject logistic expression accuracy; 1-NN identity accuracy on identity rows."""
    emo = data.is_emotion_row
    subjects = data.subject[emo]
    test = np.isin(subjects, np.unique(subjects)[::3])
    Ze, y = Z[emo], data.true_expression[emo]
    probe = LogisticRegression(max_iter=2000).fit(Ze[~test], y[~test])
    expression = float(probe.score(Ze[test], y[test]))
    ids = data.subject[~emo]
    Zi = Z[~emo] / np.linalg.norm(Z[~emo], axis=1, keepdims=True)
    first = np.r_[True, ids[1:] != ids[:-1]]
    knn = KNeighborsClassifier(1).fit(Zi[~first], ids[~first])
    return expression, float(knn.score(Zi[first], ids[first]))


def test_expression_falls_to_chance_and_identity_stays(planted, model):
    expr_before, id_before = _probes(planted.X, planted)
    expr_after, id_after = _probes(model.transform(planted.X), planted)
    print(f"expression {expr_before:.3f} -> {expr_after:.3f}, ", end="")
    print(f"identity {id_before:.3f} -> {id_after:.3f}")
    assert expr_before > 0.9
    assert expr_after < 1 / N_EXPRESSIONS + 0.1
    assert id_after >= max(id_before - 0.02, 0.95)


def test_subspace_aligns_with_the_planted_directions(planted, model):
    angles = np.degrees(subspace_angles(model.components_.T.astype(np.float64), planted.basis))
    assert angles.max() < 10
    assert model.n_subjects_ == 40
    assert model.explained_variance_ratio_.shape == (RANK,)
    assert model.explained_variance_ratio_.sum() > 0.8  # the planted offsets dominate the noise
    assert np.all(np.diff(model.explained_variance_ratio_) <= 0)


def test_mean_is_the_identity_rows_mean_else_all_rows(planted, model):
    identity = ~planted.is_emotion_row
    np.testing.assert_allclose(model.mean_, planted.X[identity].mean(axis=0), atol=1e-6)
    emo = planted.is_emotion_row
    only_emotion = _fit(planted.X[emo], planted.expression[emo], planted.subject[emo])
    np.testing.assert_allclose(only_emotion.mean_, planted.X[emo].mean(axis=0), atol=1e-6)
    # the subspace is estimated from the emotion rows alone: the identity rows do not move it
    np.testing.assert_allclose(
        np.abs(only_emotion.components_ @ model.components_.T), np.eye(RANK), atol=1e-5
    )


def test_single_row_subjects_are_dropped(planted, model):
    """An emotion row whose subject has no other emotion row carries no within-subject signal."""
    far = np.full((1, planted.X.shape[1]), 5.0, np.float32)
    X = np.vstack([planted.X, far])
    expression = np.append(planted.expression, "e0")
    subject = np.append(planted.subject, "lonely")
    again = _fit(X, expression, subject)
    assert again.n_subjects_ == model.n_subjects_
    np.testing.assert_allclose(
        np.abs(again.components_ @ model.components_.T), np.eye(RANK), atol=1e-5
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(3, 16), data=st.data())
def test_is_an_orthogonal_projection_around_the_mean(seed, d, data):
    n_components = data.draw(st.integers(1, d - 1))
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(6), 5)
    expression = np.tile(np.arange(5), 6).astype(object)
    expression[:5] = None  # subject 0: identity rows only
    X = (rng.standard_normal((6, d))[subject] + 0.5 * rng.standard_normal((30, d))).astype(
        np.float32
    )
    model = _fit(X, expression, subject, n_components)
    P = model.weight_.astype(np.float64)
    U = model.components_.astype(np.float64)
    np.testing.assert_allclose(U @ U.T, np.eye(n_components), atol=1e-5)
    np.testing.assert_allclose(P, P.T, atol=1e-6)
    np.testing.assert_allclose(P @ P, P, atol=1e-5)
    assert round(np.trace(P)) == d - n_components
    np.testing.assert_allclose(P @ U.T, 0, atol=1e-5)
    once = model.transform(X)
    # idempotent on centred data: blinding the blinded (re-centred) embeddings changes nothing
    np.testing.assert_allclose(model.transform(once + model.mean_), once, atol=1e-5)
    np.testing.assert_allclose(once, (X - model.mean_) @ P, atol=1e-5)
    assert once.shape == X.shape


@pytest.mark.parametrize("n_components", [0, -1, 32, 40, 2.5, True, "4"])
def test_n_components_out_of_range(planted, n_components):
    with pytest.raises(ValueError, match="n_components=.* (must be|is not a valid value)"):
        _fit(planted.X, planted.expression, planted.subject, n_components)


def test_n_components_above_the_rank_of_the_within_subject_variation(planted):
    emo = np.flatnonzero(planted.is_emotion_row)[: 2 * N_EXPRESSIONS]  # 2 subjects: rank 8
    with pytest.raises(ValueError, match="exceeds the rank 8 of the within-subject variation"):
        _fit(planted.X[emo], planted.expression[emo], planted.subject[emo], n_components=9)
    assert _fit(planted.X[emo], planted.expression[emo], planted.subject[emo], 8).n_subjects_ == 2


def test_needs_a_subject_with_several_expression_rows(planted):
    one_each = np.array([f"p{i}" for i in range(len(planted.X))], dtype=object)
    with pytest.raises(ValueError, match="no subject has 2 or more rows with an expression"):
        _fit(planted.X, planted.expression, one_each)
    with pytest.raises(ValueError, match="needs subjects with several expressions"):
        _fit(planted.X, planted.expression, None)
