"""WithinPersonCollapse: make a person's photos agree with each other, whatever the expression or
the camera, on every person with several photos; keep who is who; leave no expression that a
fresh attacker fitted on other people could read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.nn import functional as F

from blindface.blinding import _params as P
from blindface.blinding._base import FitInput
from blindface.blinding.methods._invariant import ResidualEraser, _distillation, _people
from blindface.blinding.nn import _layers, _training
from blindface.blinding.nn._residual import Residual
from blindface.blinding.nn._training import train

Snapshot = list[tuple[np.ndarray, np.ndarray]]
#: Relative bandwidths of the Gaussian kernels of the dependence penalty (times the batch's
#: median squared distance), besides the linear kernel.
BANDWIDTHS = (0.5, 2.0)
#: Look-alikes kept per person (nearest other people in ``x``) for the identity hinges.
NEIGHBOURS = 5


class WithinPersonCollapse(ResidualEraser):
    """Collapse within-person variation; keep the between-person geometry; penalise any
    dependence between the output and the expression that an attacker fitted on *other*
    people could use, under both threat models.

    A map ``phi(x) = normalize(E (x + r(x)))`` (``r`` a small MLP starting at zero, ``E`` a final
    linear eraser) is trained on batches of ``batch_people`` people x ``images_per_person``
    images, half the people drawn source by source (``source`` labels of ``fit``; each source
    weighs the same, whatever its number of rows) from every person with two or more rows — identity
    rows without an expression label included (LFW, CelebA), so the collapse is learnt on far
    more people and capture conditions than the posed sets hold:

    * **collapse** — ``1 - cos(phi(a), phi(b))`` over every same-person pair of the batch,
      pairs with two different expressions weighted ``1 + expression_pair_weight``;
    * **identity distillation** — the squared hinges of :class:`ExpressionInvariantMap`:
      different-person cosines may not rise above their value in ``x`` (same-person cosines
      may not fall), so verification thresholds keep their meaning. Half of each batch's
      people are look-alikes of the other half (nearest people in ``x``): a threshold set for
      a false-accept rate of 0.1 % is decided by such pairs, which random batches rarely
      hold;
    * **held-out dependence** — in every batch, a kernel ridge attacker (a linear and three
      Gaussian kernels) is fitted *from scratch* on half the people's expression-labelled rows
      and scored (R², clipped at 0) on the other half, and back; both on ``phi(x)`` (the
      population attacker) and on ``phi(x)`` minus the mean of the person's batch images (the
      attacker with an enrolled photo). Its closed form is differentiable, so the map is
      pushed to leave nothing an attacker fitted on other people could read; a single
      adversary kept across steps would only be fooled (the paper's ``w3``). This is an HSIC
      style dependence measure, scored out of sample;
    * **linear erasure** (``erase=True``) — a LEACE eraser on both views at the end (see
      :class:`ExpressionInvariantMap`).

    Rows need a subject (rows without one are ignored); the expression is optional per row.
    Inputs are expected L2-normalised, as stores hold them; the output is L2-normalised.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(512,)
    collapse_weight : float, default=3.0
        Weight of the collapse term: the strength (higher removes more within-person
        variation and costs more identity). The default is the study's choice over all
        sources (``defaults`` in ``docs/results/results.json``).
    expression_pair_weight : float, default=2.0
    identity_weight : float, default=300.0
    dependence_weight : float, default=3.0
    ridge : float, default=0.1
        Ridge of the in-batch attacker (times the mean kernel diagonal).
    erase : bool, default=True
    max_iter, steps_per_iter, max_passes, learning_rate : see ExpressionInvariantMap
    batch_people : int, default=64
    images_per_person : int, default=4
    validation_fraction : float, default=0.1
    verbose : int, default=0
    random_state : int or None, default=None

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Layers of the residual branch ``r``.
    eraser_weight_, eraser_bias_ : ndarray
    classes_ : ndarray
    history_ : list of dict
    best_iter_, n_iter_ : int
    n_features_in_ : int
    """

    weighs_sources: ClassVar[bool] = True

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {
        "hidden_layer_sizes": P.layers(),
        "collapse_weight": P.WEIGHT,
        "expression_pair_weight": P.WEIGHT,
        "identity_weight": P.WEIGHT,
        "dependence_weight": P.WEIGHT,
        "ridge": P.Range(0, 1e6, low_open=True),
        "max_iter": P.Range(1, P.MAX_EPOCHS),
        "steps_per_iter": P.Range(1, P.MAX_STEPS),
        "max_passes": P.Range(0, 10_000, low_open=True),
        "learning_rate": P.LEARNING_RATE,
        # a batch is batch_people x images_per_person rows: at most 65,536, as P.BATCH_SIZE
        "batch_people": P.Range(4, 4096),
        "images_per_person": P.Range(2, 16),
        "validation_fraction": P.FRACTION,
        "verbose": P.VERBOSE,
        "random_state": P.SEED,
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple[int, ...] = (512,),
        collapse_weight: float = 3.0,
        expression_pair_weight: float = 2.0,
        identity_weight: float = 300.0,
        dependence_weight: float = 3.0,
        ridge: float = 0.1,
        erase: bool = True,
        max_iter: int = 15,
        steps_per_iter: int = 100,
        max_passes: float = 40.0,
        learning_rate: float = 1e-3,
        batch_people: int = 64,
        images_per_person: int = 4,
        validation_fraction: float = 0.1,
        verbose: int = 0,
        random_state: int | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.collapse_weight = collapse_weight
        self.expression_pair_weight = expression_pair_weight
        self.identity_weight = identity_weight
        self.dependence_weight = dependence_weight
        self.ridge = ridge
        self.erase = erase
        self.max_iter = max_iter
        self.steps_per_iter = steps_per_iter
        self.max_passes = max_passes
        self.learning_rate = learning_rate
        self.batch_people = batch_people
        self.images_per_person = images_per_person
        self.validation_fraction = validation_fraction
        self.verbose = verbose
        self.random_state = random_state

    def _fit(self, data: FitInput) -> None:
        if data.n_features < 2:
            raise ValueError("WithinPersonCollapse needs embeddings of at least 2 dimensions")
        rng = check_random_state(self.random_state)
        with _training.seeded(rng.randint(2**31 - 1)):
            trainer = _Trainer(self, data, rng)
            result = train(
                trainer,
                max_iter=self.max_iter,
                description="WithinPersonCollapse",
                keep="last",  # a fixed schedule; the held-out losses are recorded
                verbose=self.verbose,
            )
            self._finish(trainer.net, result, data)


@dataclass(frozen=True)
class _Sampler:
    """Batches of people: half drawn source by source (each source equally likely), half the
    look-alikes of those (each drawn person's nearest other person in ``x``), so that the
    identity hinges see the impostor pairs that set a verification threshold."""

    people: tuple[np.ndarray, ...]
    by_source: tuple[np.ndarray, ...]
    neighbours: np.ndarray

    def batch(self, n_people: int, per_person: int, rng: np.random.RandomState) -> np.ndarray:
        """Up to ``per_person`` images of each of about ``n_people`` people (a person's rows
        contiguous)."""
        sources = rng.randint(0, len(self.by_source), max(1, n_people // 2))
        drawn = [int(rng.choice(self.by_source[s])) for s in sources]
        alike = [int(self.neighbours[p, rng.randint(self.neighbours.shape[1])]) for p in drawn]
        chosen = list(dict.fromkeys(drawn + alike))
        return np.concatenate(
            [
                rng.choice(self.people[p], min(per_person, len(self.people[p])), replace=False)
                for p in chosen
            ]
        )


def _sampler(people: list[np.ndarray], source: np.ndarray, X: np.ndarray) -> _Sampler:
    """People grouped by source, and each person's :data:`NEIGHBOURS` nearest other people
    (cosine of their mean unit embeddings)."""
    by_source: dict[int, list[int]] = {}
    for i, rows in enumerate(people):
        by_source.setdefault(int(source[rows[0]]), []).append(i)
    unit = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    centres = np.stack([unit[rows].mean(axis=0) for rows in people])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    k = min(NEIGHBOURS, len(people) - 1)
    neighbours = np.empty((len(people), k), dtype=np.int64)
    for start in range(0, len(people), 1024):
        similarity = centres[start : start + 1024] @ centres.T
        for i in range(len(similarity)):
            similarity[i, start + i] = -np.inf
        neighbours[start : start + 1024] = np.argsort(-similarity, axis=1)[:, :k]
    return _Sampler(
        tuple(people),
        tuple(np.asarray(v, dtype=np.int64) for _, v in sorted(by_source.items())),
        neighbours,
    )


def _kernels(Z: torch.Tensor) -> list[torch.Tensor]:
    """The linear kernel and Gaussian kernels at :data:`BANDWIDTHS` times the median squared
    distance (the median taken without gradient)."""
    squared = torch.cdist(Z, Z).pow(2)
    off = squared[~torch.eye(len(Z), dtype=torch.bool)]
    scale = off.detach().median().clamp_min(1e-8) if off.numel() else Z.new_tensor(1.0)
    return [Z @ Z.T] + [torch.exp(-squared / (b * scale)) for b in BANDWIDTHS]


def heldout_dependence(
    Z: torch.Tensor, y: torch.Tensor, halves: torch.Tensor, n_classes: int, ridge: float
) -> torch.Tensor:
    """How well a kernel ridge attacker fitted on one half of the rows (``halves`` False)
    predicts the one-hot ``y`` of the other half (True), and back: the mean R² (clipped at 0)
    over the kernels of :func:`_kernels`. Differentiable in ``Z``."""
    Y = F.one_hot(y, n_classes).to(Z.dtype)
    scores = []
    for K in _kernels(Z):
        for fitted in (~halves, halves):
            test = ~fitted
            if fitted.sum() < 2 or test.sum() < 2:
                continue
            y_train, y_test = Y[fitted], Y[test]
            mean = y_train.mean(dim=0)
            total = (y_test - mean).pow(2).sum()
            if total <= 0:
                continue
            k_train = K[fitted][:, fitted]
            lam = ridge * k_train.diagonal().mean().clamp_min(1e-8)
            alpha = torch.linalg.solve(
                k_train + lam * torch.eye(len(k_train), dtype=Z.dtype), y_train - mean
            )
            predicted = K[test][:, fitted] @ alpha + mean
            scores.append(F.relu(1.0 - (y_test - predicted).pow(2).sum() / total))
    return torch.stack(scores).mean() if scores else Z.new_zeros(())


class _Trainer:
    """The training of :class:`WithinPersonCollapse` for the shared loop."""

    def __init__(self, model: WithinPersonCollapse, data: FitInput, rng: np.random.RandomState):
        self.model, self.rng = model, rng
        hidden = _layers.check_layer_sizes(model.hidden_layer_sizes, "hidden_layer_sizes")
        self.X = torch.from_numpy(data.X)
        self.person = data.subject.codes
        self.expr = data.expression.codes
        self.n_classes = max(len(data.expression.classes), 2)
        source = data.others["source"].codes if "source" in data.others else None
        people = [p for p in _people(self.person) if len(p) >= 2]
        if len(people) < 8:
            raise ValueError(
                "WithinPersonCollapse needs people with several images: at least 8 subjects "
                f"with 2 or more rows each, got {len(people)}; pass subject= for the rows"
            )
        if not (self.expr[np.concatenate(people)] >= 0).any():
            raise ValueError("WithinPersonCollapse needs expression labels on some of the rows")
        n_val = max(4, round(model.validation_fraction * len(people)))
        held = set(rng.permutation(len(people))[:n_val].tolist())
        train_people = [p for i, p in enumerate(people) if i not in held]
        val_people = [p for i, p in enumerate(people) if i in held]
        by = np.zeros(len(self.person), dtype=np.int64) if source is None else source
        self.train_sources = _sampler(train_people, by, data.X)
        self.val_sources = _sampler(val_people, by, data.X)
        n_rows = sum(len(p) for p in train_people)
        per_step = model.batch_people * model.images_per_person
        budget = math.ceil(model.max_passes * n_rows / (per_step * max(model.max_iter, 1)))
        self.steps_per_iter = max(1, min(model.steps_per_iter, budget))
        self.net = Residual(data.n_features, hidden, "relu")
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=model.learning_rate)
        state = np.random.RandomState(rng.randint(2**31 - 1))
        self.val_batches = [
            self.val_sources.batch(model.batch_people, model.images_per_person, state)
            for _ in range(4)
        ]

    def _losses(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        model = self.model
        z = self.net(self.X[rows])
        unit = F.normalize(z, dim=1)
        person = self.person[rows]
        expr = self.expr[rows]
        same = torch.from_numpy(person[:, None] == person[None, :])
        pairs = same & ~torch.eye(len(rows), dtype=torch.bool)
        labelled = torch.from_numpy(expr >= 0)
        differ = torch.from_numpy(expr[:, None] != expr[None, :]) & labelled[:, None] & labelled
        weight = 1.0 + model.expression_pair_weight * differ.to(z.dtype)
        cosine = unit @ unit.T
        collapse = ((1.0 - cosine) * weight)[pairs].sum() / weight[pairs].sum()
        genuine, impostor = _distillation(z, self.X[rows], person)
        dependence = self._dependence(unit, person, expr)
        return {
            "collapse": collapse,
            "genuine": genuine,
            "impostor": impostor,
            "dependence": dependence,
        }

    def _dependence(self, unit: torch.Tensor, person: np.ndarray, expr: np.ndarray):
        """Held-out kernel ridge attackers on both views of the batch's labelled rows, the
        people split in two halves."""
        keep = np.flatnonzero(expr >= 0)
        if len(keep) < 8 or len(np.unique(expr[keep])) < 2:
            return unit.new_zeros(())
        names, codes = np.unique(person[keep], return_inverse=True)
        halves = torch.from_numpy((codes % 2) == 1)
        y = torch.from_numpy(expr[keep])
        z = unit[torch.from_numpy(keep)]
        means = (
            torch.zeros(len(names), z.shape[1], dtype=z.dtype).index_add_(
                0, torch.from_numpy(codes), z
            )
            / torch.from_numpy(np.bincount(codes)).to(z.dtype)[:, None]
        )
        relative = z - means[torch.from_numpy(codes)]
        several = torch.from_numpy(np.bincount(codes)[codes] >= 2)
        ridge = self.model.ridge
        population = heldout_dependence(z, y, halves, self.n_classes, ridge)
        within = heldout_dependence(
            relative[several], y[several], halves[several], self.n_classes, ridge
        )
        return 0.5 * (population + within)

    def _total(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        model = self.model
        return (
            model.collapse_weight * losses["collapse"]
            + model.identity_weight * (losses["genuine"] + losses["impostor"])
            + model.dependence_weight * losses["dependence"]
        )

    def step(self, progress: float) -> dict[str, float]:
        model = self.model
        rows = self.train_sources.batch(model.batch_people, model.images_per_person, self.rng)
        losses = self._losses(rows)
        self.optimizer.zero_grad()
        self._total(losses).backward()
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        records = [self._losses(rows) for rows in self.val_batches]
        out = {f"val_{k}": float(np.mean([float(r[k]) for r in records])) for k in records[0]}
        out["val_loss"] = float(np.mean([float(self._total(r)) for r in records]))
        return out

    def snapshot(self) -> Snapshot:
        return _layers.layer_arrays(self.net)
