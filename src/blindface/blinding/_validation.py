"""Input checks shared by every blinding method: embeddings, labels with missing values, splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array


def check_embeddings(X: ArrayLike, *, n_features: int | None = None, owner: str = "") -> np.ndarray:
    """``X`` as a C-contiguous float32 ``(n, d)`` array, or a ``ValueError`` naming the problem.

    ``n_features`` is the input dimension a fitted model expects; ``owner`` names it in messages.
    Shape, dtype, sparse and empty inputs get scikit-learn's standard messages.
    """
    arr = check_array(X, dtype="float32", order="C", ensure_all_finite=False)
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"X has {arr.shape[1]} features, but {owner or 'this model'} is expecting "
            f"{n_features} features as input (it was fitted on {n_features}-dimensional "
            "embeddings: same embedder as at fit time?)"
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"X has {bad.size} rows with NaN or inf (first: row {bad[0]}); failed faces are NaN "
            "rows in a store: drop them first, e.g. X[store.ok]"
        )
    return arr


@dataclass(frozen=True)
class Labels:
    """Integer codes of a label column (``-1`` where missing) and the sorted class values."""

    codes: np.ndarray
    classes: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """Boolean mask of the rows that carry a label."""
        return self.codes >= 0

    def counts(self) -> np.ndarray:
        """Number of labelled rows per class."""
        return np.bincount(self.codes[self.present], minlength=len(self.classes))


def encode_labels(y: ArrayLike | None, n_samples: int, name: str) -> Labels:
    """Encode a label column whose missing entries are None, NaN or ``pd.NA``.

    Labels are strings or integers (integers stored as floats because of NaN are accepted);
    a column that is absent (``None``) is all missing.
    """
    if y is None:
        return Labels(np.full(n_samples, -1, dtype=np.int64), np.array([], dtype=np.int64))
    arr = np.asarray(y, dtype=object)
    if arr.ndim != 1 or len(arr) != n_samples:
        raise ValueError(
            f"{name} has shape {arr.shape} but X has {n_samples} rows: pass one label per row "
            "(None / NaN / pd.NA where it is unknown)"
        )
    missing = pd.isna(arr).astype(bool)
    present = arr[~missing]
    if all(isinstance(v, str) for v in present):
        values = present.astype(str)
    elif all(_is_integral(v) for v in present):
        values = present.astype(np.int64)
    else:
        raise ValueError(f"{name} labels must be all strings or all integers (or missing)")
    classes, codes_present = np.unique(values, return_inverse=True)
    codes = np.full(n_samples, -1, dtype=np.int64)
    codes[~missing] = codes_present
    return Labels(codes, classes)


def _is_integral(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and float(value).is_integer()


def require_classes(labels: Labels, name: str, *, minimum: int = 2, per_class: int = 1) -> None:
    """Raise unless at least ``minimum`` classes have ``per_class`` labelled rows each."""
    require_counts(labels.counts(), name, minimum=minimum, per_class=per_class)


def require_counts(counts: np.ndarray, name: str, *, minimum: int = 2, per_class: int = 1) -> None:
    """:func:`require_classes` from the number of labelled rows per class."""
    n_ok = int((counts >= per_class).sum())
    if n_ok < minimum:
        each = f" with at least {per_class} rows each" if per_class > 1 else ""
        raise ValueError(
            f"{name} needs at least {minimum} distinct classes{each} among the labelled rows, "
            f"got {n_ok} (of {len(counts)} classes, {int(counts.sum())} labelled rows)"
        )


def split_rows(
    rows: np.ndarray, codes: np.ndarray, fraction: float, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into train / validation, stratified by ``codes`` where the counts allow."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    seed = rng.randint(2**31 - 1)
    try:
        train, val = train_test_split(rows, test_size=fraction, stratify=codes, random_state=seed)
    except ValueError:  # a class too small to stratify: fall back to a plain random split
        train, val = train_test_split(rows, test_size=fraction, random_state=seed)
    return np.sort(train), np.sort(val)
