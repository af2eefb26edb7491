"""Shared fixtures: where the real face datasets live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path | None:
    """The fixture data root: ``BLINDFACE_DATA``, else ``../shared/data`` beside the repo."""
    env = os.environ.get("BLINDFACE_DATA")
    if env:
        return Path(env)
    default = REPO_ROOT.parent / "shared" / "data"
    return default if default.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets; tests that need them are skipped when they are absent."""
    root = data_root()
    if root is None or not root.is_dir():
        pytest.skip("real face datasets not found: set BLINDFACE_DATA")
    return root
