"""``blindface audit``: leakage of a label in a user's own store, before and after blinders."""

from __future__ import annotations

import json

import typer

from blindface._io import describe_error
from blindface.cli._app import allow_embedder_mismatch_option, app


@app.command("audit")
def audit_command(
    embeddings: list[str] = typer.Option(  # noqa: B008 (typer's declaration style)
        ..., "--embeddings", help="Embedding store to audit (file or folder; repeatable)."
    ),
    model: list[str] = typer.Option(  # noqa: B008
        [], "--model", help="Saved blinder (folder written by `blindface fit`; repeatable)."
    ),
    out: str = typer.Option(..., "--out", help="Report folder: audit.md, audit.json, audit.png."),
    label: str = typer.Option(
        "expression", "--label", help="Column to audit: expression (default) or e.g. Smiling."
    ),
    threat: str = typer.Option(
        "population,relative", "--threat", help="Threat models, comma-separated."
    ),
    probes: str = typer.Option(
        None, "--probes", help="Probes, comma-separated (default: every registered probe)."
    ),
    folds: int = typer.Option(5, "--folds", min=2, help="People-disjoint folds."),
    tune: bool = typer.Option(True, "--tune/--no-tune", help="Tune each probe by inner CV."),
    reference: str = typer.Option(
        None,
        "--reference",
        help="Label value of the enrolled photo, matched case-insensitively (default: neutral; "
        "False for a yes/no column). A value the column does not hold is an error.",
    ),
    public: list[str] = typer.Option(  # noqa: B008
        [],
        "--public-embeddings",
        help="Store of other people with the same label (e.g. the public datasets; "
        "repeatable): adds the transfer and inversion attackers.",
    ),
    session_column: str = typer.Option(
        None, "--session-column", help="Column of sessions (default: sequence when present)."
    ),
    label_map: str = typer.Option(
        None, "--label-map", help="CSV raw,expression or JSON {raw: expression} for labels."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the folds, probes and bootstrap."),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Parallel probe fits."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress."),
    as_json: bool = typer.Option(False, "--json", help="Also print the JSON to stdout."),
    allow_embedder_mismatch: bool = allow_embedder_mismatch_option(),  # noqa: B008
) -> None:
    """Measure how much of a label (the expression by default) a store still reveals.

    Fresh probes are trained and tested on different people, under the population and relative
    threat models, before and after each blinder: every probe's balanced accuracy and the
    strongest attacker's Diff with its interval; plus the identity kept (TAR at FAR 0.1 % on all
    pairs, with the loss's interval)."""
    # lazy: `blindface --help` starts without pandas, pyarrow and scikit-learn
    from rich.console import Console

    from blindface.audit import audit, check_report_folder, write_audit
    from blindface.datasets import read_label_map
    from blindface.evaluation import PROBES, THREATS

    threats = tuple(t.strip() for t in threat.split(",") if t.strip())
    unknown = [t for t in threats if t not in THREATS]
    if unknown or not threats:
        raise typer.BadParameter(
            f"unknown threat {unknown}; choose from {', '.join(THREATS)}", param_hint="--threat"
        )
    console = Console(stderr=True, log_path=False, quiet=not progress)
    inputs = [("--embeddings", p) for p in embeddings] + [("--model", m) for m in model]
    inputs += [("--public-embeddings", p) for p in public]
    try:
        check_report_folder(out, inputs + ([("--label-map", label_map)] if label_map else []))
        mapping = read_label_map(label_map) if label_map else None
        with console.status("auditing") as status:
            result = audit(
                embeddings,
                model,
                label=label,
                threats=threats,  # type: ignore[arg-type]
                probes=tuple(p.strip() for p in probes.split(",") if p.strip())
                if probes
                else tuple(PROBES),
                tune=tune,
                n_splits=folds,
                reference_value=reference,
                session_column=session_column,
                label_map=mapping,
                public=public,
                random_state=seed,
                n_jobs=jobs,
                progress=lambda message: status.update(message),
                allow_embedder_mismatch=allow_embedder_mismatch,
            )
        paths = write_audit(result, out)
    except (ValueError, OSError) as error:  # AuditError, StoreError, ModelError, ... name it
        typer.echo(f"error: {describe_error(error)}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str))
    console.print(f"wrote {paths['markdown']}, {paths['json']} and {paths['png']}")
