"""The hostile-input corpus, rerun as a user would: each case builds its inputs, runs one
``blindface`` command in its own process (timed out, its peak memory measured) and is counted
by outcome.

    .venv/bin/python tests/reliability/corpus.py [--only SUBSTRING] [--keep FOLDER]

Outcomes: ``handled`` (exit 0 and the result checks out), ``clear error`` (exit 2, one error
line naming what is wrong, inputs untouched), ``unclear error`` (refused without saying what
the case expects), ``silent loss`` (exit 0 where the command had to refuse, or an input
changed), ``crash`` (a traceback or a signal), ``hang`` (no answer within the case's time),
``memory`` (more than 600 MB peak). The unit tests of each mechanism are the ``test_*.py``
files beside it; this script is the end-to-end count the closing note reports.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _hostile import (  # noqa: E402 (after the path above)
    DLIB,
    OTHER_ONNX,
    SFACE,
    bomb_store,
    deep_json,
    fifo,
    huge_onnx,
    labelled_store,
    leace_model,
    rewrite_labels,
    zero_link,
)

MEMORY_LIMIT_MB = 600
FULL_DISK = (
    "import errno, os, blindface._io as io\n"
    "def full(fd):\n"
    f"    raise OSError({errno.ENOSPC}, os.strerror({errno.ENOSPC}))\n"
    "io.os.fsync = full\n"
)


@dataclass
class Case:
    """One hostile input: ``build(folder)`` makes the inputs and returns the command's
    arguments; the command must ``expect`` "error" (naming ``token``) or "handled"; ``check``
    (folder) says whether the result (or the untouched inputs) are right."""

    name: str
    build: Callable[[Path], list[str]]
    expect: str
    token: str
    check: Callable[[Path], bool] = lambda folder: True
    timeout: float = 120
    prelude: str = ""
    digests: dict[str, str] = field(default_factory=dict)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def _unchanged(*names: str) -> Callable[[Path], bool]:
    """A check that the named inputs hold the bytes they held before the command ran."""

    def check(folder: Path) -> bool:
        return all(_digest(folder / n) == CASES_BY_NAME[folder.name].digests[n] for n in names)

    return check


def _absent(*names: str) -> Callable[[Path], bool]:
    return lambda folder: not any((folder / n).exists() for n in names)


def _store(folder: Path, name: str = "s.parquet", **options) -> str:
    return str(labelled_store(folder / name, **options))


def _model(folder: Path, store: str | None = None) -> str:
    return str(leace_model(folder / "model", Path(store) if store else None))


def _sface_sized_model(folder: Path) -> str:
    import numpy as np

    from blindface.blinding import LEACE

    X = np.random.default_rng(0).normal(size=(40, 128)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return str(LEACE().fit(X, expression=["happy", "sad"] * 20).save(folder / "model"))


def _manifest(folder: Path) -> str:
    from _corpus import make_corpus

    make_corpus(folder, 4).to_csv(folder / "m.csv", index=False)
    return str(folder / "m.csv")


def _flipped_column_name(folder: Path) -> str:
    path = Path(_store(folder))
    data = bytearray(path.read_bytes())
    footer = len(data) - int.from_bytes(data[-8:-4], "little") - 8
    at = data.index(b"subject", footer)  # the column name in the Parquet schema
    data[at] = 0xFF  # no longer UTF-8
    path.write_bytes(bytes(data))
    return str(path)


def _partitioned(folder: Path, manifest: Callable[[Path], object]) -> str:
    from blindface.store import read_store, write_store

    single = read_store(_store(folder, "single.parquet"))
    table = single.table.drop(columns=["face_status", "face_reason", "content_hash"])
    parts = write_store(folder / "parts", table, single.embeddings, partitioned=True,
                        metadata=SFACE)  # fmt: skip
    (parts / "_blindface.json").unlink()
    manifest(parts / "_blindface.json")
    return str(parts)


def _foreign_footer(folder: Path) -> str:
    import pyarrow.parquet as pq

    from blindface.store._format import METADATA_KEY

    path = Path(_store(folder))
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: deep_json().encode()}), path)
    return str(path)


def _killed_fit(folder: Path) -> list[str]:
    store = _store(folder)
    model = Path(_model(folder, store))
    dead = 2**22 + 12345
    (model / f".blindface-tmp-{dead}-weights.safetensors.x1y2").write_bytes(b"")
    (folder / f".blindface-tmp-{dead}-model.a1b2").mkdir()
    return ["fit", "--method", "leace", "--embeddings", store, "--out", str(model)]


def _no_leftovers(folder: Path) -> bool:
    return not list(folder.rglob(".blindface-tmp-*"))


def _listener() -> int:
    """A local port that accepts connections and says nothing (not a Ray head)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    threading.Thread(target=lambda: [server.accept() for _ in range(64)], daemon=True).start()
    return server.getsockname()[1]


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _label_map_json(folder: Path, text: str) -> str:
    (folder / "map.json").write_text(text)
    return str(folder / "map.json")


def _audit(folder: Path, store: str, *extra: str) -> list[str]:
    return ["audit", "--embeddings", store, "--out", str(folder / "a"), "--no-tune",
            "--no-progress", *extra]  # fmt: skip


def _transform(model: str, store: str, out: str, *extra: str) -> list[str]:
    return ["transform", "--model", model, "--embeddings", store, "--out", out,
            "--no-progress", *extra]  # fmt: skip


def _fit(out: Path, *stores: str, method: str = "leace", extra: tuple[str, ...] = ()) -> list[str]:
    args = ["fit", "--method", method, "--out", str(out), "--no-progress", *extra]
    for store in stores:
        args += ["--embeddings", store]
    return args


CASES = [
    # -- bounded resources --------------------------------------------------------------------
    Case(
        "model: one 1,000,000-character label among 1,000",
        lambda f: _transform(
            str(
                rewrite_labels(
                    Path(_model(f, _store(f))), ["x" * 1_000_000, *(f"l{i}" for i in range(1000))]
                )
            ),
            str(f / "s.parquet"),
            str(f / "b.parquet"),
        ),
        "error",
        "1,000,000 characters",
        _absent("b.parquet"),
    ),
    Case(
        "model: one 256-character label among 70,000",
        lambda f: _transform(
            str(
                rewrite_labels(
                    Path(_model(f, _store(f))), ["x" * 256, *(f"{i}" for i in range(70_000))]
                )
            ),
            str(f / "s.parquet"),
            str(f / "b.parquet"),
        ),
        "error",
        "70,001 labels",
    ),
    Case(
        "store: 1 GB of zstd strings in 47 kB, fit",
        lambda f: _fit(f / "m", str(bomb_store(f / "bomb.parquet", cell_bytes=10_000_000))),
        "error",
        "bomb.parquet: row group 0 decompresses",
        _absent("m"),
    ),
    Case(
        "store: 1 GB of zstd strings in 47 kB, transform",
        lambda f: _transform(
            _model(f),
            str(bomb_store(f / "bomb.parquet", cell_bytes=10_000_000)),
            str(f / "b.parquet"),
        ),
        "error",
        "bomb.parquet: row group 0 decompresses",
        _absent("b.parquet"),
    ),
    Case(
        "store: 1 GB of zstd strings in 47 kB, audit",
        lambda f: _audit(f, str(bomb_store(f / "bomb.parquet", cell_bytes=10_000_000))),
        "error",
        "bomb.parquet: row group 0 decompresses",
        _absent("a"),
    ),
    Case(
        "store: a 10 MB column fit does not need",
        lambda f: _fit(f / "m", _store(f, notes=[f"{i}" + "n" * 200_000 for i in range(48)])),
        "handled",
        "",
        lambda f: (f / "m" / "config.json").is_file(),
    ),
    Case(
        "manifest: a FIFO",
        lambda f: ["embed", str(fifo(f / "m.csv")), "--out", str(f / "s.parquet"), "--no-progress"],
        "error",
        "m.csv is a FIFO",
        timeout=60,
    ),
    Case(
        "manifest: a link to /dev/zero",
        lambda f: ["embed", str(zero_link(f / "m.csv")), "--out", str(f / "s.parquet")],
        "error",
        "m.csv is a device",
        timeout=60,
    ),
    Case(
        "--label-map: a FIFO",
        lambda f: [
            "embed",
            _manifest(f),
            "--label-map",
            str(fifo(f / "map.csv")),
            "--out",
            str(f / "s.parquet"),
            "--no-progress",
        ],
        "error",
        "map.csv is a FIFO",
        timeout=60,
    ),
    Case(
        "--label-map: a link to /dev/zero",
        lambda f: [*_fit(f / "m", _store(f)), "--label-map", str(zero_link(f / "map.json"))],
        "error",
        "map.json is a device",
        timeout=60,
    ),
    Case(
        "model config.json: a FIFO",
        lambda f: _transform(str(_fifo_config(f)), _store(f), str(f / "b.parquet")),
        "error",
        "config.json is a FIFO",
        timeout=60,
    ),
    Case(
        "store manifest: a FIFO",
        lambda f: _transform(_model(f), _partitioned(f, fifo), str(f / "b.parquet")),
        "error",
        "_blindface.json is a FIFO",
        timeout=60,
    ),
    Case(
        "store manifest: a link to /dev/zero",
        lambda f: _audit(f, _partitioned(f, zero_link)),
        "error",
        "_blindface.json is a device",
        timeout=60,
    ),
    Case(
        "JSON 100,000 deep: model config.json",
        lambda f: _transform(str(_deep_config(f)), _store(f), str(f / "b.parquet")),
        "error",
        "nests 100000 levels deep",
    ),
    Case(
        "JSON 100,000 deep: store manifest",
        lambda f: _audit(f, _partitioned(f, lambda p: p.write_text(deep_json()))),
        "error",
        "nests 100000 levels deep",
    ),
    Case(
        "JSON 100,000 deep: store footer",
        lambda f: _fit(f / "m", _foreign_footer(f)),
        "error",
        "nests 100000 levels deep",
    ),
    Case(
        "JSON 100,000 deep: --label-map",
        lambda f: [*_fit(f / "m", _store(f)), "--label-map", _label_map_json(f, deep_json())],
        "error",
        "nests 100000 levels deep",
    ),
    Case(
        "JSON 2,000 deep: --param",
        lambda f: [
            *_fit(f / "m", _store(f), method="within_subject"),
            "--param",
            "n_components=" + "[" * 2000,
        ],
        "error",
        "n_components",
    ),
    Case(
        "--param hidden_layer_sizes=1000000000",
        lambda f: [
            *_fit(f / "m", _store(f), method="sensitivenets"),
            "--param",
            "hidden_layer_sizes=1000000000",
        ],
        "error",
        "must be 1 to 8 items, each in [1, 8192]",
        _absent("m"),
    ),
    Case(
        "--param max_iter=10**12",
        lambda f: [*_fit(f / "m", _store(f), method="invariant"), "--param", f"max_iter={10**12}"],
        "error",
        "max_iter=1000000000000 must be in [1, 1000]",
        _absent("m"),
    ),
    Case(
        "onnx:PATH declaring 10^9 outputs",
        lambda f: [
            "embed",
            _manifest(f),
            "--embedder",
            f"onnx:{huge_onnx(f / 'huge.onnx', 10**9)}",
            "--out",
            str(f / "s.parquet"),
            "--no-progress",
        ],
        "error",
        "is declared 1 x 1000000000",
    ),
    Case(
        "ray --address: a closed port",
        lambda f: [
            "embed",
            _manifest(f),
            "--engine",
            "ray",
            "--address",
            f"127.0.0.1:{_closed_port()}",
            "--out",
            str(f / "s"),
            "--no-progress",
        ],
        "error",
        "cannot reach the Ray cluster",
        timeout=90,
    ),
    Case(
        "ray --address: a port that is not a Ray head",
        lambda f: [
            *_fit(
                f / "m",
                _store(f),
                extra=("--engine", "ray", "--address", f"127.0.0.1:{_listener()}"),
            )
        ],
        "error",
        "could not join the Ray cluster",
        timeout=120,
    ),
    # -- one embedder per model ---------------------------------------------------------------
    Case(
        "fit: an SFace and a dlib store",
        lambda f: _fit(f / "m", _store(f), _store(f, "dlib.parquet", embedder=DLIB, first=50)),
        "error",
        "dlib.parquet holds dlib",
        _absent("m"),
    ),
    Case(
        "fit: an SFace store and another ONNX recognizer's",
        lambda f: _fit(f / "m", _store(f), _store(f, "o.parquet", embedder=OTHER_ONNX, first=50)),
        "error",
        "o.parquet holds onnx:",
        _absent("m"),
    ),
    Case(
        "fit: SFace on CPU and on GPU (execution settings only)",
        lambda f: _fit(
            f / "m",
            _store(f),
            _store(
                f,
                "gpu.parquet",
                first=50,
                embedder={
                    **SFACE,
                    "settings": {**SFACE["settings"], "backend": "torch", "batch_size": 64},
                },
            ),
        ),
        "handled",
        "",
        lambda f: (f / "m" / "config.json").is_file(),
    ),
    Case(
        "transform: a dlib store with an SFace model",
        lambda f: _transform(
            _model(f, _store(f)), _store(f, "dlib.parquet", embedder=DLIB), str(f / "b.parquet")
        ),
        "error",
        "dlib.parquet holds dlib",
        _absent("b.parquet"),
    ),
    Case(
        "audit: a dlib store with an SFace model",
        lambda f: _audit(
            f,
            _store(f, "dlib.parquet", embedder=DLIB, n=60, people=10),
            "--model",
            _model(f, _store(f)),
        ),
        "error",
        "the audited stores hold dlib",
        _absent("a"),
    ),
    Case(
        "transform: a store already blinded",
        lambda f: _transform(_model(f, _store(f)), _blinded(f), str(f / "twice.parquet")),
        "error",
        "is already blinded",
        _absent("twice.parquet"),
    ),
    # -- never overwrite or half-write --------------------------------------------------------
    Case(
        "transform --out = --embeddings",
        lambda f: _transform(_model(f, _store(f)), str(f / "s.parquet"), str(f / "s.parquet")),
        "error",
        "is an input of this command",
        _unchanged("s.parquet"),
    ),
    Case(
        "embed --out = the manifest",
        lambda f: ["embed", _manifest(f), "--out", str(f / "m.csv"), "--no-progress"],
        "error",
        "is an input of this command",
        _unchanged("m.csv"),
    ),
    Case(
        "fit --out = another tool's folder",
        lambda f: _fit(_their_folder(f), _store(f)),
        "error",
        "holds files blindface did not write there",
        _unchanged("theirs/config.json"),
    ),
    Case(
        "fit --out = an existing file (no store read)",
        lambda f: _fit(_notes(f), str(f / "nowhere.parquet")),
        "error",
        "notes.txt is a file",
        _unchanged("notes.txt"),
    ),
    Case(
        "export-recognizer --out = an existing folder (no model read)",
        lambda f: ["export-recognizer", "--model", str(f / "nowhere"), "--out", str(f)],
        "error",
        "is a folder, but the ONNX recognizer",
    ),
    Case(
        "disk full: fit",
        lambda f: _fit(f / "m", _store(f)),
        "error",
        "needs more than",
        lambda f: not (f / "m").exists() and _no_leftovers(f),
        prelude=FULL_DISK,
    ),
    Case(
        "disk full: audit",
        lambda f: _audit(
            f,
            _store(f, "t.parquet", n=60, people=10, first=50),
            "--model",
            _model(f, _store(f, n=60, people=10)),
            "--probes",
            "logreg",
        ),
        "error",
        "needs more than",
        lambda f: not (f / "a").exists() and _no_leftovers(f),
        prelude=FULL_DISK,
    ),
    Case(
        "disk full: export-recognizer",
        lambda f: [
            "export-recognizer",
            "--model",
            _sface_sized_model(f),
            "--out",
            str(f / "r.onnx"),
        ],
        "error",
        "needs more than",
        lambda f: not (f / "r.onnx").exists() and _no_leftovers(f),
        prelude=FULL_DISK,
    ),
    Case("a killed fit's 0-byte temporary, rerun", _killed_fit, "handled", "", _no_leftovers),
    # -- errors a user can act on -------------------------------------------------------------
    Case(
        "audit --folds above the number of people",
        lambda f: _audit(f, _store(f, n=60, people=10), "--folds", "20"),
        "error",
        "10 people, but a people-disjoint 20-fold audit needs at least 20",
    ),
    Case(
        "audit: every image its own person",
        lambda f: _audit(f, _store(f, n=40, people=40), "--folds", "2", "--probes", "logreg"),
        "error",
        "every person has one image",
    ),
    Case(
        "audit --probes foo",
        lambda f: _audit(f, _store(f, n=60, people=10), "--probes", "foo"),
        "error",
        "unknown probes ['foo']",
    ),
    Case(
        "audit --probes ,",
        lambda f: _audit(f, _store(f, n=60, people=10), "--probes", ","),
        "error",
        "no probe given",
    ),
    Case(
        "store: a flipped byte in a column name",
        lambda f: _fit(f / "m", _flipped_column_name(f)),
        "error",
        "s.parquet",
    ),
    Case(
        "fit: two copies of one store",
        lambda f: _fit(f / "m", _store(f), _copy(f, "s.parquet", "copy.parquet")),
        "handled",
        "",
        lambda f: (f / "m" / "config.json").is_file(),
    ),
]
CASES_BY_NAME: dict[str, Case] = {}


def _fifo_config(folder: Path) -> Path:
    model = Path(_model(folder))
    (model / "config.json").unlink()
    fifo(model / "config.json")
    return model


def _deep_config(folder: Path) -> Path:
    model = Path(_model(folder))
    (model / "config.json").write_text(deep_json())
    return model


def _blinded(folder: Path) -> str:
    from blindface.pipelines import transform_store

    store = labelled_store(folder / "raw.parquet", first=50)
    return str(transform_store(folder / "model", store, folder / "once.parquet", progress=False))


def _their_folder(folder: Path) -> Path:
    theirs = folder / "theirs"
    theirs.mkdir()
    (theirs / "config.json").write_text('{"architectures": ["BertModel"]}')
    return theirs


def _notes(folder: Path) -> Path:
    (folder / "notes.txt").write_text("mine")
    return folder / "notes.txt"


def _copy(folder: Path, source: str, target: str) -> str:
    shutil.copy(folder / source, folder / target)
    return str(folder / target)


def run_case(case: Case, folder: Path) -> tuple[str, str, float, float]:
    """Build and run ``case`` in ``folder``: (outcome, the command's last line, seconds, peak
    resident memory in MB)."""
    CASES_BY_NAME[folder.name] = case
    args = case.build(folder)
    case.digests = {
        str(p.relative_to(folder)): _digest(p) for p in folder.rglob("*") if p.is_file()
    }
    code = (
        case.prelude
        + "import sys\nfrom blindface.cli import main\nsys.argv[0] = 'blindface'\nmain()\n"
    )
    out = folder.parent / f"{folder.name}.log"
    peak = folder.parent / f"{folder.name}.peak"
    # through /usr/bin/time: a child forked from this (large) process would report this
    # process's peak memory as its own
    command = ["/usr/bin/time", "-f", "%M", "-o", str(peak), sys.executable, "-c", code, *args]
    with open(out, "wb") as log:
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        try:
            process.wait(timeout=case.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return "hang", "", time.monotonic() - start, 0.0
        seconds = time.monotonic() - start
    text = out.read_text(errors="replace")
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())
    last = " ".join(text.strip().splitlines()[-1:])[:300]
    if "Command terminated by signal" in text:
        return "crash", last, seconds, 0.0
    memory = int(peak.read_text().split()[-1]) / 1024
    rc = process.returncode
    if "Traceback" in text or rc not in (0, 1, 2):
        return "crash", last, seconds, memory
    if memory > MEMORY_LIMIT_MB:
        return "memory", last, seconds, memory
    right = case.check(folder)
    if case.expect == "handled":
        outcome = "handled" if rc == 0 and right else "silent loss" if rc == 0 else "unclear error"
    elif rc == 0 or not right:
        outcome = "silent loss"
    else:
        clear = case.token in flat and ("error:" in flat or "Invalid value" in flat)
        outcome = "clear error" if clear else "unclear error"
    return outcome, flat[-200:], seconds, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name holds this")
    parser.add_argument("--keep", default=None, help="build the cases in this folder")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args()
    os.environ.setdefault("COLUMNS", "200")
    root = Path(options.keep or tempfile.mkdtemp(prefix="blindface-corpus-"))
    results = []
    for index, case in enumerate(CASES):
        if options.only not in case.name:
            continue
        folder = root / f"case{index:02d}"
        folder.mkdir(parents=True)
        outcome, last, seconds, memory = run_case(case, folder)
        results.append({"case": case.name, "outcome": outcome, "seconds": round(seconds, 1),
                        "peak_mb": round(memory), "said": last})  # fmt: skip
        print(f"{outcome:13} {seconds:5.1f} s {memory:5.0f} MB  {case.name}: {last[:150]}",
              flush=True)  # fmt: skip
    counts = Counter(r["outcome"] for r in results)
    print(json.dumps(results, indent=1) if options.json else "", end="")
    print(
        "\n" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), f"({len(results)} cases)"
    )
    if not options.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
