"""What a study run is: where it reads and writes, which methods, and how big it is."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blindface.blinding import METHODS

#: The probes of every leakage row (the evaluation registry's names).
PROBES: tuple[str, ...] = ("mlp", "svm", "rf", "logreg", "knn")


@dataclass(frozen=True)
class StudySettings:
    """Sizes and switches of one run. ``FULL`` is what docs/results holds, ``QUICK`` what CI runs.

    ``FULL`` is sized to run well within an hour on 2 cores (18 min measured): some 200
    (task, threat, method) cells, each scored by five tuned probes over people-disjoint folds.
    Its sizes keep every person of the posed sets (:func:`~blindface.study._data.spread_sample`);
    more images per person, or five folds instead of three, would mostly narrow the intervals.

    Attributes
    ----------
    n_splits : int
        People-disjoint folds of every leakage row (random splits for gender/ethnicity).
    probes : tuple of str
        Leakage probes (``blindface.evaluation.PROBES`` names).
    tune_probes : bool
        Tune each probe's hyper-parameters by inner cross-validation (grouped by person).
    n_bootstrap : int
        Resamples of the people-bootstrap interval of every leakage accuracy.
    max_eval_images : int or None
        Images per leakage row at most (as many people as fit, seeded), to bound the run time.
    lodo : bool
        Leave-one-dataset-out: one blinder per held-out expression dataset, fit on the others.
    random_80_20 : bool
        Also run the paper's random 80/20 protocol in-domain (an opt-in extra: people appear on
        both sides, so it measures recognising the person rather than the expression).
    lfw_identity_people : int or None
        LFW people outside the verification pairs to embed and fit on (None: all).
    utkface_images, celeba_images : int or None
        Images embedded (None: all). ``utility_images``: UTKFace images per gender/ethnicity row.
    fairness_repetitions : int
        Training-set draws of Table II.
    suppression_fractions, suppression_draws, tsne_points
        Figure sizes.
    blinder_params : mapping
        Parameters per method, on top of its defaults (e.g. shorter training in quick runs).
    """

    n_splits: int = 3
    probes: tuple[str, ...] = PROBES
    tune_probes: bool = True
    n_bootstrap: int = 1000
    max_eval_images: int | None = 600
    lodo: bool = True
    random_80_20: bool = False
    lfw_identity_people: int | None = None
    utkface_images: int | None = 3000
    utility_images: int | None = 1500
    celeba_images: int | None = None
    fairness_repetitions: int = 5
    suppression_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95)
    suppression_draws: int = 3
    tsne_points: int = 800
    blinder_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


FULL = StudySettings()
QUICK = StudySettings(
    probes=("logreg", "knn"),
    tune_probes=False,
    n_bootstrap=200,
    max_eval_images=200,
    lfw_identity_people=250,
    utkface_images=600,
    utility_images=600,
    celeba_images=1500,
    fairness_repetitions=2,
    suppression_fractions=(0.0, 0.5, 0.9),
    suppression_draws=1,
    tsne_points=200,
    blinder_params={
        "sensitivenets": {"max_iter": 1, "hidden_layer_sizes": (256, 256, 256)},
        "lnl": {"max_iter": 3},
        "invariant": {"max_iter": 2},
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

    @property
    def cache(self) -> Path:
        """Embeddings and fitted blinders (derived from face data: never commit them)."""
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        env = os.environ.get("BLINDFACE_CACHE")
        return Path(env) if env else Path.home() / ".cache" / "blindface"
