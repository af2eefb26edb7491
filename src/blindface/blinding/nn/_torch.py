"""PyTorch pieces shared by the trained methods: seeding, layers, losses, gradient reversal,
progress."""

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


def layer_arrays(net: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """Copies of the ``(weight, bias)`` of every ``nn.Linear`` layer of ``net``, in order: the
    snapshot the training loop keeps of the best iteration."""
    return [
        (m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
        for m in linear_layers(net)
    ]


def check_layer_sizes(
    sizes: Sequence[int] | int, name: str, *, allow_empty: bool = True
) -> tuple[int, ...]:
    """``sizes`` (ints, or one int) as a tuple of positive ints, or a ``ValueError``."""
    items = [sizes] if isinstance(sizes, int | np.integer) else sizes
    try:
        out = tuple(int(s) for s in items)
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


def similarity_gap(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared gap between the pairwise cosine similarities of ``z`` and of ``x``."""
    zn, xn = nn.functional.normalize(z, dim=1), nn.functional.normalize(x, dim=1)
    return nn.functional.mse_loss(zn @ zn.T, xn @ xn.T)


def gaussian_mi(z: torch.Tensor, y: torch.Tensor, n_classes: int, shrinkage: float) -> torch.Tensor:
    """Mutual information between ``z`` and the class ``y`` if each class were Gaussian with a
    shared covariance: ``(log det S_total - log det S_within) / 2``, both shrunk towards
    ``shrinkage * mean variance * I`` (invariant to invertible linear maps of ``z`` when
    ``shrinkage`` is 0). The mean variance is taken over ``min(n, D)`` directions, the most the
    rows can span, so that wide features (``D`` above the number of rows) get the same ridge as
    narrow ones.

    With fewer rows than dimensions it is computed exactly from the ``n x n`` Gram matrices
    (``log det(r I + A^T A / n) = D log r + log det(I + A A^T / (n r))``), so wide features
    cost no ``D x D`` determinant.
    """
    n, dim = z.shape
    counts = torch.bincount(y, minlength=n_classes).clamp_min(1).to(z.dtype)
    means = torch.zeros(n_classes, dim, dtype=z.dtype).index_add_(0, y, z) / counts[:, None]
    total = z - z.mean(dim=0)
    within = z - means[y]
    ridge = shrinkage * total.pow(2).sum() / (n * min(n, dim))
    if n < dim:
        eye = torch.eye(n, dtype=z.dtype)
        scale = n * ridge.clamp_min(torch.finfo(z.dtype).tiny)
        return 0.5 * (
            torch.logdet(eye + total @ total.T / scale)
            - torch.logdet(eye + within @ within.T / scale)
        )
    eye = torch.eye(dim, dtype=z.dtype)
    s_total = total.T @ total / n + ridge * eye
    s_within = within.T @ within / n + ridge * eye
    return 0.5 * (torch.logdet(s_total) - torch.logdet(s_within))


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
