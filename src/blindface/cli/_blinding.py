"""``blindface fit``, ``transform`` and ``export-recognizer``: blinding models."""

from __future__ import annotations

import enum
from typing import Any

import typer

from blindface._io import describe_error
from blindface.blinding import all_methods, get_method
from blindface.blinding._params import Param, ParamError, check_params, declared_params, parse
from blindface.cli._app import allow_embedder_mismatch_option, app, resolve_data_root

#: ``--method``'s choices: the blinding registry's names, embedding and recognizer blinders (an
#: Enum is how typer lists choices; built from the registry at import, so a static checker
#: cannot see its members)
MethodName = enum.Enum("MethodName", {name: name for name in all_methods()}, type=str)


def _parse_params(items: list[str], method: str) -> dict[str, Param]:
    """``KEY=VALUE`` pairs parsed against the declared type of ``method``'s parameter ``KEY``
    (ints, floats, booleans, strings, ``none``, lists ``1,2`` / ``[0.5, 1]``) and checked
    against its declared range, before any work."""
    estimator = get_method(method).estimator
    declared = declared_params(estimator)
    params: dict[str, Param] = {}
    try:
        for item in items:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ParamError(f"expected KEY=VALUE, got {item!r}")
            params[key] = parse(raw, declared[key], key) if key in declared else raw
        check_params(estimator, params)
    except ParamError as err:
        raise typer.BadParameter(str(err), param_hint="--param") from None
    return params


@app.command("fit")
def fit_command(
    method_name: MethodName = typer.Option(  # type: ignore[valid-type]  # noqa: B008
        ...,
        "--method",
        help="Blinding method (the registry: blindface.blinding.METHODS, and RECOGNIZERS for "
        "lnl, which retrains SFace's upper part from the stores' images).",
    ),
    embeddings: list[str] = typer.Option(  # noqa: B008 (typer's declaration style)
        ...,
        "--embeddings",
        help="Embedding store with expression labels, or a folder of stores (repeatable: the "
        "union is used).",
    ),
    out: str = typer.Option(..., "--out", help="Model folder to write (config + weights)."),
    identity_embeddings: list[str] = typer.Option(  # noqa: B008
        [],
        "--identity-embeddings",
        help="Store (or folder) of identity rows, e.g. LFW (repeatable); their expression "
        "labels are dropped.",
    ),
    use_identity_expressions: bool = typer.Option(
        False,
        "--use-identity-expressions",
        help="Keep the expression labels of the --identity-embeddings stores.",
    ),
    label_map: str = typer.Option(
        None,
        "--label-map",
        help="JSON file {raw label: expression} applied before the built-in synonyms.",
    ),
    param: list[str] = typer.Option(  # noqa: B008
        [], "--param", help="Hyper-parameter KEY=VALUE (repeatable), e.g. max_iter=5."
    ),
    seed: int = typer.Option(0, "--seed", help="random_state of the methods that take one."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local (default) or ray: LEACE and within_subject stream the stores in one pass, "
        "one Ray task per store file; the trained methods fit on this machine.",
    ),
    address: str = typer.Option(
        None, "--address", help="Ray cluster to join (ray engine; default: a local instance)."
    ),
    adapt: list[str] = typer.Option(  # noqa: B008
        [],
        "--adapt",
        help="Your own store (or folder; repeatable): fit on the public stores and yours, your "
        "domain a source of its own (weighted like each public store, not by its row count), "
        "with your expression labels where you have them and your identities where you do not.",
    ),
    weighting: str = typer.Option(
        None,
        "--weighting",
        help="rows (every row counts once) or balanced (every store weighs the same); default: "
        "balanced with --adapt, rows without.",
    ),
    allow_embedder_mismatch: bool = allow_embedder_mismatch_option(),  # noqa: B008
    data_root: str = typer.Option(
        None,
        "--data-root",
        help="Methods that retrain the recognizer (lnl): the folder the stores' image paths are "
        "relative to (default: $BLINDFACE_DATA, else ../shared/data).",
    ),
    cache_dir: str = typer.Option(
        None,
        "--cache-dir",
        help="Methods that retrain the recognizer: where the aligned crops and SFace feature "
        "maps are cached (default: $BLINDFACE_CACHE, else ~/.cache/blindface).",
    ),
    jobs: int = typer.Option(
        2, "--jobs", min=1, help="Worker processes for the crops and feature maps (lnl)."
    ),
) -> None:
    """Fit an emotion-blinding method on embedding stores and save it (with training curves).

    The stores must hold one embedder's embeddings; the model records it, and transform and
    audit refuse stores of another embedder. A method that retrains the recognizer (lnl) reads
    the stores' images under --data-root and fits on SFace's feature maps of their faces;
    embed images with it through `blindface embed --embedder blinded:MODEL_DIR`."""
    # lazy: `blindface --help` starts without pandas, pyarrow and scikit-learn
    from blindface.datasets import DatasetLayoutError, read_label_map
    from blindface.pipelines import fit_recognizer_stores, fit_stores

    method = str(method_name.value)
    entry = get_method(method)
    params = _parse_params(param, method)
    if "random_state" in entry.create().get_params():
        params.setdefault("random_state", seed)
    common: dict[str, Any] = {  # weighting: checked by the fit
        "identity_embeddings": identity_embeddings or None,
        "params": params,
        "progress": not no_progress,
        "use_identity_expressions": use_identity_expressions,
        "adapt": adapt or None,
        "weighting": weighting,
        "allow_embedder_mismatch": allow_embedder_mismatch,
    }
    recognizer = entry.input_kind == "sface_features"
    if recognizer and engine != "local":
        typer.echo(f"error: {method} trains on this machine: use --engine local", err=True)
        raise typer.Exit(2)
    try:
        mapping = read_label_map(label_map) if label_map else None
        if recognizer:
            fitted = fit_recognizer_stores(
                method,
                embeddings,
                out,
                data_root=resolve_data_root(data_root),
                cache_dir=cache_dir,
                label_map=mapping,
                n_jobs=jobs,
                **common,
            )
        else:
            fitted = fit_stores(
                method,
                embeddings,
                out,
                label_map=mapping,
                engine=engine,
                address=address,
                **common,
            )
    except (ValueError, OSError, DatasetLayoutError, ModuleNotFoundError) as error:
        typer.echo(f"error: {describe_error(error)}", err=True)
        raise typer.Exit(2) from None
    for line in fitted.describe():
        typer.echo(line)
    model = fitted.model
    source = "SFace feature maps" if recognizer else f"{model.n_features_in_} dims"
    typer.echo(f"{type(model).__name__}: {source} -> {model.n_features_out_} dims, saved to {out}")


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
    allow_embedder_mismatch: bool = allow_embedder_mismatch_option(),  # noqa: B008
    allow_blinded_input: bool = typer.Option(
        False, "--allow-blinded-input", help="Blind a store that is already blinded."
    ),
) -> None:
    """Blind the embeddings of a store; writes a store of the same columns.

    A store of another embedder than the model's, or one already blinded, is refused."""
    # lazy: `blindface --help` starts without pandas, pyarrow and scikit-learn
    from blindface.pipelines import transform_store
    from blindface.store import StoreError

    try:
        path = transform_store(
            model,
            embeddings,
            out,
            engine=engine,
            address=address,
            num_actors=actors,
            progress=progress,
            allow_embedder_mismatch=allow_embedder_mismatch,
            allow_blinded_input=allow_blinded_input,
        )
    except (StoreError, ValueError, ModuleNotFoundError, OSError) as error:
        typer.echo(f"error: {describe_error(error)}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path}")


@app.command("export-recognizer")
def export_recognizer_command(
    model: str = typer.Option(..., "--model", help="Model folder written by `blindface fit`."),
    out: str = typer.Option(..., "--out", help="ONNX file: aligned face -> blinded embedding."),
    allow_embedder_mismatch: bool = allow_embedder_mismatch_option(),  # noqa: B008
) -> None:
    """Export SFace + L2 norm + the blinding map as one ONNX graph (input: 1x3x112x112 RGB).

    For a method that retrained the recognizer (lnl): SFace up to its cut, the retrained upper
    part and the L2 norm. The graph is checked with onnxruntime against the Python path on
    probe faces before the file is written."""
    from blindface.blinding import export_recognizer  # lazy: loads ONNX and scikit-learn

    try:
        path = export_recognizer(model, out, allow_embedder_mismatch=allow_embedder_mismatch)
    except (ValueError, OSError) as error:
        typer.echo(f"error: {describe_error(error)}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path}")
