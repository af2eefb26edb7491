"""Table II: an attractiveness classifier on CelebA trained on a smiling-biased set."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from blindface.study._data import StudyData
from blindface.study._fairness import fairness_experiment
from blindface.study._fitting import Fitted
from blindface.study._rows import Rows
from blindface.study._settings import Study

Log = Callable[[str], None]


def table2(
    data: StudyData, models: Mapping[str, Fitted], study: Study, rows: Rows, log: Log
) -> None:
    """Equality of opportunity of x (unbiased and biased training) and of each in-domain
    blinder (biased training). The blinders never saw the Table II test people."""
    if "celeba" not in data.datasets:
        return
    celeba = data.datasets["celeba"]
    runs = [("x", "unbiased"), ("x", "biased")] + [(m, "biased") for m in models]
    for representation, training in runs:
        if rows.done(representation=representation, training=training):
            continue
        log(f"Table II: {representation} ({training} training set)")
        transform = None if representation == "x" else models[representation].transform
        result = fairness_experiment(
            celeba.X,
            celeba.table,
            training=training,
            n_repetitions=study.settings.fairness_repetitions,
            transform=transform,
            random_state=study.seed,
        )
        row: dict[str, object] = {"representation": representation, "training": training}
        for metric in ("accuracy", "tpr_smiling", "tpr_not_smiling", "equal_opportunity"):
            row[metric] = float(result[metric])
            row[f"{metric}_std"] = float(result[f"{metric}_std"])
        row["std"] = row["accuracy_std"]
        row.update(
            n_train=int(result["n_train"]),
            n_test=int(result["n_test"]),
            repetitions=int(result["n_repetitions"]),
        )
        rows.add([row])
