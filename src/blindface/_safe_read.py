"""Reading a user's file safely: only a regular file, and never more than a stated number of bytes.

Every small file blindface reads whole (manifests, label maps, model configs and weights, store
manifests) goes through :func:`read_bounded`. A FIFO would block the read for ever and a link to
``/dev/zero`` would fill the memory, so anything that is not a regular file is refused before it
is read (it is opened without blocking and checked again on the open descriptor, so a file swapped
in between is caught too), and a file longer than the limit is refused instead of read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["InputFileError", "check_regular_file", "file_kind", "read_bounded"]

MiB = 1 << 20


class InputFileError(ValueError):
    """A file that cannot be read as input (not a regular file, or too large); the message names
    it and says what was expected."""


def file_kind(mode: int) -> str | None:
    """What a file of ``mode`` (``os.stat(path).st_mode``) is, when it is not a regular file:
    "a folder", "a FIFO (named pipe)", "a device", "a socket"; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket"


def check_regular_file(
    path: str | os.PathLike[str],
    what: str,
    *,
    error: Callable[[str], Exception] = InputFileError,
) -> Path:
    """``path`` when it is a regular file (links followed); :class:`FileNotFoundError` when
    nothing is there, else ``error`` saying what it is (``what`` names it: "manifest")."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    kind = file_kind(mode)
    if kind is not None:
        raise error(f"{what} {path} is {kind}; give the file itself (a regular file)")
    return path


def read_bounded(
    path: str | os.PathLike[str],
    what: str,
    *,
    limit: int,
    error: Callable[[str], Exception] = InputFileError,
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises :class:`FileNotFoundError` when nothing is there, ``error`` (default
    :class:`InputFileError`) when ``path`` is not a regular file or holds more than ``limit``
    bytes, and :class:`OSError` when it cannot be read (permissions).
    """
    path = check_regular_file(path, what, error=error)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None:  # replaced between the check and the open
            raise error(f"{what} {path} is {kind}; give the file itself (a regular file)")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(
            f"{what} {path} is larger than {_size(limit)}, more than a {what} can hold: "
            "is it the right file?"
        )
    return data


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n:,} bytes"
