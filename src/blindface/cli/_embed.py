"""``blindface embed``: images to an embedding store."""

from __future__ import annotations

from pathlib import Path

import typer

from blindface.cli._app import app
from blindface.faces import check_embedder_name


@app.command("embed")
def embed_command(
    dataset: str = typer.Argument(
        ...,
        help="Dataset name (jaffe, ckplus, lfw, utkface, celeba, cfee, diveface, taiwanese), "
        "'all' (every dataset found under --data-root) or a CSV manifest (path + label columns).",
    ),
    out: str = typer.Option(
        ...,
        "--out",
        help="Parquet file to write; with 'all' a folder that receives one "
        "<dataset>-<embedder>.parquet per dataset.",
    ),
    data_root: str = typer.Option(
        None,
        "--data-root",
        help="Folder holding the datasets (default: $BLINDFACE_DATA, else ../shared/data); "
        "for a CSV manifest the folder its paths are relative to (default: the CSV's folder).",
    ),
    label_map: str = typer.Option(
        None,
        "--label-map",
        help="CSV manifests: file mapping raw expression labels onto the 8 expressions "
        "(CSV with header raw,expression, or a JSON object).",
    ),
    allow_outside_root: bool = typer.Option(
        False,
        "--allow-outside-root",
        help="CSV manifests: accept absolute paths and paths whose '..' leave the root.",
    ),
    embedder: str = typer.Option(
        "sface",
        "--embedder",
        parser=check_embedder_name,
        help="Face embedder: sface (default), dlib, or onnx:PATH for an ArcFace-family ONNX "
        "recognizer (e.g. insightface's w600k_r50.onnx; 112x112 RGB crops, (x-127.5)/127.5).",
    ),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Worker processes."),
    chunk_size: int = typer.Option(
        256, "--chunk-size", min=1, help="Images per cache chunk (work kept if interrupted)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Detect, align and embed every face of a dataset into a Parquet embedding store.

    Resumable: finished chunks are cached in <out>.cache/ and a rerun only embeds what is
    missing (or changed), giving an identical store.
    """

    from rich.console import Console
    from rich.table import Table

    from blindface.datasets import (
        DatasetLayoutError,
        default_data_root,
        find_datasets,
        load_dataset,
        load_manifest,
        read_label_map,
    )
    from blindface.faces import FACE_STATUSES
    from blindface.store import embed_dataset, read_store

    manifest = dataset.lower().endswith(".csv")
    if (label_map or allow_outside_root) and not manifest:
        typer.echo("--label-map and --allow-outside-root apply to CSV manifests only", err=True)
        raise typer.Exit(2)
    # a manifest's paths are relative to its own folder unless --data-root is given
    root = data_root or (Path(dataset).parent if manifest else default_data_root())
    if root is None:
        typer.echo("no data root: pass --data-root DIR or set BLINDFACE_DATA", err=True)
        raise typer.Exit(2)
    try:
        if dataset == "all":
            names = find_datasets(root)
            if not names:
                typer.echo(f"no datasets under {root}", err=True)
                raise typer.Exit(2)
            jobs_list = [(name, Path(out) / f"{name}-{embedder}.parquet") for name in names]
        else:
            jobs_list = [(dataset, Path(out))]
        summary = Table("dataset", "images", *FACE_STATUSES)
        summary.add_column("file", overflow="fold")
        for name, target in jobs_list:
            if manifest:
                table = load_manifest(
                    name,
                    root=root,
                    label_map=read_label_map(label_map) if label_map else None,
                    allow_outside_root=allow_outside_root,
                )
            else:
                table = load_dataset(name, root)
            embed_dataset(
                table,
                root,
                target,
                embedder=embedder,
                n_jobs=jobs,
                progress=progress,
                chunk_size=chunk_size,
            )
            counts = read_store(target).table["face_status"].value_counts()
            row = [str(int(counts.get(status, 0))) for status in FACE_STATUSES]
            summary.add_row(name, str(len(table)), *row, str(target))
    except (DatasetLayoutError, ValueError, ModuleNotFoundError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    Console().print(summary)
