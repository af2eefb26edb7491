"""Finding a dataset's folder under a data root, leniently about case, without decoding images."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from blindface.datasets._schema import DatasetLayoutError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".ppm", ".pgm"})


def entries(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` sorted by name (empty when it is not a readable folder)."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


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
