"""The registry of methods, and fitting from statistics streamed over batches."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from blindface.blinding import (
    INLP,
    LEACE,
    METHODS,
    RECOGNIZERS,
    LearningNotToLearn,
    MomentStatistics,
    SensitiveNets,
    WithinSubjectProjection,
    accumulate,
    all_methods,
    fit_statistics,
    fit_streaming,
    register,
)


def test_registry_names_kinds_and_descriptions():
    assert list(METHODS) == [
        "sensitivenets", "lnl_frozen", "leace", "inlp", "within_subject", "invariant",
        "collapse",
    ]  # fmt: skip
    kinds = {name: m.kind for name, m in METHODS.items()}
    assert kinds == {
        "sensitivenets": "paper",
        "lnl_frozen": "paper",
        "leace": "baseline",
        "inlp": "baseline",
        "within_subject": "beyond",
        "invariant": "beyond",
        "collapse": "beyond",
    }
    # every sweep starts weakest and holds several strengths, except LEACE's closed form
    for name, method in METHODS.items():
        assert (method.strength is None) == (name == "leace")
        if method.strength is not None:
            assert len(method.strength.values) >= 3
            assert name not in ("collapse", "invariant") or list(method.strength.values) == sorted(
                method.strength.values
            )
    assert all(m.description and "\n" not in m.description for m in all_methods().values())
    assert METHODS["leace"].create().get_params() == LEACE().get_params()
    # retrains the recognizer: fits on SFace's feature maps, and the study does not run it
    assert list(RECOGNIZERS) == ["lnl"] and RECOGNIZERS["lnl"].kind == "paper"
    assert {m.input_kind for m in METHODS.values()} == {"embedding"}
    assert list(all_methods()) == [*METHODS, *RECOGNIZERS]


def test_register_refuses_clashes_and_bad_kinds():
    with pytest.raises(ValueError, match="already registered"):
        register("leace", LEACE, kind="baseline", description="again")
    with pytest.raises(ValueError, match="kind must be one of"):
        register("other", LEACE, kind="novel", description="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already registered"):
        register("lnl", LEACE, kind="paper", description="a name of the recognizer registry")
    with pytest.raises(ValueError, match="input_kind must be one of"):
        register("other", LEACE, kind="paper", description="x", input_kind="images")  # type: ignore[arg-type]


def _uneven_batches(data, sizes):
    order = np.random.default_rng(0).permutation(len(data.X))  # subjects span batches
    start = 0
    for size in sizes:
        rows = order[start : start + size]
        start += size
        yield data.X[rows], data.expression[rows], data.subject[rows]


@pytest.mark.parametrize(
    "make", [LEACE, lambda: LEACE(method="orth"), lambda: WithinSubjectProjection(n_components=5)]
)
def test_streaming_equals_in_memory(linear_data, make):
    n = len(linear_data.X)
    sizes = [1, 7, 300, n - 308]
    full = make().fit(linear_data.X, expression=linear_data.expression, subject=linear_data.subject)
    streamed = fit_streaming(make(), _uneven_batches(linear_data, sizes))
    np.testing.assert_allclose(streamed.weight_, full.weight_, atol=1e-6)
    np.testing.assert_allclose(streamed.bias_, full.bias_, atol=1e-6)
    assert list(streamed.classes_) == list(full.classes_)
    # partitions fitted apart and merged (e.g. one per Ray task)
    parts = [accumulate(make(), [batch]) for batch in _uneven_batches(linear_data, sizes)]
    merged = fit_statistics(make(), functools.reduce(MomentStatistics.merge, parts))
    np.testing.assert_allclose(merged.weight_, full.weight_, atol=1e-6)
    np.testing.assert_allclose(merged.bias_, full.bias_, atol=1e-6)


@pytest.mark.parametrize("make", [SensitiveNets, LearningNotToLearn, INLP])
def test_trained_methods_refuse_streams(linear_data, make):
    with pytest.raises(TypeError, match="in-memory sample"):
        fit_streaming(make(), _uneven_batches(linear_data, [10]))
