"""Finding a dataset's folder under a data root, leniently about case, without decoding images.

Folders that cannot be listed and broken symbolic links would make images vanish from a table
without a word; :func:`entries` reports them instead, and :func:`reports_problems` turns what
one loader call met into one :class:`DatasetWarning` (or adds it to the loader's
:class:`DatasetLayoutError`, where it is the likely cause).
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from blindface.datasets._schema import DatasetLayoutError, DatasetWarning

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".ppm", ".pgm"})

_P = ParamSpec("_P")
_R = TypeVar("_R")
# path -> what is wrong with it and the fix, for the loader call in progress (None: no call)
_PROBLEMS: ContextVar[dict[str, str] | None] = ContextVar("dataset_problems", default=None)


def _describe(problems: dict[str, str]) -> str:
    shown = "; ".join(f"{path} is {problem}" for path, problem in list(problems.items())[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return (
        f"{len(problems)} dataset entries could not be read, so their images are missing: "
        f"{shown}{more}"
    )


def _report(path: str, problem: str) -> None:
    """Note an unreadable folder or broken link for the current loader call (warn at once when
    there is none)."""
    found = _PROBLEMS.get()
    if found is None:
        warnings.warn(_describe({path: problem}), DatasetWarning, stacklevel=4)
    else:
        found.setdefault(path, problem)


def reports_problems(loader: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a loader so that the unreadable folders and broken links it met are reported
    once: one :class:`DatasetWarning` after it returns, or appended to the
    :class:`DatasetLayoutError` it raises. Nested loader calls report in the outermost one."""

    @functools.wraps(loader)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _PROBLEMS.get() is not None:
            return loader(*args, **kwargs)
        found: dict[str, str] = {}
        token = _PROBLEMS.set(found)
        try:
            result = loader(*args, **kwargs)
        except DatasetLayoutError as error:
            if found:
                raise DatasetLayoutError(f"{error}; {_describe(found)}") from None
            raise
        finally:
            _PROBLEMS.reset(token)
        if found:
            warnings.warn(_describe(found), DatasetWarning, stacklevel=2)
        return result

    return wrapper


def entries(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` sorted by name; empty when it is not a folder.

    A folder that exists but cannot be listed, and broken symbolic links in it, are reported
    (see :func:`reports_problems`); broken links are left out.
    """
    try:
        with os.scandir(folder) as it:
            found = sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        _report(
            str(folder),
            f"a folder that cannot be listed ({error.strerror or error}): give read access, "
            f"e.g. chmod -R a+rX '{folder}'",
        )
        return []
    kept = []
    for entry in found:
        if entry.is_symlink() and not os.path.exists(entry.path):
            _report(
                entry.path,
                f"a broken symbolic link to {os.readlink(entry.path)}: restore its target or "
                "remove the link",
            )
        else:
            kept.append(entry)
    return kept


def walk(folder: Path) -> Iterator[tuple[Path, list[os.DirEntry[str]]]]:
    """``(folder, its files)`` for ``folder`` and every folder below it; symbolic links to
    folders are followed, each real folder visited once (no loops)."""
    seen: set[str] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        real = os.path.realpath(current)
        if real in seen:
            continue
        seen.add(real)
        found = entries(current)
        yield current, [e for e in found if e.is_file()]
        pending.extend(Path(e.path) for e in found if e.is_dir())


def subdirs(folder: Path) -> Iterator[Path]:
    """Sub-folders of ``folder``, sorted by name."""
    for entry in entries(folder):
        if entry.is_dir():
            yield Path(entry.path)


def child(folder: Path, *names: str, kind: str = "dir") -> Path | None:
    """The first of ``names`` present in ``folder`` (case-insensitive), as a ``kind`` ("dir" or
    "file"); exact-case matches win over other-case ones."""
    found = {}
    for entry in entries(folder):
        if entry.is_dir() if kind == "dir" else entry.is_file():
            found.setdefault(entry.name, Path(entry.path))
            found.setdefault(entry.name.lower(), Path(entry.path))
    for name in names:
        hit = found.get(name) or found.get(name.lower())
        if hit is not None:
            return hit
    return None


def flat_image_folder(folder: Path, pattern: re.Pattern[str], *names: str) -> Path | None:
    """The folder holding a dataset's images: the child ``names`` (any case) or ``folder`` itself,
    whichever has a file whose name matches ``pattern``; None when neither has one."""

    def has_images(candidate: Path) -> bool:
        return any(e.is_file() and pattern.match(e.name) for e in entries(candidate))

    inner = child(folder, *names)
    if inner is not None and has_images(inner):
        return inner
    return folder if has_images(folder) else None


def relative_posix(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string ("" when they are the same folder)."""
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel


def join_posix(prefix: str, *parts: str) -> str:
    """Join POSIX path parts onto a possibly empty prefix."""
    return "/".join(p for p in (prefix, *parts) if p)


@dataclass(frozen=True)
class Layout:
    """Where a dataset may live and how to recognise it.

    Attributes
    ----------
    title : str
        Human name used in messages ("CelebA").
    folders : tuple of str
        Folder names the dataset may have under a data root (matched case-insensitively).
    expected : str
        The expected layout inside the dataset folder, for error messages.
    looks_like : callable
        Cheap check (lists folders, never opens images) that a folder is the dataset itself.
    """

    title: str
    folders: tuple[str, ...]
    expected: str
    looks_like: Callable[[Path], bool]

    def locate(self, root: str | os.PathLike[str]) -> Path:
        """The dataset folder: ``root`` itself when it looks like the dataset, else the first
        ``root/<folder>``; raises :class:`DatasetLayoutError` when neither exists."""
        root = Path(root)
        if not root.is_dir():
            raise DatasetLayoutError(f"{self.title}: data root {root} is not a folder")
        if self.looks_like(root):
            return root
        folder = child(root, *self.folders)
        if folder is not None:
            return folder
        names = " or ".join(f"{name}/" for name in self.folders)
        raise DatasetLayoutError(
            f"{self.title}: not found under {root}; expected a folder {names} holding "
            f"{self.expected} (or pass the dataset folder itself as the root)"
        )

    def is_present(self, root: str | os.PathLike[str]) -> bool:
        """Whether ``root`` is the dataset or has one of its folders."""
        root = Path(root)
        return root.is_dir() and (self.looks_like(root) or child(root, *self.folders) is not None)

    def error(self, folder: Path, found: str) -> DatasetLayoutError:
        """A layout error for ``folder`` saying what was found and what was expected."""
        return DatasetLayoutError(f"{self.title} at {folder}: {found}; expected {self.expected}")
