"""The saved-model format: a folder with ``config.json`` and ``weights.safetensors``, never pickle.

``config.json`` says what the model is: format and version, method, constructor parameters,
input/output dimensions, the library version, the weights file's name and its SHA-256.
``weights.safetensors`` holds everything that was fitted: the arrays, and in its metadata (one
JSON string, so the bytes are the same for the same fit) the fitted labels and training history.
Because the checksum covers the whole weights file, fitted state cannot be changed without the
loader noticing, and the config holds nothing that could replace it.

Loading trusts nothing: the config is checked against the method's schema (known method, only
the declared parameters, each of its declared type, integer dimensions, a bare weights file name
inside the folder), the checksum is compared before the weights are parsed, every array must be
float32 and finite, and its shape must agree with the dimensions. Anything else is one
:class:`ModelError` naming the file and the problem. Files are written atomically with mode 0644
through :mod:`blindface._io`.

This module knows the format, not the methods: callers pass a :class:`ModelSchema` per method.
It is longer than the others (about 400 lines) because the writer and the checks of the reader
belong side by side: every rule the reader enforces is one the writer must follow.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import safetensors.numpy

from blindface._io import write_atomic, write_folder
from blindface._json import loads_bounded, read_json
from blindface._outputs import Inputs, check_output
from blindface._provenance import check_fitted_on
from blindface._safe_read import check_regular_file, read_bounded
from blindface._version import __version__
from blindface.blinding._params import ParamError, Range, check_values, coerce

__all__ = [
    "CONFIG_NAME",
    "CURVES_NAME",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "check_model_folder",
    "ModelError",
    "ModelSchema",
    "SavedModel",
    "read_model",
    "write_model",
]

FORMAT = "blindface-blinding"
FORMAT_VERSION = 2
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
#: The training curves `blindface fit` writes beside an iterative method's model.
CURVES_NAME = "training_curves.png"
_METADATA_KEY = "blindface"
_CONFIG_KEYS = (
    "format",
    "format_version",
    "method",
    "library_version",
    "params",
    "n_features_in",
    "n_features_out",
    "weights_file",
    "weights_sha256",
)
_MAX_WEIGHTS_BYTES = 1 << 30
_MAX_CONFIG_BYTES = 1 << 20
#: the safetensors header (array offsets, and the metadata with the labels and the history)
_MAX_HEADER_BYTES = 8 << 20
#: bounds on fitted labels: every label's length, and count x longest (NumPy stores labels at the
#: width of the longest, so one long label among many would cost count x length x 4 bytes)
MAX_LABEL_CHARS = 256
MAX_LABEL_CELLS = 16 << 20
#: bounds on a training history: records, entries per record, characters per key or string
MAX_RECORDS = 100_000
MAX_RECORD_ENTRIES = 64

#: how a fitted attribute that is not an array is stored (in the safetensors metadata)
AttributeKind = Literal["labels", "records", "int", "float"]
#: an array's expected shape: ints, "in" / "out" (n_features_in / n_features_out) or None (any)
Shape = tuple[int | str | None, ...]


class ModelError(ValueError):
    """A saved blinding model that cannot be loaded; the message names the file and the problem."""


@dataclass(frozen=True)
class ModelSchema:
    """What a method's saved model holds.

    ``params`` maps each constructor parameter to its type hint, ``ranges`` some of them to
    their :class:`~blindface.blinding._params.Range`; ``arrays`` each fitted array to
    its expected shape (a list of arrays, such as a network's layers, is saved as ``name.0``,
    ``name.1``, ... and listed in ``array_lists``); ``attributes`` each other fitted attribute to
    its kind.
    """

    params: Mapping[str, Any]
    ranges: Mapping[str, Range] = field(default_factory=dict)
    arrays: Mapping[str, Shape] = field(default_factory=dict)
    array_lists: tuple[str, ...] = ()
    attributes: Mapping[str, AttributeKind] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedModel:
    """A model as stored: method, parameters, dimensions and fitted state; and what it was
    fitted on (see :mod:`blindface._provenance`; None when fitted from arrays)."""

    method: str
    params: dict[str, Any]
    n_features_in: int
    n_features_out: int
    arrays: dict[str, np.ndarray | list[np.ndarray]]
    attributes: dict[str, Any]
    fitted_on: dict[str, Any] | None = None


def write_model(
    directory: str | os.PathLike[str],
    model: SavedModel,
    schema: ModelSchema,
    *,
    extra: Callable[[Path], object] | None = None,
) -> Path:
    """Write ``model`` as the folder ``directory``, atomically; return the directory.

    ``extra(folder)`` writes further files into it (training curves) within the same atomic
    write: a failure (a full disk) leaves no partial model. Raises :class:`ModelError` for
    non-finite weights or state that does not fit ``schema``, and
    :class:`~blindface._outputs.OutputError` for a ``directory`` that holds anything but a
    model (:func:`check_model_folder`).
    """
    directory = check_model_folder(directory)
    problems = _check_model(model, schema)
    if problems:
        raise ModelError(f"cannot save the {model.method} model to {directory}: {problems[0]}")
    tensors: dict[str, np.ndarray] = {}
    for name, value in model.arrays.items():
        if isinstance(value, list):
            tensors.update({f"{name}.{i}": np.ascontiguousarray(a) for i, a in enumerate(value)})
        else:
            tensors[name] = np.ascontiguousarray(value)
    attributes = {name: _attribute_to_json(value) for name, value in model.attributes.items()}
    metadata = {"format": FORMAT, "method": model.method, "attributes": attributes}
    if model.fitted_on is not None:
        metadata["fitted_on"] = model.fitted_on
    blob = safetensors.numpy.save(
        tensors, metadata={_METADATA_KEY: json.dumps(metadata, sort_keys=True)}
    )
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": model.method,
        "library_version": __version__,
        "params": {k: _param_to_json(v) for k, v in model.params.items()},
        "n_features_in": model.n_features_in,
        "n_features_out": model.n_features_out,
        "weights_file": WEIGHTS_NAME,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    text = json.dumps(config, indent=1, allow_nan=False) + "\n"

    def fill(folder: Path) -> None:
        write_atomic(folder / WEIGHTS_NAME, blob)
        write_atomic(folder / CONFIG_NAME, text.encode("utf-8"))
        if extra is not None:
            extra(folder)

    return write_folder(directory, fill)


def check_model_folder(directory: str | os.PathLike[str], inputs: Inputs = ()) -> Path:
    """:func:`~blindface._outputs.check_output` for a model folder: it may hold only what a
    model folder holds (a blindface ``config.json``, the weights, the training curves), and
    not be or hold one of ``inputs``."""
    return check_output(
        directory, what="model folder", folder=True, ours=_model_entry, inputs=inputs
    )


def _model_entry(entry: Path) -> bool:
    if entry.name == CONFIG_NAME:
        try:
            config = read_json(entry, "model config", max_bytes=_MAX_CONFIG_BYTES)
        except (OSError, ValueError):
            return False
        return isinstance(config, dict) and config.get("format") == FORMAT
    return entry.name in (WEIGHTS_NAME, CURVES_NAME) and entry.is_file()


def read_model(path: str | os.PathLike[str], schemas: Mapping[str, ModelSchema]) -> SavedModel:
    """Read and check the model saved in ``path`` (its folder or its ``config.json``).

    ``schemas`` maps the methods that may be loaded to their schema. Raises
    :class:`FileNotFoundError` when there is no model at ``path`` and :class:`ModelError` for
    anything malformed.
    """
    path = Path(path)
    directory = path.parent if path.is_file() else path
    config_path = directory / CONFIG_NAME
    try:
        check_regular_file(config_path, "model config", error=ModelError)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no saved blinding model at {path}: expected a folder with {CONFIG_NAME} and "
            f"{WEIGHTS_NAME} (written by model.save(folder))"
        ) from None
    config = _read_config(config_path)
    method = config["method"]
    if method not in schemas:
        expected = ", ".join(sorted(schemas))
        raise ModelError(
            f"{config_path}: holds a {method!r} model, not one of {expected}"
            + (": load it with blindface.load(path)" if len(schemas) == 1 else "")
        )
    schema = schemas[method]
    params = _check_params(config["params"], method, schema, config_path)
    weights_path = _weights_path(directory, config["weights_file"], config_path)
    blob = read_bounded(weights_path, "model weights", limit=_MAX_WEIGHTS_BYTES, error=ModelError)
    if hashlib.sha256(blob).hexdigest() != config["weights_sha256"]:
        raise ModelError(
            f"{weights_path} does not match {config_path} (checksum differs): the model is "
            "corrupt or half-written; save it again"
        )
    tensors, metadata = _read_weights(blob, weights_path)
    if metadata.get("method") != method or metadata.get("format") != FORMAT:
        raise ModelError(f"{weights_path}: its metadata is not that of a {method} model")
    model = SavedModel(
        method=method,
        params=params,
        n_features_in=config["n_features_in"],
        n_features_out=config["n_features_out"],
        arrays=_collect_arrays(tensors, schema, weights_path),
        attributes=_read_attributes(metadata.get("attributes"), schema, weights_path),
        fitted_on=_read_fitted_on(metadata.get("fitted_on"), weights_path),
    )
    problems = _check_model(model, schema)
    if problems:
        raise ModelError(f"{weights_path}: {problems[0]}")
    return model


# -- config ---------------------------------------------------------------------------------


def _read_config(config_path: Path) -> dict[str, Any]:
    config = read_json(config_path, "model config", max_bytes=_MAX_CONFIG_BYTES, error=ModelError)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{config_path} is not a blindface blinding model config")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{config_path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{config_path} was written by a newer blindface (format {version}, this one reads "
            f"{FORMAT_VERSION}): upgrade blindface"
        )
    if version < FORMAT_VERSION:
        raise ModelError(
            f"{config_path} is in the old format {version} (this blindface reads "
            f"{FORMAT_VERSION}): fit the model again"
        )
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    missing = [k for k in _CONFIG_KEYS if k not in config]
    if unknown or missing:
        what = f"unexpected entries {unknown}" if unknown else f"missing entries {missing}"
        raise ModelError(
            f"{config_path}: {what}; a config holds exactly {', '.join(_CONFIG_KEYS)} (fitted "
            "state lives only in the checksummed weights file)"
        )
    for key in ("method", "library_version", "weights_file", "weights_sha256"):
        if not isinstance(config[key], str):
            raise ModelError(f"{config_path}: {key} must be a string, got {config[key]!r}")
    for key in ("n_features_in", "n_features_out"):
        if not _is_int(config[key]) or config[key] < 1:
            raise ModelError(
                f"{config_path}: {key} must be a positive integer, got {config[key]!r}"
            )
    if not isinstance(config["params"], dict):
        raise ModelError(f"{config_path}: params must be an object, got {config['params']!r}")
    return config


def _check_params(
    params: dict[str, Any], method: str, schema: ModelSchema, config_path: Path
) -> dict:
    unknown = sorted(set(params) - set(schema.params))
    if unknown:
        raise ModelError(
            f"{config_path}: unknown parameter(s) {unknown}; the method declares "
            f"{', '.join(schema.params)}"
        )
    try:
        out = {name: coerce(value, schema.params[name], name) for name, value in params.items()}
    except ParamError as err:
        raise ModelError(f"{config_path}: parameter {err}") from None
    try:
        check_values(method, out, schema.params, schema.ranges)
    except ParamError as err:
        raise ModelError(f"{config_path}: {err}") from None
    return out


def _weights_path(directory: Path, name: str, config_path: Path) -> Path:
    if not name or Path(name).name != name or name in (".", "..") or "\\" in name:
        raise ModelError(
            f"{config_path}: weights_file must be a file name inside the model folder, got {name!r}"
        )
    path = directory / name
    if path.resolve().parent != directory.resolve():
        raise ModelError(f"{config_path}: weights_file {name!r} points outside the model folder")
    if not path.is_file():
        raise ModelError(f"{path} is missing: the saved model is incomplete")
    return path


def _param_to_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_param_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise ModelError(f"cannot save the parameter value {value!r} (use plain numbers and strings)")


# -- weights --------------------------------------------------------------------------------


def _read_weights(blob: bytes, weights_path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the decoded metadata of a safetensors file, every array float32."""
    size = int.from_bytes(blob[:8], "little") if len(blob) >= 8 else -1
    where = f"{weights_path} (header)"
    try:
        if not 0 < size <= min(len(blob) - 8, _MAX_HEADER_BYTES):
            raise ValueError(
                f"the header length {size} does not fit the file (at most {_MAX_HEADER_BYTES})"
            )
        header = loads_bounded(blob[8 : 8 + size], where, max_bytes=size, error=ModelError)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        raw = header.pop("__metadata__", None) or {}
        bad = sorted(
            k for k, v in header.items() if not isinstance(v, dict) or v.get("dtype") != "F32"
        )
        if bad:
            raise ModelError(f"{weights_path}: arrays {bad} are not float32")
        tensors = safetensors.numpy.load(blob)
        text = raw.get(_METADATA_KEY, "{}")
        if not isinstance(text, str):
            raise ValueError("its metadata is not a string")
        metadata = loads_bounded(text, where, max_bytes=size, allow_nan=True, error=ModelError)
    except ModelError:
        raise
    except Exception as err:  # safetensors and json raise their own error types
        raise ModelError(f"{weights_path} is corrupt: {err}") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{weights_path}: its metadata is not a JSON object")
    return tensors, metadata


def _collect_arrays(
    tensors: dict[str, np.ndarray], schema: ModelSchema, weights_path: Path
) -> dict[str, np.ndarray | list[np.ndarray]]:
    arrays: dict[str, np.ndarray | list[np.ndarray]] = {}
    used = set()
    for name in schema.arrays:
        if name not in tensors:
            raise ModelError(f"{weights_path} lacks the array {name!r}")
        arrays[name] = tensors[name]
        used.add(name)
    for name in schema.array_lists:
        keys = {int(k.rsplit(".", 1)[1]): k for k in tensors if _is_list_item(k, name)}
        if not keys or sorted(keys) != list(range(len(keys))):
            raise ModelError(f"{weights_path} lacks the arrays {name}.0, {name}.1, ...")
        arrays[name] = [tensors[keys[i]] for i in range(len(keys))]
        used.update(keys.values())
    extra = sorted(set(tensors) - used)
    if extra:
        raise ModelError(f"{weights_path}: unexpected arrays {extra}")
    return arrays


def _is_list_item(key: str, name: str) -> bool:
    prefix, _, index = key.rpartition(".")
    return prefix == name and index.isdigit()


def _check_model(model: SavedModel, schema: ModelSchema) -> list[str]:
    """Problems of a model's arrays and attributes against its schema and dimensions."""
    dims = {"in": model.n_features_in, "out": model.n_features_out}
    problems = []
    for name, value in model.arrays.items():
        for i, array in enumerate(value if isinstance(value, list) else [value]):
            label = f"{name}.{i}" if isinstance(value, list) else name
            if array.dtype != np.float32:
                problems.append(f"array {label} is {array.dtype}, not float32")
            elif not np.isfinite(array).all():
                problems.append(f"array {label} holds NaN or inf")
            elif name in schema.arrays:
                expected = tuple(
                    dims.get(s, s) if isinstance(s, str) else s for s in schema.arrays[name]
                )
                if len(expected) != array.ndim or any(
                    e is not None and e != n for e, n in zip(expected, array.shape, strict=True)
                ):
                    shown = tuple("any" if e is None else e for e in expected)
                    problems.append(f"array {label} has shape {array.shape}, expected {shown}")
    missing = sorted(set(schema.attributes) - set(model.attributes))
    if missing:
        problems.append(f"fitted attributes {missing} are missing")
    return problems


def _attribute_to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_attributes(raw: Any, schema: ModelSchema, weights_path: Path) -> dict[str, Any]:
    if not isinstance(raw, dict) or sorted(raw) != sorted(schema.attributes):
        raise ModelError(
            f"{weights_path}: its metadata must hold exactly the fitted attributes "
            f"{sorted(schema.attributes)}"
        )
    out = {}
    for name, kind in schema.attributes.items():
        too_large = _too_large(raw[name], kind)
        if too_large:
            raise ModelError(
                f"{weights_path}: fitted attribute {name} {too_large}; a blindface model never "
                "holds that much: the file is damaged or not from blindface"
            )
        value = _attribute_from_json(raw[name], kind)
        if value is None:
            raise ModelError(f"{weights_path}: fitted attribute {name} is not a valid {kind} value")
        out[name] = value
    return out


def _read_fitted_on(raw: Any, weights_path: Path) -> dict[str, Any] | None:
    if raw is None:
        return None
    problem = check_fitted_on(raw)
    if problem:
        raise ModelError(f"{weights_path}: {problem}")
    return raw


def _too_large(value: Any, kind: AttributeKind) -> str | None:
    """How a labels or records value exceeds the bounds on what a model may hold, or None."""
    if not isinstance(value, list):
        return None
    if kind == "labels":
        texts = [v for v in value if isinstance(v, str)]
        longest = max(map(len, texts), default=0)
        if longest > MAX_LABEL_CHARS:
            return f"holds a label of {longest:,} characters (at most {MAX_LABEL_CHARS})"
        if len(value) * max(longest, 1) > MAX_LABEL_CELLS:
            return f"holds {len(value):,} labels of up to {longest} characters (too many)"
    elif kind == "records":
        if len(value) > MAX_RECORDS:
            return f"holds {len(value):,} records (at most {MAX_RECORDS:,})"
        for record in value:
            if isinstance(record, dict) and len(record) > MAX_RECORD_ENTRIES:
                return f"holds a record of {len(record):,} entries (at most {MAX_RECORD_ENTRIES})"
            texts = [*record, *record.values()] if isinstance(record, dict) else []
            longest = max((len(t) for t in texts if isinstance(t, str)), default=0)
            if longest > MAX_LABEL_CHARS:
                return f"holds a string of {longest:,} characters (at most {MAX_LABEL_CHARS})"
    return None


def _attribute_from_json(value: Any, kind: AttributeKind) -> Any:
    if kind == "int":
        return value if _is_int(value) else None
    if kind == "float":
        return (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
    if kind == "labels":
        if not isinstance(value, list) or not value:
            return None
        if all(isinstance(v, str) for v in value):
            return np.array(value, dtype=str)
        fits = all(_is_int(v) and -(2**63) <= v < 2**63 for v in value)
        return np.array(value, dtype=np.int64) if fits else None
    records_ok = isinstance(value, list) and all(
        isinstance(r, dict)
        and all(isinstance(v, int | float | str) or v is None for v in r.values())
        for r in value
    )
    return value if records_ok else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
