"""Chance level and the paper's Diff."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blindface.evaluation import chance_level, diff


def test_chance_level_is_majority_share():
    assert chance_level(["happy"] * 6 + ["sad"] * 3 + ["angry"]) == pytest.approx(60.0)
    assert chance_level(np.array([0, 1, 1, 1])) == pytest.approx(75.0)


def test_chance_level_rejects_missing_labels():
    with pytest.raises(ValueError, match="missing"):
        chance_level(["happy", None, "sad"])


def test_diff_as_in_the_paper():
    assert diff(80.0, 20.0, 20.0) == pytest.approx(100.0)
    assert diff(80.0, 50.0, 20.0) == pytest.approx(50.0)
    assert diff(80.0, 80.0, 20.0) == pytest.approx(0.0)
    assert diff(80.0, 90.0, 20.0) == pytest.approx(-100.0 / 6)
    assert math.isnan(diff(20.0, 20.0, 20.0))


def test_diff_is_given_only_where_x_was_read_above_chance():
    import pandas as pd

    from blindface.evaluation import above_chance, with_diff

    assert above_chance(60.0, 50.0, ci_low=52.0) and not above_chance(60.0, 50.0, ci_low=48.0)
    assert above_chance(60.0, 50.0) and not above_chance(45.0, 50.0, ci_low=float("nan"))
    before = pd.DataFrame(
        {
            "threat": ["relative"] * 2,
            "probe": ["svm", "knn"],
            "balanced_accuracy": [57.0, 11.3],
            "balanced_ci_low": [53.0, 7.9],
            "balanced_chance": [18.8, 18.8],
        }
    )
    after = before.assign(balanced_accuracy=[44.1, 13.1])
    out = with_diff(after, before)
    assert out["diff"].iloc[0] == pytest.approx((57.0 - 44.1) / (57.0 - 18.8) * 100)
    assert np.isnan(out["diff"].iloc[1])  # kNN never read it: nothing to remove
