"""Worker processes: they die with their parent, and one that crashes costs only its file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blindface.faces import _registry as registry
from blindface.faces import embed_files, read_image
from blindface.faces._workers import _describe_exit

from ._crashing import SEGFAULT, CrashingEmbedder

SRC = Path(__file__).resolve().parents[2] / "src"


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    """The pids still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (alive := [pid for pid in pids if not _gone(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        pytest.fail(f"the child exited ({process.returncode}) before printing its workers")
    return line


@pytest.mark.data
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see the workers")
def test_workers_die_when_their_parent_is_killed(data_dir):
    """SIGKILL of a process running embed_files(n_jobs=2) leaves no worker behind."""
    faces = sorted((data_dir / "lfw" / "lfw").glob("*/*.jpg"))[:4]
    if not faces:
        pytest.skip("LFW not in the data fixture")
    parent = _python(
        """
        import itertools, multiprocessing, sys
        from blindface.faces import embed_files

        if __name__ == "__main__":
            paths = itertools.cycle(sys.argv[1:])  # endless: still running when killed
            records = embed_files(paths, "sface", n_jobs=2, chunk_size=1, backend="opencv")
            next(records)
            print(*[child.pid for child in multiprocessing.active_children()], flush=True)
            for _ in records:
                pass
        """,
        *map(str, faces),
    )
    with parent:
        try:
            workers = [int(pid) for pid in _first_line(parent).split()]
            assert len(workers) == 2 and not any(_gone(pid) for pid in workers)
        finally:
            parent.kill()
    assert _wait_gone(workers, 5.0) == [], "workers outlived their killed parent"


def test_the_watchdog_alone_ends_an_orphan():
    """Without PR_SET_PDEATHSIG (macOS, or a parent thread that lives on), the watchdog thread
    still ends a worker whose parent died."""
    parent = _python(
        """
        import subprocess, sys, time

        child = subprocess.Popen([sys.executable, "-c", (
            "import os, time\\n"
            "from blindface.faces._workers import start_parent_watchdog\\n"
            "start_parent_watchdog(os.getppid())\\n"
            "print('ready', flush=True)\\n"
            "time.sleep(120)\\n"
        )], stdout=subprocess.PIPE, text=True)
        child.stdout.readline()
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    with parent:
        try:
            child = int(_first_line(parent))
            assert not _gone(child)
        finally:
            parent.kill()
    assert _wait_gone([child], 5.0) == [], "the orphan outlived its parent"


def test_a_crashing_worker_costs_only_its_file(tmp_path, monkeypatch):
    """A worker segfaults on one file: that file is recorded as failed, every other one keeps
    its embedding (or its own failure), in order."""
    monkeypatch.setitem(registry._EMBEDDERS, "crashing", CrashingEmbedder)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(11):
        image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        if index == 5:
            image[:] = SEGFAULT
        paths.append(tmp_path / f"{index:02d}.png")
        Image.fromarray(image).save(paths[-1])
    (tmp_path / "empty.png").write_bytes(b"")
    paths.insert(3, tmp_path / "empty.png")

    records = list(embed_files(paths, "crashing", n_jobs=2, chunk_size=3))

    assert [r.path for r in records] == [str(p) for p in paths]
    by_name = {Path(r.path).name: r for r in records}
    crashed = by_name.pop("05.png")
    assert crashed.status == "failed" and crashed.embedding is None
    assert crashed.reason == (
        "the worker process crashed while reading or embedding this file (signal SIGSEGV)"
    )
    empty = by_name.pop("empty.png")
    assert empty.status == "failed" and "empty file" in empty.reason
    for record in by_name.values():
        expected = read_image(record.path).reshape(-1, 3).mean(axis=0) + 1.0
        assert record.status == "detected", record.reason
        np.testing.assert_allclose(record.embedding, expected / np.linalg.norm(expected), rtol=1e-6)


def test_workers_that_cannot_start_are_an_error_not_failed_files(tmp_path):
    """A script without the ``__main__`` guard: its workers die as they start. That must stop
    the batch with a clear error, not record every file as crashed (and get cached so)."""
    script = tmp_path / "no_guard.py"
    image = str(tmp_path / "a.jpg")
    script.write_text(
        "from blindface.faces import embed_files\n"
        f"print(list(embed_files([{image!r}], 'sface', n_jobs=2, backend='opencv')))\n"
    )
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode != 0 and "[FaceRecord" not in result.stdout
    assert "WorkerStartError: the worker processes died as they started" in result.stderr
    assert 'if __name__ == "__main__":' in result.stderr


@pytest.mark.parametrize(
    ("exit_codes", "cause"),
    [
        ([-signal.SIGSEGV, -signal.SIGTERM], "signal SIGSEGV"),  # survivors get SIGTERM
        ([-signal.SIGTERM, 3], "exit code 3"),
        ([-signal.SIGKILL], "signal SIGKILL"),  # e.g. the OOM killer
        ([-signal.SIGTERM, -signal.SIGTERM], "signal SIGTERM"),
        ([0, None], "cause unknown"),
    ],
)
def test_how_a_worker_died(exit_codes, cause):
    assert _describe_exit(exit_codes) == cause
