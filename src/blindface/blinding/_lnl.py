"""Learning not to Learn (Kim et al. 2019), as adapted by Peña et al. 2020 (Sec. III-B-2)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
HEADS = ("cosine", "linear")
ACTIVATIONS = ("relu", "identity")


class LearningNotToLearn(Blinder):
    """Features that serve a primary task and carry minimal information about the expression.

    A feature network ``f`` on top of the **frozen** face embedding is trained with three heads,
    following Kim et al.'s formulation:

    * a primary head ``g`` (identity by default; gender or ethnicity with ``primary=``), trained
      with cross-entropy together with ``f``;
    * an emotion head ``h`` trained with cross-entropy to predict the expression from ``f(x)``;
      ``f`` receives that gradient through a gradient-reversal layer scaled by ``mu`` (ramped
      up with the DANN schedule ``2 / (1 + exp(-10 p)) - 1`` when ``grl_schedule="dann"``);
    * the mutual-information term: ``f`` minimises ``lambda_ * sum_b q(b|f(x)) log q(b|f(x))``,
      the negative entropy of ``h``'s posterior (``h`` held fixed for this term), on every row.

    ``transform`` returns ``f(x)``.

    Deviations from the papers, each there to keep the general-purpose geometry of a pretrained
    embedding (a network trained from scratch with identity cross-entropy on a few thousand
    identities forgets how to compare faces it never saw):

    * The backbone is frozen (the papers fine-tune it), so fitting runs on CPU from stored
      embeddings.
    * ``f`` is residual, ``f(x) = x + r(x)``, with ``r`` a small MLP whose last layer starts at
      zero: training starts from the embedding itself rather than a random network. (It is
      stored as plain dense layers: the skip path travels as ``relu(x) - relu(-x)``.)
    * ``primary_head="cosine"`` (default) scores classes by the scaled cosine between
      ``f(x)`` and a weight per class, initialised at the class's mean direction (a normalised
      softmax, as verification compares faces by cosine); ``"linear"`` is the papers' plain
      softmax layer.
    * ``similarity_weight`` adds a term absent from the papers: the squared gap between the
      cosine similarities of ``f(x)`` and of ``x`` within each batch of identity rows, which
      keeps the map's behaviour on faces of people outside the training set.
    * The primary loss also covers the expression rows that carry the primary label (e.g. the
      CK+ subjects), so images of one person with different expressions are pulled together.
    * ``gaussian_mi_weight`` adds a closed-form stand-in for the mutual information
      ``I(f(x); expression)``: the MI if each expression were Gaussian with a shared covariance,
      ``(log det S_total - log det S_within) / 2``, computed on all training expression rows
      at every step (shrinkage ``mi_shrinkage``). On real embeddings the adversarial terms alone
      fool the current ``h`` without removing what a fresh probe reads (measured on SFace: the
      CK+ probes barely move); this term removes the linearly readable part, like LEACE but
      traded off against the primary task. It does not see class-conditional variance (a
      sign-symmetric code): that part is left to ``h`` and the gradient reversal. ``0``: the
      papers' loss.
    * ``h`` standardises its input (batch statistics), as the probes that measure leakage do.
    * Early stopping watches a validation split of both label sets (epoch 0, the identity map,
      included): the kept epoch minimises ``val_primary_loss + emotion_weight *
      val_emotion_accuracy``, the emotion accuracy being the better of a shrinkage-LDA and a
      5-NN probe fit afresh on ``f(x)`` of the training expression rows and scored on held-out
      subjects (a fooled ``h`` says little about leakage).
    * Training runs on one torch thread (small networks), so the fit does not depend on the
      caller's thread count.

    Parameters
    ----------
    primary : {"subject", "gender", "ethnicity"}, default="subject"
        The task the features must keep; pass the matching label to ``fit``.
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden widths of the residual branch ``r`` (empty: ``f`` is affine).
    activation : {"relu", "identity"}, default="relu"
        Activation between the branch's layers (``"identity"``: ``f`` is affine).
    primary_head : {"cosine", "linear"}, default="cosine"
    cosine_scale : float, default=16.0
        Scale ``s`` of the cosine head's logits.
    emotion_hidden : tuple of int, default=(128,)
        Hidden widths of ``h`` (empty: a softmax classifier).
    lambda_ : float, default=1.0
        Weight of the entropy (mutual-information) term.
    mu : float, default=1.0
        Scale of the reversed emotion gradient reaching ``f``.
    similarity_weight : float, default=1.0
        Weight of the cosine-preservation term (0: the papers' loss).
    gaussian_mi_weight : float, default=3.0
        Weight of the Gaussian mutual-information term (0: the papers' loss).
    mi_shrinkage : float, default=0.01
        Ridge added to both covariances of that term, as a fraction of the mean variance.
    grl_schedule : {"dann", "constant"}, default="dann"
        Ramp of the reversal scale over training.
    max_epochs : int, default=10
        An epoch visits every training row with a primary label once.
    learning_rate : float, default=1e-3
        Adam learning rate (betas 0.9 / 0.999).
    batch_size : int, default=256
        Primary-labelled rows per batch; as many expression rows join each batch.
    validation_fraction : float, default=0.1
        Share of the labelled rows held out for early stopping.
    emotion_weight : float, default=3.0
        Weight of the validation emotion accuracy in the early-stopping criterion.
    patience : int, default=3
    verbose : int, default=0
    random_state : int or None, default=None

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Layers of the residual branch ``r`` (``coefs_[i]`` of shape ``(out, in)``).
    classes_ : ndarray
        Expression classes seen in fit.
    primary_classes_ : ndarray
    history_ : list of dict
        Per epoch: training losses and validation scores (epoch 0: before training).
    best_epoch_ : int
        The epoch whose network was kept.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
    """

    _array_attributes: ClassVar[tuple[str, ...]] = ("coefs_", "intercepts_")
    _json_attributes: ClassVar[tuple[str, ...]] = (
        "classes_",
        "primary_classes_",
        "history_",
        "best_epoch_",
        "n_iter_",
    )

    def __init__(
        self,
        *,
        primary: str = "subject",
        hidden_layer_sizes: tuple[int, ...] = (256,),
        activation: str = "relu",
        primary_head: str = "cosine",
        cosine_scale: float = 16.0,
        emotion_hidden: tuple[int, ...] = (128,),
        lambda_: float = 1.0,
        mu: float = 1.0,
        similarity_weight: float = 1.0,
        grl_schedule: str = "dann",
        max_epochs: int = 10,
        learning_rate: float = 1e-3,
        batch_size: int = 256,
        validation_fraction: float = 0.1,
        emotion_weight: float = 3.0,
        gaussian_mi_weight: float = 3.0,
        mi_shrinkage: float = 0.01,
        patience: int = 3,
        verbose: int = 0,
        random_state: int | None = None,
    ) -> None:
        self.primary = primary
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.primary_head = primary_head
        self.cosine_scale = cosine_scale
        self.emotion_hidden = emotion_hidden
        self.lambda_ = lambda_
        self.mu = mu
        self.similarity_weight = similarity_weight
        self.grl_schedule = grl_schedule
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.emotion_weight = emotion_weight
        self.gaussian_mi_weight = gaussian_mi_weight
        self.mi_shrinkage = mi_shrinkage
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
        for name, value, allowed in (
            ("primary", self.primary, PRIMARY_TASKS),
            ("grl_schedule", self.grl_schedule, SCHEDULES),
            ("primary_head", self.primary_head, HEADS),
            ("activation", self.activation, ACTIVATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
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

        rng = check_random_state(self.random_state)
        prim_rows = np.flatnonzero(prim.present)
        emo_rows = np.flatnonzero(expr.present)
        prim_train, prim_val = split_rows(
            prim_rows, prim.codes[prim_rows], self.validation_fraction, rng
        )
        emo_train, emo_val = _split_by_subject(
            emo_rows,
            expr.codes,
            encode_labels(subject, n, "subject").codes,
            self.validation_fraction,
            rng,
        )
        Xt = torch.from_numpy(X)
        yp = torch.from_numpy(prim.codes)
        ye = torch.from_numpy(expr.codes)
        steps = max(1, -(-len(prim_train) // self.batch_size))
        total_steps = self.max_epochs * steps

        with _torch.seeded(rng.randint(2**31 - 1)), _one_thread():
            f = _Residual(d, hidden, self.activation)
            g = self._primary_head(Xt[prim_train], yp[prim_train], len(prim.classes))
            h = nn.Sequential(
                nn.BatchNorm1d(d, affine=False),
                _torch.mlp((d, *emo_hidden, len(expr.classes)), "relu"),
            )
            params = [*f.parameters(), *g.parameters(), *h.parameters()]
            opt = torch.optim.Adam(params, lr=self.learning_rate, betas=(0.9, 0.999))
            history = [
                {"epoch": 0, **self._validate(f, g, Xt, yp, ye, prim_val, emo_train, emo_val)}
            ]
            best = (self._criterion(history[0]), 0, _snapshot(f))
            stalled = 0
            step = 0
            with _torch.progress_bar(
                total_steps, "Learning not to Learn", self.verbose > 0
            ) as advance:
                for epoch in range(1, self.max_epochs + 1):
                    f.train(), g.train(), h.train()
                    sums = dict.fromkeys(
                        (
                            "primary_loss",
                            "emotion_loss",
                            "neg_entropy",
                            "similarity_loss",
                            "gaussian_mi",
                        ),
                        0.0,
                    )
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
                        x = Xt[np.concatenate([rows_p, rows_e])]
                        z = f(x)
                        z_p, z_e = z[: len(rows_p)], z[len(rows_p) :]
                        both = np.concatenate([rows_p, rows_e])
                        labelled = torch.from_numpy(prim.present[both])
                        losses = {
                            "primary_loss": F.cross_entropy(g(z[labelled]), yp[both][labelled]),
                            "emotion_loss": F.cross_entropy(
                                h(_torch.grad_reverse(z_e, scale)), ye[rows_e]
                            ),
                            "neg_entropy": _neg_entropy(h, z),
                            "similarity_loss": _similarity_gap(z_p, x[: len(rows_p)]),
                        }
                        if self.gaussian_mi_weight:
                            losses["gaussian_mi"] = _gaussian_mi(
                                f(Xt[emo_train]),
                                ye[emo_train],
                                len(expr.classes),
                                self.mi_shrinkage,
                            )
                        opt.zero_grad()
                        (
                            losses["primary_loss"]
                            + losses["emotion_loss"]
                            + self.lambda_ * losses["neg_entropy"]
                            + self.similarity_weight * losses["similarity_loss"]
                            + self.gaussian_mi_weight * losses.get("gaussian_mi", 0.0)
                        ).backward()
                        opt.step()
                        step += 1
                        for key, value in losses.items():
                            sums[key] += value.item() / steps
                        advance(status=f"epoch {epoch}")
                    record = {
                        "epoch": epoch,
                        **sums,
                        **self._validate(f, g, Xt, yp, ye, prim_val, emo_train, emo_val),
                    }
                    history.append(record)
                    if self._criterion(record) < best[0]:
                        best = (self._criterion(record), epoch, _snapshot(f))
                        stalled = 0
                    else:
                        stalled += 1
                        if stalled >= self.patience:
                            break
        layers = _torch.linear_layers(f.branch)
        state = best[2]
        self.coefs_ = [state[f"branch.{_layer_key(f.branch, m)}.weight"] for m in layers]
        self.intercepts_ = [state[f"branch.{_layer_key(f.branch, m)}.bias"] for m in layers]
        self.classes_ = expr.classes
        self.primary_classes_ = prim.classes
        self.history_ = history
        self.best_epoch_ = best[1]
        self.n_iter_ = len(history) - 1
        self.n_features_in_ = d
        return self

    def _primary_head(self, X: torch.Tensor, y: torch.Tensor, n_classes: int) -> nn.Module:
        if self.primary_head == "linear":
            return nn.Linear(X.shape[1], n_classes)
        centres = torch.zeros(n_classes, X.shape[1]).index_add_(0, y, F.normalize(X, dim=1))
        return _CosineHead(centres, self.cosine_scale)

    def _criterion(self, record: dict) -> float:
        emotion = record["val_emotion_accuracy"]
        return record["val_primary_loss"] + self.emotion_weight * np.nan_to_num(emotion)

    def _validate(self, f, g, Xt, yp, ye, prim_val, emo_train, emo_val) -> dict[str, float]:
        f.eval(), g.eval()
        with torch.no_grad():
            z_p = f(Xt[prim_val])
            primary_loss = float(F.cross_entropy(g(z_p), yp[prim_val]))
            primary_acc = _torch.accuracy(g, z_p, yp[prim_val])
            emotion_acc = _probe_accuracy(
                f(Xt[emo_train]).numpy(),
                ye[emo_train].numpy(),
                f(Xt[emo_val]).numpy(),
                ye[emo_val].numpy(),
            )
        return {
            "val_primary_loss": primary_loss,
            "val_primary_accuracy": primary_acc,
            "val_emotion_accuracy": emotion_acc,
        }

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """``x + r(x)`` as dense layers: hidden units ``[r's units, relu(x), relu(-x)]``."""
        d = self.n_features_in_
        eye = np.eye(d, dtype=self.coefs_[0].dtype)
        if len(self.coefs_) == 1 or self.activation == "identity":
            branch_w, branch_b = np.eye(d), np.zeros(d)
            for w, b in zip(self.coefs_, self.intercepts_, strict=True):
                branch_w, branch_b = w @ branch_w, w @ branch_b + b
            return [
                ((np.eye(d) + branch_w).astype(eye.dtype), branch_b.astype(eye.dtype), "identity")
            ]
        layers = []
        last = len(self.coefs_) - 1
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            if i == 0:
                w_full = np.vstack([w, eye, -eye])
            elif i < last:
                w_full = _block_diag(w, np.eye(2 * d, dtype=eye.dtype))
            else:
                w_full = np.hstack([w, eye, -eye])
            b_full = b if i == last else np.concatenate([b, np.zeros(2 * d, dtype=b.dtype)])
            layers.append((w_full, b_full, "relu" if i < last else "identity"))
        return layers


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Train on one torch thread: the networks are small, so this is as fast (much faster on a
    busy machine) and the fitted weights do not depend on the caller's thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Residual(nn.Module):
    """``x + r(x)`` with the last layer of ``r`` at zero: the identity map at initialisation."""

    def __init__(self, d: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.branch = _torch.mlp((d, *hidden, d), activation)
        last = _torch.linear_layers(self.branch)[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class _CosineHead(nn.Module):
    """Normalised softmax: logits ``s * cos(z, w_k)``."""

    def __init__(self, centres: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(F.normalize(centres, dim=1))
        self.scale = float(scale)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).T


def _snapshot(net: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def _layer_key(net: nn.Sequential, layer: nn.Linear) -> str:
    return next(name for name, m in net.named_children() if m is layer)


def _block_diag(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]), dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    out[a.shape[0] :, a.shape[1] :] = b
    return out


def _neg_entropy(h: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Mean ``sum_b q log q`` of ``h``'s posterior, with ``h``'s parameters held fixed."""
    frozen = {name: p.detach() for name, p in h.named_parameters()}
    frozen.update(dict(h.named_buffers()))
    log_q = torch.log_softmax(functional_call(h, frozen, (z,)), dim=1)
    return (log_q.exp() * log_q).sum(dim=1).mean()


def _gaussian_mi(
    z: torch.Tensor, y: torch.Tensor, n_classes: int, shrinkage: float
) -> torch.Tensor:
    """Mutual information between ``z`` and the class ``y`` if each class were Gaussian with a
    shared covariance: ``(log det S_total - log det S_within) / 2``, both shrunk towards
    ``shrinkage * mean variance * I`` (invariant to invertible linear maps of ``z``)."""
    counts = torch.bincount(y, minlength=n_classes).clamp_min(1).to(z.dtype)
    means = torch.zeros(n_classes, z.shape[1], dtype=z.dtype).index_add_(0, y, z) / counts[:, None]
    total = z - z.mean(dim=0)
    within = z - means[y]
    s_total = total.T @ total / len(z)
    s_within = within.T @ within / len(z)
    ridge = shrinkage * torch.diagonal(s_total).mean() * torch.eye(z.shape[1], dtype=z.dtype)
    return 0.5 * (torch.logdet(s_total + ridge) - torch.logdet(s_within + ridge))


def _similarity_gap(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared gap between the pairwise cosine similarities of ``z`` and of ``x``."""
    zn, xn = F.normalize(z, dim=1), F.normalize(x, dim=1)
    return F.mse_loss(zn @ zn.T, xn @ xn.T)


def _split_by_subject(
    rows: np.ndarray,
    codes: np.ndarray,
    subjects: np.ndarray,
    fraction: float,
    rng: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Train / validation expression rows with no subject on both sides where every row has a
    subject and there are enough subjects; otherwise a stratified split of the rows."""
    groups = subjects[rows]
    unique = np.unique(groups)
    if (groups < 0).any() or len(unique) < 4:
        return split_rows(rows, codes[rows], fraction, rng)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    n_val = min(len(unique) - 2, max(2, round(fraction * len(unique))))
    held = rng.permutation(unique)[:n_val]
    is_val = np.isin(groups, held)
    return rows[~is_val], rows[is_val]


def _probe_accuracy(Z_train, y_train, Z_val, y_val) -> float:
    """Held-out accuracy of the better of two fresh probes, a linear one (shrinkage LDA) and a
    non-linear one (5-NN on standardised features), both cheap enough to run every epoch; nan
    without validation rows."""
    if len(y_val) == 0 or len(np.unique(y_train)) < 2:
        return float("nan")
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probes = (
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
        make_pipeline(StandardScaler(), KNeighborsClassifier(min(5, len(y_train)))),
    )
    return max(float(p.fit(Z_train, y_train).score(Z_val, y_val)) for p in probes)
