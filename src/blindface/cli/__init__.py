"""The ``blindface`` command line: a thin layer over the Python API.

Each subcommand lives in its own module, parses its options, calls one function of the library and
prints the result. Importing this package registers every subcommand on :data:`app`.
"""

from __future__ import annotations

from blindface.cli import (  # noqa: F401 (importing a module registers its commands)
    _audit,
    _blinding,
    _datasets,
    _embed,
    _study,
)
from blindface.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``blindface`` console script."""
    app()
