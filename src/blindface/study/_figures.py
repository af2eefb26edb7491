"""The study's figures: trade-off curves, t-SNE (Figs. 3, 5), feature suppression (Fig. 4),
training curves."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from blindface._io import save_figure
from blindface.evaluation import (
    feature_suppression_curve,
    plot_suppression_curves,
    plot_tsne,
)
from blindface.pipelines import plot_history
from blindface.study._data import StudyData
from blindface.study._evaluate import Evaluator
from blindface.study._fitting import Fitted
from blindface.study._selection import Candidate
from blindface.study._settings import Study
from blindface.study._tasks import LEAKAGE_TASKS

Log = Callable[[str], None]


def figures(
    data: StudyData,
    evaluator: Evaluator,
    folds: Sequence[Any],
    chosen: Mapping[str, Mapping[str, Candidate]],
    model: Callable[[Sequence[str], Candidate], Fitted],
    curves: Sequence[Mapping[str, Any]],
    final: Mapping[str, Fitted],
    study: Study,
    log: Log,
) -> dict[str, str]:
    """Write every figure under ``study.out/figures``; return {name: path relative to out}."""
    settings = study.settings
    folder = study.out / "figures"
    made: dict[str, str] = {}
    for threat in ("population", "relative"):
        path = plot_tradeoff_curves(
            curves,
            folder / f"tradeoff_{threat}.png",
            threat=threat,
            budget=settings.max_identity_loss,
        )
        if path is not None:
            made[f"tradeoff_{threat}"] = _rel(path, study)
    # The first expression dataset (CK+ when there), seen by the blinders that never saw it.
    task = next(
        (t for t in LEAKAGE_TASKS if t.label == "expression" and t.dataset in data.datasets), None
    )
    fold = next((f for f in folds if task is not None and f.heldout == task.dataset), None)
    rows = evaluator.rows(task, "eval") if task is not None else None
    if task is not None and fold is not None and rows is not None:
        picks = chosen[fold.heldout]
        reps = {"x": rows.X}
        for method, candidate in picks.items():
            if method != "recommended":
                reps[method] = model(fold.sources, candidate).transform(rows.X)
        log(f"figures: t-SNE of x and the blinded embeddings on {task.dataset} (Fig. 3)")
        made["tsne_embeddings"] = _rel(
            plot_tsne(
                reps,
                rows.y,
                folder / "tsne_embeddings.png",
                max_points=settings.tsne_points,
                random_state=study.seed,
            ),
            study,
        )
        log("figures: t-SNE of an emotion classifier's hidden features f3 (Fig. 5)")
        made["tsne_emotion_features"] = _rel(
            plot_tsne(
                {f"f3({k})": _emotion_features(v, rows.y, study.seed) for k, v in reps.items()},
                rows.y,
                folder / "tsne_emotion_features.png",
                max_points=settings.tsne_points,
                random_state=study.seed,
            ),
            study,
        )
        log("figures: expression balanced accuracy vs fraction of features suppressed (Fig. 4)")
        suppression = {
            k: feature_suppression_curve(
                v,
                rows.y,
                rows.groups,
                fractions=settings.suppression_fractions,
                n_draws=settings.suppression_draws,
                probe="svm",
                n_splits=settings.n_splits,
                random_state=study.seed,
                n_jobs=study.n_jobs,
            )
            for k, v in reps.items()
        }
        made["feature_suppression"] = _rel(
            plot_suppression_curves(
                suppression,
                folder / "feature_suppression.png",
                chance=100.0 / len(np.unique(rows.y)),
            ),
            study,
        )
    for method, fitted in final.items():
        history = getattr(fitted.model, "history_", None)
        if history:
            made[f"training_{method}"] = _rel(
                plot_history(history, folder / f"training_{method}.png", title=method), study
            )
    return made


def curve_points(curves: Sequence[Mapping[str, Any]], threat: str) -> pd.DataFrame:
    """Per method and candidate: the mean Diff over the held-out cells readable on x (the
    sweep attackers, ``threat``) and the mean TAR at FAR 0.1 % loss on LFW over the folds."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in curves:
        if r["threat"] == threat:
            groups.setdefault((r["method"], r["label"]), []).append(r)
    rows = []
    for (method, label), block in groups.items():
        diffs = [r["diff"] for r in block if r["readable"] and r["diff"] is not None]
        per_fold = {r["heldout_dataset"]: r.get("tar_loss_lfw") for r in block}
        losses = [v for v in per_fold.values() if v is not None]
        rows.append(
            {
                "method": method,
                "label": label,
                "params": block[0]["params"],
                "diff": float(np.mean(diffs)) if diffs else np.nan,
                "tar_loss": float(np.mean(losses)) if losses else np.nan,
                "n_cells": len(diffs),
            }
        )
    return pd.DataFrame(rows)


def plot_tradeoff_curves(
    curves: Sequence[Mapping[str, Any]], path: Path, *, threat: str, budget: float
) -> Path | None:
    """One line per method through its sweep: leakage removed on unseen datasets (mean Diff)
    against the TAR at FAR 0.1 % lost on LFW; the utility budget as a dashed line."""
    from matplotlib import colormaps  # lazy: matplotlib takes 0.4 s to import
    from matplotlib.figure import Figure

    points = curve_points(curves, threat)
    if points.empty or points["tar_loss"].isna().all():
        return None
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.subplots()
    cmap = colormaps["tab10"]
    for i, (method, block) in enumerate(points.groupby("method", sort=False)):
        block = block.sort_values("tar_loss")
        ax.plot(
            block["tar_loss"],
            block["diff"],
            marker="o",
            color=cmap(i % 10),
            label=str(method),
        )
        for r in block.to_dict("records"):
            params: dict[str, Any] = dict(r["params"] or {})
            if params:  # the strength's value, and a weighting candidate's "balanced"
                ax.annotate(
                    ",".join(map(_short_value, params.values())),
                    (r["tar_loss"], r["diff"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    ax.axvline(budget, color="grey", linestyle="--", linewidth=1, label=f"budget {budget:g}")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("TAR at FAR 0.1 % lost on LFW (points, mean over held-out folds)")
    ax.set_ylabel(f"leakage removed, {threat} threat (Diff %, unseen datasets)")
    ax.set_title(f"Trade-off on datasets the blinder never saw — {threat} threat")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def _emotion_features(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Hidden-layer features of an MLP emotion classifier trained on ``X`` (the paper's f3)."""
    Z = StandardScaler().fit_transform(X)
    mlp = MLPClassifier(
        hidden_layer_sizes=(256,), max_iter=400, early_stopping=True, random_state=seed
    ).fit(Z, y)
    return np.maximum(Z @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)


def _rel(path: Path, study: Study) -> str:
    return Path(path).relative_to(study.out).as_posix()


def _short_value(value: Any) -> str:
    """A sweep parameter's value as a point label: numbers by ``:g``, others as they are."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)
