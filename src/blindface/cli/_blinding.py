"""``blindface fit``, ``transform`` and ``export-recognizer``: blinding models."""

from __future__ import annotations

import typer

from blindface.cli._app import app


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
    embeddings: str = typer.Option(
        ..., "--embeddings", help="Embedding store to blind (a Parquet file or a store folder)."
    ),
    out: str = typer.Option(
        ...,
        "--out",
        help="Blinded store to write: a Parquet file (local engine) or a folder (ray engine).",
    ),
    engine: str = typer.Option("local", "--engine", help="local (default) or ray."),
    address: str = typer.Option(
        None, "--address", help="Ray cluster to join (ray engine; default: a local instance)."
    ),
    actors: int = typer.Option(2, "--actors", min=1, help="Ray actors (ray engine)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Blind the embeddings of a store; writes a store of the same columns."""
    from blindface._io import describe_error
    from blindface.store import StoreError, transform_store

    try:
        path = transform_store(
            model,
            embeddings,
            out,
            engine=engine,
            address=address,
            num_actors=actors,
            progress=progress,
        )
    except (StoreError, ValueError, ModuleNotFoundError, OSError) as error:
        typer.echo(f"error: {describe_error(error)}", err=True)
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
