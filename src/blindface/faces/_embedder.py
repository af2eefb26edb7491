"""The embedder interface: an RGB image in, one L2-normalised face embedding out."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from blindface.faces._geometry import (
    Face,
    choose_face,
    is_crop_like,
    pad_and_upscale,
    template_landmarks,
)

FaceStatus = Literal["detected", "retried", "fallback", "failed"]
#: How an image was handled, from best to worst.
FACE_STATUSES: tuple[str, ...] = ("detected", "retried", "fallback", "failed")


class EmbedderError(ValueError):
    """An embedder that cannot be built: an unknown name, a bad option or a bad model file."""


@dataclass(frozen=True)
class FaceResult:
    """The embedding of one image (``None`` when ``status`` is ``failed``) and how it was found.

    ``status``: ``detected`` (the detector found the face), ``retried`` (found on the padded,
    upscaled image), ``fallback`` (the whole image taken as the face box) or ``failed``;
    ``reason`` explains a fallback or a failure.
    """

    embedding: np.ndarray | None
    status: FaceStatus
    reason: str | None = None


class Embedder(ABC):
    """Detect the main face of an image, align it and embed it.

    Subclasses implement :meth:`_detect`, :meth:`_best_score`, :meth:`_crop` and
    :meth:`_forward`; this class runs the detect -> retry -> fallback policy, batches the
    crops and L2-normalises the output (unless :attr:`l2_normalize` is false). It knows
    nothing of its subclasses: names map to embedders in :mod:`blindface.faces._registry`.

    Parameters
    ----------
    retry_pad, retry_size
        When nothing is found, the image is padded by ``retry_pad`` x its longer side on every
        edge and resized to ``retry_size`` pixels (longer side), then searched again.
    fallback_min_score
        When even the retry finds no face, a roughly square image (aspect ratio at most
        ``fallback_max_aspect``) in which the detector still sees a weak face candidate (raw
        score >= ``fallback_min_score``) is taken as a tight crop: the whole image is the face
        box, with the template's landmarks. Anything else fails, so flat, noisy or face-less
        images are not embedded.
    """

    name: str
    dim: int
    #: Whether :meth:`embed_many` scales every embedding to unit length.
    l2_normalize: bool = True

    def __init__(
        self,
        *,
        retry_pad: float = 0.3,
        retry_size: int = 320,
        fallback_min_score: float,
        fallback_max_aspect: float = 1.5,
    ) -> None:
        self.retry_pad = retry_pad
        self.retry_size = retry_size
        self.fallback_min_score = fallback_min_score
        self.fallback_max_aspect = fallback_max_aspect
        self._options: dict[str, Any] = {}

    @property
    @abstractmethod
    def weight_files(self) -> tuple[str, ...]:
        """Paths of the model files, hashed into :attr:`weights_hash`."""

    @property
    def weights_hash(self) -> str:
        """sha256 of the weight files, read in order."""
        return sha256_files(self.weight_files)

    @property
    def settings(self) -> dict[str, Any]:
        """Every preprocessing setting that changes the embeddings (JSON-serialisable)."""
        return {
            "retry_pad": self.retry_pad,
            "retry_size": self.retry_size,
            "fallback_min_score": self.fallback_min_score,
            "fallback_max_aspect": self.fallback_max_aspect,
        }

    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments given to :func:`~blindface.faces.get_embedder` (worker
        processes rebuild the embedder from its name and these)."""
        return dict(self._options)

    def embed(self, rgb: np.ndarray) -> FaceResult:
        """Embed the main face of an ``H x W x 3`` RGB uint8 image; never raises on a bad face."""
        return self.embed_many([rgb])[0]

    def embed_many(self, images: list[np.ndarray]) -> list[FaceResult]:
        """Embed several RGB images (one forward pass over their aligned crops where the
        backend batches). Each result is identical to :meth:`embed` of that image alone."""
        results: list[FaceResult | None] = [None] * len(images)
        crops, found = [], []
        for index, rgb in enumerate(images):
            rgb = np.asarray(rgb)
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                raise ValueError(
                    f"expected an H x W x 3 uint8 RGB image, got {rgb.shape} {rgb.dtype}"
                )
            try:
                face = self._find_face(np.ascontiguousarray(rgb))
                if isinstance(face, str):
                    results[index] = FaceResult(None, "failed", face)
                    continue
                image, box, status, reason = face
                crops.append(self._crop(image, box))
                found.append((index, status, reason))
            except Exception as exc:  # one odd image must never stop a batch
                results[index] = FaceResult(None, "failed", f"{type(exc).__name__}: {exc}")
        if crops:
            vectors = np.asarray(self._forward(crops), dtype=np.float32).reshape(len(crops), -1)
            for vector, (index, status, reason) in zip(vectors, found, strict=True):
                norm = float(np.linalg.norm(vector))
                if not np.isfinite(norm) or norm < 1e-12:
                    reason = "the recognizer returned a zero or non-finite vector"
                    results[index] = FaceResult(None, "failed", reason)
                else:
                    scale = np.float32(norm) if self.l2_normalize else np.float32(1)
                    results[index] = FaceResult(vector / scale, status, reason)
        done = [result for result in results if result is not None]
        assert len(done) == len(images), "every image gets a result"
        return done

    def _find_face(self, rgb: np.ndarray) -> tuple[np.ndarray, Face, FaceStatus, str | None] | str:
        """The image to describe, the chosen face, the status and a reason; or why none."""
        faces = self._detect(rgb)
        if faces:
            return rgb, choose_face(faces, rgb.shape), "detected", None
        padded = pad_and_upscale(rgb, self.retry_pad, self.retry_size)
        faces = self._detect(padded)
        if faces:
            return padded, choose_face(faces, padded.shape), "retried", None
        best = self._best_score(padded)
        if best >= self.fallback_min_score and is_crop_like(rgb.shape, self.fallback_max_aspect):
            height, width = rgb.shape[:2]
            box = (0.0, 0.0, float(width), float(height))
            reason = f"no face detected (best score {best:.2f}); whole image used as the face box"
            return rgb, Face(box, template_landmarks(box), best), "fallback", reason
        detail = f"best candidate score {best:.2f}" if np.isfinite(best) else "no candidate"
        return f"no face detected ({detail})"

    @abstractmethod
    def _detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces above the detection threshold."""

    @abstractmethod
    def _best_score(self, rgb: np.ndarray) -> float:
        """The detector's best raw score for any candidate (used to gate the fallback)."""

    @abstractmethod
    def _crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The aligned face crop the recognizer reads."""

    @abstractmethod
    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        """Descriptors (unnormalised, ``len(crops) x dim``) of aligned crops."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


@lru_cache(maxsize=8)
def sha256_files(paths: tuple[str, ...]) -> str:
    """sha256 of the bytes of ``paths``, read in order (cached per process)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def package_dir(package: str, install_hint: str) -> str:
    """Folder of an installed package, found without importing it."""
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed: {install_hint}")
    return os.fspath(list(spec.submodule_search_locations)[0])
