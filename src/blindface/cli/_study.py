"""``blindface reproduce``: the whole study."""

from __future__ import annotations

from pathlib import Path

import typer

from blindface._outputs import OutputError, check_output
from blindface.blinding import get_method
from blindface.cli._app import app, resolve_data_root
from blindface.faces import check_embedder_name

#: What the study writes into its report folder.
REPORT = ("report.md", "results.json", "figures", "stages")


@app.command("reproduce")
def reproduce_command(
    data_root: Path | None = typer.Option(
        None,
        "--data-root",
        help="Data root holding the datasets (default: BLINDFACE_DATA or ../shared/data).",
    ),
    out: Path = typer.Option(..., "--out", help="Report folder: report.md, results.json, figures."),
    embedder: str = typer.Option(
        "sface",
        "--embedder",
        parser=check_embedder_name,
        help="Face embedder: sface (default), dlib, or onnx:PATH for an ArcFace-family ONNX "
        "recognizer (e.g. insightface's w600k_r50.onnx; 112x112 RGB crops, (x-127.5)/127.5).",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Fewer folds, images and epochs, untuned probes (what CI runs)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every split, probe and blinder."),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Embeddings and fitted blinders (default: BLINDFACE_CACHE or ~/.cache/blindface).",
    ),
    jobs: int = typer.Option(2, "--jobs", help="Worker processes."),
    methods: str | None = typer.Option(
        None,
        "--methods",
        help="Comma-separated blinding methods (default: every registered one).",
    ),
) -> None:
    """Run the whole study and write report.md and results.json.

    Embed; leave-one-dataset-out blinders with every strength chosen by nested leave-one-source-out
    selection; every attacker under both threat models; identity at FAR 0.1 %; figures;
    Table II."""
    # lazy: `blindface --help` starts without the study's scikit-learn and pandas
    from rich.console import Console

    from blindface.study import Study, run_study

    root = resolve_data_root(data_root)
    try:
        check_output(
            out,
            what="study report",
            folder=True,
            ours=lambda entry: entry.name in REPORT,
            inputs=[("--data-root", root)] + ([("--cache-dir", cache_dir)] if cache_dir else []),
        )
    except OutputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    chosen = None
    if methods:
        chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
        try:
            for name in chosen:
                get_method(name)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--methods") from None
    console = Console(stderr=True, log_path=False)
    study = Study(
        data_root=root,
        out=out,
        embedder=embedder,
        quick=quick,
        seed=seed,
        cache_dir=cache_dir,
        n_jobs=jobs,
        methods=chosen,
    )
    run_study(study, log=lambda message: console.log(message))
