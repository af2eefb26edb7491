"""Progress bars (rich) for the long steps (hashing, embedding, aligning faces, blinding a
store), or nothing when turned off."""

from __future__ import annotations

from typing import Any


class NoProgress:
    """Stands in for a rich progress bar when progress is off."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(enabled: bool) -> Any:
    """A rich progress bar (a context manager), or a :class:`NoProgress`."""
    if not enabled:
        return NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
