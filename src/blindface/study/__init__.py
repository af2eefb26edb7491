"""The study behind ``blindface reproduce``: every method, every dataset, both threat models.

Data flow (one module each): ``_settings`` (what a run is) -> ``_data`` (embed; who fits, who
evaluates) -> ``_tasks`` (the declarative list of what is measured) -> ``_fitting`` (cached
blinders) -> ``_evaluate`` (leakage and utility rows) -> ``_figures``, ``_table2`` (with
``_fairness``, Table II's CelebA experiment) -> ``_report`` and ``_schema`` (``report.md``,
``results.json``) -> ``_run`` (the whole run).
Settings and data can be injected, so a tiny synthetic study runs without any face data.
"""

from blindface.study._data import (
    DATASETS,
    EXPRESSION_DATASETS,
    Embedded,
    FitSet,
    StudyData,
    embed_study_data,
    fit_halves,
    fit_set,
    verification_pairs,
)
from blindface.study._fairness import (
    CELL_WEIGHTS,
    attractiveness_classifier,
    build_celeba_test_set,
    build_celeba_training_set,
    celeba_fairness_split,
    fairness_experiment,
    fairness_report,
    largest_set_size,
    split_celeba_subjects,
)
from blindface.study._report import render_report, write_report
from blindface.study._rows import Rows, with_diffs
from blindface.study._run import run_study
from blindface.study._schema import RESULTS_SCHEMA
from blindface.study._settings import FULL, PROBES, QUICK, Study, StudySettings
from blindface.study._tasks import LEAKAGE_TASKS, UTILITY_TASKS, LeakageTask, UtilityTask

__all__ = [
    "CELL_WEIGHTS",
    "DATASETS",
    "EXPRESSION_DATASETS",
    "FULL",
    "LEAKAGE_TASKS",
    "PROBES",
    "QUICK",
    "RESULTS_SCHEMA",
    "UTILITY_TASKS",
    "Embedded",
    "FitSet",
    "LeakageTask",
    "Rows",
    "Study",
    "StudyData",
    "StudySettings",
    "UtilityTask",
    "attractiveness_classifier",
    "build_celeba_test_set",
    "build_celeba_training_set",
    "celeba_fairness_split",
    "embed_study_data",
    "fairness_experiment",
    "fairness_report",
    "fit_halves",
    "fit_set",
    "largest_set_size",
    "render_report",
    "run_study",
    "split_celeba_subjects",
    "verification_pairs",
    "with_diffs",
    "write_report",
]
