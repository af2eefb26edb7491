"""``blindface embed``: images to an embedding store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from blindface._io import describe_error
from blindface.cli._app import app, resolve_data_root
from blindface.faces import FACE_STATUSES, check_embedder_name, embedder_label


def _embedder_name(name: str) -> str:
    """:func:`~blindface.faces.check_embedder_name`, knowing the embedders the pipelines layer
    registers (``blinded:MODEL_DIR``)."""
    import blindface.pipelines  # noqa: F401  # lazy: importing it registers blinded:MODEL_DIR

    return check_embedder_name(name)


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
        help="Store to write: a Parquet file (a folder with --engine ray); with 'all' a folder "
        "that receives one <dataset>-<embedder>.parquet per dataset.",
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
        parser=_embedder_name,
        help="Face embedder: sface (default), dlib, onnx:PATH for an ArcFace-family ONNX "
        "recognizer (e.g. insightface's w600k_r50.onnx; 112x112 RGB crops, (x-127.5)/127.5), "
        "or blinded:MODEL_DIR for a recognizer retrained by `blindface fit --method lnl` "
        "(SFace's detection and alignment, then the blinded network).",
    ),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Worker processes."),
    chunk_size: int = typer.Option(
        256, "--chunk-size", min=1, help="Images per cache chunk (work kept if interrupted)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    engine: str = typer.Option(
        "local", "--engine", help="local (default; --jobs worker processes) or ray (Ray Data)."
    ),
    address: str = typer.Option(
        None, "--address", help="Ray cluster to join (ray engine; default: a local instance)."
    ),
    actors: int = typer.Option(
        None, "--actors", min=1, help="Ray actors, one embedder each (default: --jobs)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images per Ray batch."),
    gpus_per_actor: float = typer.Option(
        0.0, "--gpus-per-actor", min=0.0, help="GPUs reserved per Ray actor."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Detect, align and embed every face of a dataset into a Parquet embedding store.

    Resumable: finished chunks are cached in <out>.cache/ and a rerun only embeds what is
    missing (or changed), giving an identical store. With --engine ray the images are embedded
    by a pool of Ray actors and the store is a partitioned folder (read the same way). The
    summary is a table on a terminal, tab-separated lines otherwise (or JSON with --json).
    """
    # lazy: `blindface --help` starts without pandas, pyarrow and rich's console
    from rich.console import Console

    from blindface.datasets import (
        DatasetLayoutError,
        find_datasets,
        load_dataset,
        load_manifest,
        read_label_map,
    )
    from blindface.store import embed_dataset, read_metadata

    manifest = dataset.lower().endswith(".csv")
    if (label_map or allow_outside_root) and not manifest:
        typer.echo("--label-map and --allow-outside-root apply to CSV manifests only", err=True)
        raise typer.Exit(2)
    if manifest:  # a manifest's paths are relative to its own folder unless --data-root is given
        root = Path(data_root) if data_root else Path(dataset).parent
    else:
        root = resolve_data_root(data_root)
    try:
        if dataset == "all":
            names = find_datasets(root)
            if not names:
                typer.echo(f"no datasets under {root}", err=True)
                raise typer.Exit(2)
            label = embedder_label(embedder)
            jobs_list = [(name, Path(out) / f"{name}-{label}.parquet") for name in names]
        else:
            jobs_list = [(dataset, Path(out))]
        inputs = [("the manifest", dataset)] if manifest else []
        inputs += [("--label-map", label_map)] if label_map else []
        rows: list[tuple[str, int, int | None, dict[str, int], Path]] = []
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
                engine=engine,
                address=address,
                num_actors=actors,
                batch_size=batch_size,
                num_gpus=gpus_per_actor,
                inputs=inputs,
            )
            counts = read_metadata(target)["face_status_counts"]
            skipped = table.attrs.get("skipped_rows")
            rows.append((name, len(table), skipped, counts, target))
    except (DatasetLayoutError, ValueError, ModuleNotFoundError, OSError) as error:
        typer.echo(f"error: {describe_error(error)}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        header, *lines = _summary_cells(rows)
        typer.echo(json.dumps([dict(zip(header, line, strict=True)) for line in lines], indent=2))
    elif sys.stdout.isatty():
        Console().print(_summary(rows))
    else:  # a file or a pipe: plain tab-separated lines, not a table wrapped at 80 columns
        for line in _summary_cells(rows):
            typer.echo("\t".join(line))


def _summary_cells(
    rows: list[tuple[str, int, int | None, dict[str, int], Path]],
) -> list[list[str]]:
    """The summary as cells: a header, one line per store (images, rows the loader skipped
    when it says, status counts, the store) and, for several stores, their totals."""

    skips = any(skipped is not None for _, _, skipped, _, _ in rows)
    cells = [["dataset", "images", *(["skipped rows"] if skips else []), *FACE_STATUSES, "store"]]
    for name, images, skipped, counts, target in rows:
        skip = [str(skipped or 0)] if skips else []
        statuses = [str(counts.get(status, 0)) for status in FACE_STATUSES]
        cells.append([name, str(images), *skip, *statuses, str(target)])
    if len(rows) > 1:
        skip = [str(sum(row[2] or 0 for row in rows))] if skips else []
        totals = [str(sum(row[3].get(status, 0) for row in rows)) for status in FACE_STATUSES]
        cells.append(["total", str(sum(row[1] for row in rows)), *skip, *totals, ""])
    return cells


def _summary(rows: list[tuple[str, int, int | None, dict[str, int], Path]]):
    """:func:`_summary_cells` as a rich table, for a terminal."""
    from rich.table import Table  # lazy: rich's tables are not needed for `--help`

    header, *lines = _summary_cells(rows)
    summary = Table(*header[:-1])
    summary.add_column(header[-1], overflow="fold")
    for index, line in enumerate(lines):
        total = len(rows) > 1 and index == len(lines) - 1
        summary.add_row(*line, style="bold" if total else None)
    return summary
