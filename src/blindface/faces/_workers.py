"""The worker processes of :func:`~blindface.faces.embed_files`.

Each worker builds its own embedder once and runs on one thread. Workers die with the process
that started them, however it ends (even by SIGKILL): on Linux the kernel kills them
(``PR_SET_PDEATHSIG``; it fires when the *thread* that started a worker ends, and workers are
started by the thread that iterates :func:`embed_files`), and everywhere a watchdog thread
exits when the worker's parent changes. A worker that crashes (a decoder segfault, the OOM
killer) costs only the file it was on: the pool is rebuilt and the files that were in flight
are embedded again one per task, so the culprit is found and recorded as ``failed``.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from blindface.faces._embedder import Embedder
from blindface.faces._records import FaceRecord, embed_paths

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCHDOG_INTERVAL = 0.5  # seconds between two looks at the parent

Factory = Callable[..., Embedder]
Chunk = tuple[list[str], "Future[list[FaceRecord]] | None"]


class WorkerPool:
    """``n_jobs`` spawned worker processes, each with an embedder built by ``factory(**options)``,
    that embed chunks of files in order; a crash costs only the file that caused it.

    ``expected`` (optional) is the :attr:`~Embedder.settings` every worker's embedder must have.
    """

    def __init__(
        self,
        factory: Factory,
        options: dict[str, Any],
        expected: dict[str, Any] | None,
        n_jobs: int,
    ) -> None:
        self.n_jobs = n_jobs
        self._initargs = (factory, options, expected, os.getpid())
        self._pool = self._start()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (waiting for the chunk each is on)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def embed(self, chunks: Iterable[list[str]]) -> Iterator[FaceRecord]:
        """The records of every file of ``chunks``, in order; at most ``2 * n_jobs`` chunks
        are in flight."""
        pending: deque[Chunk] = deque()
        for chunk in chunks:
            pending.append((chunk, self._submit(chunk)))
            if len(pending) >= 2 * self.n_jobs:
                yield from self._next(pending)
        while pending:
            yield from self._next(pending)

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.n_jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=self._initargs,
        )

    def _submit(self, paths: list[str]) -> Future[list[FaceRecord]] | None:
        """The task embedding ``paths``; ``None`` when the pool is already broken."""
        try:
            return self._pool.submit(_embed_chunk, paths)
        except BrokenProcessPool:
            return None

    def _next(self, pending: deque[Chunk]) -> list[FaceRecord]:
        """The records of the oldest chunk in flight or, when a worker crashed, those of every
        chunk in flight."""
        records = _result(pending[0][1])
        if records is None:
            return self._recover(pending)
        pending.popleft()
        return records

    def _recover(self, pending: deque[Chunk]) -> list[FaceRecord]:
        """After a crash: keep the chunks that finished, embed the files of the others again
        one per task, and return the records of every chunk of ``pending`` (emptied)."""
        self._restart()
        finished = [(chunk, _result(future)) for chunk, future in pending]
        pending.clear()
        redo = [path for chunk, done in finished if done is None for path in chunk]
        again = iter(self._isolate(redo))
        records: list[FaceRecord] = []
        for chunk, done in finished:
            records.extend(done if done is not None else (next(again) for _ in chunk))
        return records

    def _isolate(self, paths: list[str]) -> list[FaceRecord]:
        """Records of ``paths``, embedded one file per task, ``n_jobs`` at a time; the files
        in flight when a worker crashes are embedded again alone, and a file that crashes a
        worker alone is recorded as ``failed``."""
        records: list[FaceRecord | None] = [None] * len(paths)
        todo = deque(range(len(paths)))
        while todo:
            batch = [todo.popleft() for _ in range(min(self.n_jobs, len(todo)))]
            futures = [(index, self._submit([paths[index]])) for index in batch]
            crashed = []
            for index, future in futures:
                done = _result(future)
                if done is None:
                    crashed.append(index)
                else:
                    records[index] = done[0]
            if crashed:
                self._restart()
            for index in crashed:
                done = _result(self._submit([paths[index]]))
                if done is None:
                    records[index] = _crashed(paths[index], self._restart())
                else:
                    records[index] = done[0]
        done_records = [record for record in records if record is not None]
        assert len(done_records) == len(paths), "every file gets a record"
        return done_records

    def _restart(self) -> str:
        """Replace the broken pool by a fresh one; how its worker died (``signal SIGSEGV``)."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._start()
        return _describe_exit([process.exitcode for process in processes])


def _result(future: Future[list[FaceRecord]] | None) -> list[FaceRecord] | None:
    """The records of a task, or ``None`` when its pool broke before it finished."""
    if future is None:
        return None
    try:
        return future.result()
    except (BrokenProcessPool, CancelledError):
        return None


def _crashed(path: str, cause: str) -> FaceRecord:
    reason = f"the worker process crashed while reading or embedding this file ({cause})"
    return FaceRecord(path, None, "failed", reason)


def _describe_exit(exit_codes: list[int | None]) -> str:
    """How the crashed worker ended (``signal SIGSEGV``, ``exit code 3``), from the exit codes of
    the pool's workers (the survivors are terminated with SIGTERM when a pool breaks)."""
    codes = [code for code in exit_codes if code]
    crashed = [code for code in codes if code != -signal.SIGTERM] or codes
    if not crashed:
        return "cause unknown"
    code = crashed[0]
    if code > 0:
        return f"exit code {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:
        return f"signal {-code}"


_WORKER_EMBEDDER: Embedder | None = None
_WORKER_ERROR: BaseException | None = None


def _init_worker(
    factory: Factory, options: dict[str, Any], expected: dict[str, Any] | None, parent_pid: int
) -> None:
    """Tie the worker to its parent and build its embedder once, with one OpenCV (and PyTorch)
    thread. An error is kept and raised by every task, so the caller sees it."""
    global _WORKER_EMBEDDER, _WORKER_ERROR
    die_with_parent(parent_pid)
    try:
        import cv2

        cv2.setNumThreads(1)
        embedder = factory(**options)
        if expected is not None and embedder.settings != expected:
            raise ValueError(
                f"a worker rebuilt the {embedder.name} embedder with other settings than the one "
                "given; create embedders with blindface.faces.get_embedder(name, **options)"
            )
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
        _WORKER_EMBEDDER = embedder
    except Exception as exc:
        _WORKER_ERROR = exc


def _embed_chunk(paths: list[str]) -> list[FaceRecord]:
    """The task a worker runs: the records of ``paths``."""
    if _WORKER_EMBEDDER is None:
        raise _WORKER_ERROR or RuntimeError("the worker's embedder was not built")
    return embed_paths(paths, _WORKER_EMBEDDER)


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit as soon as ``parent_pid`` (its parent) dies, however it dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl here: the watchdog below still works
    start_parent_watchdog(parent_pid)


def start_parent_watchdog(parent_pid: int) -> None:
    """Start a daemon thread that ends this process when its parent is no longer
    ``parent_pid`` (an orphan is re-parented to init or a subreaper)."""
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)
    watchdog = threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="blindface-parent-watchdog", daemon=True
    )
    watchdog.start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_WATCHDOG_INTERVAL)
    os._exit(1)
