"""``blindface datasets``: what is under a data root."""

from __future__ import annotations

import typer

from blindface.cli._app import app


@app.command("datasets")
def datasets_command(
    data_root: str = typer.Option(
        None,
        "--data-root",
        help="Folder holding the datasets (default: $BLINDFACE_DATA, else ../shared/data).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Summarise every dataset found under the data root (images, subjects, labels)."""
    import json

    from rich.console import Console

    from blindface.datasets import (
        DatasetLayoutError,
        default_data_root,
        summarize_datasets,
        summary_table,
    )

    root = data_root or default_data_root()
    if root is None:
        typer.echo("no data root: pass --data-root DIR or set BLINDFACE_DATA", err=True)
        raise typer.Exit(2)
    try:
        summaries = summarize_datasets(root)
    except DatasetLayoutError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(summaries, indent=2))
    else:
        Console().print(summary_table(summaries) if summaries else f"no datasets under {root}")
    if any("error" in s for s in summaries.values()):
        raise typer.Exit(1)
