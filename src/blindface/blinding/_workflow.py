"""Store-to-store workflows behind the command line: fit on Parquet stores, blind a store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface.blinding._base import Blinder
from blindface.blinding._inlp import INLP
from blindface.blinding._leace import LEACE
from blindface.blinding._lnl import LearningNotToLearn
from blindface.blinding._sensitivenets import SensitiveNets
from blindface.blinding._within_subject import WithinSubjectProjection

METHODS: dict[str, type[Blinder]] = {
    "sensitivenets": SensitiveNets,
    "lnl": LearningNotToLearn,
    "leace": LEACE,
    "inlp": INLP,
    "within_subject": WithinSubjectProjection,
}
CURVES_NAME = "training_curves.png"


def _labelled_rows(path: str | os.PathLike) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Embeddings of a store's embedded faces, with expression and dataset-qualified subject."""
    from blindface.store import read_store

    store = read_store(path)
    ok = store.ok
    table = store.table[ok].reset_index(drop=True)
    for column in ("expression", "subject"):
        if column not in table:
            table[column] = pd.NA
    dataset = table["dataset"].astype("string") if "dataset" in table else pd.Series(str(path))
    # subjects of different datasets are different people even when their ids coincide
    subject = (dataset + ":" + table["subject"].astype("string")).astype(object)
    return store.embeddings[ok], table["expression"].astype(object), subject


def fit_stores(
    method: str,
    embeddings: str | os.PathLike,
    out: str | os.PathLike,
    *,
    identity_embeddings: str | os.PathLike | None = None,
    params: dict[str, Any] | None = None,
    progress: bool = True,
) -> Blinder:
    """Fit ``method`` on the rows of one or two embedding stores and save it into ``out``.

    ``embeddings`` holds the expression-labelled rows (and possibly subjects); the optional
    ``identity_embeddings`` adds identity rows (e.g. LFW). Labels are used as the stores hold
    them; missing labels stay missing. Writes the model and, for the iterative methods, a
    ``training_curves.png`` into ``out``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    parts = [_labelled_rows(embeddings)]
    if identity_embeddings is not None:
        parts.append(_labelled_rows(identity_embeddings))
    dims = {p[0].shape[1] for p in parts}
    if len(dims) > 1:
        raise ValueError(f"the stores hold embeddings of different dimensions {sorted(dims)}")
    X = np.concatenate([p[0] for p in parts])
    expression = pd.concat([p[1] for p in parts], ignore_index=True).to_numpy(dtype=object)
    subject = pd.concat([p[2] for p in parts], ignore_index=True).to_numpy(dtype=object)
    model = METHODS[method]()
    settings = dict(params or {})
    if "verbose" in model.get_params():
        settings.setdefault("verbose", int(progress))
    model.set_params(**settings)
    model.fit(X, expression=expression, subject=subject)
    directory = model.save(out)
    if getattr(model, "history_", None):
        plot_history(model.history_, directory / CURVES_NAME, title=type(model).__name__)
    return model


def plot_history(history: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """One small panel per recorded quantity of a training history, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step_key = next(iter(history[0]))
    keys = [k for k in history[0] if k != step_key]
    keys += [k for h in history for k in h if k not in keys and k != step_key]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        points = [(h[step_key], h[key]) for h in history if key in h]
        ax.plot(*zip(*points, strict=True), marker="o")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel(step_key)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
