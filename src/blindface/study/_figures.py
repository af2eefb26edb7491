"""The study's figures: t-SNE (Figs. 3, 5), feature suppression (Fig. 4), trade-offs, training."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from blindface._io import save_figure
from blindface.evaluation import (
    chance_level,
    feature_suppression_curve,
    plot_suppression_curves,
    plot_tsne,
)
from blindface.pipelines import plot_history
from blindface.study._data import StudyData
from blindface.study._evaluate import task_rows
from blindface.study._fitting import Fitted
from blindface.study._rows import Row
from blindface.study._settings import Study
from blindface.study._tasks import LEAKAGE_TASKS

Log = Callable[[str], None]


def figures(
    data: StudyData,
    halves: Mapping[str, frozenset[str]],
    models: Mapping[str, Fitted],
    table1: Sequence[Row],
    lodo: Sequence[Row],
    study: Study,
    log: Log,
) -> dict[str, str]:
    """Write every figure under ``study.out/figures``; return {name: path relative to out}."""
    settings = study.settings
    folder = study.out / "figures"
    made: dict[str, str] = {}
    # The in-domain evaluation people of the first expression task present (CK+ when there).
    task = next(
        (t for t in LEAKAGE_TASKS if t.label == "expression" and t.dataset in data.datasets), None
    )
    picked = None
    if task is not None:
        picked = task_rows(
            task,
            data,
            exclude_people=halves.get(task.dataset, frozenset()),
            max_images=None,
            seed=study.seed,
        )
    if task is not None and picked is not None:
        reps = {"x": picked.X, **{m: f.transform(picked.X) for m, f in models.items()}}
        log(f"figures: t-SNE of x and the blinded embeddings on {task.dataset} (Fig. 3)")
        made["tsne_embeddings"] = _rel(
            plot_tsne(
                reps,
                picked.y,
                folder / "tsne_embeddings.png",
                max_points=settings.tsne_points,
                random_state=study.seed,
            ),
            study,
        )
        log("figures: t-SNE of an emotion classifier's hidden features f3 (Fig. 5)")
        made["tsne_emotion_features"] = _rel(
            plot_tsne(
                {f"f3({k})": _emotion_features(v, picked.y, study.seed) for k, v in reps.items()},
                picked.y,
                folder / "tsne_emotion_features.png",
                max_points=settings.tsne_points,
                random_state=study.seed,
            ),
            study,
        )
        log("figures: expression accuracy vs fraction of features suppressed (Fig. 4)")
        curves = {
            k: feature_suppression_curve(
                v,
                picked.y,
                picked.groups,
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
                curves, folder / "feature_suppression.png", chance=chance_level(picked.y)
            ),
            study,
        )
    for name, rows, title in (
        ("tradeoff_in_domain", table1, "in-domain (other half of each dataset's people)"),
        ("tradeoff_lodo", lodo, "leave-one-dataset-out (datasets the blinder never saw)"),
    ):
        path = plot_threat_tradeoff(rows, folder / f"{name}.png", title=title)
        if path is not None:
            made[name] = _rel(path, study)
    for method, fitted in models.items():
        history = getattr(fitted.model, "history_", None)
        if history:
            made[f"training_{method}"] = _rel(
                plot_history(history, folder / f"training_{method}.png", title=method), study
            )
    return made


def worst_probe_diffs(rows: Sequence[Row]) -> pd.DataFrame:
    """Per method, threat and (held-out) dataset/task: the worst probe's Diff (the smallest)."""
    frame = pd.DataFrame([r for r in rows if r.get("threat") and r.get("diff") is not None])
    if frame.empty:
        return frame
    frame = frame[frame["protocol"] == "subject_disjoint"]
    keys = ["method", "threat", "dataset", "task"]
    return frame.groupby(keys, as_index=False)["diff"].min()


def plot_threat_tradeoff(rows: Sequence[Row], path: Path, *, title: str) -> Path | None:
    """LFW verification loss vs worst-probe Diff (mean over datasets), per threat and method."""
    from matplotlib.figure import Figure  # lazy: matplotlib takes 0.4 s to import

    worst = worst_probe_diffs(rows)
    identity = {
        (r.get("heldout_dataset"), r["method"]): r["accuracy"]
        for r in rows
        if r.get("task") == "identity"
    }
    base = next((a for (h, m), a in identity.items() if m == "none"), None)
    if worst.empty or base is None:
        return None
    loss = {}
    for method in worst["method"].unique():
        values = [base - a for (h, m), a in identity.items() if m == method]
        if values:
            loss[method] = float(np.mean(values))
    fig = Figure(figsize=(10.0, 4.2))
    axes = fig.subplots(1, 2, squeeze=False)[0]
    for ax, threat in zip(axes, ("population", "relative"), strict=True):
        block = worst[worst["threat"] == threat].groupby("method")["diff"].mean()
        for method, value in block.items():
            if method in loss:
                ax.scatter(value, loss[method], s=40)
                ax.annotate(
                    str(method),
                    (value, loss[method]),
                    fontsize=8,
                    xytext=(4, 2),
                    textcoords="offset points",
                )
        ax.axvline(80.0, color="grey", linestyle="--", linewidth=1)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(f"worst-probe Diff, {threat} threat (%; mean over datasets)")
        ax.set_ylabel("LFW verification loss (points)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Leakage removed vs identity lost — {title}")
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
