"""Constructor parameters by their declared types and ranges: checking values, parsing CLI text.

A blinder's parameters are what its ``__init__`` declares (scikit-learn convention): their type
hints are the schema a saved ``config.json`` is checked against and the type ``--param
KEY=VALUE`` is parsed into. The hints used are ``bool``, ``int``, ``float``, ``str``, ``None``,
unions of those (``int | None``, ``str | int``) and tuples (``tuple[int, ...]``).

Beside its ``__init__`` each method declares the :class:`Range` of every parameter that costs
time or memory or takes a few named values (``_param_ranges``). :func:`check_values` is the one
check of names, types and ranges, run before any work by ``--param``, ``set_params``, ``fit``,
the study and the model loader alike: ``max_iter=10**12`` or a layer of 10^9 units is an error
naming the parameter and its range, never an allocation or a run that does not end.
"""

from __future__ import annotations

import inspect
import math
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from blindface._json import JSONError, loads_bounded

#: a parameter value as a config or the command line may hold it
Param = Union[bool, int, float, str, None, tuple["Param", ...]]  # noqa: UP007 (recursive alias)


#: Longest string a parameter may hold (choices and labels are short).
MAX_STRING_CHARS = 256
#: Longest ``--param`` value parsed.
MAX_TEXT_CHARS = 4096


class ParamError(ValueError):
    """A parameter that is not declared, or a value that does not match the parameter's declared
    type or range; the message names the parameter, the value and what is expected."""


@dataclass(frozen=True)
class Range:
    """The values a parameter may take (``None`` passes wherever its type allows it).

    Numbers, or each item of a tuple, lie in ``[low, high]`` (``low_open`` / ``high_open``
    exclude the bound itself); a tuple holds ``min_items`` to ``max_items`` items; ``choices``
    lists the only values accepted.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    min_items: int = 0
    max_items: int | None = None
    choices: tuple[object, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(repr, self.choices))
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        text = f"in {left}{low}, {high}{right}"
        if self.max_items is not None:
            text = f"{self.min_items} to {self.max_items} items, each {text}"
        return text

    def admits(self, value: object) -> bool:
        if value is None:
            return True
        if self.choices:
            return value in self.choices
        if isinstance(value, tuple):
            count_ok = len(value) >= self.min_items and (
                self.max_items is None or len(value) <= self.max_items
            )
            return count_ok and all(self.admits(item) for item in value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return True
        if math.isnan(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below


#: Shared bounds: they keep a fit to minutes-to-hours and to memory a machine has.
MAX_WIDTH = 8192
MAX_LAYERS = 8
MAX_EPOCHS = 1000
MAX_STEPS = 100_000
WEIGHT = Range(0, 1e6)
LEARNING_RATE = Range(0, 10, low_open=True)
BATCH_SIZE = Range(1, 65_536)
FRACTION = Range(0, 1, low_open=True, high_open=True)
VERBOSE = Range(0, 3)
SEED = Range(0, 2**32 - 1)


def layers(*, min_items: int = 0) -> Range:
    """The range of a tuple of layer widths."""
    return Range(1, MAX_WIDTH, min_items=min_items, max_items=MAX_LAYERS)


def check_values(
    owner: str,
    params: Mapping[str, object],
    hints: Mapping[str, Any],
    ranges: Mapping[str, Range],
) -> None:
    """Raise :class:`ParamError` unless every parameter in ``params`` is declared in ``hints``,
    has a value of its declared type and, where ``ranges`` declares one, in its range.

    ``owner`` names the method in messages. Values may be as Python, NumPy or JSON give them
    (lists for tuples, NumPy scalars for numbers, one int for a one-item tuple).
    """
    for name, value in params.items():
        if name not in hints:
            known = ", ".join(f"{k} ({describe(h)})" for k, h in hints.items())
            raise ParamError(f"{owner} has no parameter {name!r}; it has {known}")
        hint = hints[name]
        if _accepts_tuple(hint) and isinstance(value, numbers.Integral):
            value = [value]
        checked = _coerce(value, hint)
        if checked is _BAD:
            raise ParamError(
                f"{owner} parameter {name}={_short(value)} is not a valid value: expected "
                f"{describe(hint)}"
            )
        if isinstance(checked, str) and len(checked) > MAX_STRING_CHARS:
            raise ParamError(
                f"{owner} parameter {name} is longer than {MAX_STRING_CHARS} characters"
            )
        bounds = ranges.get(name)
        if bounds is not None and not bounds.admits(checked):
            raise ParamError(
                f"{owner} parameter {name}={_short(value)} must be {bounds.describe()}"
            )


def check_params(cls: type, params: Mapping[str, object]) -> None:
    """:func:`check_values` of ``params`` against the declared parameters and ranges of the
    estimator class ``cls``."""
    ranges = getattr(cls, "_param_ranges", {})
    check_values(cls.__name__, params, declared_params(cls), ranges)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text):,} characters)"


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
        raise ParamError(f"{name}={_short(value)} is not a valid value: expected {describe(hint)}")
    return out  # type: ignore[return-value]


def parse(text: str, hint: Any, name: str) -> Param:
    """Parse command-line text into a value of type ``hint``.

    Numbers, ``true``/``false``, ``none``/``null``, strings, and lists written ``1,2,3`` or
    ``[1, 2.5]`` or ``(1, 2)``.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise ParamError(f"{name}: the value is longer than {MAX_TEXT_CHARS} characters")
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
        return loads_bounded(text, "--param value", max_bytes=MAX_TEXT_CHARS)
    except JSONError:
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
        return bool(value) if isinstance(value, bool | np.bool_) else _BAD
    if hint is int:
        integral = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
        return int(value) if integral else _BAD  # type: ignore[arg-type]
    if hint is float:
        real = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
        return float(value) if real else _BAD  # type: ignore[arg-type]
    if hint is str:
        return value if isinstance(value, str) else _BAD
    return _BAD
