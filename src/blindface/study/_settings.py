"""What a study run is: where it reads and writes, which methods, and how big it is."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blindface.blinding import METHODS, get_method
from blindface.evaluation import PROBES

#: The attackers of a chosen operating point: fresh probes on the held-out people, probes
#: trained on labelled faces of the other datasets (transfer), and probes trained on real
#: embeddings reading embeddings rebuilt from blinded ones (white-box inversion).
ATTACKERS: tuple[str, ...] = ("probe", "transfer", "inversion")


@dataclass(frozen=True)
class StudySettings:
    """Sizes and switches of one run. ``FULL`` is what docs/results holds, ``QUICK`` what CI runs.

    Attributes
    ----------
    n_splits : int
        People-disjoint folds of every probe attacker.
    probes, tune_probes : tuple of str, bool
        The headline attackers (``blindface.evaluation.PROBES`` names), tuned by inner CV
        grouped by person: they score every chosen operating point.
    sweep_probes, tune_sweep_probes : tuple of str, bool
        The attackers of the nested selection and of the trade-off curves (every candidate of
        every sweep, inner and outer): fast probes, so that the sweeps fit in the run.
    attack_probes : tuple of str
        The probes of the transfer and inversion attackers (untuned: they train on thousands of
        rows of other datasets).
    attackers : tuple of str
        Attackers of the chosen operating points (:data:`ATTACKERS`).
    n_bootstrap : int
        Resamples of every bootstrap interval over people.
    max_eval_images : int or None
        Images per scored cell at most (as many people as fit, :func:`spread_sample`).
    sweep_images : int or None
        Images per cell of the selection scores and the curves.
    selection_identity_images : int or None
        Images of a validation source's people over which its TAR loss is measured.
    transfer_images : int
        Rows of the other datasets a transfer attacker trains on at most.
    max_identity_loss : float
        The utility budget: the largest TAR at FAR 0.1 % loss (points, inner mean) a selected
        operating point may cost.
    sweeps : mapping
        Method -> the candidate parameter settings of its sweep, replacing the registry's
        ``strength`` values (tests and quick runs use shorter sweeps).
    blinder_params : mapping
        Parameters per method, on top of its defaults (e.g. shorter training in quick runs).
    lfw_identity_people : int or None
        LFW people outside the verification pairs to embed and fit on (None: all).
    utkface_images, celeba_images : int or None
        Images embedded (None: all). ``utility_images``: UTKFace images per gender/ethnicity
        cell.
    fairness_repetitions : int
        Training-set draws of Table II.
    suppression_fractions, suppression_draws, tsne_points
        Figure sizes.
    """

    n_splits: int = 3
    probes: tuple[str, ...] = tuple(PROBES)
    tune_probes: bool = True
    sweep_probes: tuple[str, ...] = ("logreg", "svm")
    tune_sweep_probes: bool = False
    attack_probes: tuple[str, ...] = ("logreg", "svm", "mlp")
    attackers: tuple[str, ...] = ATTACKERS
    n_bootstrap: int = 1000
    max_eval_images: int | None = 600
    sweep_images: int | None = 400
    selection_identity_images: int | None = 1200
    transfer_images: int = 3000
    max_identity_loss: float = 0.5
    sweeps: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    blinder_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lfw_identity_people: int | None = None
    utkface_images: int | None = 3000
    utility_images: int | None = 1500
    celeba_images: int | None = None
    fairness_repetitions: int = 5
    suppression_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95)
    suppression_draws: int = 3
    tsne_points: int = 800


#: The paper's two trained baselines are scored at their registry defaults only (one fit per
#: fit set costs 0.5–1.5 min on 2 cores, 15 fit sets per candidate): their sweeps are what
#: kept the full run over an hour. Every other method sweeps its registry strengths.
FULL = StudySettings(
    max_eval_images=400,
    sweeps={
        "sensitivenets": ({"neutral_weight": 1.0},),
        "lnl_frozen": ({"entropy_weight": 1.0},),
    },
)
QUICK = StudySettings(
    probes=("logreg", "knn"),
    tune_probes=False,
    attack_probes=("logreg",),
    n_bootstrap=200,
    max_eval_images=200,
    sweep_images=150,
    selection_identity_images=300,
    transfer_images=600,
    lfw_identity_people=250,
    utkface_images=600,
    utility_images=600,
    celeba_images=1500,
    fairness_repetitions=2,
    suppression_fractions=(0.0, 0.5, 0.9),
    suppression_draws=1,
    tsne_points=200,
    sweeps={
        "sensitivenets": ({"neutral_weight": 1.0},),
        "lnl_frozen": ({"entropy_weight": 1.0},),
        "inlp": ({"max_iter": 5}, {"max_iter": 20}),
        "within_subject": ({"n_components": 16}, {"n_components": 64}),
        "invariant": ({"invariance_weight": 10.0},),
        "collapse": ({"collapse_weight": 10.0},),
    },
    blinder_params={
        "sensitivenets": {"max_iter": 1, "hidden_layer_sizes": (256, 256, 256)},
        "lnl_frozen": {"max_iter": 3},
        "invariant": {"max_iter": 2},
        "collapse": {"max_iter": 2, "steps_per_iter": 20},
    },
)


@dataclass(frozen=True)
class Study:
    """Where a run reads and writes, with which embedder, methods and settings.

    ``settings`` overrides the preset chosen by ``quick`` (tests inject tiny ones).
    ``methods`` defaults to every registered blinder.
    """

    data_root: Path
    out: Path
    embedder: str = "sface"
    quick: bool = False
    seed: int = 0
    cache_dir: Path | None = None
    methods: tuple[str, ...] | None = None
    n_jobs: int = 2
    settings_override: StudySettings | None = None

    @property
    def settings(self) -> StudySettings:
        if self.settings_override is not None:
            return self.settings_override
        return QUICK if self.quick else FULL

    @property
    def method_names(self) -> tuple[str, ...]:
        if self.methods is not None:
            return self.methods
        return tuple(METHODS)

    def candidates(self, method: str) -> tuple[Mapping[str, Any], ...]:
        """The parameter settings the sweep of ``method`` tries: the study's own, else the
        registry's strength values with every row counting once, plus the middle strength with
        every source counting the same (``weighting="balanced"``, see
        :func:`~blindface.blinding._weighting.weighted_rows`) for the methods that do not weigh
        sources themselves."""
        if method in self.settings.sweeps:
            return tuple(self.settings.sweeps[method])
        entry = get_method(method)
        sweep = entry.candidates()
        if entry.estimator.weighs_sources:
            return sweep
        return (*sweep, {**sweep[len(sweep) // 2], "weighting": "balanced"})

    @property
    def cache(self) -> Path:
        """Embeddings, fitted blinders and finished stages (derived from face data: never
        commit them)."""
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        env = os.environ.get("BLINDFACE_CACHE")
        return Path(env) if env else Path.home() / ".cache" / "blindface"
