"""LEACE and INLP: linear probes at chance, projection properties (property-based)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.svm import LinearSVC

from blindface.blinding import INLP, LEACE
from blindface.testing import make_embeddings


@pytest.fixture(scope="module")
def erased(linear_data):
    model = LEACE().fit(linear_data.X, expression=linear_data.expression)
    rows = linear_data.is_emotion_row
    return model, model.transform(linear_data.X[rows]), linear_data.expression[rows]


@pytest.mark.parametrize(
    "probe", [LogisticRegression(max_iter=2000), LinearSVC()], ids=["logistic", "linear_svm"]
)
def test_leace_linear_probes_at_chance(erased, linear_data, probe):
    _, Z, y = erased
    rows = linear_data.is_emotion_row
    before = cross_val_score(probe, linear_data.X[rows], y, cv=3).mean()
    after = cross_val_score(probe, Z, y, cv=3).mean()
    assert before > 0.95
    assert after < 1 / 7 + 0.08


def test_leace_equalises_class_means(erased):
    """LEACE's guarantee: zero cross-covariance, i.e. every class has the same mean."""
    _, Z, y = erased
    means = np.array([Z[y == c].mean(axis=0) for c in np.unique(y)])
    assert np.abs(means - Z.mean(axis=0)).max() < 1e-4


def test_leace_eraser_matches_the_package(erased, linear_data):
    import torch

    model = erased[0]
    X = linear_data.X[:50]
    expected = model.eraser_(torch.from_numpy(X).double()).numpy()
    np.testing.assert_allclose(model.transform(X), expected, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    d=st.integers(2, 12),
    n_classes=st.integers(2, 5),
    method=st.sampled_from(["leace", "orth"]),
    shrinkage=st.booleans(),
    affine=st.booleans(),
)
def test_closed_form_equals_concept_erasure(seed, d, n_classes, method, shrinkage, affine):
    """Our LEACE from moments is concept-erasure's LeaceFitter, option for option."""
    import torch
    from concept_erasure import LeaceFitter

    from blindface.blinding._eraser import fit_eraser

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_classes, 200)
    X = rng.normal(size=(200, d)) @ rng.normal(size=(d, d)) + rng.normal(size=(n_classes, d))[codes]
    options = {"method": method, "shrinkage": shrinkage, "affine": affine}
    weight, bias = fit_eraser(X, codes, n_classes, **options).affine()
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(codes), n_classes).double()
    eraser = LeaceFitter.fit(torch.from_numpy(X), one_hot, **options).eraser
    np.testing.assert_allclose(weight, eraser.P.numpy(), atol=1e-8)
    expected = eraser(torch.from_numpy(X[:5])).numpy()
    np.testing.assert_allclose(X[:5] @ weight.T + bias, expected, atol=1e-8)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    d=st.integers(3, 16),
    n_classes=st.integers(2, 5),
    method=st.sampled_from(["leace", "orth"]),
)
def test_leace_is_idempotent(seed, d, n_classes, method):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, 200)
    X = rng.standard_normal((200, d)) + rng.standard_normal((n_classes, d))[y]
    y[:n_classes] = np.arange(n_classes)
    model = LEACE(method=method, constrain_cov_trace=False).fit(X, expression=y)
    once = model.transform(X)
    np.testing.assert_allclose(model.transform(once), once, atol=2e-4)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(4, 12))
def test_inlp_projection_is_orthogonal_and_idempotent(seed, d):
    data = make_embeddings(
        n_features=d,
        n_identity_subjects=2,
        n_emotion_subjects=20,
        n_expressions=3,
        random_state=seed,
    )
    model = INLP(max_iter=4, tolerance=0.0, random_state=0).fit(data.X, expression=data.expression)
    P = model.weight_.astype(np.float64)
    np.testing.assert_allclose(P, P.T, atol=1e-6)
    np.testing.assert_allclose(P @ P, P, atol=1e-5)
    assert model.n_directions_ >= 1  # the planted signal is strong: P = I would be no erasure
    assert round(np.trace(P)) == d - model.n_directions_
    assert not model.bias_.any()
    # what it removed is what a linear probe read: a probe on P x is far weaker than on x
    X, y = data.X[data.is_emotion_row], data.expression[data.is_emotion_row]
    before = LogisticRegression(max_iter=2000).fit(X, y).score(X, y)
    after = LogisticRegression(max_iter=2000).fit(X @ P, y).score(X @ P, y)
    assert after < before


def test_inlp_stops_at_chance(linear_data):
    model = INLP(random_state=0).fit(linear_data.X, expression=linear_data.expression)
    accs = [h["val_accuracy"] for h in model.history_]
    assert accs[0] > 0.9
    assert accs[-1] <= model.chance_ + model.tolerance_
    assert len(accs) < model.max_iter
