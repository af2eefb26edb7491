"""The scikit-learn transformer base every blinding method shares.

A fitted blinding map is a short stack of dense layers ``x -> act(W x + b)`` held as NumPy arrays,
so ``transform``, saving and ONNX export are written once here and need no PyTorch at inference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from blindface.blinding import _onnx, _persistence
from blindface.blinding._validation import check_embeddings

_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
}


class Blinder(TransformerMixin, BaseEstimator):
    """Base class: a fitted blinding map stored as dense layers; save / load / ONNX export."""

    #: fitted NumPy arrays (or lists of arrays) saved in the safetensors file
    _array_attributes: ClassVar[tuple[str, ...]] = ()
    #: fitted JSON-able attributes (classes, history, ...) saved in the config
    _json_attributes: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ != __name__:  # the methods, not the shared bases below
            _persistence.register(cls)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
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
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names ``blinded0, blinded1, ...`` of the output columns."""
        check_is_fitted(self)
        return np.array([f"blinded{i}" for i in range(self.n_features_out_)], dtype=object)

    def save(self, path: str | os.PathLike) -> Path:
        """Save into the directory ``path`` (``config.json`` + ``weights.safetensors``).

        Load it back with ``blindface.load(path)`` or ``type(self).load(path)``.
        """
        check_is_fitted(self)
        return _persistence.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Blinder:
        """Load a model saved with :meth:`save`; it must be of this method."""
        _, config = _persistence.read_config(path)
        if cls is not Blinder and config.get("method") != cls.__name__:
            raise ValueError(
                f"{path} holds a {config.get('method')} model, not {cls.__name__}: "
                "use blindface.load(path) to load whatever method it is"
            )
        return _persistence.load(path)

    def export_onnx(self, path: str | os.PathLike) -> Path:
        """Write the blinding map as ONNX: input ``embedding`` [N, d] -> output ``blinded``."""
        check_is_fitted(self)
        return _onnx.save_onnx(_onnx.layers_graph(self._float32_layers()), path)

    def _float32_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        return [(w.astype(np.float32), b.astype(np.float32), a) for w, b, a in self._layers()]


class AffineBlinder(Blinder):
    """A blinding map that is one affine map ``x -> weight_ @ x + bias_``."""

    _array_attributes: ClassVar[tuple[str, ...]] = ("weight_", "bias_")

    def _layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        return [(self.weight_, self.bias_, "identity")]


def load(path: str | os.PathLike) -> Blinder:
    """Load a blinding model saved with ``model.save(path)``, whatever its method."""
    return _persistence.load(path)
