"""Dataset names, where to find them, and loading by name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from blindface.datasets._celeba import CELEBA, load_celeba
from blindface.datasets._cfee import CFEE, load_cfee
from blindface.datasets._ckplus import CKPLUS, load_ckplus
from blindface.datasets._diveface import DIVEFACE, load_diveface
from blindface.datasets._jaffe import JAFFE, load_jaffe
from blindface.datasets._layout import Layout, reports_problems
from blindface.datasets._lfw import LFW, load_lfw
from blindface.datasets._schema import DatasetLayoutError
from blindface.datasets._taiwanese import TAIWANESE, load_taiwanese
from blindface.datasets._utkface import UTKFACE, load_utkface

_DATASETS: dict[str, tuple[Layout, Callable[[Path], pd.DataFrame]]] = {
    "jaffe": (JAFFE, load_jaffe),
    "ckplus": (CKPLUS, load_ckplus),
    "lfw": (LFW, load_lfw),
    "utkface": (UTKFACE, load_utkface),
    "celeba": (CELEBA, load_celeba),
    "cfee": (CFEE, load_cfee),
    "diveface": (DIVEFACE, load_diveface),
    "taiwanese": (TAIWANESE, load_taiwanese),
}

DATASET_NAMES: tuple[str, ...] = tuple(_DATASETS)
"""Names accepted by :func:`load_dataset`."""


def default_data_root() -> Path | None:
    """The data root to use when none is given: ``$BLINDFACE_DATA``, else ``../shared/data``
    relative to the working directory if that folder exists, else ``None``."""
    env = os.environ.get("BLINDFACE_DATA")
    if env:
        return Path(env).expanduser()
    fallback = Path.cwd().parent / "shared" / "data"
    return fallback if fallback.is_dir() else None


def _check_name(name: str) -> str:
    key = name.lower()
    if key not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    return key


@reports_problems
def find_datasets(root: str | os.PathLike[str]) -> list[str]:
    """Names (in :data:`DATASET_NAMES` order) of the datasets present under ``root``: ``root``
    is the dataset itself or holds its folder (e.g. ``jaffe/``, ``ckplus48/``, any case).

    Presence only looks at folder names and a few file names; a present dataset may still
    fail to load with a :class:`DatasetLayoutError` saying what is missing. Raises
    :class:`DatasetLayoutError` when ``root`` is not a folder; folders under it that cannot be
    listed are reported with a :class:`DatasetWarning`.
    """
    if not Path(root).is_dir():
        raise DatasetLayoutError(f"data root {root} is not a folder")
    return [name for name, (layout, _) in _DATASETS.items() if layout.is_present(root)]


def load_dataset(name: str, root: str | os.PathLike[str]) -> pd.DataFrame:
    """Load dataset ``name`` (one of :data:`DATASET_NAMES`) from a data root or its own folder.

    Returns the uniform table (one row per image, sorted by ``path``; ``path`` relative to
    ``root``). Raises :class:`DatasetLayoutError` when the layout is wrong or incomplete.
    """
    _, loader = _DATASETS[_check_name(name)]
    return loader(Path(root))
