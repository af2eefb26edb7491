"""Saving and loading fitted blinding models: safetensors weights + a JSON config, never pickle.

A saved model is a directory holding ``config.json`` (method, parameters, input/output
dimension, library version, fitted label classes, training history) and ``weights.safetensors``
(every fitted array). Each file is written atomically (temporary file in the same directory, then
``os.replace``); the config records the SHA-256 of the weights it belongs to, so a half-written
or mismatched pair is detected at load time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import safetensors.numpy

from blindface._version import __version__

if TYPE_CHECKING:
    from blindface.blinding._base import Blinder

FORMAT = "blindface-blinding"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"

_NDARRAY = "__ndarray__"
_REGISTRY: dict[str, type[Blinder]] = {}


def register(cls: type[Blinder]) -> None:
    """Make ``cls`` loadable by its class name."""
    _REGISTRY[cls.__name__] = cls


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(value: Any) -> Any:
    """JSON-ready copy of a fitted attribute or parameter (arrays and NumPy scalars included)."""
    if isinstance(value, np.ndarray):
        return {_NDARRAY: value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a model config: {value!r}")


def from_json(value: Any) -> Any:
    """Inverse of :func:`to_json` (lists come back as lists)."""
    if isinstance(value, dict):
        if _NDARRAY in value:
            dtype = np.dtype(value["dtype"])
            return np.array(value[_NDARRAY], dtype=dtype if dtype.kind != "U" else str)
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def _param_from_json(value: Any) -> Any:
    """Parameters are never lists: sequences (layer sizes) were tuples when saved."""
    if isinstance(value, list):
        return tuple(_param_from_json(v) for v in value)
    return from_json(value)


def save(model: Blinder, path: str | os.PathLike) -> Path:
    """Save a fitted model into the directory ``path`` (created if needed); return it."""
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory} exists and is not a directory: a model is saved as a folder")
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, np.ndarray] = {}
    for name in model._array_attributes:
        value = getattr(model, name)
        if isinstance(value, list):
            for i, arr in enumerate(value):
                tensors[f"{name}.{i}"] = np.ascontiguousarray(arr)
        else:
            tensors[name] = np.ascontiguousarray(value)
    method = type(model).__name__
    blob = safetensors.numpy.save(tensors, metadata={"format": FORMAT, "method": method})
    try:
        params = to_json(model.get_params(deep=False))
    except TypeError as err:
        raise ValueError(f"cannot save {method}: {err} (use an int random_state)") from err
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": method,
        "library_version": __version__,
        "params": params,
        "n_features_in": int(model.n_features_in_),
        "n_features_out": int(model.n_features_out_),
        "state": {name: to_json(getattr(model, name)) for name in model._json_attributes},
        "weights_file": WEIGHTS_NAME,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    write_atomic(directory / WEIGHTS_NAME, blob)
    write_atomic(directory / CONFIG_NAME, json.dumps(config, indent=1).encode("utf-8"))
    return directory


def read_config(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """The model directory and its parsed config; ``path`` is the directory or its config.json."""
    path = Path(path)
    directory = path.parent if path.is_file() else path
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(
            f"no saved blinding model at {path}: expected a directory with {CONFIG_NAME} and "
            f"{WEIGHTS_NAME} (written by model.save(directory))"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{config_path} is corrupt (not valid JSON): {err}") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{config_path} is not a blindface blinding model config")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{config_path} was written by a newer blindface (format "
            f"{config['format_version']}, this one reads {FORMAT_VERSION}): upgrade blindface"
        )
    return directory, config


def load(path: str | os.PathLike) -> Blinder:
    """Load any saved blinding model (the method is read from its config)."""
    directory, config = read_config(path)
    method = config.get("method")
    if method not in _REGISTRY:
        raise ValueError(f"{directory}: unknown blinding method {method!r}")
    weights_path = directory / config.get("weights_file", WEIGHTS_NAME)
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path} is missing: the saved model is incomplete")
    blob = weights_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != config.get("weights_sha256"):
        raise ValueError(
            f"{weights_path} does not match {directory / CONFIG_NAME} (checksum differs): the "
            "model is corrupt or was half-written; save it again"
        )
    try:
        tensors = safetensors.numpy.load(blob)
    except Exception as err:  # safetensors raises its own error types
        raise ValueError(f"{weights_path} is corrupt: {err}") from err
    cls = _REGISTRY[method]
    model = cls(**{k: _param_from_json(v) for k, v in config["params"].items()})
    for name in cls._array_attributes:
        if name in tensors:
            setattr(model, name, tensors[name])
        else:
            parts = sorted((k for k in tensors if k.startswith(f"{name}.")), key=_index)
            if not parts:
                raise ValueError(f"{weights_path} lacks the array {name!r} of {method}")
            setattr(model, name, [tensors[k] for k in parts])
    for name, value in config["state"].items():
        setattr(model, name, from_json(value))
    model.n_features_in_ = int(config["n_features_in"])
    return model


def _index(key: str) -> int:
    return int(key.rsplit(".", 1)[1])
