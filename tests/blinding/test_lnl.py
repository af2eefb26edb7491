"""Learning not to Learn internals: the gradient-reversal layer and its ramp."""

from __future__ import annotations

import math

import pytest
import torch

from blindface.blinding._torch import dann_ramp, grad_reverse


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


def test_schedules_and_history(tiny_data):
    from blindface.blinding import LearningNotToLearn

    model = LearningNotToLearn(
        hidden_layer_sizes=(12,), max_epochs=3, patience=5, grl_schedule="constant", random_state=0
    ).fit(tiny_data.X, expression=tiny_data.expression, subject=tiny_data.subject)
    assert model.n_iter_ == 3 and len(model.history_) == 3
    assert {"primary_loss", "emotion_loss", "neg_entropy", "val_objective"} <= set(
        model.history_[0]
    )
    with pytest.raises(ValueError, match="grl_schedule"):
        model.set_params(grl_schedule="linear").fit(
            tiny_data.X, expression=tiny_data.expression, subject=tiny_data.subject
        )
