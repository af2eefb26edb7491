"""Fairness metrics of a binary classifier towards a sensitive attribute (Table II's columns).

Equal opportunity compares the true-positive rates of the two groups (smiling and non-smiling
faces in the paper). The CelebA experiment that trains the classifier on biased and unbiased
sets is the study's (:mod:`blindface.study`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["fairness_metrics"]


def fairness_metrics(y_true: ArrayLike, y_pred: ArrayLike, smiling: ArrayLike) -> dict[str, float]:
    """Accuracy, TPR of smiling and non-smiling faces and equal opportunity, in percent.

    ``equal_opportunity = 100 - |TPR_smiling - TPR_not_smiling|`` (100 is perfectly fair),
    computed with fairlearn's ``MetricFrame`` and ``true_positive_rate``.
    """
    # lazy: fairlearn and scikit-learn take a second to import; blindface.evaluation does not
    from fairlearn.metrics import MetricFrame, true_positive_rate
    from sklearn.metrics import accuracy_score

    smiling = np.asarray(smiling).astype(bool)
    frame = MetricFrame(
        metrics={"accuracy": accuracy_score, "tpr": true_positive_rate},
        y_true=np.asarray(y_true).astype(bool),
        y_pred=np.asarray(y_pred).astype(bool),
        sensitive_features=pd.Series(smiling, name="smiling"),
    )
    tpr = dict(pd.Series(frame.by_group["tpr"]).items())
    if True not in tpr or False not in tpr:
        raise ValueError("the test set needs both smiling and non-smiling faces")
    tpr_smiling = float(tpr[True]) * 100.0
    tpr_not = float(tpr[False]) * 100.0
    overall = dict(pd.Series(frame.overall).items())
    return {
        "accuracy": float(overall["accuracy"]) * 100.0,
        "tpr_smiling": tpr_smiling,
        "tpr_not_smiling": tpr_not,
        "equal_opportunity": 100.0 - abs(tpr_smiling - tpr_not),
    }
