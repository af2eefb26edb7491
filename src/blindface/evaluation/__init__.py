"""Evaluation protocols on arrays: emotion leakage, utility, fairness, and figures.

Attackers: ``attack`` (fresh, tuned probes on people-disjoint folds), ``transfer_attack``
(probes trained on labelled faces of other datasets) and the white-box inversion
(``fit_inversion`` + ``attack(..., X_fit=)``) give out-of-fold ``ProbeScores``;
``strongest_attacker`` compares the best probe before and after blinding (balanced accuracy,
Diff with a bootstrap interval over people) and ``pooled_diff`` averages cells. Threat views
(population, relative, symmetric) come from :mod:`blindface.threats`. Per-probe tables:
``leakage`` / ``threat_leakage`` (any categorical attribute), ``attribute_accuracy`` (attributes
to keep), ``compare_leakage`` and ``diff`` (the paper's Diff). Identity utility:
``operating_point`` (TAR at FAR over all pairs, loss with a bootstrap interval),
``verification_accuracy`` (LFW pair protocol). Fairness: ``fairness_metrics`` (Table II's
columns; the CelebA experiment itself is the study's). Figures: ``plot_tsne``,
``feature_suppression_curve`` + ``plot_suppression_curves``, ``plot_tradeoff``.
"""

from __future__ import annotations

from blindface.evaluation._fairness import fairness_metrics
from blindface.evaluation._figures import plot_suppression_curves, plot_tradeoff, plot_tsne
from blindface.evaluation._inversion import Inversion, fit_inversion
from blindface.evaluation._leakage import (
    attribute_accuracy,
    compare_leakage,
    leakage,
    score_table,
    threat_leakage,
    threat_scores,
    with_diff,
)
from blindface.evaluation._operating_point import (
    FARS,
    PairScores,
    operating_point,
    pair_scores,
    tar_at_far,
)
from blindface.evaluation._probes import PROBES, Probe, make_probe
from blindface.evaluation._probing import ProbeScores, attack, transfer_attack
from blindface.evaluation._splits import SPLITTERS, random_80_20, subject_disjoint
from blindface.evaluation._stats import (
    above_chance,
    bootstrap_accuracy_interval,
    chance_level,
    diff,
)
from blindface.evaluation._strongest import (
    Strongest,
    pooled_diff,
    probe_intervals,
    strongest_attacker,
)
from blindface.evaluation._suppression import feature_suppression_curve, summarise_suppression
from blindface.evaluation.verification import (
    cosine_scores,
    identity_separation,
    verification_accuracy,
)
from blindface.threats import (
    THREATS,
    Threat,
    ThreatView,
    population_view,
    relative_view,
    symmetric_view,
    threat_view,
)

__all__ = [
    "FARS",
    "Inversion",
    "PairScores",
    "ProbeScores",
    "Strongest",
    "attack",
    "fit_inversion",
    "operating_point",
    "pair_scores",
    "pooled_diff",
    "probe_intervals",
    "score_table",
    "strongest_attacker",
    "symmetric_view",
    "tar_at_far",
    "threat_scores",
    "transfer_attack",
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
