"""Fit time of each blinding method and transform throughput, on synthetic embeddings.

The data is shaped like the real study, scaled up: 128-d L2-normalised embeddings, ~1,200
expression rows in 7 classes (86 subjects x 7 expressions x 2) plus 6 identity rows for each of
``--identity-subjects`` subjects (3,000: ~19,200 rows in all), with a planted linear expression
signal (:mod:`blindface.testing`). Each method of the registry is fitted with its
default parameters (``random_state=0``); the expression probe (logistic regression and MLP,
held-out subjects) and 1-NN identity accuracy are measured before and after. Transform
throughput compares SensitiveNets' folded affine map (``transform``) with its unfolded
3 x 1024 network (``forward_network``), best of ``--repeats`` runs.

Writes ``benchmarks/results/blinding_speed.json`` (numbers, machine and versions only).

Run::

    python benchmarks/blinding_speed.py [--identity-subjects 3000] [--n-transform 200000]
        [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

import blindface
from blindface._io import write_json
from blindface.blinding import METHODS
from blindface.testing import make_embeddings

RESULT = Path(__file__).parent / "results" / "blinding_speed.json"


def probes(Z: np.ndarray, data) -> dict[str, float]:
    """Expression probes on held-out subjects and 1-NN identity accuracy."""
    rows = data.is_emotion_row
    subjects, y, Ze = data.true_subject[rows], data.true_expression[rows], Z[rows]
    test = np.isin(subjects, np.unique(subjects)[::3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        linear = LogisticRegression(max_iter=2000).fit(Ze[~test], y[~test])
        mlp = MLPClassifier((128,), max_iter=300, random_state=0).fit(Ze[~test], y[~test])
    ids = ~rows
    S = data.true_subject[ids]
    Zi = Z[ids] / np.linalg.norm(Z[ids], axis=1, keepdims=True)
    first = np.r_[True, S[1:] != S[:-1]]
    knn = KNeighborsClassifier(1).fit(Zi[~first], S[~first])
    return {
        "expression_logistic": round(float(linear.score(Ze[test], y[test])), 4),
        "expression_mlp": round(float(mlp.score(Ze[test], y[test])), 4),
        "identity_1nn": round(float(knn.score(Zi[first], S[first])), 4),
    }


def throughput(fn, X: np.ndarray, repeats: int) -> float:
    """Best embeddings per second of ``fn(X)`` over ``repeats`` runs."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn(X)
        best = min(best, time.perf_counter() - start)
    return len(X) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--identity-subjects", type=int, default=3000)
    parser.add_argument("--n-transform", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data = make_embeddings(
        n_features=128,
        n_identity_subjects=args.identity_subjects,
        images_per_subject=6,
        n_emotion_subjects=86,
        images_per_expression=2,
        random_state=0,
    )
    labels = {"expression": data.expression, "subject": data.subject}
    methods = {}
    for method in METHODS.values():
        model = method.create()
        if "random_state" in model.get_params():
            model.set_params(random_state=0)
        methods[method.estimator.__name__] = model
    results: dict = {
        "data": {
            "n_rows": len(data.X),
            "n_expression_rows": int(data.is_emotion_row.sum()),
            "n_identity_rows": int((~data.is_emotion_row).sum()),
            "n_identity_subjects": args.identity_subjects,
            "dim": 128,
            "chance_expression": round(1 / 7, 4),
        },
        "before": probes(data.X, data),
        "methods": {},
    }
    print("before", results["before"], flush=True)
    for name, model in methods.items():
        start = time.perf_counter()
        model.fit(data.X, **labels)
        seconds = time.perf_counter() - start
        entry = {"fit_seconds": round(seconds, 2), "n_features_out": model.n_features_out_}
        entry.update(probes(model.transform(data.X), data))
        results["methods"][name] = entry
        print(name, entry, flush=True)

    sensitivenets = methods["SensitiveNets"]
    X = np.random.default_rng(0).standard_normal((args.n_transform, 128)).astype(np.float32)
    results["transform"] = {
        "n_embeddings": args.n_transform,
        "sensitivenets_folded_per_s": round(throughput(sensitivenets.transform, X, args.repeats)),
        "sensitivenets_network_per_s": round(
            throughput(sensitivenets.forward_network, X, args.repeats)
        ),
        **{
            f"{name.lower()}_per_s": round(throughput(model.transform, X, args.repeats))
            for name, model in methods.items()
            if name != "SensitiveNets"
        },
    }
    print("transform", results["transform"], flush=True)
    results["machine"] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    results["versions"] = {
        "blindface": blindface.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
    }
    write_json(RESULT, results)
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
