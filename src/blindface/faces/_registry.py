"""Embedder names, and building an embedder by name.

Built in: ``sface``, ``dlib`` and ``onnx:PATH``. A higher layer adds embedders named
``PREFIX:PATH`` with :func:`register_prefix` (``blinded:MODEL_DIR`` is registered by
:mod:`blindface.pipelines`, which loads blinding models): the faces layer builds them by name
without importing the layers above it.
"""

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
"""The built-in names accepted by :func:`get_embedder` (:func:`embedder_names` adds the
registered prefixes)."""

#: What a path names after a registered prefix (``"MODEL_DIR"``), and what builds the
#: embedder of a path: prefix -> (placeholder, factory).
PathFactory = Callable[[str], Callable[..., Embedder]]
_PREFIXES: dict[str, tuple[str, PathFactory]] = {}


def register_prefix(prefix: str, placeholder: str, factory: PathFactory) -> None:
    """Name embedders ``<prefix><path>`` (``prefix`` ends with ``:``); ``factory(path)``, given
    the absolute path, returns what builds the embedder from its options (it must pickle by
    reference, so that worker processes rebuild it) or raises :class:`EmbedderError` for a path
    that holds no model. Registering a prefix again replaces it."""
    if not prefix.endswith(":") or prefix == ONNX_PREFIX or len(prefix) < 2:
        raise ValueError(f"a prefix is a name ending with ':' other than {ONNX_PREFIX!r}")
    _PREFIXES[prefix] = (placeholder, factory)


def embedder_names() -> tuple[str, ...]:
    """Every name :func:`get_embedder` accepts now: :data:`EMBEDDER_NAMES` and the registered
    prefixes (``blinded:MODEL_DIR`` once :mod:`blindface.pipelines` is imported)."""
    return (*EMBEDDER_NAMES, *(f"{p}{placeholder}" for p, (placeholder, _) in _PREFIXES.items()))


def _registered_prefix(name: str) -> str | None:
    return next((prefix for prefix in _PREFIXES if name.startswith(prefix)), None)


def embedder_factory(name: str) -> Callable[..., Embedder]:
    """What builds the embedder called ``name`` from its options: its class, for
    ``onnx:PATH`` the :class:`OnnxEmbedder` of that file, for a registered ``PREFIX:PATH``
    what its factory returns. It pickles by reference, so worker processes receive it and build
    their own embedder with the same options."""
    if name.startswith(ONNX_PREFIX):
        return functools.partial(OnnxEmbedder, _onnx_path(name))
    prefix = _registered_prefix(name)
    if prefix is not None:
        return _PREFIXES[prefix][1](_prefixed_path(name, prefix))
    factory = _EMBEDDERS.get(name.lower())
    if factory is None:
        choices = ", ".join(embedder_names())
        raise EmbedderError(f"unknown embedder {name!r}; expected one of {choices}")
    return factory


def check_embedder_name(name: str) -> str:
    """``name`` when it names an embedder (for ``onnx:PATH``, an existing file; for a
    registered prefix, what its factory accepts), else an :class:`EmbedderError` saying what is
    accepted. Loads no model (for the command line)."""
    embedder_factory(name)
    if name.startswith(ONNX_PREFIX):
        path = _onnx_path(name)
        if not os.path.isfile(path):
            raise OnnxModelError(path, "file not found")
    return name


def embedder_label(name: str | Embedder) -> str:
    """A short, file-name-safe label for the embedder called ``name``, for the files made with
    it: the name of a built-in embedder (``sface``), ``onnx-<file stem>-<8 hex digits>`` for
    ``onnx:PATH`` (the digits hash the absolute path, so two files with one name differ), and
    likewise ``<prefix>-<stem>-<8 hex digits>`` for a registered ``PREFIX:PATH``.

    A name must be registered; an embedder object (perhaps one of the user's own classes) is
    labelled by its ``name`` attribute, made file-name-safe."""
    given = name.name if isinstance(name, Embedder) else name
    prefix = ONNX_PREFIX if given.startswith(ONNX_PREFIX) else _registered_prefix(given)
    if prefix is None:
        if not isinstance(name, Embedder):
            embedder_factory(given)  # an unknown name raises
        return _file_safe(given.lower())
    path = _prefixed_path(given, prefix)
    digits = hashlib.sha256(path.encode()).hexdigest()[:8]
    return f"{prefix[:-1]}-{_file_safe(Path(path).stem)}-{digits}"


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "model"


def _onnx_path(name: str) -> str:
    """The absolute model path of ``onnx:PATH`` (``~`` expanded)."""
    return _prefixed_path(name, ONNX_PREFIX)


def _prefixed_path(name: str, prefix: str) -> str:
    """The absolute path of ``<prefix>PATH`` (``~`` expanded)."""
    path = name[len(prefix) :]
    if not path:
        if prefix == ONNX_PREFIX:
            raise EmbedderError(f"{prefix!r} needs a model file: {prefix}PATH")
        raise EmbedderError(f"{prefix!r} needs a path: {prefix}{_PREFIXES[prefix][0]}")
    return os.path.abspath(os.path.expanduser(path))


def get_embedder(name: str | Embedder = "sface", **options: Any) -> Embedder:
    """The embedder called ``name`` (one of :data:`EMBEDDER_NAMES`), built with ``options``.

    ``sface`` (default) and ``dlib`` take the options of :class:`SFaceEmbedder` and
    :class:`DlibEmbedder`; ``onnx:PATH`` those of :class:`OnnxEmbedder`; a registered
    ``PREFIX:PATH`` those of the class its factory builds. An embedder given
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
