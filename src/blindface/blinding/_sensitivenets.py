"""SensitiveNets emotion blinding (Morales et al. 2020; Peña et al. 2020, Sec. III-B-1)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from blindface.blinding import _torch
from blindface.blinding._base import AffineBlinder
from blindface.blinding._validation import (
    check_embeddings,
    encode_labels,
    require_classes,
    split_rows,
)

#: images per subject in a triplet batch (FaceNet-style P x K sampling)
_IMAGES_PER_SUBJECT = 4


class SensitiveNets(AffineBlinder):
    """Learn a linear map ``phi`` that keeps identity and hides the facial expression.

    ``phi`` (the paper's ``w_E``) is a stack of dense layers with linear activations on top of
    the frozen face embedding. It is trained with a triplet loss on identity triplets (online
    semi-hard mining) plus, for every image in the batch, ``Delta = log(1 + |0.9 - P(neutral |
    phi(x))|)``, where ``P`` is an emotion classifier ``w3`` held fixed while ``phi`` trains.
    Rounds alternate (train ``phi`` against ``w3``) and (train a fresh ``w3`` on ``phi(x)``) until
    ``w3``'s accuracy on a held-out split of the expression rows stops falling (``patience``
    rounds) or ``max_rounds``; the round with the lowest accuracy is kept.

    Because every layer is linear, the fitted network folds into one affine map, which is what
    :meth:`transform` applies (``weight_``, ``bias_``).

    Choices where the paper leaves room (documented, not hidden):

    * ``w3`` is "trained on x": the layers are initialised (semi-)orthogonally, so the initial
      ``phi_0`` is an isometric embedding of ``x`` (all distances and angles kept) and ``w3`` is
      trained on ``phi_0(x)``, i.e. on ``x`` in rotated coordinates.
    * ``w3`` sees ``phi(x)`` standardised with the statistics of the rows it was trained on
      (a frozen part of ``w3``), so ``phi`` cannot evade it by rescaling.
    * The triplet loss uses L2-normalised ``phi(x)`` (squared distances, FaceNet's margin).
    * ``similarity_weight`` adds an optional term, absent from the paper, that keeps the cosine
      similarities of the batch close to those of the input embeddings; it protects verification
      on identities never seen in training. ``0`` is the paper's loss.
    * ``compact=True`` stores the folded map in orthonormal coordinates of its range: the output
      has ``d_in + 1`` dimensions instead of ``hidden_layer_sizes[-1]`` but exactly the same norms,
      dot products, cosines and distances as the network's output (an isometry), so every
      distance-, angle- or linear-probe-based use is unchanged and transform is ~8x cheaper.
      :meth:`forward_network` gives the network's own output.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(1024, 1024, 1024)
        Widths of the dense layers of ``phi``; the last is the network's output dimension.
    margin : float, default=0.2
        Triplet margin on squared distances of L2-normalised outputs.
    triplet_weight, neutral_weight, similarity_weight : float, default=1.0, 1.0, 0.0
        Weights of the triplet loss, of the ``Delta`` term (mean over images, times 3 as in
        ``Delta_A + Delta_P + Delta_N``) and of the optional cosine-preservation term.
    neutral_target : float, default=0.9
        The neutral probability ``Delta`` pulls every image towards.
    neutral : str or int, default="neutral"
        The expression label of the neutral class.
    classifier_hidden : tuple of int, default=()
        Hidden widths of ``w3`` (ReLU); empty for a softmax (linear) classifier.
    max_rounds : int, default=3
        Maximum number of min-max rounds.
    epochs : int, default=1
        Epochs of ``phi`` training per round (an epoch visits about every identity row once).
    classifier_epochs : int, default=30
        Epochs of each ``w3`` training.
    learning_rate : float, default=1e-3
        Adam learning rate (betas 0.9 / 0.999) for ``phi`` and ``w3``.
    batch_size : int, default=128
        Identity rows per triplet batch; as many expression rows join each batch.
    validation_fraction : float, default=0.2
        Share of the expression rows held out to measure ``w3``'s accuracy (early stopping).
    patience : int, default=1
        Rounds without a fall of the validation accuracy before stopping.
    compact : bool, default=True
        Store the folded map in ``d_in + 1`` isometric coordinates (see above).
    verbose : int, default=0
        Show a progress bar when > 0.
    random_state : int or None, default=None
        Seed of initialisation, splits and batches (fit is deterministic given it).

    Attributes
    ----------
    weight_, bias_ : ndarray
        The folded map: ``transform(X) = X @ weight_.T + bias_``.
    coefs_, intercepts_ : list of ndarray
        The network's layers (``coefs_[i]`` of shape ``(out, in)``).
    classes_ : ndarray
        Expression classes seen in fit.
    history_ : list of dict
        Per round (round 0 is before training ``phi``): mean triplet, Delta and similarity
        losses, ``w3``'s last training loss and its validation accuracy.
    best_round_ : int
        The round whose network was kept.
    n_features_in_ : int
        Input dimension.
    """

    _array_attributes: ClassVar[tuple[str, ...]] = ("weight_", "bias_", "coefs_", "intercepts_")
    _json_attributes: ClassVar[tuple[str, ...]] = ("classes_", "history_", "best_round_")

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple[int, ...] = (1024, 1024, 1024),
        margin: float = 0.2,
        triplet_weight: float = 1.0,
        neutral_weight: float = 1.0,
        similarity_weight: float = 0.0,
        neutral_target: float = 0.9,
        neutral: str | int = "neutral",
        classifier_hidden: tuple[int, ...] = (),
        max_rounds: int = 3,
        epochs: int = 1,
        classifier_epochs: int = 30,
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        validation_fraction: float = 0.2,
        patience: int = 1,
        compact: bool = True,
        verbose: int = 0,
        random_state: int | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.margin = margin
        self.triplet_weight = triplet_weight
        self.neutral_weight = neutral_weight
        self.similarity_weight = similarity_weight
        self.neutral_target = neutral_target
        self.neutral = neutral
        self.classifier_hidden = classifier_hidden
        self.max_rounds = max_rounds
        self.epochs = epochs
        self.classifier_epochs = classifier_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.compact = compact
        self.verbose = verbose
        self.random_state = random_state

    def fit(
        self,
        X: ArrayLike,
        y: None = None,
        *,
        expression: ArrayLike,
        subject: ArrayLike | None = None,
    ) -> SensitiveNets:
        """Fit on embeddings ``X`` with per-row ``expression`` and ``subject`` labels.

        Either label may be missing per row (None / NaN / pd.NA): rows with a subject feed the
        triplet loss, rows with an expression train ``w3``; ``Delta`` applies to both (every
        image of a triplet batch and of the expression batch that joins it). Rows with neither
        label are not used.
        """
        X = check_embeddings(X)
        n, d = X.shape
        expr = encode_labels(expression, n, "expression")
        subj = encode_labels(subject, n, "subject")
        require_classes(expr, "expression", per_class=2)
        counts = subj.counts()
        if int((counts >= 2).sum()) < 2:
            raise ValueError(
                "SensitiveNets needs identity triplets: subject labels for at least 2 subjects "
                f"with 2 or more rows each, got {int((counts >= 2).sum())}"
            )
        matches = np.flatnonzero(expr.classes.astype(str) == str(self.neutral))
        if matches.size != 1:
            raise ValueError(
                f"neutral={self.neutral!r} is not one of the expression classes "
                f"{expr.classes.tolist()}: set neutral= to the label of the neutral class"
            )
        neutral_index = int(matches[0])
        if self.max_rounds < 1 or self.epochs < 1:
            raise ValueError("max_rounds and epochs must be at least 1")
        sizes = _torch.check_layer_sizes(
            self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=False
        )
        w3_hidden = _torch.check_layer_sizes(self.classifier_hidden, "classifier_hidden")

        rng = check_random_state(self.random_state)
        emotion_rows = np.flatnonzero(expr.present)
        train_rows, val_rows = split_rows(
            emotion_rows, expr.codes[emotion_rows], self.validation_fraction, rng
        )
        groups = [np.flatnonzero(subj.codes == c) for c in np.flatnonzero(counts >= 2)]
        n_pair_rows = sum(len(g) for g in groups)
        steps = max(1, -(-n_pair_rows // self.batch_size))

        Xt = torch.from_numpy(X)
        y_train = torch.from_numpy(expr.codes[train_rows])
        y_val = torch.from_numpy(expr.codes[val_rows])
        n_classes = len(expr.classes)

        with _torch.seeded(rng.randint(2**31 - 1)):
            net = _isometric_network((d, *sizes))

            def new_classifier() -> tuple[nn.Module, dict]:
                with torch.no_grad():
                    Z = net(Xt)
                w3 = nn.Sequential(
                    _Standardize(Z[train_rows]),
                    _torch.mlp((sizes[-1], *w3_hidden, n_classes), "relu"),
                )
                loss = _torch.train_classifier(
                    w3,
                    Z[train_rows],
                    y_train,
                    epochs=self.classifier_epochs,
                    batch_size=self.batch_size,
                    learning_rate=self.learning_rate,
                    rng=rng,
                )
                stats = {
                    "classifier_loss": loss,
                    "emotion_val_accuracy": _torch.accuracy(w3, Z[val_rows], y_val),
                }
                return w3, stats

            w3, stats = new_classifier()
            history = [{"round": 0, **stats}]
            best_acc, best_round, best_state, stalled = np.inf, 0, None, 0
            opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate, betas=(0.9, 0.999))
            total = self.max_rounds * self.epochs * steps
            with _torch.progress_bar(total, "SensitiveNets", self.verbose > 0) as advance:
                for round_ in range(1, self.max_rounds + 1):
                    w3.requires_grad_(False)
                    losses = []
                    for _ in range(self.epochs * steps):
                        id_batch = _pk_batch(groups, self.batch_size, rng)
                        emo_batch = rng.choice(
                            train_rows, min(self.batch_size, len(train_rows)), replace=False
                        )
                        opt.zero_grad()
                        parts = self._phi_loss(
                            net, w3, Xt, id_batch, emo_batch, subj.codes, neutral_index
                        )
                        sum(parts.values()).backward()
                        opt.step()
                        losses.append({k: float(v.detach()) for k, v in parts.items()})
                        advance(status=f"round {round_}")
                    w3, stats = new_classifier()
                    means = {k: float(np.mean([step[k] for step in losses])) for k in losses[0]}
                    history.append({"round": round_, **means, **stats})
                    acc = stats["emotion_val_accuracy"]
                    if acc < best_acc:
                        best_acc, best_round, stalled = acc, round_, 0
                        best_state = [p.detach().clone() for p in net.parameters()]
                    else:
                        stalled += 1
                    if stalled >= self.patience:
                        break
        with torch.no_grad():
            for p, best in zip(net.parameters(), best_state, strict=True):
                p.copy_(best)
        layers = _torch.linear_layers(net)
        self.coefs_ = [m.weight.detach().numpy().astype(np.float32) for m in layers]
        self.intercepts_ = [m.bias.detach().numpy().astype(np.float32) for m in layers]
        weight, bias = fold(self.coefs_, self.intercepts_)
        if self.compact:
            weight, bias = compact_affine(weight, bias)
        self.weight_ = weight.astype(np.float32)
        self.bias_ = bias.astype(np.float32)
        self.classes_ = expr.classes
        self.history_ = history
        self.best_round_ = best_round
        self.n_features_in_ = d
        return self

    def _phi_loss(
        self,
        net: nn.Module,
        w3: nn.Module,
        Xt: torch.Tensor,
        id_batch: np.ndarray,
        emo_batch: np.ndarray,
        subjects: np.ndarray,
        neutral_index: int,
    ) -> dict[str, torch.Tensor]:
        x = Xt[np.concatenate([id_batch, emo_batch])]
        z = net(x)
        z_id = F.normalize(z[: len(id_batch)], dim=1)
        labels = torch.from_numpy(subjects[id_batch])
        parts = {
            "triplet_loss": self.triplet_weight * semihard_triplet_loss(z_id, labels, self.margin)
        }
        p_neutral = torch.softmax(w3(z), dim=1)[:, neutral_index]
        delta = torch.log1p((self.neutral_target - p_neutral).abs())
        parts["neutral_loss"] = self.neutral_weight * 3.0 * delta.mean()
        if self.similarity_weight:
            zn, xn = F.normalize(z, dim=1), F.normalize(x, dim=1)
            parts["similarity_loss"] = self.similarity_weight * F.mse_loss(zn @ zn.T, xn @ xn.T)
        return parts

    def forward_network(self, X: ArrayLike) -> np.ndarray:
        """The unfolded network's output (``hidden_layer_sizes[-1]`` dims), layer by layer."""
        check_is_fitted(self)
        out = check_embeddings(X, n_features=self.n_features_in_, owner="SensitiveNets")
        for weight, bias in zip(self.coefs_, self.intercepts_, strict=True):
            out = out @ weight.T + bias
        return out


class _Standardize(nn.Module):
    """Frozen per-feature standardisation with the statistics of ``Z``."""

    def __init__(self, Z: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", Z.mean(dim=0))
        self.register_buffer("scale", Z.std(dim=0).clamp_min(1e-6))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.scale


def _isometric_network(sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear layers initialised (semi-)orthogonally with zero bias: ``phi_0`` keeps distances
    whenever the widths never shrink below the input dimension."""
    net = _torch.mlp(sizes, "identity")
    for layer in _torch.linear_layers(net):
        nn.init.orthogonal_(layer.weight)
        nn.init.zeros_(layer.bias)
    return net


def _pk_batch(groups: list[np.ndarray], batch_size: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows of ``batch_size // 4`` random subjects, up to 4 random rows each."""
    n_subjects = min(len(groups), max(2, batch_size // _IMAGES_PER_SUBJECT))
    chosen = rng.choice(len(groups), n_subjects, replace=False)
    rows = [
        rng.choice(groups[g], min(_IMAGES_PER_SUBJECT, len(groups[g])), replace=False)
        for g in chosen
    ]
    return np.concatenate(rows)


def semihard_triplet_loss(z: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Triplet loss with online semi-hard negatives (FaceNet; TensorFlow Addons' variant).

    For every anchor-positive pair the negative is the closest one farther than the positive;
    when none is, the farthest negative. Distances are squared Euclidean.
    """
    dist = torch.cdist(z, z).pow(2)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(z), dtype=torch.bool)
    negative = ~same
    d_ap = dist[:, :, None]
    d_an = dist[:, None, :]
    semihard = negative[:, None, :] & (d_an > d_ap)
    outside = torch.where(semihard, d_an, torch.full_like(d_an, torch.inf)).amin(dim=2)
    inside = torch.where(negative, dist, torch.full_like(dist, -torch.inf)).amax(dim=1)
    chosen = torch.where(semihard.any(dim=2), outside, inside[:, None])
    return F.relu(dist - chosen + margin)[positive].mean()


def fold(coefs: list[np.ndarray], intercepts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Compose linear layers ``x -> W_k(...(W_1 x + b_1)...) + b_k`` into one float64 ``(W, b)``."""
    weight = np.eye(coefs[0].shape[1])
    bias = np.zeros(coefs[0].shape[1])
    for w, b in zip(coefs, intercepts, strict=True):
        w = w.astype(np.float64)
        weight, bias = w @ weight, w @ bias + b
    return weight, bias


def compact_affine(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isometric ``d_in + 1``-dimensional coordinates of the affine map ``x -> W x + b``.

    With ``U`` an orthonormal basis of a ``d_in``-dimensional space holding ``range(W)``, the
    output ``W x + b`` is ``U (U^T W x + U^T b) + r`` with ``r`` orthogonal to ``U`` and fixed, so
    ``[U^T W x + U^T b, |r|]`` has the same norms and dot products as ``W x + b``.
    """
    d_out, d_in = weight.shape
    if d_out <= d_in + 1:
        return weight, bias
    basis = np.linalg.svd(weight, full_matrices=False)[0]
    inner = basis.T @ bias
    residual = np.linalg.norm(bias - basis @ inner)
    return (
        np.vstack([basis.T @ weight, np.zeros((1, d_in))]),
        np.append(inner, residual),
    )
