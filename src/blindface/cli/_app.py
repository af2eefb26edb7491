"""The Typer application every subcommand module registers itself on."""

from __future__ import annotations

import warnings
from pathlib import Path

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
    warnings.formatwarning = _warning_line


def _warning_line(message: Warning | str, *args: object, **kwargs: object) -> str:
    """A warning as one ``warning: ...`` line, without the Python source line."""
    return f"warning: {message}\n"


def allow_embedder_mismatch_option() -> bool:
    """The ``--allow-embedder-mismatch`` option of every command that combines a model with
    stores (see :mod:`blindface._provenance`)."""
    return typer.Option(
        False,
        "--allow-embedder-mismatch",
        help="Experts: accept stores (and models) of different embedders.",
    )


def resolve_data_root(data_root: str | Path | None) -> Path:
    """The folder the datasets are under: ``--data-root``, else ``$BLINDFACE_DATA``, else
    ``../shared/data``; exit 2, saying what to pass, when there is none or it is no folder."""
    from blindface.datasets import default_data_root  # lazy: `blindface --help` needs no pandas

    root = data_root or default_data_root()
    if root is None:
        typer.echo("no data root: pass --data-root DIR or set BLINDFACE_DATA", err=True)
        raise typer.Exit(2)
    if not Path(root).is_dir():
        typer.echo(
            f"data root {root} is not a folder: pass --data-root DIR or set BLINDFACE_DATA",
            err=True,
        )
        raise typer.Exit(2)
    return Path(root)
