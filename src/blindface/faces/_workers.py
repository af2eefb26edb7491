"""The worker processes of :func:`~blindface.faces.embed_files`.

Each worker builds its own embedder once and runs on one thread. Workers die with the process
that started them, however it ends (even by SIGKILL): on Linux the kernel kills them
(``PR_SET_PDEATHSIG``; it fires when the *thread* that started a worker ends, and workers are
started by the thread that iterates :func:`embed_files`), and everywhere a watchdog thread
exits when the worker's parent changes. A worker that crashes (a decoder segfault, the OOM
killer) costs only the file it was on: the pool is rebuilt and the files that were in flight
are embedded again one per task, so the culprit is found and recorded as ``failed``. Workers
that die as they start (no ``__main__`` guard, an unimportable main module) raise
:class:`WorkerStartError` instead: that is no file's fault.
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
#: The reason recorded for a file that crashes a worker, followed by how it died.
CRASH_REASON = "the worker process crashed while reading or embedding this file"

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
        """A fresh pool whose workers are up and hold their embedder. Raises the error of an
        embedder that cannot be built, or :class:`WorkerStartError` when the workers die as
        they start: that is no file's fault, so no file is blamed for it."""
        pool = ProcessPoolExecutor(
            max_workers=self.n_jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=self._initargs,
        )
        try:
            for ping in [pool.submit(_ping) for _ in range(self.n_jobs)]:
                ping.result()
        except BrokenProcessPool:
            raise WorkerStartError(_shut_down(pool)) from None
        except BaseException:
            _shut_down(pool)
            raise
        return pool

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
        """Records of ``paths``, embedded one file per task, ``n_jobs`` tasks at a time. When a
        worker crashes and one task of the round did not finish, that file is the culprit,
        recorded as ``failed``; when several did not, each is embedded again alone."""
        records: list[FaceRecord | None] = [None] * len(paths)
        todo, alone = deque(range(len(paths))), deque[int]()
        while todo or alone:
            if alone:
                batch = [alone.popleft()]
            else:
                batch = [todo.popleft() for _ in range(min(self.n_jobs, len(todo)))]
            futures = [(index, self._submit([paths[index]])) for index in batch]
            crashed = []
            for index, future in futures:
                done = _result(future)
                if done is None:
                    crashed.append(index)
                else:
                    records[index] = done[0]
            if not crashed:
                continue
            cause = self._restart()
            if len(crashed) == 1:
                reason = f"{CRASH_REASON} ({cause})"
                records[crashed[0]] = FaceRecord(paths[crashed[0]], None, "failed", reason)
            else:
                alone.extend(crashed)
        done_records = [record for record in records if record is not None]
        assert len(done_records) == len(paths), "every file gets a record"
        return done_records

    def _restart(self) -> str:
        """Replace the broken pool by a fresh one; how its worker died (``signal SIGSEGV``)."""
        cause = _shut_down(self._pool)
        self._pool = self._start()
        return cause


class WorkerStartError(RuntimeError):
    """The worker processes of :func:`~blindface.faces.embed_files` died as they started."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(
            f"the worker processes died as they started ({cause}); their error is on stderr. "
            'A script that calls embed_files with n_jobs > 1 needs an `if __name__ == "__main__":` '
            "guard, and its main module must be importable (not read from stdin)"
        )

    def __reduce__(self) -> tuple[type[WorkerStartError], tuple[str]]:
        return type(self), (self.cause,)


def _shut_down(pool: ProcessPoolExecutor) -> str:
    """Stop ``pool`` (waiting for its workers); how a crashed worker died, if one did."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=True, cancel_futures=True)
    return _describe_exit([process.exitcode for process in processes])


def _result(future: Future[list[FaceRecord]] | None) -> list[FaceRecord] | None:
    """The records of a task, or ``None`` when its pool broke before it finished."""
    if future is None:
        return None
    try:
        return future.result()
    except (BrokenProcessPool, CancelledError):
        return None


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


def _worker_embedder() -> Embedder:
    """This worker's embedder, or the error that kept it from being built."""
    if _WORKER_EMBEDDER is None:
        raise _WORKER_ERROR or RuntimeError("the worker's embedder was not built")
    return _WORKER_EMBEDDER


def _ping() -> None:
    """A task that checks that the worker is up and holds its embedder."""
    _worker_embedder()


def _embed_chunk(paths: list[str]) -> list[FaceRecord]:
    """The task a worker runs: the records of ``paths``."""
    return embed_paths(paths, _worker_embedder())


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
