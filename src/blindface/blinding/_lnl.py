"""Learning not to Learn (Kim et al. 2019), as adapted by Peña et al. 2020 (Sec. III-B-2)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from blindface.blinding import _torch
from blindface.blinding._base import Blinder
from blindface.blinding._validation import (
    check_embeddings,
    encode_labels,
    require_classes,
    split_rows,
)

PRIMARY_TASKS = ("subject", "gender", "ethnicity")
SCHEDULES = ("dann", "constant")


class LearningNotToLearn(Blinder):
    """Features that serve a primary task and carry minimal information about the expression.

    A feature network ``f`` (dense layers) on top of the **frozen** face embedding — the paper
    fine-tunes the backbone itself; here the backbone is fixed so that fitting runs on CPU from
    stored embeddings — is trained with three heads, following Kim et al.'s formulation:

    * a primary head ``g`` (identity by default; gender or ethnicity with ``primary=``), trained
      with cross-entropy together with ``f``;
    * an emotion head ``h`` trained with cross-entropy to predict the expression from ``f(x)``;
      ``f`` receives that gradient through a gradient-reversal layer scaled by ``mu`` (ramped
      up with the DANN schedule ``2 / (1 + exp(-10 p)) - 1`` when ``grl_schedule="dann"``);
    * the mutual-information term: ``f`` minimises ``lambda_ * sum_b q(b|f(x)) log q(b|f(x))``,
      the negative entropy of ``h``'s posterior (``h`` held fixed for this term), on every row.

    ``transform`` returns ``f(x)``. Training stops early when the validation objective
    (primary cross-entropy + entropy term) has not improved for ``patience`` epochs; the best
    epoch's network is kept.

    Parameters
    ----------
    primary : {"subject", "gender", "ethnicity"}, default="subject"
        The task the features must keep; pass the matching label to ``fit``.
    hidden_layer_sizes : tuple of int, default=(512,)
        Hidden widths of ``f``.
    n_components : int or None, default=None
        Output dimension of ``f`` (``None``: the input dimension).
    activation : {"relu", "tanh", "identity"}, default="relu"
        Activation between ``f``'s layers (none after the last).
    emotion_hidden : tuple of int, default=()
        Hidden widths of ``h`` (empty: a softmax classifier).
    lambda_ : float, default=0.1
        Weight of the entropy (mutual-information) term.
    mu : float, default=1.0
        Scale of the reversed emotion gradient reaching ``f``.
    grl_schedule : {"dann", "constant"}, default="dann"
        Ramp of the reversal scale over training.
    max_epochs : int, default=20
        An epoch visits every training row with a primary label once.
    learning_rate : float, default=1e-3
        Adam learning rate (betas 0.9 / 0.999).
    batch_size : int, default=128
        Primary-labelled rows per batch; as many expression rows join each batch.
    validation_fraction : float, default=0.1
        Share of the labelled rows held out for early stopping.
    patience : int, default=3
    verbose : int, default=0
    random_state : int or None, default=None

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Layers of ``f`` (``coefs_[i]`` of shape ``(out, in)``).
    classes_ : ndarray
        Expression classes seen in fit.
    primary_classes_ : ndarray
    history_ : list of dict
        Per epoch: training losses, validation objective, primary and emotion accuracies.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
    """

    _array_attributes: ClassVar[tuple[str, ...]] = ("coefs_", "intercepts_")
    _json_attributes: ClassVar[tuple[str, ...]] = (
        "classes_",
        "primary_classes_",
        "history_",
        "n_iter_",
    )

    def __init__(
        self,
        *,
        primary: str = "subject",
        hidden_layer_sizes: tuple[int, ...] = (512,),
        n_components: int | None = None,
        activation: str = "relu",
        emotion_hidden: tuple[int, ...] = (),
        lambda_: float = 0.1,
        mu: float = 1.0,
        grl_schedule: str = "dann",
        max_epochs: int = 20,
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        validation_fraction: float = 0.1,
        patience: int = 3,
        verbose: int = 0,
        random_state: int | None = None,
    ) -> None:
        self.primary = primary
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_components = n_components
        self.activation = activation
        self.emotion_hidden = emotion_hidden
        self.lambda_ = lambda_
        self.mu = mu
        self.grl_schedule = grl_schedule
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.verbose = verbose
        self.random_state = random_state

    def fit(
        self,
        X: ArrayLike,
        y: None = None,
        *,
        expression: ArrayLike,
        subject: ArrayLike | None = None,
        gender: ArrayLike | None = None,
        ethnicity: ArrayLike | None = None,
    ) -> LearningNotToLearn:
        """Fit on ``X`` with per-row ``expression`` and the label of the ``primary`` task.

        Rows may miss either label (None / NaN / pd.NA): rows with a primary label train the
        primary head, rows with an expression train the emotion head; all feed the entropy term.
        """
        if self.primary not in PRIMARY_TASKS:
            raise ValueError(f"primary must be one of {PRIMARY_TASKS}, got {self.primary!r}")
        if self.grl_schedule not in SCHEDULES:
            raise ValueError(f"grl_schedule must be one of {SCHEDULES}, got {self.grl_schedule!r}")
        X = check_embeddings(X)
        n, d = X.shape
        expr = encode_labels(expression, n, "expression")
        labels = {"subject": subject, "gender": gender, "ethnicity": ethnicity}
        prim = encode_labels(labels[self.primary], n, self.primary)
        for name, value in labels.items():
            if name != self.primary:
                encode_labels(value, n, name)  # validated for a clear error, otherwise unused
        require_classes(expr, "expression", per_class=2)
        require_classes(prim, f"{self.primary} (primary={self.primary!r})")
        hidden = _torch.check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        emo_hidden = _torch.check_layer_sizes(self.emotion_hidden, "emotion_hidden")
        n_out = d if self.n_components is None else int(self.n_components)

        rng = check_random_state(self.random_state)
        prim_rows = np.flatnonzero(prim.present)
        emo_rows = np.flatnonzero(expr.present)
        prim_train, prim_val = split_rows(
            prim_rows, prim.codes[prim_rows], self.validation_fraction, rng
        )
        emo_train, emo_val = split_rows(
            emo_rows, expr.codes[emo_rows], self.validation_fraction, rng
        )
        Xt = torch.from_numpy(X)
        yp = torch.from_numpy(prim.codes)
        ye = torch.from_numpy(expr.codes)
        steps = max(1, -(-len(prim_train) // self.batch_size))
        total_steps = self.max_epochs * steps

        with _torch.seeded(rng.randint(2**31 - 1)):
            f = _torch.mlp((d, *hidden, n_out), self.activation)
            for layer in _torch.linear_layers(f):  # f_0 keeps the embedding's geometry
                nn.init.orthogonal_(layer.weight)
                nn.init.zeros_(layer.bias)
            g = nn.Linear(n_out, len(prim.classes))
            h = _torch.mlp((n_out, *emo_hidden, len(expr.classes)), "relu")
            params = [*f.parameters(), *g.parameters(), *h.parameters()]
            opt = torch.optim.Adam(params, lr=self.learning_rate, betas=(0.9, 0.999))
            history: list[dict] = []
            best = (np.inf, None)
            stalled = 0
            step = 0
            with _torch.progress_bar(
                total_steps, "Learning not to Learn", self.verbose > 0
            ) as advance:
                for epoch in range(self.max_epochs):
                    f.train(), g.train(), h.train()
                    sums = {"primary_loss": 0.0, "emotion_loss": 0.0, "neg_entropy": 0.0}
                    for batch in _torch.minibatches(len(prim_train), self.batch_size, rng):
                        rows_p = prim_train[batch.numpy()]
                        rows_e = rng.choice(
                            emo_train, min(self.batch_size, len(emo_train)), replace=False
                        )
                        scale = self.mu * (
                            _torch.dann_ramp(step / total_steps)
                            if self.grl_schedule == "dann"
                            else 1.0
                        )
                        z = f(Xt[np.concatenate([rows_p, rows_e])])
                        z_p, z_e = z[: len(rows_p)], z[len(rows_p) :]
                        primary_loss = F.cross_entropy(g(z_p), yp[rows_p])
                        emotion_loss = F.cross_entropy(
                            h(_torch.grad_reverse(z_e, scale)), ye[rows_e]
                        )
                        neg_entropy = _neg_entropy(h, z)
                        opt.zero_grad()
                        (primary_loss + emotion_loss + self.lambda_ * neg_entropy).backward()
                        opt.step()
                        step += 1
                        sums["primary_loss"] += primary_loss.item() / steps
                        sums["emotion_loss"] += emotion_loss.item() / steps
                        sums["neg_entropy"] += neg_entropy.item() / steps
                        advance(status=f"epoch {epoch + 1}")
                    record = {
                        "epoch": epoch + 1,
                        **sums,
                        **self._validate(f, g, h, Xt, yp, ye, prim_val, emo_val),
                    }
                    history.append(record)
                    if record["val_objective"] < best[0]:
                        best = (
                            record["val_objective"],
                            [p.detach().clone() for p in f.parameters()],
                        )
                        stalled = 0
                    else:
                        stalled += 1
                        if stalled >= self.patience:
                            break
            with torch.no_grad():
                for p, saved in zip(f.parameters(), best[1], strict=True):
                    p.copy_(saved)
        layers = _torch.linear_layers(f)
        self.coefs_ = [m.weight.detach().numpy().copy() for m in layers]
        self.intercepts_ = [m.bias.detach().numpy().copy() for m in layers]
        self.classes_ = expr.classes
        self.primary_classes_ = prim.classes
        self.history_ = history
        self.n_iter_ = len(history)
        self.n_features_in_ = d
        return self

    def _validate(self, f, g, h, Xt, yp, ye, prim_val, emo_val) -> dict[str, float]:
        f.eval(), g.eval(), h.eval()
        with torch.no_grad():
            z_p = f(Xt[prim_val])
            z_e = f(Xt[emo_val])
            primary_loss = float(F.cross_entropy(g(z_p), yp[prim_val]))
            neg_entropy = float(_neg_entropy(h, torch.cat([z_p, z_e])))
            return {
                "val_objective": primary_loss + self.lambda_ * neg_entropy,
                "val_primary_accuracy": _torch.accuracy(g, z_p, yp[prim_val]),
                "val_emotion_accuracy": _torch.accuracy(h, z_e, ye[emo_val]),
            }

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        last = len(self.coefs_) - 1
        return [
            (w, b, self.activation if i < last else "identity")
            for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True))
        ]


def _neg_entropy(h: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Mean ``sum_b q log q`` of ``h``'s posterior, with ``h``'s parameters held fixed."""
    frozen = {name: p.detach() for name, p in h.named_parameters()}
    log_q = torch.log_softmax(functional_call(h, frozen, (z,)), dim=1)
    return (log_q.exp() * log_q).sum(dim=1).mean()
