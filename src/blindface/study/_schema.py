"""JSON Schema of ``results.json``: the records every run writes (rows may carry more keys)."""

from __future__ import annotations

from typing import Any

_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_NUMBER = {"type": "number"}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING = {"type": "string"}
_THREAT = {"enum": ["population", "relative"]}
_ATTACKER = {"enum": ["probe", "transfer", "inversion"]}


def _record(required: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": required}


_STRONGEST = _record(
    {
        "setting": {"enum": ["lodo"]},
        "heldout_dataset": _STRING,
        "method": _STRING,
        "dataset": _STRING,
        "task": {"enum": ["expression", "smiling"]},
        "threat": _THREAT,
        "attacker": _ATTACKER,
        "view": {"enum": ["as_is", "enrolled", "other_sessions", "symmetric"]},
        "best_before": _PERCENT,
        "best_after": _PERCENT,
        "chance": _PERCENT,
        "diff": _NUMBER_OR_NULL,
        "diff_ci_low": _NUMBER_OR_NULL,
        "diff_ci_high": _NUMBER_OR_NULL,
        "readable": {"type": "boolean"},
        "label": _STRING,
    }
)
_LEAKAGE = _record(
    {
        "heldout_dataset": _STRING,
        "method": _STRING,
        "task": _STRING,
        "threat": _THREAT,
        "probe": {"enum": ["mlp", "svm", "rf", "logreg", "knn"]},
        "accuracy": _PERCENT,
        "balanced_accuracy": _PERCENT,
        "balanced_ci_low": _NUMBER_OR_NULL,
        "balanced_ci_high": _NUMBER_OR_NULL,
        "chance": _PERCENT,
        "balanced_chance": _PERCENT,
        "before_balanced_accuracy": _PERCENT,
    }
)
_UTILITY = _record(
    {
        "heldout_dataset": _STRING,
        "method": _STRING,
        "identity_set": {"enum": ["lfw", "celeba"]},
        "far": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "tar_before": _PERCENT,
        "tar_after": _PERCENT,
        "loss": _NUMBER,
        "loss_ci_low": _NUMBER_OR_NULL,
        "loss_ci_high": _NUMBER_OR_NULL,
        "n_genuine_pairs": {"type": "integer", "minimum": 1},
        "n_impostor_pairs": {"type": "integer", "minimum": 1},
    }
)
_ATTRIBUTE = _record(
    {
        "heldout_dataset": _STRING,
        "method": _STRING,
        "task": {"enum": ["gender", "ethnicity"]},
        "best_before": _PERCENT,
        "best_after": _PERCENT,
        "chance": _PERCENT,
        "diff": _NUMBER_OR_NULL,
    }
)
_CANDIDATE = _record(
    {
        "method": _STRING,
        "params": {"type": "object"},
        "label": _STRING,
        "removed": _NUMBER_OR_NULL,
        "tar_loss": _NUMBER_OR_NULL,
        "validations": {"type": "array"},
    }
)
_SELECTION = _record(
    {
        "heldout_dataset": {"type": ["string", "null"]},
        "scope": _STRING,
        "budget": _NUMBER,
        "candidates": {"type": "array", "items": _CANDIDATE, "minItems": 1},
        "choice": _record({"method": _STRING, "params": {"type": "object"}, "label": _STRING}),
        "within_budget": {"type": "boolean"},
    }
)
_CURVE = _record(
    {
        "heldout_dataset": _STRING,
        "method": _STRING,
        "label": _STRING,
        "params": {"type": "object"},
        "task": _STRING,
        "threat": _THREAT,
        "diff": _NUMBER_OR_NULL,
        "readable": {"type": "boolean"},
    }
)
_POOLED = _record(
    {
        "method": _STRING,
        "threat": _THREAT,
        "attacker": _ATTACKER,
        "diff": _NUMBER_OR_NULL,
        "diff_ci_low": _NUMBER_OR_NULL,
        "diff_ci_high": _NUMBER_OR_NULL,
        "n_cells": {"type": "integer", "minimum": 0},
        "tar_loss_lfw": _NUMBER_OR_NULL,
    }
)
_TABLE2 = _record(
    {
        "representation": _STRING,
        "training": {"enum": ["unbiased", "biased"]},
        "accuracy": _PERCENT,
        "tpr_smiling": _PERCENT,
        "tpr_not_smiling": _PERCENT,
        "equal_opportunity": _PERCENT,
        "std": {"type": "number", "minimum": 0},
    }
)


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


RESULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "pooled",
        "strongest",
        "leakage",
        "utility",
        "attributes",
        "selection",
        "curves",
        "defaults",
        "table2",
        "config",
    ],
    "properties": {
        "pooled": _array(_POOLED),
        "strongest": _array(_STRONGEST),
        "leakage": _array(_LEAKAGE),
        "utility": _array(_UTILITY),
        "attributes": _array(_ATTRIBUTE),
        "selection": _array(_SELECTION),
        "curves": _array(_CURVE),
        "defaults": _array(_SELECTION),
        "table2": _array(_TABLE2),
        "config": {
            "type": "object",
            "required": ["embedder", "seed", "versions", "dataset_counts", "methods", "sources"],
        },
    },
}
