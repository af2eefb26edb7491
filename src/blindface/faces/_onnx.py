"""Bring your own recognizer: YuNet detection + any ArcFace-family ONNX recognizer, run by
onnxruntime (``get_embedder("onnx:PATH")``, ``--embedder onnx:PATH``)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from blindface._onnxruntime import import_onnxruntime, inference_session
from blindface.faces._embedder import EmbedderError, sha256_files
from blindface.faces._geometry import scaled_template
from blindface.faces._yunet import YuNetEmbedder

if TYPE_CHECKING:
    import onnx
    import onnxruntime

COLOR_ORDERS: tuple[str, ...] = ("RGB", "BGR")
NORMALIZATIONS: tuple[str, ...] = ("arcface", "none")
_PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
#: Widest embedding accepted from a recognizer (ArcFace-family models give 512; a store holds
#: at most as many values per row).
MAX_DIM = 65_536
_INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxModelError(EmbedderError):
    """An ONNX recognizer file that cannot be used; the message names the file and says what
    was expected of it."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"ONNX recognizer {path}: {problem}")

    def __reduce__(self) -> tuple[type[OnnxModelError], tuple[str, str]]:
        return type(self), (self.path, self.problem)


class OnnxEmbedder(YuNetEmbedder):
    """YuNet detection, five-point alignment, and an ArcFace-family ONNX recognizer.

    For recognizers such as insightface's ``w600k_r50.onnx`` (``buffalo_l``) with the default
    options, or SFace's own file with ``normalization="none"``. The model must have one input
    ``N x 3 x S x S`` (float32 or float16; ``N`` fixed or dynamic, ``S`` equal to
    ``input_size``) and one output ``N x D``; ``D`` becomes :attr:`dim`. It runs with
    onnxruntime; :attr:`weights_hash` is the sha256 of the file and :attr:`settings` record
    every option below.

    Parameters
    ----------
    path
        The ``.onnx`` file.
    input_size
        Side ``S`` of the square aligned crop the model reads (112 for the ArcFace family).
    template
        Where the five landmarks go in the crop, in its pixels: the eye on the image's left,
        the other eye, the nose tip, the left and the right mouth corner (x, y). Default:
        :data:`~blindface.faces.ARCFACE_TEMPLATE` (for 112 pixels) scaled to ``input_size``
        as insightface's ``norm_crop`` does.
    color_order
        Channel order the model reads: ``"RGB"`` (default) or ``"BGR"``. insightface's
        recognizers read RGB: insightface decodes images with OpenCV (BGR), and
        ``ArcFaceONNX.get_feat`` builds the input with ``cv2.dnn.blobFromImages(...,
        swapRB=True)``, which swaps them back to RGB. SFace reads RGB too.
    normalization
        Pixel scaling before the model: ``"arcface"`` (default) is ``(x - 127.5) / 127.5``,
        as insightface feeds its models; ``"none"`` is raw 0..255, for models that normalise
        inside the graph (SFace; insightface feeds raw pixels when the graph starts with Sub
        and Mul nodes, as MXNet exports do).
    l2_normalize
        Scale every embedding to unit length (default); ``False`` keeps the model's raw output.
    providers
        onnxruntime execution providers, in order of preference. Default:
        ``CUDAExecutionProvider`` where available, then ``CPUExecutionProvider``; the ones
        the session uses are recorded in :attr:`settings`. On the CPU, onnxruntime runs on
        as many threads as OpenCV (``cv2.setNumThreads``: one in each worker process of
        :func:`~blindface.faces.embed_files`).
    batch_size
        Faces per forward pass. Default: the model's fixed batch size, else 1. A short batch
        is padded with zeros, so a face's embedding never depends on the faces beside it.
    **kwargs
        Detection and policy settings: see :class:`~blindface.faces._yunet.YuNetEmbedder`.

    Raises
    ------
    OnnxModelError
        The file is missing, is not an ONNX model, or its inputs or outputs are not the above.
    EmbedderError
        An option has a value outside the ones above.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        input_size: int = 112,
        template: Sequence[Sequence[float]] | np.ndarray | None = None,
        color_order: str = "RGB",
        normalization: str = "arcface",
        l2_normalize: bool = True,
        providers: Sequence[str] | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        _check_choice("color_order", color_order, COLOR_ORDERS)
        _check_choice("normalization", normalization, NORMALIZATIONS)
        if template is None:
            try:
                template = scaled_template(input_size)
            except ValueError as exc:
                raise EmbedderError(f"input_size={input_size}: {exc}") from None
        template = np.asarray(template, dtype=np.float64)
        if template.shape != (5, 2):
            raise EmbedderError(f"template must be 5 x 2 (x, y) points, got {template.shape}")
        session = _open_session(path, providers)
        input_name, input_dtype, fixed_batch = _check_input(path, session, input_size)
        if batch_size is not None and batch_size < 1:
            raise EmbedderError(f"batch_size must be >= 1, got {batch_size}")
        if fixed_batch is not None and batch_size not in (None, fixed_batch):
            raise OnnxModelError(
                path, f"its batch size is fixed at {fixed_batch}; batch_size={batch_size} is not"
            )
        super().__init__(template=template, crop_size=input_size, **kwargs)
        self.name = f"onnx:{path}"
        self.path = path
        self.input_size = input_size
        self.color_order = color_order
        self.normalization = normalization
        self.l2_normalize = l2_normalize
        self.batch_size = batch_size or fixed_batch or 1
        self._session = session
        self._input_name = input_name
        self._input_dtype = input_dtype
        self._output_name = _check_output(path, session)
        self.dim = self._probe_dim()

    @property
    def weight_files(self) -> tuple[str, ...]:
        return (self.path,)

    @property
    def settings(self) -> dict[str, Any]:
        pixels = "(x - 127.5) / 127.5" if self.normalization == "arcface" else "0..255"
        dtype = np.dtype(self._input_dtype).name
        return {
            **self.detection_settings,
            "detector_sha256": sha256_files((self.detector_path,)),
            "recognizer": os.path.basename(self.path),
            "input_size": self.input_size,
            "color_order": self.color_order,
            "normalization": self.normalization,
            "l2_normalize": self.l2_normalize,
            "batch_size": self.batch_size,
            "providers": list(self._session.get_providers()),
            "input": f"{self.color_order} {pixels}, NCHW {dtype}",
            **super().settings,
        }

    def _forward(self, crops: list[np.ndarray]) -> np.ndarray:
        blob = np.stack(crops).astype(np.float32)
        if self.color_order == "BGR":
            blob = blob[..., ::-1]
        if self.normalization == "arcface":
            blob = (blob - 127.5) / 127.5
        return self._run(np.ascontiguousarray(blob.transpose(0, 3, 1, 2), self._input_dtype))

    def _run(self, blob: np.ndarray) -> np.ndarray:
        """The model's output for every row of ``blob``, in zero-padded batches of
        :attr:`batch_size`, as ``len(blob) x dim`` float32."""
        size, count = self.batch_size, len(blob)
        padded = np.zeros((-(-count // size) * size, *blob.shape[1:]), blob.dtype)
        padded[:count] = blob
        outputs = []
        for start in range(0, len(padded), size):
            feed = {self._input_name: padded[start : start + size]}
            output = self._session.run([self._output_name], feed)[0]
            outputs.append(np.asarray(output, dtype=np.float32).reshape(size, -1))
        return np.concatenate(outputs)[:count]

    def _probe_dim(self) -> int:
        """The embedding size, from one forward pass over a blank batch (this also checks
        that the model runs on inputs of the expected shape)."""
        side = self.input_size
        blank = np.zeros((1, 3, side, side), self._input_dtype)
        try:
            output = self._run(blank)
        except Exception as exc:
            problem = f"a forward pass on a 1 x 3 x {side} x {side} input failed ({exc})"
            raise OnnxModelError(self.path, problem) from None
        return int(output.shape[1])


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise EmbedderError(f"{option} must be one of {', '.join(choices)}; got {value!r}")


def _open_session(path: str, providers: Sequence[str] | None) -> onnxruntime.InferenceSession:
    """An onnxruntime session of the model at ``path``, on ``providers`` (default: CUDA when
    available, then CPU), with as many CPU threads as OpenCV uses."""
    if not os.path.exists(path):
        raise OnnxModelError(path, "file not found")
    if not os.path.isfile(path):
        raise OnnxModelError(path, "not a file (expected an .onnx model file)")
    import cv2
    import onnx

    onnxruntime = import_onnxruntime()
    try:
        model = onnx.load(path)
    except Exception as exc:
        raise OnnxModelError(path, f"not an ONNX model ({exc})") from None
    if not model.graph.node:
        raise OnnxModelError(path, "not an ONNX model (no graph of operators in it)")
    available = onnxruntime.get_available_providers()
    if providers is None:
        providers = [name for name in _PREFERRED_PROVIDERS if name in available]
    missing = [name for name in providers if name not in available]
    if missing or not providers:
        raise EmbedderError(
            f"onnxruntime execution provider(s) {missing or providers} not available; "
            f"this onnxruntime has {', '.join(available)}"
        )
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: old exports draw many harmless warnings
    options.intra_op_num_threads = max(1, cv2.getNumThreads())
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source: str | bytes = path
    if _drop_unread_inputs(model.graph):
        source = model.SerializeToString()
    try:
        return inference_session(source, options, providers)
    except Exception as exc:
        raise OnnxModelError(path, f"onnxruntime cannot load it ({exc})") from None


def _drop_unread_inputs(graph: onnx.GraphProto) -> bool:
    """Remove the graph inputs that no operator reads (some exporters, SFace's included, list
    weights there that the graph computes instead); whether any was removed."""
    read = _names_read(graph)
    kept = [value for value in graph.input if value.name in read]
    if len(kept) == len(graph.input):
        return False
    del graph.input[:]
    graph.input.extend(kept)
    return True


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name an operator of ``graph`` (or of its subgraphs) reads, and the outputs."""
    import onnx

    names = {value.name for value in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                names |= _names_read(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    names |= _names_read(subgraph)
    return names


def _shape_text(shape: Sequence[Any]) -> str:
    return " x ".join(str(side) if isinstance(side, int) else "N" for side in shape) or "scalar"


def _check_input(
    path: str, session: onnxruntime.InferenceSession, size: int
) -> tuple[str, type[np.floating[Any]], int | None]:
    """The input's name, its dtype and its fixed batch size (``None`` when dynamic); raises
    :class:`OnnxModelError` unless the model reads one ``N x 3 x size x size`` float image."""
    inputs = session.get_inputs()
    expected = f"one image input N x 3 x {size} x {size}"
    if len(inputs) != 1:
        names = ", ".join(value.name for value in inputs)
        raise OnnxModelError(path, f"has {len(inputs)} inputs ({names}); expected {expected}")
    value = inputs[0]
    shape = list(value.shape)
    if len(shape) != 4 or shape[1] != 3:
        problem = f"input {value.name!r} has shape {_shape_text(shape)}; expected {expected}"
        raise OnnxModelError(path, problem)
    sides = [side for side in shape[2:] if isinstance(side, int)]
    if any(side != size for side in sides):
        hint = f"; pass input_size={sides[0]}" if len(set(sides)) == 1 and len(sides) == 2 else ""
        problem = (
            f"input {value.name!r} has shape {_shape_text(shape)}, but input_size is {size}"
            f" (expected {expected}){hint}"
        )
        raise OnnxModelError(path, problem)
    if value.type not in _INPUT_TYPES:
        problem = f"input {value.name!r} is {value.type}; expected float32 or float16"
        raise OnnxModelError(path, problem)
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    return value.name, _INPUT_TYPES[value.type], batch


def _check_output(path: str, session: onnxruntime.InferenceSession) -> str:
    """The name of the model's one output, declared ``N x D`` with a fixed ``D`` of at most
    :data:`MAX_DIM`; raises :class:`OnnxModelError` otherwise, before the model ever runs (a
    recognizer declaring 10^9 outputs would fill the memory on its first forward pass)."""
    outputs = session.get_outputs()
    expected = f"one embedding output N x D, D fixed and at most {MAX_DIM}"
    if len(outputs) != 1:
        names = ", ".join(value.name for value in outputs)
        raise OnnxModelError(path, f"has {len(outputs)} outputs ({names}); expected {expected}")
    value = outputs[0]
    shape = list(value.shape or [])
    dims = [side for side in shape[1:] if isinstance(side, int)]
    fixed = len(dims) == len(shape) - 1 and len(shape) >= 2
    if not fixed or math.prod(dims) > MAX_DIM or math.prod(dims) < 1:
        problem = f"output {value.name!r} is declared {_shape_text(shape)}; expected {expected}"
        raise OnnxModelError(path, problem)
    return value.name
