"""Atomic file writing: the one place where blindface puts bytes on disk.

Every file the library writes (stores, cache chunks, models, JSON results, reports, figures) goes
through :func:`write_atomic` or one of its wrappers: the bytes go to a temporary file in the same
folder, are flushed to disk, and the temporary file is renamed over the target. A reader (or a run
that was killed half-way) sees the old file or the new one, never a mix. Files are created with
mode 0644 (world-readable), like any file a user creates. :func:`write_folder` does the same for a
whole folder (a partitioned store). Temporary names carry the writing process's id, so concurrent
runs never collide and :func:`remove_stale_temporaries` can tell a dead run's leftovers from a live
run's work. A failed write raises :class:`OSError` naming the target file and removes what it
had written; a full disk is a :class:`DiskFullError` saying how much space was needed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_PREFIX",
    "DiskFullError",
    "describe_error",
    "remove_stale_temporaries",
    "save_figure",
    "write_atomic",
    "write_folder",
    "write_json",
    "write_text",
    "write_with",
]

#: Temporary files start with this prefix, so a later run can find and remove stale ones.
TEMP_PREFIX = ".blindface-tmp-"
FILE_MODE = 0o644
FOLDER_MODE = 0o755


class DiskFullError(OSError):
    """A write that failed for lack of space (ENOSPC, EDQUOT); ``needed`` is how many bytes the
    output needed at least (what it had written when the disk filled)."""

    def __init__(self, code: int, strerror: str, filename: str, needed: int) -> None:
        super().__init__(code, strerror, filename)
        self.needed = needed


def write_with(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any], *, size: int = 0
) -> Path:
    """Create ``path`` atomically: ``write(handle)`` fills a temporary file that then replaces it.

    The parent folder is created when missing. ``path`` naming an existing folder is an error
    (:class:`IsADirectoryError` naming it), not a silent write beside it. A failed write
    removes the temporary file and raises :class:`OSError` naming ``path``; for a full disk a
    :class:`DiskFullError` saying how much was needed (at least ``size``, when known).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give a file name to write to")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path))
    handle = os.fdopen(fd, "wb")
    try:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        written = _position(handle)
        with contextlib.suppress(OSError):
            handle.close()  # closes the file even when its final flush fails
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _named(exc, path, max(size, written)) from exc
        raise
    return path


def _position(handle: IO[bytes]) -> int:
    try:
        return handle.tell()
    except (OSError, ValueError):
        return 0


def _named(error: OSError, path: Path, needed: int) -> OSError:
    """``error`` naming ``path`` (ENOSPC from write() names no file); a full disk as a
    :class:`DiskFullError` that needed ``needed`` bytes."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(error.errno, error.strerror or "", os.fspath(path), needed)
    if error.filename is None and error.errno is not None:
        return OSError(error.errno, error.strerror, os.fspath(path))
    return error


def write_folder(path: str | os.PathLike[str], fill: Callable[[Path], Any]) -> Path:
    """Create the folder ``path`` atomically: ``fill(folder)`` writes its files into a temporary
    folder beside it, which then takes the place of ``path`` (replacing a folder already there).

    ``fill`` should write with :func:`write_with` and friends. ``path`` naming an existing file is
    an error (:class:`NotADirectoryError` naming it). Readers see the old folder or the new one,
    never a mix (for an instant between the two renames, neither). A failure removes the
    temporary folder; a full disk is a :class:`DiskFullError` on ``path`` counting every file
    written into it.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file: give a folder name to write to")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temp_prefix(path)))
    try:
        fill(tmp)
        os.chmod(tmp, FOLDER_MODE)
        _fsync_folder(tmp)
        _swap_in(tmp, path)
    except DiskFullError as exc:
        written = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        shutil.rmtree(tmp, ignore_errors=True)
        needed = written + exc.needed
        raise DiskFullError(
            exc.errno or errno.ENOSPC, exc.strerror or "", os.fspath(path), needed
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    return write_with(path, lambda handle: handle.write(data), size=len(data))


def write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> Path:
    """Write ``value`` as JSON (keys in insertion order, a final newline) atomically."""
    text = json.dumps(value, indent=indent, default=str, allow_nan=False) + "\n"
    return write_atomic(path, text.encode("utf-8"))


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically."""
    return write_atomic(path, text.encode("utf-8"))


def save_figure(figure: Any, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG atomically.

    Build figures with ``matplotlib.figure.Figure`` (not pyplot): no global state, no display.
    """
    return write_with(
        path, lambda handle: figure.savefig(handle, format="png", dpi=dpi, bbox_inches="tight")
    )


def describe_error(error: BaseException) -> str:
    """A one-line message for the user; a failed write names the file and, for a full disk,
    what to do."""
    if not isinstance(error, OSError) or error.filename is None or error.strerror is None:
        return str(error)
    verb = "write" if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else "use"
    text = f"cannot {verb} {error.filename}: {error.strerror}"
    if isinstance(error, DiskFullError):
        text += (
            f" (it needs more than {_size(error.needed)}; the partial output was removed: free "
            "some space or write to another disk, then rerun: finished work is kept)"
        )
    return text


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete temporary files (and folders) that a killed run left in ``folder``; return how many.

    A temporary file names the process that writes it; files of a process that is still running
    (a concurrent run) are left alone.
    """
    removed = 0
    try:
        candidates = list(Path(folder).glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return 0
    for candidate in candidates:
        pid = candidate.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and _is_running(int(pid)):
            continue
        try:
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _temp_prefix(path: Path) -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{path.name}."


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename the folder ``tmp`` to ``path``, moving a folder already there aside and deleting it.

    Concurrent writers of the same ``path`` may interleave: whoever renames last wins, nobody fails.
    """
    aside: list[Path] = []
    try:
        while True:
            try:
                os.rename(tmp, path)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            old = path.with_name(f"{_temp_prefix(path)}old-{uuid.uuid4().hex}")
            try:
                os.rename(path, old)
                aside.append(old)
            except FileNotFoundError:
                continue  # a concurrent writer moved it first
    finally:
        for old in aside:
            shutil.rmtree(old, ignore_errors=True)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
