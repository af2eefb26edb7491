"""Parsing JSON a user (or an attacker) may have written: bounded in size and nesting depth.

Every JSON document blindface reads (model configs and weights metadata, store footers and
manifests, label maps, ``--param`` values) is parsed by :func:`loads_bounded` or
:func:`read_json`. Python's parser recurses once per nesting level, so a document nested 100,000
deep raises :class:`RecursionError`; here the depth is measured first, without recursion, and a
document deeper than :data:`MAX_DEPTH` (or longer than its size limit) is one clear error naming
where it came from. ``NaN`` and ``Infinity`` are refused unless asked for.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from blindface._safe_read import read_bounded

__all__ = ["MAX_DEPTH", "JSONError", "loads_bounded", "read_json"]

#: Deepest nesting accepted; blindface's own files nest at most 6 deep.
MAX_DEPTH = 64
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", np.uint8)
_CLOSE = np.frombuffer(b"]}", np.uint8)


class JSONError(ValueError):
    """A JSON document that is invalid, too large or nested too deep; the message names it."""


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in the JSON text ``data`` (strings skipped)."""
    codes = np.frombuffer(_STRING.sub(b'""', data), np.uint8)
    steps = np.isin(codes, _OPEN).astype(np.int64) - np.isin(codes, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))


def loads_bounded(
    data: bytes | str,
    where: str,
    *,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    allow_nan: bool = False,
    error: Callable[[str], Exception] = JSONError,
) -> Any:
    """Parse the JSON ``data`` (``where`` names it in messages) or raise ``error``.

    Refused: more than ``max_bytes`` bytes, nesting deeper than ``max_depth``, invalid JSON or
    text, and (unless ``allow_nan``) the constants ``NaN``, ``Infinity`` and ``-Infinity``.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise error(f"{where}: its JSON is larger than {max_bytes:,} bytes")
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise error(f"{where}: its JSON nests {depth} levels deep (at most {max_depth} accepted)")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    try:
        return json.loads(raw, parse_constant=None if allow_nan else no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{where} is not valid JSON ({exc})") from None


def read_json(
    path: str | os.PathLike[str],
    what: str,
    *,
    max_bytes: int,
    error: Callable[[str], Exception] = JSONError,
) -> Any:
    """The JSON document in the regular file ``path`` (see :func:`loads_bounded` and
    :func:`blindface._safe_read.read_bounded`); ``what`` names it ("model config")."""
    data = read_bounded(path, what, limit=max_bytes, error=error)
    return loads_bounded(data, f"{what} {path}", max_bytes=max_bytes, error=error)
