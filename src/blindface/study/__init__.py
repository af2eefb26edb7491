"""The study behind ``blindface reproduce``: every method, every dataset, both threat models.

Data flow (one module each): ``_settings`` (what a run is) -> ``_data`` (embed; who may fit)
-> ``_tasks`` (the declarative list of what is measured) -> ``_fitting`` (cached blinders) ->
``_evaluate`` (attacks and identity on one representation; ``_scores`` keeps finished ones) ->
``_selection`` (nested leave-one-source-out choice) -> ``_figures``, ``_table2`` (with
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
from blindface.study._run import run_study
from blindface.study._schema import RESULTS_SCHEMA
from blindface.study._selection import Candidate, Scored, choose
from blindface.study._settings import ATTACKERS, FULL, QUICK, Study, StudySettings
from blindface.study._tasks import (
    ATTRIBUTE_TASKS,
    IDENTITY_SETS,
    LEAKAGE_TASKS,
    AttributeTask,
    LeakageTask,
)

__all__ = [
    "ATTACKERS",
    "ATTRIBUTE_TASKS",
    "CELL_WEIGHTS",
    "DATASETS",
    "EXPRESSION_DATASETS",
    "FULL",
    "IDENTITY_SETS",
    "LEAKAGE_TASKS",
    "QUICK",
    "RESULTS_SCHEMA",
    "AttributeTask",
    "Candidate",
    "Embedded",
    "FitSet",
    "LeakageTask",
    "Scored",
    "Study",
    "StudyData",
    "StudySettings",
    "attractiveness_classifier",
    "build_celeba_test_set",
    "build_celeba_training_set",
    "celeba_fairness_split",
    "choose",
    "embed_study_data",
    "fairness_experiment",
    "fairness_report",
    "fit_set",
    "largest_set_size",
    "render_report",
    "run_study",
    "split_celeba_subjects",
    "verification_pairs",
    "write_report",
]
