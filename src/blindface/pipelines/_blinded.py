"""``blinded:MODEL_DIR``: embed images with a recognizer retrained by a blinding method (``lnl``),
with SFace's detection and alignment.

The faces layer cannot load a blinding model, so this layer registers the prefix with
:func:`blindface.faces.register_prefix` when it is imported: ``get_embedder("blinded:DIR")``,
``blindface embed --embedder blinded:DIR`` and the worker processes (which rebuild the embedder
from :class:`BlindedEmbedder`, imported by reference) all find it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from blindface.blinding import ModelError, RecognizerBlinder, load
from blindface.blinding.formats._persistence import CONFIG_NAME, WEIGHTS_NAME
from blindface.faces import EmbedderError, register_prefix, sface_model_paths
from blindface.faces._embedder import sha256_files
from blindface.faces._geometry import ARCFACE_TEMPLATE, TEMPLATE_SIZE
from blindface.faces._sface import SFACE_RECOGNIZER
from blindface.faces._yunet import YuNetEmbedder

BLINDED_PREFIX = "blinded:"


class BlindedEmbedder(YuNetEmbedder):
    """YuNet detection and alignment as :class:`~blindface.faces.SFaceEmbedder` does them,
    then the blinded recognizer saved in ``model_dir`` (SFace below its cut, its retrained
    upper part above), in float32.

    :attr:`settings` record the model (its method, cut and the sha256 of its weights file) and
    the base SFace file, so a store says which recognizer made it (the folder's path is in the
    embedder's name only: the same model elsewhere is the same embedder).

    Parameters
    ----------
    model_dir
        A folder written by ``model.save`` (``blindface fit``) of a method that retrains the
        recognizer (a :class:`~blindface.blinding.RecognizerBlinder`, e.g. ``lnl``).
    batch_size
        Faces per forward pass; a short batch is padded, so that a face's embedding never
        depends on the faces beside it.
    **kwargs
        Detection and policy settings: see :class:`~blindface.faces._yunet.YuNetEmbedder`.
    """

    def __init__(
        self, model_dir: str | os.PathLike[str], *, batch_size: int = 16, **kwargs: Any
    ) -> None:
        path = os.path.abspath(os.path.expanduser(os.fspath(model_dir)))
        try:
            model = load(path)
        except (ModelError, FileNotFoundError) as err:
            raise EmbedderError(f"{BLINDED_PREFIX}{path}: {err}") from None
        if not isinstance(model, RecognizerBlinder):
            raise EmbedderError(
                f"{BLINDED_PREFIX}{path} holds a {type(model).__name__}, which blinds "
                "embeddings: embed with sface, then `blindface transform --model` the store"
            )
        if batch_size < 1:
            raise EmbedderError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(template=ARCFACE_TEMPLATE, crop_size=TEMPLATE_SIZE, **kwargs)
        self.name = f"{BLINDED_PREFIX}{path}"
        self.path = path
        self.batch_size = batch_size
        self.dim = int(model.n_features_out_)
        self.model = model

    @property
    def weight_files(self) -> tuple[str, ...]:
        model_files = (os.path.join(self.path, CONFIG_NAME), os.path.join(self.path, WEIGHTS_NAME))
        return (*sface_model_paths(), *model_files)

    @property
    def settings(self) -> dict[str, Any]:
        (backbone,) = self.model.backbone_
        return {
            **self.detection_settings,
            "recognizer": "blinded",
            "method": type(self.model).__name__,
            "model_sha256": sha256_files((os.path.join(self.path, WEIGHTS_NAME),)),
            "base_recognizer": SFACE_RECOGNIZER,
            "base_sha256": backbone["sha256"],
            "cut": backbone["cut"],
            "input": "RGB 0..255, NCHW float32",
            "batch_size": self.batch_size,
            **super().settings,
        }

    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        import torch  # lazy: the model loaded PyTorch already; named for its thread count

        stacked = np.stack(crops)
        size = self.batch_size
        padded = np.zeros((-(-len(stacked) // size) * size, *stacked.shape[1:]), np.uint8)
        padded[: len(stacked)] = stacked
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same kernels, hence the same bits, in every process
        try:
            out = [
                self.model.embed_crops(padded[start : start + size])
                for start in range(0, len(padded), size)
            ]
        finally:
            torch.set_num_threads(threads)
        return np.concatenate(out)[: len(stacked)]


def blinded_factory(path: str) -> Callable[..., BlindedEmbedder]:
    """What builds the :class:`BlindedEmbedder` of the model folder ``path`` (registered for
    ``blinded:``); an :class:`~blindface.faces.EmbedderError` when ``path`` holds no model."""
    if not os.path.isfile(os.path.join(path, CONFIG_NAME)):
        raise EmbedderError(
            f"{BLINDED_PREFIX}{path}: no saved model in {path} (a folder written by "
            "`blindface fit --method lnl`)"
        )
    return functools.partial(BlindedEmbedder, path)


register_prefix(BLINDED_PREFIX, "MODEL_DIR", blinded_factory)
