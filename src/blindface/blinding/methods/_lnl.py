"""Learning not to Learn (Kim et al. 2019), as adapted by Peña et al. 2020 (Sec. III-B-2)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from torch import nn
from torch.nn import functional as F

from blindface.blinding import _params as P
from blindface.blinding._base import Blinder, FitInput, Layer
from blindface.blinding._validation import Labels, require_classes, split_rows
from blindface.blinding.formats._persistence import AttributeKind
from blindface.blinding.nn import _layers, _losses, _training
from blindface.blinding.nn._layers import CosineHead
from blindface.blinding.nn._losses import neg_entropy
from blindface.blinding.nn._residual import Residual, residual_layers
from blindface.blinding.nn._sampling import split_by_subject
from blindface.blinding.nn._training import train

PRIMARY_TASKS = ("subject", "gender", "ethnicity")
SCHEDULES = ("dann", "constant")
HEADS = ("cosine", "linear")
ACTIVATIONS = ("relu", "identity")

Snapshot = list[tuple[np.ndarray, np.ndarray]]


class LearningNotToLearn(Blinder):
    """Features that serve a primary task and carry minimal information about the expression.

    A feature network ``f`` on top of the **frozen** face embedding is trained with three heads,
    following Kim et al.'s formulation:

    * a primary head ``g`` (identity by default; gender or ethnicity with ``primary=``), trained
      with cross-entropy together with ``f``;
    * an emotion head ``h`` trained with cross-entropy to predict the expression from ``f(x)``;
      ``f`` receives that gradient through a gradient-reversal layer scaled by ``mu`` (ramped
      up with the DANN schedule ``2 / (1 + exp(-10 p)) - 1`` when ``grl_schedule="dann"``);
    * the mutual-information term: ``f`` minimises
      ``entropy_weight * sum_b q(b|f(x)) log q(b|f(x))``, the negative entropy of ``h``'s
      posterior (``h`` held fixed for this term), on every row.

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
      ``(log det S_total - log det S_within) / 2``, computed on the expression rows of every
      batch (shrinkage ``mi_shrinkage``). On real embeddings the adversarial terms alone
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
    * An epoch is at least ``min_steps`` steps. With epochs of one pass over the rows, a
      training set of a few hundred labelled rows got 2 Adam steps per epoch, 20 in all at the
      former defaults: the network hardly left the identity map and a fresh probe still read
      every expression (measured on the planted-signal check: 1.00 -> 0.99).

    Fits in memory: it trains by SGD on the rows given (``fit_streaming`` refuses it; pass a
    sample of the rows).

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
    entropy_weight : float, default=1.0
        Weight of the entropy (mutual-information) term, the papers' ``lambda``.
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
    max_iter : int, default=20
        Maximum number of epochs; an epoch visits every training row with a primary label once,
        in at least ``min_steps`` steps.
    min_steps : int, default=25
        Fewest steps per epoch.
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
    best_iter_ : int
        The epoch whose network was kept.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
    """

    coefs_: list[np.ndarray]
    intercepts_: list[np.ndarray]

    _array_lists: ClassVar[tuple[str, ...]] = ("coefs_", "intercepts_")
    _attributes: ClassVar[Mapping[str, AttributeKind]] = {
        "classes_": "labels",
        "primary_classes_": "labels",
        "history_": "records",
        "best_iter_": "int",
        "n_iter_": "int",
    }

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {
        "primary": P.Range(choices=PRIMARY_TASKS),
        "hidden_layer_sizes": P.layers(),
        "activation": P.Range(choices=ACTIVATIONS),
        "primary_head": P.Range(choices=HEADS),
        "cosine_scale": P.Range(0, 1000, low_open=True),
        "emotion_hidden": P.layers(),
        "entropy_weight": P.WEIGHT,
        "mu": P.WEIGHT,
        "similarity_weight": P.WEIGHT,
        "grl_schedule": P.Range(choices=SCHEDULES),
        "max_iter": P.Range(1, P.MAX_EPOCHS),
        "min_steps": P.Range(1, P.MAX_STEPS),
        "learning_rate": P.LEARNING_RATE,
        "batch_size": P.BATCH_SIZE,
        "validation_fraction": P.FRACTION,
        "emotion_weight": P.WEIGHT,
        "gaussian_mi_weight": P.WEIGHT,
        "mi_shrinkage": P.Range(0, 1),
        "patience": P.Range(0, P.MAX_EPOCHS),
        "verbose": P.VERBOSE,
        "random_state": P.SEED,
    }

    def __init__(
        self,
        *,
        primary: str = "subject",
        hidden_layer_sizes: tuple[int, ...] = (256,),
        activation: str = "relu",
        primary_head: str = "cosine",
        cosine_scale: float = 16.0,
        emotion_hidden: tuple[int, ...] = (128,),
        entropy_weight: float = 1.0,
        mu: float = 1.0,
        similarity_weight: float = 1.0,
        grl_schedule: str = "dann",
        max_iter: int = 20,
        min_steps: int = 25,
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
        self.entropy_weight = entropy_weight
        self.mu = mu
        self.similarity_weight = similarity_weight
        self.grl_schedule = grl_schedule
        self.max_iter = max_iter
        self.min_steps = min_steps
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
        source: ArrayLike | None = None,
        gender: ArrayLike | None = None,
        ethnicity: ArrayLike | None = None,
    ) -> LearningNotToLearn:
        """Fit on ``X`` with per-row ``expression`` and the label of the ``primary`` task.

        Rows may miss either label (None / NaN / pd.NA): rows with a primary label train the
        primary head, rows with an expression train the emotion head; all feed the entropy term.
        ``source`` is accepted for the common signature and not used.
        """
        data = self._validate_fit(
            X, expression, subject, per_class=2, others={"gender": gender, "ethnicity": ethnicity}
        )
        primary = data.subject if self.primary == "subject" else data.others[self.primary]
        require_classes(primary, f"{self.primary} (primary={self.primary!r})")
        rng = check_random_state(self.random_state)
        trainer = _Trainer(self, data, primary, rng)
        with _training.seeded(rng.randint(2**31 - 1)):
            trainer.prepare()
            result = train(
                trainer,
                max_iter=self.max_iter,
                description="Learning not to Learn",
                keep="best",
                criterion=trainer.criterion,
                patience=self.patience,
                verbose=self.verbose,
            )
        self._set_fitted(
            data.n_features,
            data.expression.classes,
            coefs_=[w for w, _ in result.best_state],
            intercepts_=[b for _, b in result.best_state],
            primary_classes_=primary.classes,
            history_=result.history,
            best_iter_=result.best_iter,
            n_iter_=result.n_iter,
        )
        return self

    def _layers(self) -> list[Layer]:
        """``x + r(x)`` as dense layers (see :func:`residual_layers`)."""
        return residual_layers(self.coefs_, self.intercepts_, self.activation)


class _Trainer:
    """Learning not to Learn's training for :func:`~blindface.blinding.nn._training.train`: an
    iteration is an epoch; validation scores the primary head and fresh expression probes."""

    def __init__(
        self,
        model: LearningNotToLearn,
        data: FitInput,
        primary: Labels,
        rng: np.random.RandomState,
    ) -> None:
        self.model, self.data, self.primary, self.rng = model, data, primary, rng
        self.hidden = _layers.check_layer_sizes(model.hidden_layer_sizes, "hidden_layer_sizes")
        self.emo_hidden = _layers.check_layer_sizes(model.emotion_hidden, "emotion_hidden")
        expr = data.expression
        prim_rows = np.flatnonzero(primary.present)
        self.prim_train, self.prim_val = split_rows(
            prim_rows, primary.codes[prim_rows], model.validation_fraction, rng
        )
        self.emo_train, self.emo_val = split_by_subject(
            np.flatnonzero(expr.present),
            expr.codes,
            data.subject.codes,
            model.validation_fraction,
            rng,
        )
        self.epoch_steps = max(model.min_steps, -(-len(self.prim_train) // model.batch_size))
        self.steps_per_iter = self.epoch_steps

    def prepare(self) -> None:
        """Build ``f``, the heads and the optimiser (under the seed)."""
        model, d = self.model, self.data.n_features
        self.Xt = torch.from_numpy(self.data.X)
        self.yp = torch.from_numpy(self.primary.codes)
        self.ye = torch.from_numpy(self.data.expression.codes)
        n_emotions = len(self.data.expression.classes)
        self.f = Residual(d, self.hidden, model.activation)
        if model.primary_head == "linear":
            self.g: nn.Module = nn.Linear(d, len(self.primary.classes))
        else:
            x, y = self.Xt[self.prim_train], self.yp[self.prim_train]
            centres = torch.zeros(len(self.primary.classes), d).index_add_(
                0, y, F.normalize(x, dim=1)
            )
            self.g = CosineHead(centres, model.cosine_scale)
        self.h = nn.Sequential(
            nn.BatchNorm1d(d, affine=False), _layers.mlp((d, *self.emo_hidden, n_emotions), "relu")
        )
        params = [*self.f.parameters(), *self.g.parameters(), *self.h.parameters()]
        self.opt = torch.optim.Adam(params, lr=model.learning_rate, betas=(0.9, 0.999))
        self.queue = np.zeros(0, dtype=np.int64)

    def step(self, progress: float) -> dict[str, float]:
        model, rng = self.model, self.rng
        size = min(model.batch_size, len(self.prim_train))
        if len(self.queue) < size:  # the next pass over the primary rows, reshuffled
            self.queue = np.concatenate([self.queue, rng.permutation(self.prim_train)])
        rows_p, self.queue = self.queue[:size], self.queue[size:]
        rows_e = rng.choice(self.emo_train, min(model.batch_size, len(self.emo_train)), False)
        scale = model.mu * (_losses.dann_ramp(progress) if model.grl_schedule == "dann" else 1.0)
        for net in (self.f, self.g, self.h):
            net.train()
        both = np.concatenate([rows_p, rows_e])
        x = self.Xt[both]
        z = self.f(x)
        z_p, z_e = z[: len(rows_p)], z[len(rows_p) :]
        labelled = torch.from_numpy(self.primary.present[both])
        losses = {
            "primary_loss": F.cross_entropy(self.g(z[labelled]), self.yp[both][labelled]),
            "emotion_loss": F.cross_entropy(
                self.h(_losses.grad_reverse(z_e, scale)), self.ye[rows_e]
            ),
            "neg_entropy": neg_entropy(self.h, z),
            "similarity_loss": _losses.similarity_gap(z_p, x[: len(rows_p)]),
        }
        if model.gaussian_mi_weight:
            losses["gaussian_mi"] = _losses.gaussian_mi(
                z_e, self.ye[rows_e], len(self.data.expression.classes), model.mi_shrinkage
            )
        self.opt.zero_grad()
        (
            losses["primary_loss"]
            + losses["emotion_loss"]
            + model.entropy_weight * losses["neg_entropy"]
            + model.similarity_weight * losses["similarity_loss"]
            + model.gaussian_mi_weight * losses.get("gaussian_mi", torch.tensor(0.0))
        ).backward()
        self.opt.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    def validate(self) -> dict[str, float]:
        self.f.eval()
        self.g.eval()
        Xt, yp, ye = self.Xt, self.yp, self.ye
        with torch.no_grad():
            z_p = self.f(Xt[self.prim_val])
            primary_loss = float(F.cross_entropy(self.g(z_p), yp[self.prim_val]))
            primary_acc = _training.accuracy(self.g, z_p, yp[self.prim_val])
            emotion_acc = probe_accuracy(
                self.f(Xt[self.emo_train]).numpy(),
                ye[self.emo_train].numpy(),
                self.f(Xt[self.emo_val]).numpy(),
                ye[self.emo_val].numpy(),
            )
        return {
            "val_primary_loss": primary_loss,
            "val_primary_accuracy": primary_acc,
            "val_emotion_accuracy": emotion_acc,
        }

    def criterion(self, record: dict[str, float]) -> float:
        emotion = record["val_emotion_accuracy"]
        return record["val_primary_loss"] + self.model.emotion_weight * float(
            np.nan_to_num(emotion)
        )

    def snapshot(self) -> Snapshot:
        return _layers.layer_arrays(self.f.branch)


def probe_accuracy(
    Z_train: np.ndarray,
    y_train: np.ndarray,
    Z_val: np.ndarray,
    y_val: np.ndarray,
    *,
    balanced: bool = False,
) -> float:
    """Held-out accuracy (``balanced``: balanced accuracy) of the better of two fresh probes, a
    linear one (shrinkage LDA) and a non-linear one (5-NN on standardised features), both cheap
    enough to run every epoch; nan without validation rows."""
    if len(y_val) == 0 or len(np.unique(y_train)) < 2:
        return float("nan")
    probes = (
        LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
        make_pipeline(StandardScaler(), KNeighborsClassifier(min(5, len(y_train)))),
    )
    scores = []
    with warnings.catch_warnings():  # balanced: classes of y_val that y_train lacks
        warnings.simplefilter("ignore", UserWarning)
        for probe in probes:
            predicted = probe.fit(Z_train, y_train).predict(Z_val)
            score = balanced_accuracy_score if balanced else accuracy_score
            scores.append(float(score(y_val, predicted)))
    return max(scores)
