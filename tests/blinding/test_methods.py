"""Each method on synthetic embeddings with a known truth: expression leaves, identity stays."""

from __future__ import annotations

import pytest

from blindface.blinding import (
    INLP,
    LEACE,
    LearningNotToLearn,
    SensitiveNets,
    WithinSubjectProjection,
)

from ._probes import expression_probe, identity_knn

CHANCE = 1 / 7

FAST = {
    "SensitiveNets": lambda: SensitiveNets(
        hidden_layer_sizes=(64, 64), max_rounds=6, epochs=2, learning_rate=1e-2, random_state=0
    ),
    "LearningNotToLearn": lambda: LearningNotToLearn(
        hidden_layer_sizes=(64,), max_epochs=40, patience=40, random_state=0
    ),
    "LEACE": lambda: LEACE(),
    "INLP": lambda: INLP(random_state=0),
    # 7 planted expression directions: within-subject offsets span 6 (linear) or 7 (± signs)
    "WithinSubjectProjection": lambda: WithinSubjectProjection(n_components=7),
}


def _fit(name, data):
    return FAST[name]().fit(data.X, expression=data.expression, subject=data.subject)


@pytest.fixture(scope="module")
def results(linear_data, nonlinear_data):
    """Probe accuracies before and after each method, on both planted signals."""
    out = {}
    for signal, data in (("linear", linear_data), ("nonlinear", nonlinear_data)):
        kind = "linear" if signal == "linear" else "mlp"
        out[signal, "before"] = (expression_probe(data.X, data, kind), identity_knn(data.X, data))
        for name in FAST:
            Z = _fit(name, data).transform(data.X)
            out[signal, name] = (expression_probe(Z, data, kind), identity_knn(Z, data))
    return out


def test_planted_signals_are_readable_before_blinding(results):
    assert results["linear", "before"][0] > 0.95  # a linear probe reads the linear signal
    assert results["nonlinear", "before"][0] > 0.9  # an MLP reads the sign-symmetric one


# Highest expression-probe accuracy accepted after blinding (chance is 1/7 = 0.143). Linear erasure
# (LEACE, INLP) removes a linear signal entirely but only part of a sign-symmetric one; so does
# Learning not to Learn, whose Gaussian information term only sees shifts of the class means
# (measured 0.72 here); the within-subject projection removes the subspace the expression lives
# in, whatever its code.
MAX_EXPRESSION = {
    "linear": {
        "SensitiveNets": 0.45,
        "LearningNotToLearn": 0.6,
        "LEACE": 0.25,
        "INLP": 0.25,
        "WithinSubjectProjection": 0.25,
    },
    "nonlinear": {
        "SensitiveNets": 0.3,
        "LearningNotToLearn": 0.8,
        "LEACE": 0.75,
        "INLP": 0.8,
        "WithinSubjectProjection": 0.25,
    },
}


@pytest.mark.parametrize("name", list(FAST))
@pytest.mark.parametrize("signal", ["linear", "nonlinear"])
def test_expression_falls_and_identity_stays(results, name, signal):
    before_expr, before_id = results[signal, "before"]
    after_expr, after_id = results[signal, name]
    print(
        f"{signal} {name}: expression {before_expr:.3f} -> {after_expr:.3f}, "
        f"identity kNN {before_id:.3f} -> {after_id:.3f}"
    )
    assert after_expr <= MAX_EXPRESSION[signal][name]
    if (signal, name) == ("nonlinear", "INLP"):
        # the linear probe stays above chance on this signal, so INLP keeps removing directions
        # (14 of 32) and identity suffers: a known limit of linear erasure of a non-linear code
        assert after_id >= 0.7
    else:
        assert after_id >= before_id - 0.03
