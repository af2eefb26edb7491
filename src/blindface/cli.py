"""The ``blindface`` command line: a thin layer over the Python API.

Each subcommand parses its options, calls one function of the library and prints the result.
"""

from __future__ import annotations

import typer

from blindface._version import __version__

app = typer.Typer(
    name="blindface",
    help="Face representations blind to facial expression.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"blindface {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """Face representations blind to facial expression."""


# -- subcommands are added below, one section per part of the library --------------------


def main() -> None:
    """Entry point of the ``blindface`` console script."""
    app()
