"""Embedder names, and building an embedder by name."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blindface.faces._dlib import DlibEmbedder
from blindface.faces._embedder import Embedder, EmbedderError
from blindface.faces._onnx import OnnxEmbedder, OnnxModelError
from blindface.faces._sface import SFaceEmbedder

_EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "sface": SFaceEmbedder,
    "dlib": DlibEmbedder,
}

ONNX_PREFIX = "onnx:"
"""``onnx:PATH`` names an ArcFace-family ONNX recognizer file (:class:`OnnxEmbedder`)."""

EMBEDDER_NAMES: tuple[str, ...] = (*_EMBEDDERS, f"{ONNX_PREFIX}PATH")
"""Names accepted by :func:`get_embedder`."""


def embedder_factory(name: str) -> Callable[..., Embedder]:
    """What builds the embedder called ``name`` from its options: its class, or for
    ``onnx:PATH`` the :class:`OnnxEmbedder` of that file. It pickles by reference, so worker
    processes receive it and build their own embedder with the same options."""
    if name.startswith(ONNX_PREFIX):
        return functools.partial(OnnxEmbedder, _onnx_path(name))
    factory = _EMBEDDERS.get(name.lower())
    if factory is None:
        choices = ", ".join(EMBEDDER_NAMES)
        raise EmbedderError(f"unknown embedder {name!r}; expected one of {choices}")
    return factory


def check_embedder_name(name: str) -> str:
    """``name`` when it names an embedder (for ``onnx:PATH``, an existing file), else an
    :class:`EmbedderError` saying what is accepted. Loads no model (for the command line)."""
    embedder_factory(name)
    if name.startswith(ONNX_PREFIX):
        path = _onnx_path(name)
        if not os.path.isfile(path):
            raise OnnxModelError(path, "file not found")
    return name


def embedder_label(name: str | Embedder) -> str:
    """A short, file-name-safe label for the embedder called ``name``, for the files made with
    it: the name of a built-in embedder (``sface``), ``onnx-<file stem>-<8 hex digits>`` for
    ``onnx:PATH`` (the digits hash the absolute path, so two files with one name differ).

    A name must be registered; an embedder object (perhaps one of the user's own classes) is
    labelled by its ``name`` attribute, made file-name-safe."""
    if isinstance(name, Embedder):
        name = name.name
    else:
        embedder_factory(name)
    if not name.startswith(ONNX_PREFIX):
        return _file_safe(name.lower())
    path = _onnx_path(name)
    return f"onnx-{_file_safe(Path(path).stem)}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "model"


def _onnx_path(name: str) -> str:
    """The absolute model path of ``onnx:PATH`` (``~`` expanded)."""
    path = name[len(ONNX_PREFIX) :]
    if not path:
        raise EmbedderError(f"{ONNX_PREFIX!r} needs a model file: {ONNX_PREFIX}PATH")
    return os.path.abspath(os.path.expanduser(path))


def get_embedder(name: str | Embedder = "sface", **options: Any) -> Embedder:
    """The embedder called ``name`` (one of :data:`EMBEDDER_NAMES`), built with ``options``.

    ``sface`` (default) and ``dlib`` take the options of :class:`SFaceEmbedder` and
    :class:`DlibEmbedder`; ``onnx:PATH`` those of :class:`OnnxEmbedder`. An embedder given
    instead of a name is returned as it is. Raises :class:`EmbedderError` (a ``ValueError``)
    for an unknown name or a bad model file.
    """
    if isinstance(name, Embedder):
        if options:
            message = "options apply when building an embedder by name, not to an instance"
            raise EmbedderError(message)
        return name
    embedder = embedder_factory(name)(**options)
    embedder._options = dict(options)
    return embedder
