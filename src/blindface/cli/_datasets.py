"""``blindface datasets``: what is under a data root."""

from __future__ import annotations

import json
import warnings

import typer

from blindface.cli._app import app, resolve_data_root


@app.command("datasets")
def datasets_command(
    data_root: str = typer.Option(
        None,
        "--data-root",
        help="Folder holding the datasets (default: $BLINDFACE_DATA, else ../shared/data).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Summarise every dataset found under the data root (images, subjects, labels).

    Exit status 1 when a dataset fails to load; warnings (skipped files, unreadable folders,
    unknown labels) go to stderr and, with --json, into each dataset's "warnings".
    """
    # lazy: `blindface --help` starts without pandas, pyarrow and rich's console
    from rich.console import Console

    from blindface.datasets import (
        DatasetLayoutError,
        DatasetWarning,
        summarize_datasets,
        summary_table,
    )

    root = resolve_data_root(data_root)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DatasetWarning)
            summaries = summarize_datasets(root)
    except DatasetLayoutError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    for name, summary in summaries.items():
        for message in summary.get("warnings", []):
            typer.echo(f"warning: {name}: {message}", err=True)
    if as_json:
        typer.echo(json.dumps(summaries, indent=2))
    else:
        Console().print(summary_table(summaries) if summaries else f"no datasets under {root}")
    if any("error" in s for s in summaries.values()):
        raise typer.Exit(1)
