"""SensitiveNets emotion blinding (Morales et al. 2020; Peña et al. 2020, Sec. III-B-1).

About 400 lines: the paper's method as one unit (the estimator, its min-max trainer with the
triplet and ``Delta`` losses, and the adversary ``w3`` retrained between rounds), so that it
can be read against Sec. III-B-1 in one file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from blindface.blinding import _params as P
from blindface.blinding._base import AffineBlinder, FitInput, fold
from blindface.blinding._validation import check_embeddings, split_rows
from blindface.blinding.formats._persistence import AttributeKind, Shape
from blindface.blinding.nn import _layers, _losses, _training
from blindface.blinding.nn._layers import Standardize, folded, isometric_network
from blindface.blinding.nn._losses import explained_variance, semihard_triplet_loss
from blindface.blinding.nn._sampling import pk_batch
from blindface.blinding.nn._training import train

Layers = list[tuple[np.ndarray, np.ndarray]]


class SensitiveNets(AffineBlinder):
    """Learn a linear map ``phi`` that keeps identity and hides the facial expression.

    ``phi`` (the paper's ``w_E``) is a stack of dense layers with linear activations on top of
    the frozen face embedding. It is trained with a triplet loss on identity triplets (online
    semi-hard mining) plus, for every image in the batch, ``Delta = log(1 + |0.9 - P(neutral |
    phi(x))|)``, where ``P`` is an emotion classifier ``w3`` held fixed while ``phi`` trains.
    Rounds alternate (train ``phi`` against ``w3``) and (train a fresh ``w3`` on ``phi(x)``) until
    ``w3``'s accuracy on a held-out split of the expression rows stops falling (``patience``
    rounds) or ``max_iter`` rounds; the round with the lowest accuracy is kept.

    Because every layer is linear, the fitted network folds into one affine map, which is what
    :meth:`transform` applies (``weight_``, ``bias_``), followed by L2 normalisation.

    Output: ``phi(x) - phi(mean_)``, in ``d_in`` orthonormal coordinates of its range (see
    ``compact``), L2-normalised, where ``mean_`` is the mean of the training rows. Why centred:
    the network's bias is free to shift every output along the direction ``w3`` reads as
    neutral, which is the cheapest way to push ``P(neutral)`` towards 0.9 for every image; the
    shift carries no information about the face, but left in the output it dominated it (on
    held-out faces the mean cosine between *different* people was 0.98), making a cosine
    threshold useless. The triplet loss is computed on the same centred, normalised outputs, so
    training optimises exactly what ``transform`` returns, and ``Delta`` keeps the shift.

    Choices where the paper leaves room (documented, not hidden):

    * ``w3`` is "trained on x": the layers are initialised (semi-)orthogonally, so the initial
      ``phi_0`` is an isometric embedding of ``x`` (all distances and angles kept) and ``w3`` is
      trained on ``phi_0(x)``, i.e. on ``x`` in rotated coordinates.
    * ``w3`` sees ``phi(x)`` standardised with the statistics of the rows it was trained on
      (a frozen part of ``w3``), so ``phi`` cannot evade it by rescaling.
    * The triplet loss uses L2-normalised, centred ``phi(x)`` (squared distances, FaceNet's
      margin).
    * ``Delta`` only asks that ``P(neutral)`` be 0.9; it is blind to how the remaining 0.1 is
      shared among the other expressions, so on its own it leaves them readable (measured on
      the planted-signal check at the former defaults: a fresh MLP probe still read 84-87 % of
      the expressions, chance 17 %). ``class_mean_weight`` adds a term absent from the paper:
      the share of the variance of ``phi(x)`` on the training expression rows explained by the
      expression (between-class over total scatter), so that ``phi`` learns to drop the
      directions in which expressions differ while the triplet loss keeps identity. ``0``: the
      paper's loss. The folded map is then made exactly blind to the expression means of the
      expression rows (``W <- W (I - Q Q^T)``, ``Q`` spanning the mean differences), which
      the trained layers approach but never reach (a direction shrunk 100-fold is still read
      by any probe that standardises its inputs).
    * ``similarity_weight`` adds a term, absent from the paper, that keeps the cosine
      similarities of the (centred) batch close to those of the (centred) input embeddings; it
      stops ``phi`` from stretching single directions to fool the fixed ``w3``. ``0`` is the
      paper's loss.
    * ``compact=True`` stores the folded map in ``d_in`` isometric coordinates (``V S V^T`` for
      ``W = U S V^T``): the same norms, dot products, cosines and distances as the (centred)
      network output, so every distance-, angle- or linear-probe-based use is unchanged and
      transform is ~8x cheaper; the axes stay close to the input's (see
      :func:`compact_linear`). :meth:`forward_network` gives the network's own output.
    * Rounds: ``max_iter=2`` rounds of at least ``min_steps`` steps; the former defaults (3
      rounds of ``ceil(rows / 128)`` steps) made about 10 steps on a few hundred rows.

    Fits in memory: it trains by SGD on the rows given (``fit_streaming`` refuses it; pass a
    sample of the rows).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(1024, 1024, 1024)
        Widths of the dense layers of ``phi``; the last is the network's output dimension.
    margin : float, default=0.2
        Triplet margin on squared distances of L2-normalised outputs.
    triplet_weight : float, default=1.0
        Weight of the triplet loss.
    neutral_weight : float, default=1.0
        Weight of the ``Delta`` term (mean over images, times 3 as in
        ``Delta_A + Delta_P + Delta_N``).
    class_mean_weight : float, default=3.0
        Weight of the expression-variance term (0: the paper's loss).
    similarity_weight : float, default=20.0
        Weight of the cosine-preservation term (0: the paper's loss). Measured on SFace
        embeddings, same/different-person cosine ROC AUC on held-out LFW people: fitted on
        JAFFE + CK+ + 300 LFW people (input 0.9980), 1 gave 0.9897, 5 0.9961, 20 0.9976;
        fitted on JAFFE + 30 LFW people (input 0.9999), 5 gave 0.9683, 20 0.9999.
    neutral_target : float, default=0.9
        The neutral probability ``Delta`` pulls every image towards.
    neutral : str or int, default="neutral"
        The expression label of the neutral class.
    classifier_hidden : tuple of int, default=()
        Hidden widths of ``w3`` (ReLU); empty for a softmax (linear) classifier.
    max_iter : int, default=2
        Maximum number of min-max rounds.
    epochs : int, default=1
        Epochs of ``phi`` training per round (an epoch visits about every identity row once,
        and is at least ``min_steps`` steps).
    min_steps : int, default=15
        Fewest ``phi`` steps per epoch, so that small training sets still train.
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
        Store the folded map in ``d_in`` isometric coordinates (see above).
    verbose : int, default=0
        Show a progress bar when > 0.
    random_state : int or None, default=None
        Seed of initialisation, splits and batches (fit is deterministic given it).

    Attributes
    ----------
    weight_, bias_ : ndarray
        The folded, centred map: ``transform(X)`` is ``X @ weight_.T + bias_``, L2-normalised.
    mean_ : ndarray of shape (d,)
        Mean of the training rows (``phi(mean_)`` is the origin of the output).
    coefs_, intercepts_ : list of ndarray
        The network's layers (``coefs_[i]`` of shape ``(out, in)``).
    classes_ : ndarray
        Expression classes seen in fit.
    history_ : list of dict
        Per round (round 0 is before training ``phi``): mean triplet, Delta and other losses,
        ``w3``'s last training loss and its validation accuracy.
    best_iter_ : int
        The round whose network was kept.
    n_iter_ : int
        Rounds run.
    n_features_in_ : int
        Input dimension.
    """

    coefs_: list[np.ndarray]
    intercepts_: list[np.ndarray]

    _arrays: ClassVar[Mapping[str, Shape]] = {
        "weight_": ("out", "in"),
        "bias_": ("out",),
        "mean_": ("in",),
    }
    _array_lists: ClassVar[tuple[str, ...]] = ("coefs_", "intercepts_")
    _attributes: ClassVar[Mapping[str, AttributeKind]] = {
        "classes_": "labels",
        "history_": "records",
        "best_iter_": "int",
        "n_iter_": "int",
    }
    _normalize_output: ClassVar[bool] = True
    _min_per_class: ClassVar[int] = 2

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {
        "hidden_layer_sizes": P.layers(min_items=1),
        "margin": P.Range(0, 10),
        "triplet_weight": P.WEIGHT,
        "neutral_weight": P.WEIGHT,
        "class_mean_weight": P.WEIGHT,
        "similarity_weight": P.WEIGHT,
        "neutral_target": P.Range(0, 1),
        "classifier_hidden": P.layers(),
        "max_iter": P.Range(1, P.MAX_EPOCHS),
        "epochs": P.Range(1, P.MAX_EPOCHS),
        "min_steps": P.Range(0, P.MAX_STEPS),
        "classifier_epochs": P.Range(1, P.MAX_EPOCHS),
        "learning_rate": P.LEARNING_RATE,
        "batch_size": P.BATCH_SIZE,
        "validation_fraction": P.FRACTION,
        "patience": P.Range(0, P.MAX_EPOCHS),
        "verbose": P.VERBOSE,
        "random_state": P.SEED,
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple[int, ...] = (1024, 1024, 1024),
        margin: float = 0.2,
        triplet_weight: float = 1.0,
        neutral_weight: float = 1.0,
        class_mean_weight: float = 3.0,
        similarity_weight: float = 20.0,
        neutral_target: float = 0.9,
        neutral: str | int = "neutral",
        classifier_hidden: tuple[int, ...] = (),
        max_iter: int = 2,
        epochs: int = 1,
        min_steps: int = 15,
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
        self.class_mean_weight = class_mean_weight
        self.similarity_weight = similarity_weight
        self.neutral_target = neutral_target
        self.neutral = neutral
        self.classifier_hidden = classifier_hidden
        self.max_iter = max_iter
        self.epochs = epochs
        self.min_steps = min_steps
        self.classifier_epochs = classifier_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.compact = compact
        self.verbose = verbose
        self.random_state = random_state

    def _fit(self, data: FitInput) -> None:
        """Fit on embeddings ``X`` with per-row ``expression`` and ``subject`` labels.

        Either label may be missing per row (None / NaN / pd.NA): rows with a subject feed the
        triplet loss, rows with an expression train ``w3``; ``Delta`` applies to both (every
        image of a triplet batch and of the expression batch that joins it). Rows with neither
        label are not used.
        """
        if self.epochs < 1 or self.min_steps < 1:
            raise ValueError(f"epochs and min_steps must be at least 1, got {self.epochs}")
        rng = check_random_state(self.random_state)
        trainer = _Trainer(self, data, rng)
        with _training.seeded(rng.randint(2**31 - 1)):
            trainer.prepare()
            result = train(
                trainer,
                max_iter=self.max_iter,
                description="SensitiveNets",
                keep="best",
                criterion=trainer.criterion,
                patience=self.patience,
                verbose=self.verbose,
                keep_initial=False,
            )
        coefs = [w for w, _ in result.best_state]
        intercepts = [b for _, b in result.best_state]
        weight = fold(coefs, intercepts)[0]
        basis = trainer.class_mean_basis()
        weight = weight - (weight @ basis) @ basis.T
        if self.compact:
            weight = compact_linear(weight)
        mean = trainer.mean
        self._set_fitted(
            data.n_features,
            data.expression.classes,
            coefs_=coefs,
            intercepts_=intercepts,
            mean_=mean.astype(np.float32),
            weight_=weight.astype(np.float32),
            bias_=(-weight @ mean).astype(np.float32),
            history_=result.history,
            best_iter_=result.best_iter,
            n_iter_=result.n_iter,
        )

    def forward_network(self, X: ArrayLike) -> np.ndarray:
        """The unfolded network's raw output ``phi(x)`` (``hidden_layer_sizes[-1]`` dims, not
        centred or normalised), layer by layer."""
        check_is_fitted(self)
        out = check_embeddings(X, n_features=self.n_features_in_, owner="SensitiveNets")
        for weight, bias in zip(self.coefs_, self.intercepts_, strict=True):
            out = out @ weight.T + bias
        return out


class _Trainer:
    """SensitiveNets' training for :func:`~blindface.blinding.nn._training.train`: an iteration is
    a round of ``phi`` steps against a fixed ``w3``; validation retrains ``w3`` on ``phi(x)``
    and scores it on held-out expression rows."""

    def __init__(self, model: SensitiveNets, data: FitInput, rng: np.random.RandomState) -> None:
        self.model, self.data, self.rng = model, data, rng
        expr, subj = data.expression, data.subject
        matches = np.flatnonzero(expr.classes.astype(str) == str(model.neutral))
        if matches.size != 1:
            raise ValueError(
                f"neutral={model.neutral!r} is not one of the expression classes "
                f"{expr.classes.tolist()}: set neutral= to the label of the neutral class"
            )
        self.neutral_index = int(matches[0])
        counts = subj.counts()
        if int((counts >= 2).sum()) < 2:
            raise ValueError(
                "SensitiveNets needs identity triplets: subject labels for at least 2 subjects "
                f"with 2 or more rows each, got {int((counts >= 2).sum())}"
            )
        self.sizes = _layers.check_layer_sizes(
            model.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=False
        )
        self.w3_hidden = _layers.check_layer_sizes(model.classifier_hidden, "classifier_hidden")
        emotion_rows = np.flatnonzero(expr.present)
        self.train_rows, self.val_rows = split_rows(
            emotion_rows, expr.codes[emotion_rows], model.validation_fraction, rng
        )
        self.groups = [np.flatnonzero(subj.codes == c) for c in np.flatnonzero(counts >= 2)]
        n_pair_rows = sum(len(g) for g in self.groups)
        steps = max(model.min_steps, -(-n_pair_rows // model.batch_size))
        self.steps_per_iter = model.epochs * steps
        used = expr.present | subj.present
        self.mean = data.X[used].astype(np.float64).mean(axis=0)

    def prepare(self) -> None:
        """Build ``phi`` (isometric), its optimiser and the first ``w3`` (under the seed)."""
        self.Xt = torch.from_numpy(self.data.X)
        self.mean_t = torch.from_numpy(self.mean.astype(np.float32))[None]
        self.codes = torch.from_numpy(self.data.expression.codes)
        self.X_emotion = self.Xt[self.train_rows]
        self.net = isometric_network((self.data.n_features, *self.sizes))
        self.opt = torch.optim.Adam(
            self.net.parameters(), lr=self.model.learning_rate, betas=(0.9, 0.999)
        )
        self.w3: nn.Module = nn.Identity()

    def step(self, progress: float) -> dict[str, float]:
        model, rng = self.model, self.rng
        id_batch = pk_batch(self.groups, model.batch_size, rng)
        emo_batch = rng.choice(
            self.train_rows, min(model.batch_size, len(self.train_rows)), replace=False
        )
        x = self.Xt[np.concatenate([id_batch, emo_batch])]
        weight, bias = folded(self.net)
        z = x @ weight.T + bias
        origin = self.mean_t @ weight.T + bias
        centred = F.normalize(z - origin, dim=1)
        labels = torch.from_numpy(self.data.subject.codes[id_batch])
        parts = {
            "triplet_loss": model.triplet_weight
            * semihard_triplet_loss(centred[: len(id_batch)], labels, model.margin)
        }
        p_neutral = torch.softmax(self.w3(z), dim=1)[:, self.neutral_index]
        delta = torch.log1p((model.neutral_target - p_neutral).abs())
        parts["neutral_loss"] = model.neutral_weight * 3.0 * delta.mean()
        if model.class_mean_weight:
            emotion = self.X_emotion @ weight.T  # phi is linear: no need for the bias
            parts["class_mean_loss"] = model.class_mean_weight * explained_variance(
                emotion, self.codes[self.train_rows], len(self.data.expression.classes)
            )
        if model.similarity_weight:
            parts["similarity_loss"] = model.similarity_weight * _losses.similarity_gap(
                z - origin, x - self.mean_t
            )
        self.opt.zero_grad()
        sum(parts.values()).backward()  # type: ignore[union-attr]
        self.opt.step()
        return {k: float(v.detach()) for k, v in parts.items()}

    def validate(self) -> dict[str, float]:
        """Retrain ``w3`` on ``phi(x)`` of the training expression rows (the paper's next
        round starts from it) and score it on the held-out ones."""
        model = self.model
        with torch.no_grad():
            rows = np.concatenate([self.train_rows, self.val_rows])
            layers = self.snapshot()
            weight, bias = fold([w for w, _ in layers], [b for _, b in layers])
            Z = torch.from_numpy((self.data.X[rows] @ weight.T + bias).astype(np.float32))
        Z_train, Z_val = Z[: len(self.train_rows)], Z[len(self.train_rows) :]
        self.w3 = nn.Sequential(
            Standardize(Z_train),
            _layers.mlp(
                (self.sizes[-1], *self.w3_hidden, len(self.data.expression.classes)), "relu"
            ),
        )
        loss = _training.train_classifier(
            self.w3,
            Z_train,
            self.codes[self.train_rows],
            epochs=model.classifier_epochs,
            batch_size=model.batch_size,
            learning_rate=model.learning_rate,
            rng=self.rng,
        )
        self.w3.requires_grad_(False)
        accuracy = _training.accuracy(self.w3, Z_val, self.codes[self.val_rows])
        return {"classifier_loss": loss, "emotion_val_accuracy": accuracy}

    def criterion(self, record: dict[str, float]) -> float:
        return record["emotion_val_accuracy"]

    def class_mean_basis(self) -> np.ndarray:
        """Orthonormal columns spanning the differences between the expression means of all
        expression rows (the directions the final projection removes)."""
        rows = np.concatenate([self.train_rows, self.val_rows])
        X = self.data.X[rows].astype(np.float64)
        codes = self.data.expression.codes[rows]
        means = np.stack([X[codes == c].mean(axis=0) for c in np.unique(codes)])
        u, s, _ = np.linalg.svd((means - X.mean(axis=0)).T, full_matrices=False)
        return u[:, s > s.max(initial=0.0) * 1e-6]

    def snapshot(self) -> Layers:
        return _layers.layer_arrays(self.net)


def compact_linear(weight: np.ndarray) -> np.ndarray:
    """Isometric ``d_in``-dimensional coordinates of the linear map ``v -> W v``: with
    ``W = U S V^T`` (thin SVD), ``V S V^T``, so ``|V S V^T v| = |W v|`` for every ``v``;
    unchanged when ``W`` has no more rows than columns.

    Of all isometric coordinates (``R S V^T`` for any rotation ``R``) these stay closest to
    the input's own coordinates, so a probe that standardises each output feature sees them as
    it sees the input (axes along ``W``'s singular vectors would put every direction that ``W``
    shrinks in a feature of its own, which standardisation blows back up).
    """
    d_out, d_in = weight.shape
    if d_out <= d_in:
        return weight
    _, s, vt = np.linalg.svd(weight, full_matrices=False)
    return (vt.T * s) @ vt
