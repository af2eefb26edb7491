"""The one training loop of the trained methods (SensitiveNets, Learning not to Learn,
ExpressionInvariantMap).

A method describes its training as a :class:`Trainer` (prepare in its constructor, one
optimisation ``step``, ``validate`` after each iteration and a ``snapshot`` of the weights);
:func:`train` runs it: validation before the first iteration, ``steps_per_iter`` steps per
iteration with a progress bar, and a :class:`TrainingResult` with the history and the kept
snapshot: the best by a criterion with early stopping (``keep="best"``), or the last of a fixed
schedule (``keep="last"``). This is the split of fairlearn's adversarial mitigation (a backend
engine that owns the step, a shared loop that owns the schedule). Beside it: :func:`seeded`
(every fit's PyTorch state), and the small classifier loop the adversaries are retrained with
(:func:`train_classifier`, :func:`minibatches`, :func:`accuracy`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar, cast

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

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


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, deterministic kernels and one thread,
    restoring all three after.

    Parameter initialisation draws from the global generator, so forking it keeps a ``fit`` from
    disturbing (or being disturbed by) the caller's random state. The networks are small, so one
    thread is as fast (much faster on a busy machine), and the fitted weights do not depend on the
    caller's thread count.
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            torch.set_num_threads(threads)


def train_classifier(
    net: nn.Module,
    Z: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    rng: np.random.RandomState,
) -> float:
    """Fit ``net`` to predict ``y`` from ``Z`` with Adam and cross-entropy; return the last loss."""
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate, betas=(0.9, 0.999))
    loss = torch.tensor(float("nan"))
    net.train()
    for _ in range(epochs):
        for batch in minibatches(len(Z), batch_size, rng):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(Z[batch]), y[batch])
            loss.backward()
            opt.step()
    net.eval()
    return float(loss.detach())


def minibatches(n: int, batch_size: int, rng: np.random.RandomState) -> list[torch.Tensor]:
    """A shuffled partition of ``range(n)`` into batches of ``batch_size`` (last may be short)."""
    order = torch.from_numpy(rng.permutation(n))
    return list(order.split(batch_size))


@torch.no_grad()
def accuracy(net: nn.Module, Z: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose arg-max prediction equals ``y``."""
    if len(y) == 0:
        return float("nan")
    return float((net(Z).argmax(dim=1) == y).float().mean())


@contextlib.contextmanager
def progress_bar(total: int, description: str, enabled: bool) -> Iterator[Callable[..., None]]:
    """A rich progress bar; yields ``advance(n=1, **fields)``; a no-op when not ``enabled``."""
    if not enabled:
        yield lambda *args, **kwargs: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, status="")

        def advance(n: int = 1, status: str = "") -> None:
            progress.update(task, advance=n, status=status)

        yield advance
