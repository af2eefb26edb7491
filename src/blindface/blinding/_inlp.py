"""INLP: iterative nullspace projection of the expression (Ravfogel et al. 2020)."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state

from blindface.blinding._base import AffineBlinder
from blindface.blinding._validation import (
    check_embeddings,
    encode_labels,
    require_classes,
    split_rows,
)


class INLP(AffineBlinder):
    """Iterative nullspace projection with linear SVMs.

    Each iteration trains a linear SVM to predict the expression from the projected embeddings
    and removes the span of its weight vectors; iterations stop after ``n_iterations`` or as soon
    as the probe's accuracy on a held-out split is at most the majority-class rate plus
    ``tolerance``. The result is one orthogonal projection ``P`` onto the intersection of the
    removed directions' nullspaces (Ravfogel et al. 2020, Eq. 1 and Algorithm 1).
    Only rows with an expression label are used; ``subject`` is accepted and ignored.

    Parameters
    ----------
    n_iterations : int, default=20
        Maximum number of classifiers (each removes up to ``n_classes`` directions, one for 2).
    tolerance : float, default=0.01
        Stop once held-out accuracy <= majority rate + tolerance.
    C : float, default=1.0
        Inverse regularisation of the linear SVMs.
    validation_fraction : float, default=0.3
        Share of the expression rows held out to decide when to stop.
    random_state : int or None, default=None
        Seed of the split and the SVM solver.

    Attributes
    ----------
    weight_ : ndarray of shape (d, d)
        The projection ``P`` (symmetric, idempotent); ``bias_`` is zero.
    bias_ : ndarray of shape (d,)
    n_directions_ : int
        Rank of the removed subspace.
    history_ : list of dict
        Per iteration: held-out accuracy of the probe before removing its directions.
    chance_ : float
        Majority-class rate on the held-out split.
    classes_ : ndarray
    n_features_in_ : int
    """

    _json_attributes: ClassVar[tuple[str, ...]] = (
        "classes_",
        "history_",
        "n_directions_",
        "chance_",
    )

    def __init__(
        self,
        *,
        n_iterations: int = 20,
        tolerance: float = 0.01,
        C: float = 1.0,
        validation_fraction: float = 0.3,
        random_state: int | None = None,
    ) -> None:
        self.n_iterations = n_iterations
        self.tolerance = tolerance
        self.C = C
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(
        self,
        X: ArrayLike,
        y: None = None,
        *,
        expression: ArrayLike,
        subject: ArrayLike | None = None,
    ) -> INLP:
        """Fit the projection on the rows of ``X`` that have an ``expression`` label."""
        X = check_embeddings(X)
        n, d = X.shape
        expr = encode_labels(expression, n, "expression")
        encode_labels(subject, n, "subject")  # validated for a clear error, otherwise unused
        require_classes(expr, "expression", per_class=2)
        rng = check_random_state(self.random_state)
        rows = np.flatnonzero(expr.present)
        train, val = split_rows(rows, expr.codes[rows], self.validation_fraction, rng)
        x_train, y_train = X[train].astype(np.float64), expr.codes[train]
        x_val, y_val = X[val].astype(np.float64), expr.codes[val]
        chance = float(np.bincount(y_val).max() / len(y_val))

        removed = np.zeros((0, d))  # orthonormal rows spanning the removed directions
        projection = np.eye(d)
        history = []
        for iteration in range(self.n_iterations):
            svm = LinearSVC(C=self.C, random_state=rng.randint(2**31 - 1), max_iter=5000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                svm.fit(x_train @ projection, y_train)
            acc = float(svm.score(x_val @ projection, y_val))
            history.append({"iteration": iteration, "val_accuracy": acc})
            if acc <= chance + self.tolerance:
                break
            removed = _orthonormal_rows(np.vstack([removed, svm.coef_ @ projection]))
            projection = np.eye(d) - removed.T @ removed
        self.weight_ = projection.astype(np.float32)
        self.bias_ = np.zeros(d, dtype=np.float32)
        self.n_directions_ = int(len(removed))
        self.history_ = history
        self.chance_ = chance
        self.classes_ = expr.classes
        self.n_features_in_ = d
        return self


def _orthonormal_rows(rows: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis (as rows) of the span of ``rows``."""
    u, s, vt = np.linalg.svd(rows, full_matrices=False)
    return vt[s > tol * max(s.max(initial=0.0), 1.0)]
