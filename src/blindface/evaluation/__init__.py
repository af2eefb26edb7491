"""Evaluation protocols on arrays: emotion leakage, utility, fairness, and figures.

Leakage (Table I): ``leakage`` trains fresh, tuned probes on a representation to predict any
categorical attribute; ``attribute_accuracy`` is the same protocol for attributes to keep
(gender, ethnicity); ``compare_leakage`` and ``diff`` give the paper's Diff. Identity utility:
``verification_accuracy`` (LFW protocol). Fairness: ``fairness_metrics`` (Table II's columns;
the CelebA experiment itself is the study's). Figures: ``plot_tsne``,
``feature_suppression_curve`` + ``plot_suppression_curves``, ``plot_tradeoff``.
"""

from __future__ import annotations

from blindface.evaluation._fairness import fairness_metrics
from blindface.evaluation._figures import plot_suppression_curves, plot_tradeoff, plot_tsne
from blindface.evaluation._leakage import (
    attribute_accuracy,
    compare_leakage,
    leakage,
    threat_leakage,
    with_diff,
)
from blindface.evaluation._probes import PROBES, Probe, make_probe
from blindface.evaluation._splits import SPLITTERS, random_80_20, subject_disjoint
from blindface.evaluation._stats import (
    above_chance,
    bootstrap_accuracy_interval,
    chance_level,
    diff,
)
from blindface.evaluation._suppression import feature_suppression_curve, summarise_suppression
from blindface.evaluation._threats import (
    THREATS,
    Threat,
    ThreatView,
    population_view,
    relative_view,
    threat_view,
)
from blindface.evaluation.verification import (
    cosine_scores,
    identity_separation,
    verification_accuracy,
)

__all__ = [
    "THREATS",
    "Threat",
    "ThreatView",
    "bootstrap_accuracy_interval",
    "identity_separation",
    "population_view",
    "relative_view",
    "threat_leakage",
    "threat_view",
    "with_diff",
    "PROBES",
    "SPLITTERS",
    "Probe",
    "attribute_accuracy",
    "chance_level",
    "compare_leakage",
    "cosine_scores",
    "diff",
    "above_chance",
    "fairness_metrics",
    "feature_suppression_curve",
    "leakage",
    "make_probe",
    "plot_suppression_curves",
    "plot_tradeoff",
    "plot_tsne",
    "random_80_20",
    "subject_disjoint",
    "summarise_suppression",
    "verification_accuracy",
]
