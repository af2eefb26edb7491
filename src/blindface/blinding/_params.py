"""Constructor parameters by their declared types: checking JSON values and parsing CLI text.

A blinder's parameters are what its ``__init__`` declares (scikit-learn convention): their type
hints are the schema a saved ``config.json`` is checked against and the type ``--param
KEY=VALUE`` is parsed into. The hints used are ``bool``, ``int``, ``float``, ``str``, ``None``,
unions of those (``int | None``, ``str | int``) and tuples (``tuple[int, ...]``).
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any, Union

#: a parameter value as a config or the command line may hold it
Param = Union[bool, int, float, str, None, tuple["Param", ...]]  # noqa: UP007 (recursive alias)


class ParamError(ValueError):
    """A parameter value that does not match the parameter's declared type."""


def declared_params(cls: type) -> dict[str, Any]:
    """Name -> type hint of every keyword parameter of ``cls.__init__``."""
    hints = typing.get_type_hints(cls.__init__)
    names = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return {name: hints[name] for name in names}


def describe(hint: Any) -> str:
    """A readable name of a type hint: ``int``, ``int or None``, ``tuple of int``."""
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return f"tuple of {describe(args[0])}" if args[-1] is Ellipsis else "tuple"
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    return str(hint)


def coerce(value: object, hint: Any, name: str) -> Param:
    """``value`` (as JSON holds it: lists for tuples) as a value of type ``hint``, or a
    :class:`ParamError` naming the parameter, the value and the expected type."""
    out = _coerce(value, hint)
    if out is _BAD:
        raise ParamError(f"{name}={value!r} is not a valid value: expected {describe(hint)}")
    return out  # type: ignore[return-value]


def parse(text: str, hint: Any, name: str) -> Param:
    """Parse command-line text into a value of type ``hint``.

    Numbers, ``true``/``false``, ``none``/``null``, strings, and lists written ``1,2,3`` or
    ``[1, 2.5]`` or ``(1, 2)``.
    """
    raw = text.strip()
    if raw[:1] in "[(" and raw[-1:] in "])":
        raw = raw[1:-1]
        items = [] if not raw.strip() else [item.strip() for item in raw.split(",")]
        value: object = [_scalar(item) for item in items]
    elif "," in raw and _accepts_tuple(hint):
        value = [_scalar(item.strip()) for item in raw.split(",")]
    else:
        value = _scalar(raw)
        if _accepts_tuple(hint) and not isinstance(value, str | type(None)):
            value = [value]  # one layer width: hidden_layer_sizes=64
    return coerce(value, hint, name)


_BAD = object()


def _scalar(text: str) -> object:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip("'\"")


def _accepts_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) is tuple:
        return True
    return any(_accepts_tuple(a) for a in typing.get_args(hint) if typing.get_origin(hint))


def _coerce(value: object, hint: Any) -> object:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            out = _coerce(value, arg)
            if out is not _BAD:
                return out
        return _BAD
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return _BAD
        args = typing.get_args(hint)
        item_hints = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        if len(item_hints) != len(value):
            return _BAD
        items = [_coerce(v, h) for v, h in zip(value, item_hints, strict=True)]
        return _BAD if any(i is _BAD for i in items) else tuple(items)
    if hint is type(None):
        return None if value is None else _BAD
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _BAD
    if hint is str:
        return value if isinstance(value, str) else _BAD
    return _BAD
