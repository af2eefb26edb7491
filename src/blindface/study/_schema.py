"""JSON Schema of ``results.json``: the keys every run writes (rows may carry more keys)."""

from __future__ import annotations

from typing import Any

_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_THREAT = {"enum": ["population", "relative"]}
_LEAKAGE_TASKS = {"enum": ["expression", "smiling"]}
_UTILITY_TASKS = {"enum": ["identity", "gender", "ethnicity"]}
_PROBES = {"enum": ["mlp", "svm", "rf", "logreg", "knn"]}

_LEAKAGE_ROW = {
    "type": "object",
    "required": [
        "method",
        "dataset",
        "task",
        "probe",
        "threat",
        "protocol",
        "accuracy",
        "std",
        "ci_low",
        "ci_high",
        "chance",
        "diff",
    ],
    "properties": {
        "method": {"type": "string"},
        "task": _LEAKAGE_TASKS,
        "probe": _PROBES,
        "threat": _THREAT,
        "protocol": {"enum": ["subject_disjoint", "random_80_20"]},
        "accuracy": _PERCENT,
        "std": {"type": "number", "minimum": 0},
        "ci_low": _NUMBER_OR_NULL,
        "ci_high": _NUMBER_OR_NULL,
        "chance": _PERCENT,
        "diff": _NUMBER_OR_NULL,
    },
}
_UTILITY_ROW = {
    "type": "object",
    "required": ["method", "dataset", "task", "probe", "accuracy", "std", "chance", "diff"],
    "properties": {
        "method": {"type": "string"},
        "task": _UTILITY_TASKS,
        "probe": {"enum": ["verification", "mlp", "logreg"]},
        "accuracy": _PERCENT,
        "std": {"type": "number", "minimum": 0},
        "chance": _PERCENT,
        "diff": _NUMBER_OR_NULL,
    },
}

RESULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["lodo", "lodo_utility", "table1", "table2", "config"],
    "properties": {
        "lodo": {
            "type": "array",
            "items": {
                **_LEAKAGE_ROW,
                "required": [*_LEAKAGE_ROW["required"], "heldout_dataset"],
                "properties": {**_LEAKAGE_ROW["properties"], "heldout_dataset": {"type": "string"}},
            },
        },
        "lodo_utility": {
            "type": "array",
            "items": {
                **_UTILITY_ROW,
                "required": [*_UTILITY_ROW["required"], "heldout_dataset"],
            },
        },
        "table1": {"type": "array", "items": {"anyOf": [_LEAKAGE_ROW, _UTILITY_ROW]}},
        "table2": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "representation",
                    "training",
                    "accuracy",
                    "tpr_smiling",
                    "tpr_not_smiling",
                    "equal_opportunity",
                    "std",
                ],
                "properties": {
                    "training": {"enum": ["unbiased", "biased"]},
                    "accuracy": _PERCENT,
                    "tpr_smiling": _PERCENT,
                    "tpr_not_smiling": _PERCENT,
                    "equal_opportunity": _PERCENT,
                    "std": {"type": "number", "minimum": 0},
                },
            },
        },
        "config": {
            "type": "object",
            "required": ["embedder", "seed", "versions", "dataset_counts", "methods"],
        },
    },
}
