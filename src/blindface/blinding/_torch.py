"""PyTorch pieces shared by the trained methods: seeding, layers, gradient reversal, progress."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"identity": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh}


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNG seeded and deterministic kernels, restoring both after.

    Parameter initialisation and dropout draw from the global generator, so forking it keeps a
    ``fit`` from disturbing (or being disturbed by) the caller's random state.
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic)


def mlp(
    sizes: Sequence[int], activation: str = "relu", *, final_activation: bool = False
) -> nn.Sequential:
    """Dense layers ``sizes[0] -> sizes[1] -> ...`` with ``activation`` between them."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``net`` in order."""
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def check_layer_sizes(sizes: Sequence[int], name: str, *, allow_empty: bool = True) -> tuple:
    """``sizes`` (ints, or one int) as a tuple of positive ints, or a ``ValueError``."""
    if isinstance(sizes, int | np.integer):
        sizes = (sizes,)
    try:
        out = tuple(int(s) for s in sizes)
    except TypeError as err:
        raise ValueError(f"{name} must be a sequence of layer widths, got {sizes!r}") from err
    if any(s <= 0 for s in out) or (not out and not allow_empty):
        raise ValueError(f"{name} must hold positive layer widths, got {sizes!r}")
    return out


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity on the forward pass; multiplies the gradient by ``-scale`` on the way back."""
    return _GradientReversal.apply(x, float(scale))


def dann_ramp(progress: float) -> float:
    """Ganin & Lempitsky's ramp ``2 / (1 + exp(-10 p)) - 1``: 0 at the start, -> 1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


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
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

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
