"""onnxruntime sessions without telemetry: the one place blindface creates them.

onnxruntime (1.2x on Linux) records telemetry by default: on import it writes a device id and an
event database under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` (device id, OS, CPU,
process path). :func:`inference_session` sets ``ORT_DISABLE_TELEMETRY=1`` before onnxruntime is
first imported (worker processes inherit it) and turns its telemetry events off, so no session
blindface creates records anything. A program that imported onnxruntime before blindface must set
``ORT_DISABLE_TELEMETRY=1`` itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["import_onnxruntime", "inference_session"]


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, imported with its telemetry off."""
    if "onnxruntime" not in sys.modules:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    if hasattr(onnxruntime, "disable_telemetry_events"):
        onnxruntime.disable_telemetry_events()
    return onnxruntime


def inference_session(
    model: str | bytes,
    options: onnxruntime.SessionOptions | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> onnxruntime.InferenceSession:
    """An onnxruntime session of ``model`` (a path or the serialized model) on ``providers``,
    with telemetry off (see the module docstring)."""
    ort = import_onnxruntime()
    return ort.InferenceSession(model, options, providers=list(providers))
