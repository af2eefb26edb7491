"""Atomic file writing: the one place where blindface puts bytes on disk.

Every file the library writes (stores, cache chunks, models, JSON results, reports, figures) goes
through :func:`write_atomic` or one of its wrappers: the bytes go to a temporary file in the same
folder, are flushed to disk, and the temporary file is renamed over the target. A reader (or a run
that was killed half-way) sees the old file or the new one, never a mix. Files are created with
mode 0644 (world-readable), like any file a user creates.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_PREFIX",
    "remove_stale_temporaries",
    "save_figure",
    "write_atomic",
    "write_json",
    "write_text",
    "write_with",
]

#: Temporary files start with this prefix, so a later run can find and remove stale ones.
TEMP_PREFIX = ".blindface-tmp-"
FILE_MODE = 0o644


def write_with(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Create ``path`` atomically: ``write(handle)`` fills a temporary file that then replaces it.

    The parent folder is created when missing. ``path`` naming an existing folder is an error
    (:class:`IsADirectoryError` naming it), not a silent write beside it.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give a file name to write to")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    return write_with(path, lambda handle: handle.write(data))


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


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete temporary files that a killed run left in ``folder``; return how many.

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
            candidate.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
