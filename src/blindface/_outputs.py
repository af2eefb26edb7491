"""The output guard: every command checks where it will write before it does any work.

:func:`check_output` refuses an output that is one of the command's inputs (``transform --out``
equal to ``--embeddings``, ``embed --out`` equal to the manifest) or holds one, an existing file
where a folder is written (and the reverse), an existing file that is not one blindface writes
(it would be replaced), and a non-empty folder holding anything blindface did not write there
(another tool's ``config.json``). It runs before any work, so a refusal costs nothing, and it
removes the temporary files a killed run left (:func:`blindface._io.remove_stale_temporaries`).
The write itself is atomic (:mod:`blindface._io`): a failed one leaves no partial output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from blindface._io import TEMP_PREFIX, remove_stale_temporaries

__all__ = ["OutputError", "check_output"]

#: An output's inputs: (how the command names it, e.g. "--embeddings", its path).
Inputs = Iterable[tuple[str, str | os.PathLike[str]]]


class OutputError(ValueError):
    """An output that would replace an input or a file blindface did not write; the message
    names it and says what to give instead."""


def check_output(
    out: str | os.PathLike[str],
    *,
    what: str,
    folder: bool,
    ours: Callable[[Path], bool],
    inputs: Inputs = (),
) -> Path:
    """Check, before any work, that ``out`` may receive a ``what`` ("model folder"); return it.

    ``folder``: the output is a folder (else a file). ``ours(path)`` says whether an existing
    file at ``out`` (a file output) or an entry of the folder ``out`` (a folder output) is one
    blindface writes there and may replace. ``inputs`` are the command's inputs, which the
    output may neither be nor hold. Raises :class:`OutputError`.
    """
    out = Path(out)
    for flag, given in inputs:
        source = Path(given)
        if _same(out, source) or (folder and _inside(source, out)):
            relation = "is" if _same(out, source) else "holds"
            raise OutputError(
                f"{out} {relation} an input of this command ({flag} {source}): writing the "
                f"{what} there would destroy it; give another --out"
            )
    if out.exists() and out.is_dir() != folder:
        kind, wanted = ("folder", "file") if out.is_dir() else ("file", "folder")
        raise OutputError(
            f"{out} is a {kind}, but the {what} is written as a {wanted}: give a {wanted} name"
        )
    if out.is_file() and not ours(out):
        raise OutputError(
            f"{out} exists and is not a blindface {what}: refusing to replace it; give a new "
            "name (or move the file away)"
        )
    if folder and out.is_dir():
        remove_stale_temporaries(out)
        foreign = sorted(
            entry.name
            for entry in out.iterdir()
            if not entry.name.startswith(TEMP_PREFIX) and not ours(entry)
        )
        if foreign:
            shown = ", ".join(foreign[:3]) + (
                f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            )
            raise OutputError(
                f"{out} holds files blindface did not write there ({shown}): refusing to write "
                f"a {what} into it; give a new or empty folder"
            )
    remove_stale_temporaries(out.parent)
    return out


def _same(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (links resolved, hard links too)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies inside ``folder`` (links resolved)."""
    return folder.resolve() in path.resolve().parents
