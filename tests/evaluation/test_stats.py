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
