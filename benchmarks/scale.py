"""Scale-out: the local and Ray engines side by side, their memory over 2,000 and 10,000 images,
and a streaming LEACE fit over 1,000,000 synthetic 512-d rows read from a partitioned store.

Each measurement runs in a fresh child process (a cold cache, a new output folder), while this
process samples the memory of the child's whole process tree from ``/proc`` every 0.25 s: the
driver, the local engine's worker processes, and for Ray every process it starts (GCS, raylet,
workers and actors). Tree memory is the sum of PSS (proportional set size: shared pages, such as
Ray's object store and the libraries, counted once in all); the driver's and the largest
worker's peak RSS are given too.

- ``embed``: the same images (all of LFW, CK+, JAFFE, UTKFace, CelebA and the Taiwanese set
  under the data root, shuffled with a fixed seed; the first 2,000, then the first 10,000) with
  SFace on 2 cores: ``--jobs 2`` worker processes for the local engine, a local 2-CPU Ray
  instance with 2 actors for the Ray engine. ``images_per_s`` is end to end (start-up, hashing,
  embedding, writing the store), ``images_per_s_steady`` the rate between the first and the
  last cache chunk written. The two engines' stores of the same images are compared bit for bit.
- ``leace``: a partitioned store of 1,000,000 rows (512-d unit vectors, 7 expressions, 1,000
  subjects; 10 parts of 100,000 rows) is written, then fitted by streaming it with
  :func:`blindface.store.iter_store_batches` into :func:`fit_streaming_leace`.

Writes ``benchmarks/results/scale.json`` (numbers only; no data). Run on a quiet machine::

    python benchmarks/scale.py [--data-root DIR] [--sizes 2000 10000] [--leace-rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
_PARAGRAPHS = (__doc__ or "").split("\n\n")
SUMMARY = _PARAGRAPHS[0].replace("\n", " ")
WHAT = " ".join(" ".join(p.split()) for p in _PARAGRAPHS[1:3])
DATASETS = {
    "lfw": ("lfw/lfw", "*/*.jpg"),
    "ckplus": ("ckplus48/CK+48", "*/*.png"),
    "jaffe": ("jaffe/jaffedbase", "*.tiff"),
    "utkface": ("utkface/UTKFace", "*.jpg"),
    "celeba": ("celeba/img_celeba_crop", "*.jpg"),
    "taiwanese": ("taiwanese/faces_256x256", "*.jpg"),
}
ENGINES = {"local": {"n_jobs": 2}, "ray": {"engine": "ray", "num_actors": 2, "batch_size": 32}}


# -- the streaming-fit seam ------------------------------------------------------------------


def fit_streaming_leace(batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Any:
    """Fit LEACE on ``(X, expression, subject)`` batches, one pass, flat memory.

    The seam for ``blindface.blinding.fit_streaming(estimator, batches)``: used as soon as it
    exists; until then, ``concept_erasure.LeaceFitter.update`` per batch (what LEACE fits).
    """
    import blindface.blinding

    fit_streaming = getattr(blindface.blinding, "fit_streaming", None)
    if fit_streaming is not None:
        return fit_streaming(blindface.blinding.LEACE(), batches)
    import torch
    from concept_erasure import LeaceFitter

    fitter, classes = None, None
    for X, expression, _subject in batches:
        if fitter is None:
            classes = sorted(set(expression))
            fitter = LeaceFitter(X.shape[1], len(classes), dtype=torch.float64)
        codes = np.searchsorted(np.asarray(classes, dtype=object), expression)
        z = torch.nn.functional.one_hot(torch.from_numpy(codes), len(classes or []))
        fitter.update(torch.from_numpy(X), z)
    assert fitter is not None, "no rows to fit"
    return fitter.eraser


def store_batches(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A store's embedded rows as ``(X, expression, subject)`` batches."""
    from blindface.store import iter_store_batches

    for X, table in iter_store_batches(
        path, batch_size=65_536, columns=["expression", "subject"], embedded_only=True
    ):
        yield X, table["expression"].to_numpy(dtype=object), table["subject"].to_numpy(object)


# -- children ---------------------------------------------------------------------------------


def child_embed(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    from blindface.store import embed_dataset

    paths = json.loads(Path(args.images).read_text())[: args.n]
    table = pd.DataFrame({"path": pd.array(paths, dtype="string")})
    out = Path(args.out)
    start = time.perf_counter()
    embed_dataset(
        table, args.data_root, out, progress=False, chunk_size=128, **ENGINES[args.engine]
    )
    seconds = time.perf_counter() - start
    chunks = sorted(p.stat().st_mtime for p in out.parent.glob(f"{out.name}.cache/*/chunk-*"))
    steady = (len(chunks) - 1) * 128 / (chunks[-1] - chunks[0]) if len(chunks) > 2 else None
    return {"seconds": round(seconds, 2), "images_per_s": round(args.n / seconds, 1),
            "images_per_s_steady": steady and round(steady, 1)}  # fmt: skip


def child_write_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    """A partitioned store of ``args.n`` synthetic 512-d rows, generated part by part."""
    import pandas as pd

    from blindface.store._write import write_rows

    n, dim = args.n, 512
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "path": pd.array([f"synthetic/{i:07d}.jpg" for i in range(n)], dtype="string"),
            "expression": pd.array(np.array(["angry", "disgust", "fear", "happy", "neutral",
                                             "sad", "surprise"])[rng.integers(0, 7, n)]),
            "subject": pd.array([f"s{i:04d}" for i in rng.integers(0, 1000, n)]),
        }
    )  # fmt: skip

    def rows(start: int, stop: int):
        block = np.random.default_rng(start).standard_normal((stop - start, dim), np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        m = stop - start
        nothing: list[str | None] = [None] * m
        return block, np.ones(m, bool), ["detected"] * m, nothing, list(nothing)

    begin = time.perf_counter()
    write_rows(
        Path(args.out), table, dim, rows, {"embedder": "synthetic"}, partitioned=True,
        partition_size=100_000,
    )  # fmt: skip
    return {"seconds": round(time.perf_counter() - begin, 1)}


def child_leace(args: argparse.Namespace) -> dict[str, Any]:
    import blindface.blinding

    begin = time.perf_counter()
    eraser = fit_streaming_leace(store_batches(Path(args.out)))
    seconds = time.perf_counter() - begin
    backend = "blindface.blinding.fit_streaming"
    if not hasattr(blindface.blinding, "fit_streaming"):
        backend = "concept_erasure.LeaceFitter.update over iter_store_batches"
    if hasattr(eraser, "proj_right_"):  # blindface's LEACE: (d, r)
        rank = int(eraser.proj_right_.shape[1])
    else:  # concept_erasure's LeaceEraser: (r, d)
        rank = int(eraser.proj_right.shape[0])
    return {"seconds": round(seconds, 1), "rows_per_s": round(args.n / seconds), "fit": backend,
            "erased_rank": rank}  # fmt: skip


# -- the parent: process-tree memory ------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found: list[int] = []
        for task in tasks:
            found += [int(c) for c in (task / "children").read_text().split()]
        return found
    except OSError:
        return []


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        current = todo.pop()
        seen.append(current)
        todo += _children(current)
    return seen


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in bytes; zeros once it is gone."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0, 0
    fields = {line.split(":")[0]: line.split()[1] for line in rollup[1:] if ":" in line}
    return int(fields.get("Rss", 0)) * 1024, int(fields.get("Pss", 0)) * 1024


def run_child(args: list[str]) -> dict[str, Any]:
    """Run this script as a child with ``args`` and sample its process tree's memory."""
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    peak = {"tree_pss": 0, "driver_rss": 0, "worker_rss": 0, "processes": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pids = _tree(process.pid)
            memory = {pid: _memory(pid) for pid in pids}
            peak["tree_pss"] = max(peak["tree_pss"], sum(pss for _, pss in memory.values()))
            peak["driver_rss"] = max(peak["driver_rss"], memory[process.pid][0])
            workers = [rss for pid, (rss, _) in memory.items() if pid != process.pid]
            peak["worker_rss"] = max([peak["worker_rss"], *workers])
            peak["processes"] = max(peak["processes"], len(pids))
            time.sleep(0.25)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    stdout, stderr = process.communicate()
    stop.set()
    thread.join()
    if process.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    mib = 2**20
    result["peak_mib"] = {
        "process_tree_pss": round(peak["tree_pss"] / mib),
        "driver_rss": round(peak["driver_rss"] / mib),
        "largest_worker_rss": round(peak["worker_rss"] / mib),
    }
    result["processes"] = peak["processes"]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def image_list(root: Path, n: int) -> list[str]:
    files = []
    for folder, pattern in DATASETS.values():
        files += sorted(str(p.relative_to(root)) for p in (root / folder).glob(pattern))
    random.Random(0).shuffle(files)
    if len(files) < n:
        raise SystemExit(f"only {len(files)} images under {root}; need {n}")
    return files[:n]


def machine() -> dict[str, Any]:
    import pyarrow
    import ray

    import blindface

    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    mem = Path("/proc/meminfo").read_text().split()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(int(mem[mem.index("MemTotal:") + 1]) / 2**20, 1),
        "python": platform.python_version(),
        "blindface": blindface.__version__,
        "ray": ray.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": np.__version__,
    }


def compare(local: Path, ray_store: Path) -> dict[str, Any]:
    from blindface.store import read_store

    a, b = read_store(local), read_store(ray_store)
    both = a.ok & b.ok
    return {
        "images": len(a),
        "embedded": int(both.sum()),
        "same_rows_embedded": bool((a.ok == b.ok).all()),
        "bit_identical": a.embeddings.tobytes() == b.embeddings.tobytes(),
        "max_abs_diff": float(np.abs(a.embeddings[both] - b.embeddings[both]).max()),
        "same_table_and_metadata": bool(a.table.equals(b.table) and a.metadata == b.metadata),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=SUMMARY)
    parser.add_argument("--data-root", default=os.environ.get("BLINDFACE_DATA", "../shared/data"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--leace-rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["embed", "write", "leace"])
    parser.add_argument("--engine", choices=list(ENGINES))
    parser.add_argument("--n", type=int)
    parser.add_argument("--images")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        run = {"embed": child_embed, "write": child_write_synthetic, "leace": child_leace}
        print(json.dumps(run[args.child](args)))
        return

    root = Path(args.data_root).resolve()
    work = Path(tempfile.mkdtemp(prefix="blindface-scale-"))
    results: dict[str, Any] = {
        "what": WHAT,
        "machine": machine(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "embed": {},
    }
    try:
        images = work / "images.json"
        images.write_text(json.dumps(image_list(root, max(args.sizes))))
        for n in args.sizes:
            row: dict[str, Any] = {}
            for engine in ENGINES:
                out = work / f"{engine}-{n}" / ("store.parquet" if engine == "local" else "store")
                row[engine] = run_child(["--child", "embed", "--engine", engine, "--n", str(n),
                                         "--images", str(images), "--out", str(out),
                                         "--data-root", str(root)])  # fmt: skip
                print(n, engine, row[engine], flush=True)
            row["ray_vs_local"] = compare(
                work / f"local-{n}" / "store.parquet", work / f"ray-{n}" / "store"
            )
            print(n, row["ray_vs_local"], flush=True)
            results["embed"][str(n)] = row
            for engine in ENGINES:
                shutil.rmtree(work / f"{engine}-{n}")
        if args.leace_rows:
            store = work / "synthetic"
            written = run_child(["--child", "write", "--n", str(args.leace_rows), "--out",
                                 str(store)])  # fmt: skip
            fit = run_child(["--child", "leace", "--n", str(args.leace_rows), "--out", str(store)])
            results["streaming_leace"] = {
                "rows": args.leace_rows, "dim": 512, "parts": 10, "write": written, "fit": fit,
                "store_mib": round(sum(p.stat().st_size for p in store.iterdir()) / 2**20),
            }  # fmt: skip
            print(results["streaming_leace"], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    from blindface._io import write_json

    write_json(RESULTS, results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
