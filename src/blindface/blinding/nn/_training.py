"""The one training loop of the trained methods (SensitiveNets, Learning not to Learn,
ExpressionInvariantMap).

A method describes its training as a :class:`Trainer` (prepare in its constructor, one
optimisation ``step``, ``validate`` after each iteration and a ``snapshot`` of the weights);
:func:`train` runs it: validation before the first iteration, ``steps_per_iter`` steps per
iteration with a progress bar, and a :class:`TrainingResult` with the history and the kept
snapshot: the best by a criterion with early stopping (``keep="best"``), or the last of a fixed
schedule (``keep="last"``). This is the split of fairlearn's adversarial mitigation (a backend
engine that owns the step, a shared loop that owns the schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar, cast

from blindface.blinding.nn._torch import progress_bar

State = TypeVar("State")
State_co = TypeVar("State_co", covariant=True)
Keep = Literal["best", "last"]
Criterion = Callable[[dict[str, float]], float]


class Trainer(Protocol[State_co]):
    """One method's training, driven by :func:`train`."""

    @property
    def steps_per_iter(self) -> int:
        """Optimisation steps in one iteration (an epoch, a round)."""
        ...

    def step(self, progress: float) -> dict[str, float]:
        """One optimisation step (``progress`` in [0, 1) of the whole run); its losses."""
        ...

    def validate(self) -> dict[str, float]:
        """Scores recorded after each iteration and before the first one."""
        ...

    def snapshot(self) -> State_co:
        """A copy of the weights (of the best iteration so far, or of the last)."""
        ...


@dataclass
class EarlyStopping(Generic[State]):
    """Keep the best-scoring snapshot; say stop after ``patience`` iterations without a better
    score (the first score is always kept; a NaN score is worse than any number)."""

    patience: int
    best_score: float = math.inf
    best_iter: int = -1
    best_state: State | None = None
    stalled: int = 0

    def update(self, iteration: int, score: float, snapshot: Callable[[], State]) -> bool:
        """Record ``score`` of ``iteration``; ``True`` when training should stop."""
        if (
            self.best_state is None
            or score < self.best_score
            or (math.isnan(self.best_score) and not math.isnan(score))
        ):
            self.best_score, self.best_iter, self.best_state = score, iteration, snapshot()
            self.stalled = 0
            return False
        self.stalled += 1
        return self.stalled >= self.patience


@dataclass(frozen=True)
class TrainingResult(Generic[State]):
    """History (record 0 is before training), the kept iteration and its snapshot."""

    history: list[dict[str, float]]
    best_iter: int
    best_state: State
    n_iter: int


def train(
    trainer: Trainer[State],
    *,
    max_iter: int,
    description: str,
    keep: Keep = "best",
    criterion: Criterion | None = None,
    patience: int = 1,
    verbose: int = 0,
    keep_initial: bool = True,
) -> TrainingResult[State]:
    """Run ``trainer`` for at most ``max_iter`` iterations; keep its best or its last state.

    ``keep="best"``: the snapshot whose history record scores lowest by ``criterion``, and
    training stops after ``patience`` iterations without a better score (``keep_initial=False``:
    the state before training, iteration 0, is never the one kept). ``keep="last"``: a fixed
    schedule, every iteration runs and the last state is kept (``criterion`` and ``patience``
    are not used).
    """
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', got {keep!r}")
    if max_iter < 1 or patience < 1:
        raise ValueError(f"max_iter and patience must be at least 1, got {max_iter}, {patience}")
    if keep == "best" and criterion is None:
        raise ValueError("keep='best' needs the criterion that says which iteration is best")
    history = [{"iteration": 0, **trainer.validate()}]
    stopper: EarlyStopping[State] = EarlyStopping(patience if keep == "best" else max_iter)
    if keep == "best" and keep_initial:
        stopper.update(0, cast(Criterion, criterion)(history[0]), trainer.snapshot)
    steps = trainer.steps_per_iter
    total = max_iter * steps
    done = 0
    with progress_bar(total, description, verbose > 0) as advance:
        for iteration in range(1, max_iter + 1):
            sums: dict[str, float] = {}
            for _ in range(steps):
                for key, value in trainer.step(done / total).items():
                    sums[key] = sums.get(key, 0.0) + value / steps
                done += 1
                advance(status=f"iteration {iteration}")
            record = {"iteration": iteration, **sums, **trainer.validate()}
            history.append(record)
            if keep == "best" and stopper.update(
                iteration, cast(Criterion, criterion)(record), trainer.snapshot
            ):
                break
    if keep == "last":
        return TrainingResult(history, max_iter, trainer.snapshot(), max_iter)
    best = cast(State, stopper.best_state)  # set: at least one iteration was recorded
    return TrainingResult(history, stopper.best_iter, best, len(history) - 1)
