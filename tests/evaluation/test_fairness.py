"""Fairness metrics: accuracy, true-positive rates per group, equal opportunity."""

from __future__ import annotations

import pytest

from blindface.evaluation import fairness_metrics


def test_fairness_metrics_hand_worked():
    y_true = [1, 1, 1, 1, 0, 1, 1, 0, 0, 1]
    y_pred = [1, 1, 1, 0, 0, 1, 0, 1, 0, 0]
    smiling = [True] * 5 + [False] * 5
    m = fairness_metrics(y_true, y_pred, smiling)
    assert m["tpr_smiling"] == pytest.approx(75.0)  # 3 of 4 attractive smiling found
    assert m["tpr_not_smiling"] == pytest.approx(100.0 / 3)  # 1 of 3
    assert m["equal_opportunity"] == pytest.approx(100.0 - (75.0 - 100.0 / 3))
    assert m["accuracy"] == pytest.approx(60.0)
