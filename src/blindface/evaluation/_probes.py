"""The probe registry: fresh classifiers that attack a representation, with their search grids.

Every probe is a scikit-learn estimator built from a seed, plus a small grid searched by inner
cross-validation on the training part only: a blinded space must be attacked by a tuned probe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PROBES", "Probe", "make_probe"]

Grid = dict[str, list[Any]]


@dataclass(frozen=True)
class Probe:
    """A named classifier: ``build(random_state)`` gives an untuned estimator, ``grid(n_features)``
    its hyper-parameter grid (keys as in ``estimator.get_params()``)."""

    name: str
    build: Callable[[int], Any]
    grid: Callable[[int], Grid]


def _scaled(estimator: Any) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("clf", estimator)])


def _mlp(seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    return _scaled(
        MLPClassifier(
            hidden_layer_sizes=(256,),
            alpha=1e-4,
            early_stopping=True,
            max_iter=300,
            random_state=seed,
        )
    )


def _svm(seed: int) -> Any:
    from sklearn.svm import SVC

    return _scaled(SVC(kernel="rbf", C=10.0, gamma="scale", random_state=seed))


def _rf(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, max_features="sqrt", random_state=seed)


def _logreg(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return _scaled(LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


def _knn(seed: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return _scaled(KNeighborsClassifier(n_neighbors=5))


# After standardisation every feature has unit variance, so gamma="scale" is 1 / n_features.
# The grids are small on purpose: the study runs several hundred tuned (probe, fold) searches,
# and each value added to a grid multiplies their cost. Pass ``grids`` to widen them.
PROBES: dict[str, Probe] = {
    "mlp": Probe(
        "mlp",
        _mlp,
        lambda d: {"clf__alpha": [1e-4, 1e-2]},
    ),
    "svm": Probe(
        "svm",
        _svm,
        lambda d: {"clf__C": [1.0, 10.0, 100.0], "clf__gamma": [1.0 / d, 0.1 / d]},
    ),
    "rf": Probe("rf", _rf, lambda d: {"min_samples_leaf": [1, 5]}),
    "logreg": Probe("logreg", _logreg, lambda d: {"clf__C": [0.1, 1.0, 10.0]}),
    "knn": Probe("knn", _knn, lambda d: {"clf__n_neighbors": [1, 5, 15]}),
}


def make_probe(name: str, random_state: int = 0, **params: Any) -> Any:
    """A fresh, untuned estimator for probe ``name`` (see ``PROBES``), with ``params`` set."""
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; choose from {sorted(PROBES)}")
    return PROBES[name].build(random_state).set_params(**params)


def probe_grid(name: str, n_features: int, grids: Mapping[str, Grid] | None = None) -> Grid:
    """The search grid of probe ``name``: ``grids[name]`` when given, else the registry's."""
    if grids is not None and name in grids:
        return dict(grids[name])
    return PROBES[name].grid(n_features)
