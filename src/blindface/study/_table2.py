"""Table II: an attractiveness classifier on CelebA trained on a smiling-biased set."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from blindface.study._data import StudyData
from blindface.study._fairness import fairness_experiment
from blindface.study._fitting import Fitted
from blindface.study._scores import ScoreCache
from blindface.study._settings import Study

Log = Callable[[str], None]


def table2(
    data: StudyData, models: Mapping[str, Fitted], study: Study, cache: ScoreCache, log: Log
) -> list[dict[str, Any]]:
    """Equality of opportunity of x (unbiased and biased training) and of each blinder at its
    default operating point (biased training). The blinders never saw the Table II test
    people (they are reserved)."""
    if "celeba" not in data.datasets:
        return []
    celeba = data.datasets["celeba"]
    runs = [("x", "unbiased", None), ("x", "biased", None)]
    runs += [(m, "biased", f) for m, f in models.items()]
    rows = []
    for representation, training, fitted in runs:
        key = (
            f"table2|{representation}|{training}|{len(celeba.X)}|"
            f"{study.settings.fairness_repetitions}|{fitted.folder.name if fitted else 'x'}"
        )

        def compute(fitted=fitted, training=training, representation=representation) -> dict:
            log(f"Table II: {representation} ({training} training set)")
            result = fairness_experiment(
                celeba.X,
                celeba.table,
                training=training,
                n_repetitions=study.settings.fairness_repetitions,
                transform=None if fitted is None else fitted.transform,
                random_state=study.seed,
            )
            row: dict[str, Any] = {"representation": representation, "training": training}
            for metric in ("accuracy", "tpr_smiling", "tpr_not_smiling", "equal_opportunity"):
                row[metric] = float(result[metric])
                row[f"{metric}_std"] = float(result[f"{metric}_std"])
            row["std"] = row["accuracy_std"]
            row.update(
                n_train=int(result["n_train"]),
                n_test=int(result["n_test"]),
                repetitions=int(result["n_repetitions"]),
            )
            return row

        rows.append(cache.record(key, compute))
    return rows
