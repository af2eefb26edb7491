"""Learning not to Learn end to end (``lnl``) on the study's data: how long the SFace feature maps
of every study image take, how long a leave-one-dataset-out fit takes, and what it does to
people it never saw.

1. The study's images (its six datasets, the rows :func:`blindface.study._data.embed_study_data`
   keeps; embeddings from the study's cache) are aligned and run through SFace below the cut
   (:func:`blindface.faces.sface_features`): wall time per dataset.
2. ``lnl`` is fit on the study's leave-one-dataset-out fit set for ``--heldout`` (every eligible
   person of the other expression datasets, as :func:`blindface.study._data.fit_set` takes
   them): fit time and the training history (its early stopping watches held-out people of
   the fitting sources only).
3. Before (SFace: the untrained upper part on the same maps) and after, on the held-out
   dataset's people and on LFW's verification people (who never fit anything):

   * the project's headline statistics (``headline``), as the study and ``blindface audit``
     compute them: the strongest attacker's Diff on balanced accuracy
     (:func:`blindface.evaluation.strongest_attacker`, untuned ``logreg`` and ``svm`` probes on
     people-disjoint folds, 95 % interval over people) under the population and the relative
     (enrolled neutral photo) threat on the held-out dataset's expression task; identity as
     TAR at FAR 0.1 % over every pair of the LFW verification pairs' images
     (:func:`blindface.evaluation.operating_point`, the loss's 95 % interval over people);
   * the earlier summary (``scores``): a logistic-regression probe's balanced accuracy over 5
     people-disjoint folds for both threats, TAR at FAR 0.1 % over every pair of all images of
     the LFW verification people, and the pair-protocol verification accuracy.

Writes ``benchmarks/results/lnl_end_to_end.json`` (numbers, machine and versions only; the
feature cache and the model stay under ``--cache-dir``, outside the repository).

Run (an empty ``--cache-dir`` times the crops and maps from scratch; the study's embeddings are
read from ``--study-cache``, where ``blindface reproduce`` leaves them)::

    python benchmarks/lnl_end_to_end.py [--data-root ../shared/data]
        [--cache-dir ~/.cache/blindface-backbone] [--study-cache ~/.cache/blindface]
        [--heldout taiwanese] [--param KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import blindface
from blindface._io import write_json

RESULT = Path(__file__).parent / "results" / "lnl_end_to_end.json"
#: The headline's probes: the study's sweep probes, untuned.
HEADLINE_PROBES = ("logreg", "svm")
N_SPLITS = 5
N_BOOTSTRAP = 1000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def probe(Z: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0) -> float:
    """Balanced accuracy (%) of a scaled logistic regression over 5 people-disjoint folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    predicted = np.empty(len(y), dtype=object)
    folds = GroupKFold(n_splits=N_SPLITS, shuffle=True, random_state=seed)
    for train, test in folds.split(Z, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
        predicted[test] = model.fit(Z[train], y[train]).predict(Z[test])
    return round(100 * float(balanced_accuracy_score(y, predicted.astype(str))), 2)


def logistic_leakage(Z: np.ndarray, rows) -> dict[str, float]:
    """The logistic probe on a task's rows (:func:`blindface.study._evaluate.task_rows`), both
    attackers."""
    from blindface.evaluation import population_view, relative_view

    population = population_view(Z, rows.y, rows.groups)
    relative = relative_view(Z, rows.y, rows.groups, reference=rows.reference)
    return {
        "population": probe(population.X, population.y, population.groups),
        "relative": probe(relative.X, relative.y, relative.groups),
        "chance": round(100 / len(np.unique(rows.y)), 2),
    }


def headline_leakage(before: np.ndarray, after: np.ndarray, rows) -> dict[str, dict]:
    """The strongest attacker's Diff (balanced accuracy, untuned logreg and svm) per threat."""
    from blindface.evaluation import strongest_attacker, threat_scores

    out = {}
    for threat in ("population", "relative"):
        scores = [
            threat_scores(
                Z,
                rows.y,
                rows.groups,
                threat=threat,
                reference=rows.reference,
                sessions=rows.sessions,
                probes=HEADLINE_PROBES,
                tune=False,
                n_splits=N_SPLITS,
                random_state=0,
                n_jobs=2,
            )[0]
            for Z in (before, after)
        ]
        found = strongest_attacker(*scores, n_resamples=N_BOOTSTRAP, random_state=0)
        out[threat] = found.record()
    return out


def verification(Z: np.ndarray, table: pd.DataFrame, pairs: pd.DataFrame) -> dict[str, float]:
    """TAR at FAR 0.1 % over all pairs of all images of the verification people; pair accuracy."""
    from blindface.evaluation import pair_scores, tar_at_far, verification_accuracy

    paths = set(pairs["path_a"]) | set(pairs["path_b"])
    people = set(table.loc[table["path"].isin(paths), "subject"].astype(str))
    rows = np.flatnonzero(table["subject"].astype(str).isin(people).to_numpy())
    unit = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    scored = pair_scores(unit[rows], table["subject"].astype(str).to_numpy()[rows])
    index = {p: i for i, p in enumerate(table["path"])}
    both = pairs[pairs["path_a"].isin(index) & pairs["path_b"].isin(index)]
    a = unit[[index[p] for p in both["path_a"]]]
    b = unit[[index[p] for p in both["path_b"]]]
    folds = both["fold"].to_numpy() if both["fold"].nunique() > 1 else None
    accuracy, _ = verification_accuracy(a, b, both["same"].to_numpy(), folds=folds)
    return {
        "tar_at_far_0.1%": round(tar_at_far(scored.genuine, scored.impostor, 1e-3), 2),
        "images": int(len(rows)),
        "pair_accuracy": round(accuracy, 2),
        "pairs": int(len(both)),
    }


def headline_identity(
    before: np.ndarray, after: np.ndarray, table: pd.DataFrame, pairs: pd.DataFrame
) -> dict:
    """TAR at FAR 0.1 % before and after over every pair of the verification pairs' images
    (the study's LFW identity set), with the loss's interval over people."""
    from blindface.evaluation import operating_point

    paths = set(pairs["path_a"]) | set(pairs["path_b"])
    rows = np.flatnonzero(table["path"].isin(paths).to_numpy())
    people = table["subject"].astype(str).to_numpy()[rows]
    (found,) = operating_point(
        before[rows],
        after[rows],
        people,
        fars=(1e-3,),
        n_resamples=N_BOOTSTRAP,
        random_state=0,
    )
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in found.items()}


def cached_maps(cache: Path) -> int:
    """Feature maps held in the cache's chunks (to tell computed maps from cached ones)."""
    return sum(
        len(json.loads(path.read_text())["rows"])
        for path in cache.glob("sface-features-*/chunk-*.json")
    )


def sface_embeddings(features: np.ndarray, cut: int) -> np.ndarray:
    """SFace's own embeddings of the maps (the upper part untrained), for the "before"."""
    from blindface.blinding.nn._recognizer import embed
    from blindface.faces import split_sface

    return embed(split_sface(cut).upper(), features, np.arange(len(features)))


def main() -> None:
    from blindface.blinding import LearningNotToLearnEndToEnd
    from blindface.blinding._params import parse
    from blindface.faces import sface_features
    from blindface.study._data import EXPRESSION_DATASETS, embed_study_data, fit_set
    from blindface.study._evaluate import task_rows
    from blindface.study._settings import Study
    from blindface.study._tasks import LeakageTask

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=os.environ.get("BLINDFACE_DATA", "../shared/data"))
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "blindface-backbone"))
    parser.add_argument(
        "--study-cache", default=os.environ.get("BLINDFACE_CACHE", "~/.cache/blindface")
    )
    parser.add_argument("--heldout", default="taiwanese")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--param", action="append", default=[], help="lnl KEY=VALUE")
    parser.add_argument("--out", default=str(RESULT))
    args = parser.parse_args()
    root, cache = Path(args.data_root), Path(args.cache_dir).expanduser()
    params = {"random_state": 0, "verbose": 1}
    hints = LearningNotToLearnEndToEnd._schema().params
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = parse(value, hints[key], key)
    model = LearningNotToLearnEndToEnd(**params)
    model.check_params()

    study_cache = Path(args.study_cache).expanduser()
    study = Study(data_root=root, out=study_cache / "unused", cache_dir=study_cache)
    data = embed_study_data(study, log)
    features, seconds, computed = {}, {}, {}
    for name, emb in data.datasets.items():
        start, before = time.perf_counter(), cached_maps(cache)
        features[name] = sface_features(emb.table, root, cache, cut=model.cut, n_jobs=args.jobs)
        seconds[name] = round(time.perf_counter() - start, 1)
        computed[name] = cached_maps(cache) - before
        made = f"{features[name].shape[0]} maps ({computed[name]} computed)"
        log(f"{name}: {made} in {seconds[name]} s")
    images = {name: int(f.shape[0]) for name, f in features.items()}

    fitting = [n for n in EXPRESSION_DATASETS if n in data.datasets and n != args.heldout]
    fit = fit_set(data, fitting)  # labels of the eligible rows, in the order below
    X = np.concatenate([features[n][data.fit_eligible(n)] for n in fitting])
    log(f"fitting lnl on {len(X)} maps ({', '.join(f'{n} {c}' for n, c in fit.sources.items())})")
    start = time.perf_counter()
    model.fit(X, expression=fit.expression, subject=fit.subject)
    fit_seconds = round(time.perf_counter() - start, 1)
    log(f"fit in {fit_seconds} s; kept epoch {model.best_iter_} of {model.n_iter_}")
    model.save(cache / f"lnl-without-{args.heldout}")

    held = task_rows(LeakageTask("expression", args.heldout), data, max_images=None, seed=0)
    assert held is not None, f"{args.heldout} has no expression task"
    held_maps = features[args.heldout][held.faces.index]
    lfw = data.datasets["lfw"].table
    assert data.pairs is not None, "the LFW verification pairs are needed"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        held_before = sface_embeddings(held_maps, model.cut)
        held_after = model.transform(held_maps)
        lfw_before = sface_embeddings(features["lfw"], model.cut)
        lfw_after = model.transform(features["lfw"])
        headline = {
            "heldout_expression": headline_leakage(held_before, held_after, held),
            "lfw_identity_at_far_0.1%": headline_identity(lfw_before, lfw_after, lfw, data.pairs),
        }
        scores = {
            "before": {
                "heldout": logistic_leakage(held_before, held),
                "lfw_verification": verification(lfw_before, lfw, data.pairs),
            },
            "after": {
                "heldout": logistic_leakage(held_after, held),
                "lfw_verification": verification(lfw_after, lfw, data.pairs),
            },
        }
    scoring_seconds = round(time.perf_counter() - start, 1)
    log(f"headline: {headline}")
    log(f"scores: {scores}")
    write_json(
        args.out,
        {
            "what": __doc__.split("\n\n")[0].replace("\n", " "),
            "feature_extraction": {
                "seconds": seconds,
                "total_seconds": round(sum(seconds.values()), 1),
                "images": images,
                "total_images": sum(images.values()),
                "computed": computed,
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            },
            "fit": {
                "heldout": args.heldout,
                "rows": int(len(X)),
                "people": fit.n_people,
                "sources": dict(fit.sources),
                "seconds": fit_seconds,
                "params": {k: v for k, v in model.get_params().items() if k != "verbose"},
                "best_iter": model.best_iter_,
                "history": model.history_,
            },
            "headline": {
                "probes": list(HEADLINE_PROBES),
                "tuned": False,
                "n_splits": N_SPLITS,
                "n_bootstrap": N_BOOTSTRAP,
                "heldout_rows": len(held),
                "heldout_people": int(len(np.unique(held.groups))),
                **headline,
            },
            "scores": scores,
            "scoring_seconds": scoring_seconds,
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                "torch": torch.__version__,
                "blindface": blindface.__version__,
            },
        },
    )
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
