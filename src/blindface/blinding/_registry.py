"""The one registry of blinding methods: name -> class, kind and a one-line description.

The command line's ``--method`` choices, :func:`blindface.pipelines.fit_stores`, the study's
blinders and :func:`load` all read it. A new method is one line::

    register("my_method", MyBlinder, kind="beyond", description="what it removes, and how")

``kind`` is ``"paper"`` (the methods of Peña et al. 2020), ``"baseline"`` (other published
erasure methods compared against) or ``"beyond"`` (methods this library adds). ``strength``
names the parameter that trades leakage removed against identity kept, with the values the
study sweeps (its trade-off curves, and the candidates its nested selection chooses from).

Most methods blind embeddings (:data:`METHODS`, the study's blinders). Those registered with
``input_kind="sface_features"`` (:data:`RECOGNIZERS`) retrain the recognizer itself: they fit on
SFace's feature maps at a cut, computed from images, and embed images end to end (subclasses of
:class:`~blindface.blinding._base.RecognizerBlinder`). :func:`get_method`, :func:`load` and the
command line know both (:func:`all_methods`); the study runs :data:`METHODS` only.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from blindface.blinding.formats._persistence import read_model

if TYPE_CHECKING:  # the classes are imported when first used: listing names needs no PyTorch
    from blindface.blinding._base import Blinder

Kind = Literal["paper", "baseline", "beyond"]
KINDS: tuple[Kind, ...] = ("paper", "baseline", "beyond")
#: What a method fits and transforms: embeddings, or SFace's feature maps at a cut.
InputKind = Literal["embedding", "sface_features"]
INPUT_KINDS: tuple[InputKind, ...] = ("embedding", "sface_features")


@dataclass(frozen=True)
class Strength:
    """The parameter ``name`` of a method that sets how much it removes, and the ``values`` a
    sweep tries (weakest first)."""

    name: str
    values: tuple[float | int, ...]

    def candidates(self) -> tuple[Mapping[str, float | int], ...]:
        return tuple({self.name: v} for v in self.values)


@dataclass(frozen=True)
class Method:
    """A registered blinding method.

    ``estimator`` is the class, or where to find it (``"module:Class"``): the class is imported
    when first used, so that listing the methods (``--help``) does not load PyTorch.
    """

    name: str
    where: type[Blinder] | str
    kind: Kind
    description: str
    strength: Strength | None = None
    input_kind: InputKind = "embedding"

    def candidates(self) -> tuple[Mapping[str, float | int], ...]:
        """The parameter settings a sweep of :attr:`strength` tries (``({},)`` without one)."""
        return self.strength.candidates() if self.strength else ({},)

    @property
    def estimator(self) -> type[Blinder]:
        if not isinstance(self.where, str):
            return self.where
        module, _, attribute = self.where.partition(":")
        return getattr(importlib.import_module(module), attribute)

    @property
    def class_name(self) -> str:
        return self.where.rpartition(":")[2] if isinstance(self.where, str) else self.where.__name__

    def create(self, **params: object) -> Blinder:
        """A new, unfitted estimator with ``params`` set."""
        return self.estimator().set_params(**params)


#: The methods that blind embeddings (fit and transform ``n x d`` arrays).
METHODS: dict[str, Method] = {}
#: The methods that retrain the recognizer (fit and transform SFace's feature maps at a cut).
RECOGNIZERS: dict[str, Method] = {}


def all_methods() -> dict[str, Method]:
    """Every registered method, embedding blinders first."""
    return {**METHODS, **RECOGNIZERS}


def register(
    name: str,
    estimator: type[Blinder] | str,
    *,
    kind: Kind,
    description: str,
    strength: Strength | None = None,
    input_kind: InputKind = "embedding",
) -> Method:
    """Add a method to the registry under ``name`` (a lower-case identifier); return it.

    ``estimator`` is the class or ``"module:Class"`` (imported on first use); ``strength`` the
    parameter a sweep varies (see :class:`Strength`); ``input_kind`` what it fits on:
    ``"embedding"`` (:data:`METHODS`) or ``"sface_features"`` (:data:`RECOGNIZERS`).
    """
    if not name.isidentifier() or name != name.lower():
        raise ValueError(f"a method name is a lower-case identifier, got {name!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    method = Method(name, estimator, kind, description, strength, input_kind)
    known = all_methods()
    clash = [m.name for m in known.values() if m.class_name == method.class_name]
    if name in known or clash:
        raise ValueError(f"{name!r} / {method.class_name} is already registered")
    (METHODS if input_kind == "embedding" else RECOGNIZERS)[name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method ``name`` (of :func:`all_methods`), or a ``ValueError`` listing the
    known ones."""
    known = all_methods()
    if name not in known:
        raise ValueError(f"method must be one of {', '.join(known)}, got {name!r}")
    return known[name]


def load(path: str | os.PathLike[str]) -> Blinder:
    """Load a blinding model saved with ``model.save(path)``, whatever its method.

    Raises :class:`~blindface.blinding.ModelError` for a malformed model (naming the file and
    the problem) and :class:`FileNotFoundError` when there is none at ``path``.
    """
    classes = {m.class_name: m.estimator for m in all_methods().values()}
    saved = read_model(path, {name: cls._schema() for name, cls in classes.items()})
    return classes[saved.method]._from_saved(saved, Path(path))


register(
    "sensitivenets",
    "blindface.blinding.methods._sensitivenets:SensitiveNets",
    kind="paper",
    description="linear map trained with a triplet loss and a neutral-expression target "
    "against a retrained emotion classifier (Morales et al.)",
    strength=Strength("neutral_weight", (0.3, 1.0, 3.0)),
)
register(
    "lnl_frozen",
    "blindface.blinding.methods._lnl:LearningNotToLearn",
    kind="paper",
    description="Learning not to Learn on frozen embeddings (a head on the recognizer's "
    "output): identity features with minimal mutual information with the expression, "
    "adversarial with gradient reversal (Kim et al.)",
    strength=Strength("entropy_weight", (0.3, 1.0, 3.0)),
)
register(
    "leace",
    "blindface.blinding.methods._leace:LEACE",
    kind="baseline",
    description="closed-form least-squares linear concept erasure (Belrose et al. 2023)",
)
register(
    "inlp",
    "blindface.blinding.methods._inlp:INLP",
    kind="baseline",
    description="iterative nullspace projection of linear expression probes (Ravfogel et al.)",
    strength=Strength("max_iter", (5, 10, 20)),
)
register(
    "within_subject",
    "blindface.blinding.methods._within_subject:WithinSubjectProjection",
    kind="beyond",
    description="project out the main directions in which one person's face varies",
    strength=Strength("n_components", (16, 32, 64)),
)
register(
    "invariant",
    "blindface.blinding.methods._invariant:ExpressionInvariantMap",
    kind="beyond",
    description="non-linear map under which a person's faces agree across expressions, with "
    "identity distillation and a final linear eraser for both threat models",
    strength=Strength("invariance_weight", (3.0, 10.0, 30.0)),
)
register(
    "collapse",
    "blindface.blinding.methods._collapse:WithinPersonCollapse",
    kind="beyond",
    description="non-linear map collapsing each person's photos onto one point across "
    "expressions and capture conditions (every person with several photos, sources weighed "
    "equally), identity distillation, a held-out kernel attacker refit in every batch, and a "
    "final linear eraser for both threat models",
    strength=Strength("collapse_weight", (3.0, 10.0, 30.0)),
)
register(
    "lnl",
    "blindface.blinding.methods._lnl_end_to_end:LearningNotToLearnEndToEnd",
    kind="paper",
    description="Learning not to Learn end to end: SFace's last block and projection retrained "
    "for identity with minimal mutual information with the expression, adversarial with "
    "gradient reversal (Kim et al.); fits on images",
    input_kind="sface_features",
)
