"""INLP: iterative nullspace projection of the expression (Ravfogel et al. 2020)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state

from blindface.blinding import _params as P
from blindface.blinding._base import AffineBlinder, FitInput
from blindface.blinding._validation import split_rows
from blindface.blinding.formats._persistence import AttributeKind


class INLP(AffineBlinder):
    """Iterative nullspace projection with linear SVMs.

    Each iteration trains a linear SVM to predict the expression from the projected embeddings
    and removes the span of its weight vectors; iterations stop after ``max_iter`` or as soon as
    the probe's accuracy on a held-out split is within ``tolerance`` of the majority-class rate.
    The result is one orthogonal projection ``P`` onto the intersection of the removed
    directions' nullspaces (Ravfogel et al. 2020, Eq. 1 and Algorithm 1). Only rows with an
    expression label are used; ``subject`` is accepted and ignored. The output ``P x`` keeps the
    input's geometry outside the removed directions and is compared by cosine like the input.

    Two choices make the defaults keep identity (measured on the planted-signal check: with
    unscaled inputs and a fixed 0.01 tolerance, 54 of 64 directions were removed and 1-NN
    identity fell): the SVMs see the rows centred and scaled by one global factor (a rotation-
    and projection-preserving change, so the removed directions are the same kind of object),
    so that ``C`` means the same on unit-norm 128-d embeddings as on any other scale (unscaled,
    ``C=1`` regularised the probes so much that each removed only part of the signal and many
    iterations were needed); and the default tolerance is two standard errors of a chance-level
    accuracy on the held-out split (``tolerance=None``), since a fixed 0.01 is below the
    sampling noise of a few hundred rows, so iterations went on removing directions of noise,
    and identity with them.

    Fits in memory: each iteration trains a probe on the rows (``fit_streaming`` refuses it).

    Parameters
    ----------
    max_iter : int, default=20
        Maximum number of classifiers (each removes up to ``n_classes`` directions, one for 2).
    tolerance : float or None, default=None
        Stop once held-out accuracy <= majority rate + tolerance; ``None``: two standard errors
        of the majority rate on the held-out rows.
    C : float, default=1.0
        Inverse regularisation of the linear SVMs (on the scaled rows).
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
    tolerance_ : float
        The tolerance used.
    n_iter_ : int
        Probes trained.
    classes_ : ndarray
    n_features_in_ : int
    """

    _attributes: ClassVar[Mapping[str, AttributeKind]] = {
        "classes_": "labels",
        "history_": "records",
        "n_directions_": "int",
        "chance_": "float",
        "tolerance_": "float",
        "n_iter_": "int",
    }

    _min_per_class: ClassVar[int] = 2

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {
        "max_iter": P.Range(1, P.MAX_WIDTH),
        "tolerance": P.Range(0, 1),
        "C": P.Range(0, 1e6, low_open=True),
        "validation_fraction": P.FRACTION,
        "random_state": P.SEED,
    }

    def __init__(
        self,
        *,
        max_iter: int = 20,
        tolerance: float | None = None,
        C: float = 1.0,
        validation_fraction: float = 0.3,
        random_state: int | None = None,
    ) -> None:
        self.max_iter = max_iter
        self.tolerance = tolerance
        self.C = C
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _fit(self, data: FitInput) -> None:
        """Fit the projection on the rows of ``X`` that have an ``expression`` label."""
        expr, d = data.expression, data.n_features
        rng = check_random_state(self.random_state)
        rows = np.flatnonzero(expr.present)
        train, val = split_rows(rows, expr.codes[rows], self.validation_fraction, rng)
        X64 = data.X[rows].astype(np.float64)
        centre = X64.mean(axis=0)
        scale = np.sqrt(((X64 - centre) ** 2).sum(axis=1).mean() / d) or 1.0
        x_train = (data.X[train] - centre) / scale
        x_val = (data.X[val] - centre) / scale
        y_train, y_val = expr.codes[train], expr.codes[val]
        chance = float(np.bincount(y_val).max() / len(y_val))
        tolerance = self.tolerance
        if tolerance is None:
            tolerance = 2.0 * float(np.sqrt(chance * (1 - chance) / len(y_val)))

        removed = np.zeros((0, d))  # orthonormal rows spanning the removed directions
        projection = np.eye(d)
        history = []
        for iteration in range(self.max_iter):
            svm = LinearSVC(
                C=self.C, dual="auto", max_iter=20_000, random_state=rng.randint(2**31 - 1)
            )
            svm.fit(x_train @ projection, y_train)
            acc = float(svm.score(x_val @ projection, y_val))
            history.append({"iteration": iteration, "val_accuracy": acc})
            if acc <= chance + tolerance:
                break
            removed = _orthonormal_rows(np.vstack([removed, svm.coef_ @ projection]))
            projection = np.eye(d) - removed.T @ removed
        self._set_fitted(
            d,
            expr.classes,
            weight_=projection.astype(np.float32),
            bias_=np.zeros(d, dtype=np.float32),
            n_directions_=int(len(removed)),
            history_=history,
            chance_=chance,
            tolerance_=float(tolerance),
            n_iter_=len(history),
        )


def _orthonormal_rows(rows: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis (as rows) of the span of ``rows``."""
    u, s, vt = np.linalg.svd(rows, full_matrices=False)
    return vt[s > tol * max(s.max(initial=0.0), 1.0)]
