"""The one registry of blinding methods: name -> class, kind and a one-line description.

The command line's ``--method`` choices, :func:`blindface.blinding.fit_stores`, the study's
blinders and :func:`load` all read it. A new method is one line::

    register("my_method", MyBlinder, kind="beyond", description="what it removes, and how")

``kind`` is ``"paper"`` (the methods of Peña et al. 2020), ``"baseline"`` (other published
erasure methods compared against) or ``"beyond"`` (methods this library adds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from blindface.blinding._base import Blinder
from blindface.blinding._inlp import INLP
from blindface.blinding._leace import LEACE
from blindface.blinding._lnl import LearningNotToLearn
from blindface.blinding._persistence import read_model
from blindface.blinding._sensitivenets import SensitiveNets
from blindface.blinding._within_subject import WithinSubjectProjection

Kind = Literal["paper", "baseline", "beyond"]
KINDS: tuple[Kind, ...] = ("paper", "baseline", "beyond")


@dataclass(frozen=True)
class Method:
    """A registered blinding method."""

    name: str
    estimator: type[Blinder]
    kind: Kind
    description: str

    def create(self, **params: object) -> Blinder:
        """A new, unfitted estimator with ``params`` set."""
        return self.estimator().set_params(**params)


METHODS: dict[str, Method] = {}


def register(name: str, estimator: type[Blinder], *, kind: Kind, description: str) -> Method:
    """Add a method to the registry under ``name`` (a lower-case identifier); return it."""
    if not name.isidentifier() or name != name.lower():
        raise ValueError(f"a method name is a lower-case identifier, got {name!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    clash = [m.name for m in METHODS.values() if m.estimator.__name__ == estimator.__name__]
    if name in METHODS or clash:
        raise ValueError(f"{name!r} / {estimator.__name__} is already registered")
    METHODS[name] = Method(name, estimator, kind, description)
    return METHODS[name]


def get_method(name: str) -> Method:
    """The registered method ``name``, or a ``ValueError`` listing the known ones."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {name!r}")
    return METHODS[name]


def load(path: str | os.PathLike[str]) -> Blinder:
    """Load a blinding model saved with ``model.save(path)``, whatever its method.

    Raises :class:`~blindface.blinding.ModelError` for a malformed model (naming the file and
    the problem) and :class:`FileNotFoundError` when there is none at ``path``.
    """
    classes = {m.estimator.__name__: m.estimator for m in METHODS.values()}
    saved = read_model(path, {name: cls._schema() for name, cls in classes.items()})
    return classes[saved.method]._from_saved(saved, Path(path))


register(
    "sensitivenets",
    SensitiveNets,
    kind="paper",
    description="linear map trained with a triplet loss and a neutral-expression target "
    "against a retrained emotion classifier (Morales et al.)",
)
register(
    "lnl",
    LearningNotToLearn,
    kind="paper",
    description="features for identity with minimal mutual information with the expression, "
    "adversarial with gradient reversal (Kim et al.)",
)
register(
    "leace",
    LEACE,
    kind="baseline",
    description="closed-form least-squares linear concept erasure (Belrose et al. 2023)",
)
register(
    "inlp",
    INLP,
    kind="baseline",
    description="iterative nullspace projection of linear expression probes (Ravfogel et al.)",
)
register(
    "within_subject",
    WithinSubjectProjection,
    kind="beyond",
    description="project out the main directions in which one person's face varies",
)
