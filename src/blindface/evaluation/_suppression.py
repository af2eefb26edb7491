"""Emotion accuracy as embedding features are randomly suppressed (Fig. 4 of the paper)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from blindface.evaluation._leakage import leakage
from blindface.evaluation._probes import Grid

__all__ = ["feature_suppression_curve", "summarise_suppression"]


def feature_suppression_curve(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    n_draws: int = 5,
    probe: str = "svm",
    protocol: str = "subject_disjoint",
    n_splits: int = 5,
    tune: bool = False,
    grids: Mapping[str, Grid] | None = None,
    random_state: int = 0,
    n_jobs: int = 2,
) -> pd.DataFrame:
    """Probe accuracy after suppressing a random ``fraction`` of the embedding features.

    For each fraction, ``n_draws`` random feature subsets are removed (dropping a feature is the
    same as setting it to zero for every probe here: a constant column carries nothing) and
    ``leakage`` is measured with one ``probe``, untuned by default to keep the sweep fast.
    If the information is spread over many features, accuracy falls slowly.

    Returns
    -------
    pandas.DataFrame
        One row per (fraction, draw): ``fraction``, ``draw``, ``n_features`` kept,
        ``accuracy`` (mean over splits, percent) and ``chance`` (majority class), and
        ``balanced_accuracy`` and ``balanced_chance`` (1 / classes).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    n_features = X.shape[1]
    rng = np.random.default_rng(random_state)
    rows = []
    for fraction in fractions:
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"fractions must be in [0, 1), got {fraction}")
        n_keep = max(1, n_features - round(fraction * n_features))
        for draw in range(n_draws):
            keep = np.sort(rng.permutation(n_features)[:n_keep])
            result = leakage(
                X[:, keep],
                y,
                groups=groups,
                probes=(probe,),
                protocol=protocol,
                n_splits=n_splits,
                random_state=random_state,
                tune=tune,
                grids=grids,
                n_jobs=n_jobs,
            ).iloc[0]
            rows.append(
                {
                    "fraction": float(fraction),
                    "draw": draw,
                    "n_features": n_keep,
                    "accuracy": result["accuracy"],
                    "chance": result["chance"],
                    "balanced_accuracy": result["balanced_accuracy"],
                    "balanced_chance": result["balanced_chance"],
                }
            )
    return pd.DataFrame(rows)


def summarise_suppression(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of the balanced accuracy over the random draws, one row per fraction."""
    return (
        curve.groupby("fraction")["balanced_accuracy"]
        .agg(mean="mean", std=lambda a: float(np.std(a)))
        .reset_index()
    )
