"""Figures of the study (PNG, no display needed): t-SNE maps, suppression curves, trade-off."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from blindface._io import save_figure
from blindface.evaluation._suppression import summarise_suppression

__all__ = ["plot_suppression_curves", "plot_tradeoff", "plot_tsne"]


def _save(fig: Any, path: str | Path) -> Path:
    return save_figure(fig, path)


def _figure(n_panels: int = 1, panel_size: tuple[float, float] = (5.0, 4.5)) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel_size[0] * n_panels, panel_size[1]))
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, axes


def plot_tsne(
    embeddings: Mapping[str, ArrayLike],
    labels: ArrayLike,
    path: str | Path,
    *,
    perplexity: float = 30.0,
    max_points: int | None = 2000,
    max_iter: int = 1000,
    random_state: int = 0,
) -> Path:
    """One t-SNE panel per representation, points coloured by ``labels`` (Figs. 3 and 5).

    All representations share the rows (and the random subsample of ``max_points`` rows), so
    the panels show the same faces before and after blinding. Inputs wider than 50 features
    are first reduced to 50 by PCA (the usual t-SNE practice, for speed). Seeded; returns
    ``path``.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    labels = np.asarray(labels, dtype=object).astype(str)
    sizes = {name: np.asarray(x).shape for name, x in embeddings.items()}
    if not sizes or any(len(s) != 2 or s[0] != len(labels) for s in sizes.values()):
        raise ValueError(f"each embedding must be 2-D with one row per label, got {sizes}")
    rng = np.random.default_rng(random_state)
    rows = np.arange(len(labels))
    if max_points is not None and len(rows) > max_points:
        rows = np.sort(rng.choice(rows, size=max_points, replace=False))
    classes = sorted(set(labels[rows]))
    colours = _colours(len(classes))
    fig, axes = _figure(len(embeddings))
    for ax, (name, x) in zip(axes, embeddings.items(), strict=True):
        x = np.asarray(x, dtype=np.float64)[rows]
        if x.shape[1] > 50 and len(x) > 50:
            x = PCA(n_components=50, random_state=random_state).fit_transform(x)
        tsne = TSNE(
            perplexity=min(perplexity, (len(rows) - 1) / 3),
            init="pca",
            max_iter=max_iter,
            random_state=random_state,
        )
        # One OpenMP thread: Barnes-Hut t-SNE is up to 10x slower when its threads compete
        # with other work for the cores (measured: 29 s vs 3.6 s for 300 points).
        with threadpool_limits(limits=1):
            points = tsne.fit_transform(x)
        for colour, cls in zip(colours, classes, strict=True):
            mask = labels[rows] == cls
            ax.scatter(*points[mask].T, s=6, color=colour, label=cls, alpha=0.8, linewidths=0)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2, frameon=False)
    return _save(fig, path)


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_suppression_curves(
    curves: Mapping[str, pd.DataFrame],
    path: str | Path,
    *,
    chance: float | None = None,
    ylabel: str = "Emotion accuracy (%)",
) -> Path:
    """Accuracy vs percentage of features suppressed, one curve per representation: mean over
    draws with a +-std band (Fig. 4). ``curves`` are ``feature_suppression_curve`` outputs."""
    fig, (ax,) = _figure()
    for colour, (name, curve) in zip(_colours(len(curves)), curves.items(), strict=True):
        summary = summarise_suppression(curve)
        x = summary["fraction"].to_numpy() * 100.0
        mean, std = summary["mean"].to_numpy(), summary["std"].to_numpy()
        ax.plot(x, mean, marker="o", ms=3, color=colour, label=name)
        ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", label="chance")
    ax.set_xlabel("Features suppressed (%)")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_tradeoff(
    points: pd.DataFrame | list[dict[str, Any]],
    path: str | Path,
    *,
    chance: float | None = None,
    utility_label: str = "LFW verification accuracy (%)",
    leakage_label: str = "Emotion accuracy (%)",
) -> Path:
    """Utility vs leakage, one marker (or a curve, for several rows) per method.

    ``points`` has columns ``method``, ``leakage`` and ``utility`` (percent), optionally
    ``leakage_std`` and ``utility_std`` for error bars; rows of one method are joined in the
    given order (e.g. a sweep of a blinding strength). ``chance`` draws the leakage chance line:
    the ideal method sits at the top, on that line.
    """
    points = pd.DataFrame(points)
    missing = {"method", "leakage", "utility"} - set(points.columns)
    if missing:
        raise ValueError(f"points lack columns {sorted(missing)}")
    fig, (ax,) = _figure(panel_size=(6.0, 4.5))
    methods = list(dict.fromkeys(points["method"]))
    for colour, method in zip(_colours(len(methods)), methods, strict=True):
        rows = points[points["method"] == method]
        ax.errorbar(
            rows["leakage"],
            rows["utility"],
            xerr=rows["leakage_std"] if "leakage_std" in rows else None,
            yerr=rows["utility_std"] if "utility_std" in rows else None,
            marker="o",
            linestyle="-" if len(rows) > 1 else "none",
            color=colour,
            capsize=3,
            label=method,
        )
    if chance is not None:
        ax.axvline(chance, color="grey", linestyle="--", label="chance")
    ax.set_xlabel(leakage_label)
    ax.set_ylabel(utility_label)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return _save(fig, path)
