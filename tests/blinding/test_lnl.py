"""Learning not to Learn internals: gradient reversal, the residual map, the MI surrogate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from blindface.blinding import LearningNotToLearn
from blindface.blinding.nn._losses import dann_ramp, grad_reverse
from blindface.blinding.nn._losses import gaussian_mi as _gaussian_mi
from blindface.blinding.nn._residual import Residual as _Residual


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, 3.0])
def test_gradient_reversal_negates_and_scales_exactly(scale):
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(5, 3, dtype=torch.float64)
    y = grad_reverse(x, scale)
    assert torch.equal(y, x)  # identity forward
    (grad,) = torch.autograd.grad((y * weights).sum(), x)
    assert torch.equal(grad, -scale * weights)


def test_dann_ramp():
    assert dann_ramp(0.0) == 0.0
    assert dann_ramp(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    values = [dann_ramp(p / 10) for p in range(11)]
    assert values == sorted(values) and values[-1] < 1.0


def _fit(data, **params):
    params = {"hidden_layer_sizes": (12,), "max_iter": 3, "random_state": 0, **params}
    return LearningNotToLearn(**params).fit(
        data.X, expression=data.expression, subject=data.subject
    )


def test_schedules_and_history(tiny_data):
    model = _fit(tiny_data, patience=5, grl_schedule="constant")
    assert model.n_iter_ == 3 and len(model.history_) == 4  # epoch 0: before training
    assert [h["iteration"] for h in model.history_] == [0, 1, 2, 3]
    assert 0 <= model.best_iter_ <= 3
    assert {
        "primary_loss",
        "emotion_loss",
        "neg_entropy",
        "similarity_loss",
        "gaussian_mi",
        "val_primary_loss",
        "val_emotion_accuracy",
    } <= set(model.history_[1])
    for name, value in [
        ("grl_schedule", "linear"),
        ("primary_head", "arcface"),
        ("activation", "tanh"),
    ]:
        with pytest.raises(ValueError, match=name):
            _fit(tiny_data, **{name: value})


def test_training_starts_at_the_identity_map(tiny_data):
    """``f(x) = x + r(x)`` with ``r``'s last layer at zero: epoch 0 returns the embeddings."""
    torch.manual_seed(0)
    f = _Residual(8, (12,), "relu")
    x = torch.from_numpy(tiny_data.X)
    assert torch.equal(f(x), x)
    model = _fit(tiny_data, emotion_weight=0.0, similarity_weight=0.0, patience=1, max_iter=1)
    if model.best_iter_ == 0:
        np.testing.assert_array_equal(model.transform(tiny_data.X), tiny_data.X)


@pytest.mark.parametrize(
    ("hidden", "activation"),
    [((12,), "relu"), ((12, 6), "relu"), ((), "relu"), ((12,), "identity")],
)
def test_dense_layers_reproduce_the_residual_network(tiny_data, hidden, activation):
    """``transform`` (plain dense layers) equals ``x + r(x)`` computed from the branch layers."""
    model = _fit(tiny_data, hidden_layer_sizes=hidden, activation=activation)
    rng = np.random.default_rng(0)
    for w, b in zip(model.coefs_, model.intercepts_, strict=True):  # make the branch non-trivial
        w += rng.normal(0, 0.5, w.shape).astype(w.dtype)
        b += rng.normal(0, 0.5, b.shape).astype(b.dtype)
    x = tiny_data.X.astype(np.float64)
    out = x
    last = len(model.coefs_) - 1
    for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        out = out @ w.T + b
        if i < last and activation == "relu":
            out = np.maximum(out, 0)
    np.testing.assert_allclose(model.transform(tiny_data.X), x + out, atol=1e-5)


def test_gaussian_mi_is_zero_without_signal_and_invariant_to_linear_maps():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(600) % 3
    noise = torch.randn(600, 5, generator=gen, dtype=torch.float64)
    signal = noise + 3.0 * torch.nn.functional.one_hot(y, 5).double()
    assert float(_gaussian_mi(noise, y, 3, 0.0)) < 0.02
    mi = float(_gaussian_mi(signal, y, 3, 0.0))
    assert mi > 1.0
    mix = torch.randn(5, 5, generator=gen, dtype=torch.float64) + 3 * torch.eye(5)
    assert float(_gaussian_mi(signal @ mix, y, 3, 0.0)) == pytest.approx(mi, rel=1e-6)
