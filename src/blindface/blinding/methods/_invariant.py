"""ExpressionInvariantMap: a residual map under which one person's faces agree whatever their
expression, keeping who is who; a linear eraser then removes what stays linearly readable.

About 400 lines: the estimator, its trainer, the pair and identity-batch samplers and the
final eraser are one method, kept in one file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.nn import functional as F

from blindface.blinding import _params as P
from blindface.blinding._base import Blinder, FitInput, Layer, fold
from blindface.blinding._eraser import fit_eraser
from blindface.blinding.formats._persistence import AttributeKind, Shape
from blindface.blinding.nn import _layers, _training
from blindface.blinding.nn._residual import Residual, residual_layers
from blindface.blinding.nn._sampling import IMAGES_PER_PERSON, pk_batch
from blindface.blinding.nn._training import TrainingResult, train
from blindface.datasets import NEUTRAL
from blindface.threats import relative_view

Snapshot = list[tuple[np.ndarray, np.ndarray]]


class ResidualEraser(Blinder):
    """A residual map ``x + r(x)`` trained by a subclass, then a linear eraser ``E`` fitted on
    the mapped rows (both views): the fitted state, saving and the layers ``E (x + r(x))``
    shared by :class:`ExpressionInvariantMap` and ``WithinPersonCollapse``."""

    coefs_: list[np.ndarray]
    intercepts_: list[np.ndarray]
    eraser_weight_: np.ndarray
    eraser_bias_: np.ndarray
    erase: bool

    _arrays: ClassVar[Mapping[str, Shape]] = {
        "eraser_weight_": ("in", "in"),
        "eraser_bias_": ("in",),
    }
    _array_lists: ClassVar[tuple[str, ...]] = ("coefs_", "intercepts_")
    _attributes: ClassVar[Mapping[str, AttributeKind]] = {
        "classes_": "labels",
        "history_": "records",
        "best_iter_": "int",
        "n_iter_": "int",
    }
    _normalize_output: ClassVar[bool] = True

    def _finish(self, net: Residual, result: TrainingResult[Any], data: FitInput) -> None:
        """Fit the eraser on the trained map's output (identity when ``erase`` is off) and
        set the fitted state."""
        with torch.no_grad():
            Z = net(torch.from_numpy(data.X)).double().numpy()
        d = data.n_features
        weight, bias = np.eye(d), np.zeros(d)
        if self.erase:
            weight, bias = _eraser(Z, data)
        self._set_fitted(
            d,
            data.expression.classes,
            coefs_=[w for w, _ in result.best_state],
            intercepts_=[b for _, b in result.best_state],
            eraser_weight_=weight.astype(np.float32),
            eraser_bias_=bias.astype(np.float32),
            history_=result.history,
            best_iter_=result.best_iter,
            n_iter_=result.n_iter,
        )

    def _layers(self) -> list[Layer]:
        """``E (x + r(x))``: the residual branch's dense layers with the eraser folded into the
        last one (L2 normalisation follows, see ``_normalize_output``)."""
        layers = residual_layers(self.coefs_, self.intercepts_, "relu")
        *head, (w_last, b_last, activation) = layers
        weight, bias = fold(
            [w_last.astype(np.float64), self.eraser_weight_.astype(np.float64)],
            [b_last.astype(np.float64), self.eraser_bias_.astype(np.float64)],
        )
        return [*head, (weight.astype(np.float32), bias.astype(np.float32), activation)]


class ExpressionInvariantMap(ResidualEraser):
    """Make a person's faces agree across expressions; keep the same/different-person structure.

    A linear eraser cannot take the expression out of a face embedding: it is spread over
    almost every direction, and an attacker who holds the person's enrolled photo reads the
    *change* ``phi(x) - phi(ref)``, which a projection fitted on the population barely moves.
    This method learns a non-linear map ``phi(x) = normalize(E (x + r(x)))`` from the rows that
    have a subject:

    * **invariance** — for an image of a person and another image of the same person with a
      *different* expression, ``1 - cos(phi(a), phi(b))`` (every source with identities and
      expressions: posed sets, LFW expression labels, CelebA smiling);
    * **identity distillation** — on batches of ``batch_size // 4`` people x 4 images, the
      cosine of two images of the *same* person may not fall below its value in ``x``, and the
      cosine of two *different* people may not rise above it (squared hinges): the map may only
      make verification easier, so the geometry that face verification needs is kept while
      the within-person variation that carries the expression is removed;
    * **linear erasure** (``erase=True``) — after training, a LEACE eraser ``E`` fitted on the
      mapped rows, both as they are (the population attacker) and as differences from the
      person's first neutral image, or their mean (the relative attacker), removes the
      expression that is still linearly readable from either view.

    ``r`` is a small MLP whose last layer starts at zero, so training starts from the identity
    map; the output is L2-normalised like the embedding it replaces. Training runs the whole
    schedule; the same losses on held-out people are recorded (``validation_fraction``). Fitted
    rows need a subject; rows without one are ignored; the expression is needed only for the
    invariance pairs and the eraser. Inputs are expected L2-normalised, as stores hold them.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(512,)
        Hidden widths of the residual branch ``r``.
    invariance_weight : float, default=3.0
        Weight of the invariance term (the strength): higher removes more expression and costs
        more identity. The default is the study's choice over all sources (``defaults`` in
        ``docs/results/results.json``).
    identity_weight : float, default=300.0
        Weight of the identity-distillation hinges, set in development (see the README's
        "How every default was chosen").
    erase : bool, default=True
        Fit the final linear eraser.
    max_iter : int, default=15
        Iterations of ``steps_per_iter`` optimisation steps.
    steps_per_iter : int, default=100
    max_passes : float, default=40.0
        Cap on the schedule: at most about ``max_passes`` times the training rows are drawn in
        all, so a small fitting set (a few dozen people) is not memorised; fewer steps are run
        per iteration when the cap binds. On the study's sets (thousands of people) it does not.
    learning_rate : float, default=1e-3
        Adam learning rate.
    batch_size : int, default=256
        Invariance pairs per step (and rows of the identity batch).
    validation_fraction : float, default=0.1
        Share of the people held out to record the losses on people the map never trained on
        (``history_``); training runs the whole schedule.
    verbose : int, default=0
    random_state : int or None, default=None

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Layers of the residual branch ``r`` (``coefs_[i]`` of shape ``(out, in)``).
    eraser_weight_, eraser_bias_ : ndarray
        The eraser ``E``: ``z -> eraser_weight_ @ z + eraser_bias_`` (identity when
        ``erase=False``).
    classes_ : ndarray
        Expression classes seen in fit.
    history_ : list of dict
        Per iteration: training losses and the held-out ones (iteration 0: before training).
    best_iter_, n_iter_ : int
        The iteration kept, and the iterations run.
    n_features_in_ : int
    """

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {
        "hidden_layer_sizes": P.layers(),
        "invariance_weight": P.WEIGHT,
        "identity_weight": P.WEIGHT,
        "max_iter": P.Range(1, P.MAX_EPOCHS),
        "steps_per_iter": P.Range(1, P.MAX_STEPS),
        "max_passes": P.Range(0, 10_000, low_open=True),
        "learning_rate": P.LEARNING_RATE,
        "batch_size": P.BATCH_SIZE,
        "validation_fraction": P.FRACTION,
        "verbose": P.VERBOSE,
        "random_state": P.SEED,
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple[int, ...] = (512,),
        invariance_weight: float = 3.0,
        identity_weight: float = 300.0,
        erase: bool = True,
        max_iter: int = 15,
        steps_per_iter: int = 100,
        max_passes: float = 40.0,
        learning_rate: float = 1e-3,
        batch_size: int = 256,
        validation_fraction: float = 0.1,
        verbose: int = 0,
        random_state: int | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.invariance_weight = invariance_weight
        self.identity_weight = identity_weight
        self.erase = erase
        self.max_iter = max_iter
        self.steps_per_iter = steps_per_iter
        self.max_passes = max_passes
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.verbose = verbose
        self.random_state = random_state

    def _fit(self, data: FitInput) -> None:
        """Fit on ``X`` with per-row ``subject`` and ``expression`` (either may be missing)."""
        if data.n_features < 2:
            raise ValueError(
                f"n_features={data.n_features}: ExpressionInvariantMap needs embeddings of at "
                "least 2 dimensions"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}"
            )
        if self.steps_per_iter < 1 or self.batch_size < 2 * IMAGES_PER_PERSON:
            raise ValueError(
                f"steps_per_iter must be >= 1 and batch_size >= {2 * IMAGES_PER_PERSON}"
            )
        if not self.max_passes > 0:
            raise ValueError(f"max_passes must be > 0, got {self.max_passes}")
        rng = check_random_state(self.random_state)
        with _training.seeded(rng.randint(2**31 - 1)):
            trainer = _Trainer(self, data, rng)
            result = train(
                trainer,
                max_iter=self.max_iter,
                description="ExpressionInvariantMap",
                # a fixed schedule: the held-out losses are recorded (``history_``) but not
                # used to pick an iteration; on real embeddings their minimum came early and
                # removed less expression at a higher identity cost than the last iteration
                keep="last",
                verbose=self.verbose,
            )
            self._finish(trainer.net, result, data)


def _people(codes: np.ndarray) -> list[np.ndarray]:
    """Rows of each person (``codes >= 0``), as index arrays."""
    present = np.flatnonzero(codes >= 0)
    order = present[np.argsort(codes[present], kind="stable")]
    return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if len(order) else []


class _Trainer:
    """The training of :class:`ExpressionInvariantMap` for the shared loop: an iteration is
    ``steps_per_iter`` steps; validation measures the same loss on held-out people."""

    def __init__(self, model: ExpressionInvariantMap, data: FitInput, rng: np.random.RandomState):
        self.model, self.rng = model, rng
        self.hidden = _layers.check_layer_sizes(model.hidden_layer_sizes, "hidden_layer_sizes")
        self.X = torch.from_numpy(data.X)
        people = [p for p in _people(data.subject.codes) if len(p) >= 2]
        if len(people) < 4:
            raise ValueError(
                "ExpressionInvariantMap needs people with several images: at least 4 subjects "
                f"with 2 or more rows each, got {len(people)}; pass subject= for the rows"
            )
        n_val = max(2, round(model.validation_fraction * len(people)))
        held = set(rng.permutation(len(people))[:n_val].tolist())
        self.train_people = [p for i, p in enumerate(people) if i not in held]
        self.val_people = [p for i, p in enumerate(people) if i in held]
        n_rows = sum(len(p) for p in self.train_people)
        budget = math.ceil(model.max_passes * n_rows / (model.batch_size * max(model.max_iter, 1)))
        self.steps_per_iter = max(1, min(model.steps_per_iter, budget))
        expr = data.expression.codes
        self.person = data.subject.codes
        self.train_pairs = _partners(self.train_people, expr)
        self.val_pairs = _partners(self.val_people, expr)
        if not len(self.train_pairs.anchors):
            raise ValueError(
                "ExpressionInvariantMap needs people shown with two or more different "
                "expressions (expression and subject labels on the same rows): none has any"
            )
        self.net = Residual(data.n_features, self.hidden, "relu")
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=model.learning_rate)
        # fixed held-out batches, so that the criterion compares iterations fairly
        state = np.random.RandomState(rng.randint(2**31 - 1))
        self.val_pair_batch = (
            self.val_pairs.sample(4 * model.batch_size, state)
            if len(self.val_pairs.anchors)
            else self.train_pairs.sample(4 * model.batch_size, state)
        )
        self.val_identity_batches = [
            pk_batch(self.val_people, model.batch_size, state) for _ in range(4)
        ]

    def _losses(self, pairs: tuple[np.ndarray, np.ndarray], identity: np.ndarray):
        a, b = pairs
        za, zb = self.net(self.X[a]), self.net(self.X[b])
        invariance = (1.0 - F.cosine_similarity(za, zb, dim=1)).mean()
        genuine, impostor = _distillation(
            self.net(self.X[identity]), self.X[identity], self.person[identity]
        )
        return {"invariance": invariance, "genuine": genuine, "impostor": impostor}

    def _total(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        model = self.model
        return model.invariance_weight * losses["invariance"] + model.identity_weight * (
            losses["genuine"] + losses["impostor"]
        )

    def step(self, progress: float) -> dict[str, float]:
        batch = self.model.batch_size
        losses = self._losses(
            self.train_pairs.sample(batch, self.rng),
            pk_batch(self.train_people, batch, self.rng),
        )
        self.optimizer.zero_grad()
        self._total(losses).backward()
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        records = [self._losses(self.val_pair_batch, ids) for ids in self.val_identity_batches]
        out = {f"val_{k}": float(np.mean([float(r[k]) for r in records])) for k in records[0]}
        out["val_loss"] = float(np.mean([float(self._total(r)) for r in records]))
        return out

    def snapshot(self) -> Snapshot:
        return _layers.layer_arrays(self.net)


@dataclass(frozen=True)
class _Pairs:
    """Anchor rows with an expression and, for each, the rows of the same person with another
    expression: ``candidates[starts[i]:stops[i]]``."""

    anchors: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    candidates: np.ndarray

    def sample(self, size: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """``size`` random anchors (uniform over images) and a random partner of each."""
        pick = rng.randint(0, len(self.anchors), size)
        lo, hi = self.starts[pick], self.stops[pick]
        offset = (rng.random_sample(size) * (hi - lo)).astype(np.int64)
        return self.anchors[pick], self.candidates[lo + offset]


def _partners(people: list[np.ndarray], expr: np.ndarray) -> _Pairs:
    anchors, starts, stops, candidates = [], [], [], []
    total = 0
    for rows in people:
        labelled = rows[expr[rows] >= 0]
        for row in labelled:
            others = labelled[expr[labelled] != expr[row]]
            if len(others):
                anchors.append(row)
                starts.append(total)
                total += len(others)
                stops.append(total)
                candidates.append(others)
    as_array = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    flat = np.concatenate(candidates) if candidates else as_array([])
    return _Pairs(as_array(anchors), as_array(starts), as_array(stops), flat.astype(np.int64))


def _distillation(
    z: torch.Tensor, x: torch.Tensor, person: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared hinges on the batch's cosine matrices: same-person cosines that fell below
    their value in ``x``, different-person cosines that rose above it."""
    zn, xn = F.normalize(z, dim=1), F.normalize(x, dim=1)
    gz, gx = zn @ zn.T, xn @ xn.T
    same = torch.from_numpy(person[:, None] == person[None, :])
    genuine = same & ~torch.eye(len(person), dtype=torch.bool)
    fell = F.relu(gx - gz)[genuine]
    rose = F.relu(gz - gx)[~same]
    zero = gz.new_zeros(())
    return (fell.pow(2).mean() if fell.numel() else zero), (
        rose.pow(2).mean() if rose.numel() else zero
    )


def _eraser(Z: np.ndarray, data: FitInput) -> tuple[np.ndarray, np.ndarray]:
    """LEACE fitted on the mapped expression rows as they are (centred: the population
    attacker) and as the relative attacker sees them (:func:`blindface.threats.relative_view`,
    the one reference rule: the person's first neutral image, else the mean of their other
    images): ``(W, b)``."""
    expr, person = data.expression, data.subject.codes
    labelled = np.flatnonzero(expr.present & (person >= 0))
    unit = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    neutral = _class_code(expr.classes, NEUTRAL)
    codes = expr.codes[labelled]
    population = unit[labelled] - unit[labelled].mean(axis=0)
    parts, labels = [population], [codes]
    try:
        view = relative_view(
            unit[labelled],
            codes,
            person[labelled],
            reference=codes == (neutral if neutral is not None else -1),
        )
        parts.append(view.X)
        labels.append(view.y.astype(np.int64))
    except ValueError:  # nobody has a reference or a second image: the population view only
        pass
    features = np.concatenate(parts)
    codes = np.concatenate(labels)
    try:
        eraser = fit_eraser(features, codes, len(expr.classes))
    except np.linalg.LinAlgError:  # a degenerate covariance: use the orthogonal projection
        eraser = fit_eraser(features, codes, len(expr.classes), method="orth")
    return eraser.affine()


def _class_code(classes: np.ndarray, name: str) -> int | None:
    matches = np.flatnonzero(classes.astype(str) == name)
    return int(matches[0]) if len(matches) else None
