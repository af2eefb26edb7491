"""The scikit-learn transformer base every blinding method shares.

A fitted blinding map is a short stack of dense layers ``x -> act(W x + b)`` held as NumPy arrays,
optionally followed by L2 normalisation, so ``transform``, saving and ONNX export are written once
here and need no PyTorch at inference. A method's ``fit`` starts with :meth:`Blinder._validate_fit`
and ends with :meth:`Blinder._set_fitted`.

Imports go one way: ``_base`` uses ``_persistence`` (the file format) and ``_onnx`` (graphs);
neither knows the estimators. The registry of methods sits above the methods.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from blindface.blinding._params import Range, check_params, declared_params
from blindface.blinding._validation import Labels, check_embeddings, encode_labels, require_classes
from blindface.blinding.formats import _onnx, _persistence
from blindface.blinding.formats._persistence import AttributeKind, ModelError, Shape

if TYPE_CHECKING:  # the recognizer's parts need PyTorch, which transform does not
    from blindface.faces import SFaceSplit, SFaceUpper

Layer = tuple[np.ndarray, np.ndarray, str]

_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
}


_B = TypeVar("_B", bound="Blinder")


@dataclass(frozen=True)
class FitInput:
    """What :meth:`Blinder._validate_fit` returns: float32 ``X`` and the encoded label columns."""

    X: np.ndarray
    expression: Labels
    subject: Labels
    others: dict[str, Labels] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


class Blinder(TransformerMixin, BaseEstimator):
    """Base class: a fitted blinding map stored as dense layers; save / load / ONNX export.

    Subclasses declare what they fit: ``_arrays`` (array name -> expected shape, with ``"in"`` /
    ``"out"`` for the input / output dimension), ``_array_lists`` (lists of arrays such as a
    network's layers) and ``_attributes`` (other fitted attributes -> kind); together with the
    constructor's type hints they are the schema of the saved model.
    """

    n_features_in_: int
    classes_: np.ndarray
    #: What the model was fitted on: the stores' embedder identity and the stores (set by
    #: :func:`~blindface.blinding.fit_stores`, saved with the model; see
    #: :mod:`blindface._provenance`); None when fitted from arrays.
    fitted_on_: dict[str, Any] | None = None

    _arrays: ClassVar[Mapping[str, Shape]] = {}
    _array_lists: ClassVar[tuple[str, ...]] = ()
    _attributes: ClassVar[Mapping[str, AttributeKind]] = {"classes_": "labels"}
    #: L2-normalise the output (after the layers); see each method's docstring for why
    _normalize_output: ClassVar[bool] = False
    #: Whether the method weighs the ``source`` of each row itself (source-balanced batches);
    #: for the others, a caller balances sources by replicating rows.
    weighs_sources: ClassVar[bool] = False
    #: The range of each parameter that costs time or memory or takes named values, declared
    #: beside each method's ``__init__`` and checked by :meth:`set_params` and ``fit``
    _param_ranges: ClassVar[Mapping[str, Range]] = {}

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- parameters ---------------------------------------------------------------------------

    def check_params(self) -> None:
        """Check every parameter against its declared type and range; a
        :class:`~blindface.blinding._params.ParamError` names the parameter and its range.

        ``fit`` starts here; as in scikit-learn, ``__init__`` and ``set_params`` check nothing,
        so callers that must refuse before any work (the CLI, :func:`fit_stores`, the study)
        call it right after setting the parameters.
        """
        check_params(type(self), self.get_params(deep=False))

    # -- fitting scaffolding ------------------------------------------------------------------

    #: Labelled rows that every expression class needs in ``fit``.
    _min_per_class: ClassVar[int] = 1

    def fit(
        self: _B,
        X: ArrayLike,
        y: None = None,
        *,
        expression: ArrayLike,
        subject: ArrayLike | None = None,
        source: ArrayLike | None = None,
    ) -> _B:
        """Fit on embeddings ``X`` with per-row ``expression`` (and ``subject``) labels.

        Either label may be missing on a row (None / NaN / pd.NA); which rows each method
        uses is in its class docstring. ``source`` names the dataset (capture domain) of each
        row, for the methods that weigh sources (``FitInput.others["source"]``). ``y`` is
        ignored (scikit-learn's signature).

        Returns
        -------
        self
        """
        others = None if source is None else {"source": source}
        self._fit(
            self._validate_fit(X, expression, subject, per_class=self._min_per_class, others=others)
        )
        return self

    def _fit(self, data: FitInput) -> None:
        """The method's own fit, on validated input; ends with :meth:`_set_fitted`."""
        raise NotImplementedError

    def _validate_fit(
        self,
        X: ArrayLike,
        expression: ArrayLike,
        subject: ArrayLike | None = None,
        *,
        per_class: int = 1,
        others: Mapping[str, ArrayLike | None] | None = None,
    ) -> FitInput:
        """Check ``X`` and encode the label columns (missing: None / NaN / pd.NA).

        ``expression`` must have at least two classes with ``per_class`` labelled rows each;
        ``others`` are further label columns (gender, ...), encoded and checked for length.
        """
        self.check_params()
        X = check_embeddings(X)
        n = len(X)
        expr = encode_labels(expression, n, "expression")
        subj = encode_labels(subject, n, "subject")
        extra = {name: encode_labels(value, n, name) for name, value in (others or {}).items()}
        require_classes(expr, "expression", per_class=per_class)
        return FitInput(X=X, expression=expr, subject=subj, others=extra)

    def _set_fitted(self, n_features: int, classes: np.ndarray, **fitted: Any) -> None:
        """Set the fitted attributes: ``n_features_in_``, ``classes_`` (the expression classes)
        and ``fitted`` (name -> value); raise if the fitted map is not finite."""
        for name, value in fitted.items():
            setattr(self, name, value)
        self.classes_ = classes
        self.fitted_on_ = None  # a new fit: fit_stores records what it was fitted on
        self.n_features_in_ = int(n_features)
        if not all(np.isfinite(w).all() and np.isfinite(b).all() for w, b, _ in self._layers()):
            del self.n_features_in_
            raise FloatingPointError(
                f"{type(self).__name__} diverged (the fitted map holds NaN or inf): lower "
                "learning_rate or check the inputs"
            )

    # -- the fitted map -------------------------------------------------------------------------

    def _layers(self) -> list[Layer]:
        """The fitted map as ``(W, b, activation)`` layers, ``W`` of shape ``(d_out, d_in)``."""
        raise NotImplementedError

    @property
    def n_features_out_(self) -> int:
        """Dimension of the blinded embeddings."""
        check_is_fitted(self)
        return int(self._layers()[-1][0].shape[0])

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Blind ``X`` (``n x d`` embeddings): returns ``n x n_features_out_`` float32."""
        check_is_fitted(self)
        out = check_embeddings(X, n_features=self.n_features_in_, owner=type(self).__name__)
        for weight, bias, activation in self._layers():
            out = out @ weight.T
            out += bias
            out = _ACTIVATIONS[activation](out)
        if self._normalize_output:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))
        return out

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Names ``blinded0, blinded1, ...`` of the output columns."""
        check_is_fitted(self)
        return np.array([f"blinded{i}" for i in range(self.n_features_out_)], dtype=object)

    # -- saving, loading, export ----------------------------------------------------------------

    @classmethod
    def _schema(cls) -> _persistence.ModelSchema:
        """The saved-model schema of this method."""
        return _persistence.ModelSchema(
            params=declared_params(cls),
            ranges=cls._param_ranges,
            arrays=cls._arrays,
            array_lists=cls._array_lists,
            attributes=cls._attributes,
        )

    def save(
        self, path: str | os.PathLike[str], *, extra: Callable[[Path], object] | None = None
    ) -> Path:
        """Save as the folder ``path`` (``config.json`` + ``weights.safetensors``), atomically.

        Load it back with ``blindface.load(path)`` or ``type(self).load(path)``. The same fit
        gives the same bytes. ``extra(folder)`` writes further files into the folder within the
        same atomic write. Raises :class:`ModelError` for a map with NaN or inf, and
        :class:`~blindface._outputs.OutputError` for a ``path`` holding other files than a
        model's (another tool's folder is never written into).
        """
        check_is_fitted(self)
        saved = _persistence.SavedModel(
            method=type(self).__name__,
            params=self.get_params(deep=False),
            n_features_in=int(self.n_features_in_),
            n_features_out=int(self.n_features_out_),
            arrays={name: getattr(self, name) for name in (*self._arrays, *self._array_lists)},
            attributes={name: getattr(self, name) for name in self._attributes},
            fitted_on=self.fitted_on_,
        )
        return _persistence.write_model(path, saved, self._schema(), extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Blinder:
        """Load a model of this method saved with :meth:`save` (any method:
        ``blindface.load``)."""
        if cls is Blinder:
            raise TypeError("Blinder.load needs a method class: use blindface.load(path)")
        return cls._from_saved(
            _persistence.read_model(path, {cls.__name__: cls._schema()}), Path(path)
        )

    @classmethod
    def _from_saved(cls, saved: _persistence.SavedModel, source: Path) -> Blinder:
        """The estimator a checked :class:`SavedModel` describes; its layers must chain from
        ``n_features_in`` to ``n_features_out``."""
        model = cls(**saved.params)
        for name, value in {**saved.arrays, **saved.attributes}.items():
            setattr(model, name, value)
        model.n_features_in_ = saved.n_features_in
        model.fitted_on_ = saved.fitted_on
        try:
            layers = model._layers()
        except (ValueError, IndexError) as err:
            message = f"{source}: the weights do not form a {cls.__name__} map: {err}"
            raise ModelError(message) from None
        width = saved.n_features_in
        for i, (weight, bias, _) in enumerate(layers):
            if weight.ndim != 2 or weight.shape[1] != width or bias.shape != (weight.shape[0],):
                raise ModelError(
                    f"{source}: layer {i} of the {cls.__name__} map has weights {weight.shape} "
                    f"and bias {bias.shape}, which do not take {width}-d inputs"
                )
            width = weight.shape[0]
        if width != saved.n_features_out:
            raise ModelError(
                f"{source}: the map gives {width}-d outputs, the config says "
                f"n_features_out={saved.n_features_out}"
            )
        return model

    def export_onnx(self, path: str | os.PathLike[str]) -> Path:
        """Write the blinding map as ONNX: input ``embedding`` [N, d] -> output ``blinded``
        (the same computation as :meth:`transform`)."""
        check_is_fitted(self)
        graph = _onnx.layers_graph(self._float32_layers(), normalize=self._normalize_output)
        return _onnx.save_onnx(graph, path)

    def _float32_layers(self) -> list[Layer]:
        return [(w.astype(np.float32), b.astype(np.float32), a) for w, b, a in self._layers()]


class RecognizerBlinder(Blinder):
    """Base class of the methods that retrain the recognizer above a cut (``lnl``).

    They fit and transform SFace's feature maps at the cut
    (:func:`~blindface.faces.sface_features`), not embeddings: a store of embeddings cannot be
    blinded by them (``transform_store`` and ``audit`` refuse them); images are embedded end to
    end (:meth:`embed_crops`, ``blindface embed --embedder blinded:MODEL_DIR``) and
    :func:`~blindface.blinding.export_recognizer` writes the whole recognizer. ``backbone_``
    records the SFace file and cut the model was trained on.
    """

    backbone_: list[dict[str, Any]]

    def sface_split(self) -> SFaceSplit:
        """SFace cut where this model was trained (the frozen lower part)."""
        raise NotImplementedError

    def upper_network(self) -> SFaceUpper:
        """The trained upper part, as a torch module."""
        raise NotImplementedError

    def embed_crops(self, crops: ArrayLike) -> np.ndarray:
        """The blinded embeddings (unit length) of aligned crops (``n x 112 x 112 x 3`` uint8
        RGB): the whole recognizer, in float32."""
        raise NotImplementedError


class AffineBlinder(Blinder):
    """A blinding map that is one affine map ``x -> weight_ @ x + bias_``."""

    weight_: np.ndarray
    bias_: np.ndarray

    _arrays: ClassVar[Mapping[str, Shape]] = {"weight_": ("out", "in"), "bias_": ("out",)}

    def _layers(self) -> list[Layer]:
        return [(self.weight_, self.bias_, "identity")]


def fold(
    coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Compose affine layers ``x -> W_k(...(W_1 x + b_1)...) + b_k`` into one float64 ``(W, b)``."""
    weight = np.eye(coefs[0].shape[1])
    bias = np.zeros(coefs[0].shape[1])
    for w, b in zip(coefs, intercepts, strict=True):
        w = w.astype(np.float64)
        weight, bias = w @ weight, w @ bias + b
    return weight, bias
