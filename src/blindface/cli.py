"""The ``blindface`` command line: a thin layer over the Python API.

Each subcommand parses its options, calls one function of the library and prints the result.
"""

from __future__ import annotations

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


# -- subcommands are added below, one section per part of the library --------------------


# -- datasets ---------------------------------------------------------------------------------
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


# -- faces / embedding store ------------------------------------------------------------------
@app.command("embed")
def embed_command(
    dataset: str = typer.Argument(
        ...,
        help="Dataset name (jaffe, ckplus, lfw, utkface, celeba, cfee, diveface), 'all' "
        "(every dataset found under --data-root) or a CSV manifest (path + label columns).",
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
        help="Folder holding the datasets (default: $BLINDFACE_DATA, else ../shared/data).",
    ),
    embedder: str = typer.Option("sface", "--embedder", help="sface (default) or dlib."),
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
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from blindface.datasets import (
        DatasetLayoutError,
        default_data_root,
        find_datasets,
        load_dataset,
        load_manifest,
    )
    from blindface.faces import FACE_STATUSES
    from blindface.store import embed_dataset, read_store

    root = data_root or default_data_root()
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
            if name.lower().endswith(".csv"):
                table = load_manifest(name, root=root)
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


@app.command("reproduce")
def reproduce_command(
    data_root: Path | None = typer.Option(
        None,
        "--data-root",
        help="Data root holding the datasets (default: BLINDFACE_DATA or ../shared/data).",
    ),
    out: Path = typer.Option(..., "--out", help="Report folder: report.md, results.json, figures."),
    embedder: str = typer.Option("sface", "--embedder", help="Face embedder: sface or dlib."),
    quick: bool = typer.Option(
        False, "--quick", help="Fewer epochs, folds and images (< 10 min on 2 cores)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every split, probe and blinder."),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Embeddings and fitted blinders (default: BLINDFACE_CACHE or ~/.cache/blindface).",
    ),
    jobs: int = typer.Option(2, "--jobs", help="Worker processes."),
) -> None:
    """Run the whole study (embed, blind, Table I, figures, Table II) and write a report."""
    from rich.console import Console

    from blindface.datasets import default_data_root
    from blindface.reproduce import Study, run_study

    root = data_root or default_data_root()
    if root is None or not Path(root).is_dir():
        typer.echo("No data root: pass --data-root DIR or set BLINDFACE_DATA.", err=True)
        raise typer.Exit(2)
    console = Console(stderr=True, log_path=False)
    study = Study(
        data_root=Path(root),
        out=out,
        embedder=embedder,
        quick=quick,
        seed=seed,
        cache_dir=cache_dir,
        n_jobs=jobs,
    )
    run_study(study, log=lambda message: console.log(message))


# -- blinding ---------------------------------------------------------------------------------
def _parse_params(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs; values are JSON (numbers, true/false, null) or comma lists of ints."""
    import json

    params = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list) or (isinstance(value, str) and "," in value):
            value = tuple(int(v) for v in (value if isinstance(value, list) else value.split(",")))
        params[key] = value
    return params


@app.command("fit")
def fit_command(
    method: str = typer.Option(
        ..., "--method", help="sensitivenets, lnl, leace, inlp, within_subject."
    ),
    embeddings: str = typer.Option(
        ..., "--embeddings", help="Embedding store with expression labels (Parquet)."
    ),
    out: str = typer.Option(..., "--out", help="Model folder to write (config + weights)."),
    identity_embeddings: str = typer.Option(
        None, "--identity-embeddings", help="Extra store of identity rows (e.g. LFW)."
    ),
    param: list[str] = typer.Option(  # noqa: B008 (typer's declaration style)
        [], "--param", help="Hyper-parameter KEY=VALUE (repeatable), e.g. max_rounds=5."
    ),
    seed: int = typer.Option(0, "--seed", help="random_state of the methods that take one."),
) -> None:
    """Fit an emotion-blinding method on embedding stores and save it (with training curves)."""
    from blindface.blinding import METHODS, fit_stores

    params = _parse_params(param)
    if method in METHODS and "random_state" in METHODS[method]().get_params():
        params.setdefault("random_state", seed)
    try:
        model = fit_stores(
            method, embeddings, out, identity_embeddings=identity_embeddings, params=params
        )
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"{type(model).__name__}: {model.n_features_in_} -> {model.n_features_out_} dims, "
        f"saved to {out}"
    )


@app.command("transform")
def transform_command(
    model: str = typer.Option(..., "--model", help="Model folder written by `blindface fit`."),
    embeddings: str = typer.Option(..., "--embeddings", help="Embedding store to blind."),
    out: str = typer.Option(..., "--out", help="Blinded store to write (Parquet)."),
) -> None:
    """Blind the embeddings of a store; writes a store of the same layout."""
    from blindface.blinding import transform_store

    try:
        path = transform_store(model, embeddings, out)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path}")


@app.command("export-recognizer")
def export_recognizer_command(
    model: str = typer.Option(..., "--model", help="Model folder written by `blindface fit`."),
    out: str = typer.Option(..., "--out", help="ONNX file: aligned face -> blinded embedding."),
) -> None:
    """Export SFace + L2 norm + the blinding map as one ONNX graph (input: 1x3x112x112 RGB)."""
    from blindface.blinding import export_recognizer

    try:
        path = export_recognizer(model, out)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path}")


def main() -> None:
    """Entry point of the ``blindface`` console script."""
    app()
