"""Reading the small text files that come with a dataset (manifests, label files, label maps).

Users write these by hand or export them from spreadsheets, so they arrive with a UTF-8 BOM,
CRLF line ends or in Latin-1: all of them are read; what cannot be read is a
:class:`DatasetLayoutError` naming the file and the fix, never a traceback. Only regular files
are read, and never more than a limit (:func:`blindface._safe_read.read_bounded`): a FIFO or a
link to ``/dev/zero`` is an error, not a hang.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter
from pathlib import Path

from blindface._safe_read import read_bounded
from blindface.datasets._schema import DatasetLayoutError, DatasetWarning

SAVE_AS_UTF8 = "save it as UTF-8 (in a spreadsheet: 'CSV UTF-8')"
#: Longest text file read (a manifest of millions of images fits; /dev/zero does not).
MAX_TEXT_BYTES = 1 << 30


def read_text(path: Path, what: str, *, limit: int = MAX_TEXT_BYTES) -> str:
    """The text of ``path`` (``what`` names it in messages, e.g. ``"manifest"``).

    UTF-8, with or without a BOM; a file that is not valid UTF-8 is read as Latin-1 with one
    :class:`DatasetWarning` (Latin-1 decodes any byte, so names may then look wrong). A file
    that is missing, is not a regular file (a folder, a FIFO, a device), is longer than
    ``limit`` bytes, cannot be read, or holds NUL bytes (UTF-16 or binary) raises
    :class:`DatasetLayoutError`.
    """
    try:
        data = read_bounded(path, what, limit=limit, error=DatasetLayoutError)
    except FileNotFoundError:
        raise DatasetLayoutError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise DatasetLayoutError(
            f"{what} {path} cannot be read ({error.strerror or error}); check its permissions"
        ) from None
    if b"\x00" in data:
        raise DatasetLayoutError(
            f"{what} {path} is not UTF-8 or Latin-1 text (it holds NUL bytes: UTF-16 or a "
            f"binary file such as .xlsx); {SAVE_AS_UTF8}"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        warnings.warn(
            f"{what} {path} is not UTF-8 (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}), so it was read as Latin-1; if names look wrong, {SAVE_AS_UTF8}",
            DatasetWarning,
            stacklevel=3,
        )
        return data.decode("latin-1")


def read_csv(
    path: Path, what: str, *, limit: int = MAX_TEXT_BYTES
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (names stripped) and the non-blank rows of a CSV file (at most ``limit``
    bytes), each row with its line number. Invalid CSV and duplicate column names raise
    :class:`DatasetLayoutError`."""
    reader = csv.reader(io.StringIO(read_text(path, what, limit=limit), newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        rows = [(reader.line_num, row) for row in reader if any(v.strip() for v in row)]
    except csv.Error as error:
        raise DatasetLayoutError(
            f"{what} {path} line {reader.line_num}: not valid CSV ({error})"
        ) from None
    if duplicates := sorted(name for name, n in Counter(header).items() if n > 1):
        raise DatasetLayoutError(
            f"{what} {path}: duplicate column names {duplicates} in the header; give every "
            "column its own name"
        )
    return header, rows
