"""``blindface audit``: how much of a label a store still reveals, before and after blinders.

For one label of a user's own embedding store(s) (the expression by default, or any column such as
``Smiling``), fresh tuned probes are trained and tested on different people, under the population
threat model (the probe sees the representation) and the relative one (it sees the change from the
same person's enrolled reference photo). Every accuracy comes with chance, a 95 % bootstrap
interval over people and, after a blinder, the paper's Diff. The identity the blinder must keep is
measured on the same faces: same/different-person ROC AUC and TAR at FAR 0.1 % on cosine
similarity. The study (``blindface reproduce``) measures leakage through the same function,
:func:`blindface.evaluation.threat_leakage`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blindface._outputs import Inputs, check_output
from blindface._provenance import OverlapWarning, check_same_embedder, common_identity, identity_of
from blindface.evaluation import THREATS, Threat

__all__ = ["AuditError", "AuditResult", "audit", "check_report_folder", "write_audit"]

DEFAULT_PROBES: tuple[str, ...] = ("mlp", "svm", "rf", "logreg", "knn")
#: The files of a report folder.
REPORT_FILES = ("audit.json", "audit.md", "audit.png")
#: Reference (enrolled-photo) label value per kind of label, when none is given.
DEFAULT_REFERENCE = {"expression": "neutral"}


class AuditError(ValueError):
    """The stores cannot be audited as asked; the message says what is missing and the fix."""


@dataclass(frozen=True)
class AuditResult:
    """Leakage rows (one per representation, threat and probe), identity rows, and the setup."""

    leakage: pd.DataFrame
    identity: pd.DataFrame
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            clean = frame.astype(object).where(frame.notna(), None)
            return [{k: _jsonable(v) for k, v in r.items()} for r in clean.to_dict("records")]

        return {
            "leakage": records(self.leakage),
            "identity": records(self.identity),
            "config": dict(self.config),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Labelled:
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    reference: np.ndarray | None
    sessions: np.ndarray | None
    reference_rule: str


def _load_rows(
    stores: Sequence[str | os.PathLike[str]],
    label: str,
    *,
    reference_value: str | None,
    session_column: str | None,
    label_map: Mapping[str, str] | None,
) -> _Labelled:
    from blindface.datasets import normalize_expressions
    from blindface.store import read_store

    if not stores:
        raise AuditError("no embedding store given: pass --embeddings FILE (repeatable)")
    tables, arrays, dims = [], [], set()
    for path in stores:
        store = read_store(
            path, columns=[label, "subject", "dataset", session_column or "sequence"]
        )
        ok = np.asarray(store.ok, dtype=bool)
        table = store.table.iloc[np.flatnonzero(ok)].reset_index(drop=True)
        if label not in table:
            columns = ", ".join(str(c) for c in table.columns if not str(c).startswith("face_"))
            raise AuditError(f"{path} has no column {label!r} to audit; its columns: {columns}")
        subject = pd.Series(table["subject"] if "subject" in table else None, dtype="string")
        if len(table) and subject.isna().all():
            raise AuditError(
                f"{path} has no subject ids: leakage is measured on people the probe never saw, "
                "so every row needs a subject (add a 'subject' column to the manifest)"
            )
        # subjects of different datasets (or stores) are different people even when ids agree
        source = (
            pd.Series(table["dataset"], dtype="string").fillna(str(path))
            if "dataset" in table
            else pd.Series([str(path)] * len(table), dtype="string")
        )
        tables.append(
            pd.DataFrame(
                {
                    "label": pd.Series(table[label]).tolist(),
                    "person": (source + ":" + subject).tolist(),
                    "session": pd.Series(table[session_column or "sequence"]).astype(str).tolist()
                    if (session_column or "sequence") in table
                    else [None] * len(table),
                }
            )
        )
        if session_column and session_column not in table:
            raise AuditError(f"{path} has no session column {session_column!r}")
        arrays.append(store.embeddings[ok])
        dims.add(store.embeddings.shape[1])
    if len(dims) > 1:
        raise AuditError(f"the stores hold embeddings of different dimensions {sorted(dims)}")
    rows = pd.concat(tables, ignore_index=True)
    X = np.concatenate(arrays).astype(np.float32)
    raw = rows["label"].tolist()
    if label == "expression":
        where = ", ".join(map(str, stores))
        values = pd.Series(normalize_expressions(raw, label_map, source=where), dtype="string")
    else:
        values = pd.Series(raw, dtype=object).map(lambda v: None if pd.isna(v) else str(v))
        values = values.astype("string")
    person = pd.Series(rows["person"], dtype="string")
    keep = (values.notna() & person.notna()).to_numpy(dtype=bool)
    y = values.to_numpy()[keep].astype(str)
    groups = person.to_numpy()[keep].astype(str)
    _check_classes(y, groups, label)
    ref_value = reference_value or DEFAULT_REFERENCE.get(label)
    if ref_value is None and set(y) <= {"True", "False"}:
        ref_value = "False"
    reference = None
    rule = "the mean of the person's other images"
    if ref_value is not None and (y == ref_value).any():
        reference = y == ref_value
        rule = f"the person's first {label} = {ref_value} image (left out of the scored images)"
    session = pd.Series(rows["session"], dtype=object).to_numpy()[keep]
    sessions = None if pd.isna(session).all() else session.astype(str)
    if sessions is not None and reference is None:
        rule = f"the mean of the person's images from other {session_column or 'sequence'}s"
    return _Labelled(X[keep], y, groups, reference, sessions, rule)


def _check_classes(y: np.ndarray, groups: np.ndarray, label: str, n_splits: int = 5) -> None:
    classes = pd.Series(groups).groupby(pd.Series(y)).nunique()
    if len(classes) < 2:
        found = f"only {classes.index[0]!r}" if len(classes) else "no labelled rows"
        raise AuditError(
            f"{label}: {found}; an audit needs at least 2 classes, each shown by at least 2 people"
        )
    thin = classes[classes < 2]
    if len(thin):
        raise AuditError(
            f"{label}: classes {dict(thin)} are shown by fewer than 2 people; each class needs at "
            "least 2 people (one to train the probe, one to test it): add people or drop the class"
        )
    n_people = len(set(groups))
    if n_people < n_splits:
        raise AuditError(
            f"{label}: {n_people} people, but a people-disjoint {n_splits}-fold audit needs at "
            f"least {n_splits}"
        )


def _check_probes(probes: Sequence[str], n_splits: int) -> None:
    """Refuse unknown or no probes and fewer than 2 folds, before anything is read."""
    from blindface.evaluation import PROBES

    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        what = f"unknown probes {unknown}" if unknown else "no probe given"
        raise AuditError(f"{what}: choose one or more of {', '.join(PROBES)} (--probes mlp,svm)")
    if n_splits < 2:
        raise AuditError(f"{n_splits} folds: a people-disjoint audit needs at least 2 (--folds)")


def _check_models(
    stores: Sequence[str | os.PathLike[str]],
    models: Sequence[str | os.PathLike[str]],
    allow_mismatch: bool,
) -> list[Any]:
    """The models, loaded; the stores must hold one embedder's embeddings and every model must
    have been fitted on it (see :mod:`blindface._provenance`). A model fitted on one of the
    audited stores is an :class:`OverlapWarning`: its people are not new to the blinder."""
    import blindface
    from blindface.store import read_metadata, store_digest

    identities = [(str(path), identity_of(read_metadata(path))) for path in stores]
    embedder = common_identity(identities, allow=allow_mismatch)
    digests = {d: str(path) for path in stores if (d := store_digest(path)) is not None}
    blinders = []
    for path in models:
        model = blindface.load(path)
        fitted_on = model.fitted_on_ or {}
        check_same_embedder(
            fitted_on.get("embedder"),
            embedder,
            expected_is=f"the model {path} was fitted on",
            actual_is="the audited stores hold",
            allow=allow_mismatch,
        )
        for source in fitted_on.get("stores", []):
            if source.get("digest") in digests:
                warnings.warn(
                    f"the model {path} was fitted on {digests[source['digest']]} itself: the "
                    "audit measures people the blinder saw, not new ones; fit it without that "
                    "store",
                    OverlapWarning,
                    stacklevel=3,
                )
        blinders.append(model)
    return blinders


def _check_people(rows: _Labelled, label: str, threats: Sequence[str], n_splits: int) -> None:
    """Refuse folds the people cannot fill, and a relative threat no person can be seen under
    (every image its own person: no enrolled photo to compare with)."""
    n_people = len(set(rows.groups))
    if n_people < n_splits:
        raise AuditError(
            f"{label}: {n_people} people, but a people-disjoint {n_splits}-fold audit needs at "
            f"least {n_splits}: lower --folds or add people"
        )
    if "relative" in threats and pd.Series(rows.groups).value_counts().max() < 2:
        raise AuditError(
            f"{label}: every person has one image, so none can be compared with an enrolled "
            "photo of the same person (the relative threat): check the subject column (one id "
            "per person, not per image), or audit --threat population only"
        )


def audit(
    stores: Sequence[str | os.PathLike[str]],
    models: Sequence[str | os.PathLike[str]] = (),
    *,
    label: str = "expression",
    threats: Sequence[Threat] = THREATS,
    probes: Sequence[str] = DEFAULT_PROBES,
    tune: bool = True,
    n_splits: int = 5,
    n_bootstrap: int = 1000,
    reference_value: str | None = None,
    session_column: str | None = None,
    label_map: Mapping[str, str] | None = None,
    random_state: int = 0,
    n_jobs: int = 2,
    progress: Callable[[str], None] | None = None,
    allow_embedder_mismatch: bool = False,
) -> AuditResult:
    """Audit ``label`` in ``stores`` before (``x``) and after each saved blinder in ``models``.

    Parameters
    ----------
    stores : paths
        Embedding stores (files or partitioned folders); their rows are pooled.
    models : paths
        Saved blinding models (``blindface fit`` output folders).
    label : str
        The column an attacker wants: ``expression`` (normalised to the 8 classes, synonyms and
        ``label_map`` applied) or any other column (e.g. ``Smiling``).
    threats : sequence of {"population", "relative"}
    probes, tune, n_splits, n_bootstrap, random_state, n_jobs
        As in :func:`blindface.evaluation.leakage`.
    reference_value : str, optional
        The label value of a person's enrolled photo for the relative threat (default
        ``neutral`` for the expression, ``False`` for a boolean column); people without one are
        compared with the mean of their images from other sessions.
    session_column : str, optional
        Column of sessions (e.g. CK+ ``sequence``): near-duplicate frames are never each other's
        reference. Default: ``sequence`` when the stores have it.
    progress : callable, optional
        Called with a message before each step.
    allow_embedder_mismatch : bool
        Audit stores of another embedder than a model was fitted on, or pool stores of several
        embedders (refused by default: see :mod:`blindface._provenance`). A model fitted on one
        of the audited stores raises an :class:`~blindface._provenance.OverlapWarning`.

    Returns
    -------
    AuditResult
    """
    from blindface.evaluation import identity_separation, threat_leakage, with_diff

    _check_probes(probes, n_splits)
    blinders = _check_models(stores, models, allow_embedder_mismatch)
    rows = _load_rows(
        stores,
        label,
        reference_value=reference_value,
        session_column=session_column,
        label_map=label_map,
    )
    _check_people(rows, label, threats, n_splits)
    representations: dict[str, np.ndarray] = {"x": rows.X}
    for path, model in zip(models, blinders, strict=True):
        if model.n_features_in_ != rows.X.shape[1]:
            raise AuditError(
                f"model {path} takes {model.n_features_in_}-d embeddings but the stores hold "
                f"{rows.X.shape[1]}-d ones: fit it on embeddings of the same embedder"
            )
        representations[f"{type(model).__name__} ({Path(path).name})"] = model.transform(rows.X)
    leakage_frames, identity = [], []
    before: pd.DataFrame | None = None
    for name, X in representations.items():
        frames = []
        for threat in threats:
            if progress:
                progress(f"{name}: {threat} threat, probes {', '.join(probes)}")
            if threat == "relative" and rows.reference is None and rows.sessions is None:
                reference = np.zeros(len(rows.y), dtype=bool)
            else:
                reference = rows.reference
            try:
                frames.append(
                    threat_leakage(
                        X,
                        rows.y,
                        rows.groups,
                        threat=threat,
                        reference=reference if threat == "relative" else None,
                        sessions=rows.sessions,
                        probes=tuple(probes),
                        n_splits=n_splits,
                        tune=tune,
                        random_state=random_state,
                        n_jobs=n_jobs,
                        n_bootstrap=n_bootstrap,
                    )
                )
            except ValueError as error:  # what these labels cannot support, said in context
                raise AuditError(f"{name}, {threat} threat: {error}") from None
        frame = pd.concat(frames, ignore_index=True)
        frame = with_diff(frame, before) if before is not None else frame.assign(diff=np.nan)
        before = frame if before is None else before
        leakage_frames.append(frame.assign(representation=name))
        if progress:
            progress(f"{name}: identity (same/different-person ROC on cosine)")
        try:
            identity.append({"representation": name, **identity_separation(X, rows.groups)})
        except ValueError as error:
            identity.append({"representation": name, "skipped": str(error)})
    leakage = pd.concat(leakage_frames, ignore_index=True)
    columns = ["representation", "threat", "probe", "accuracy", "std", "ci_low", "ci_high"]
    columns += ["chance", "diff", "n", "n_people", "best_params"]
    config = {
        "stores": [str(s) for s in stores],
        "models": [str(m) for m in models],
        "label": label,
        "classes": {str(k): int(v) for k, v in pd.Series(rows.y).value_counts().items()},
        "people": len(set(rows.groups)),
        "images": len(rows.y),
        "relative_reference": rows.reference_rule,
        "probes": list(probes),
        "tuned": tune,
        "n_splits": n_splits,
        "seed": random_state,
    }
    return AuditResult(leakage.reindex(columns=columns), pd.DataFrame(identity), config)


def check_report_folder(out: str | os.PathLike[str], inputs: Inputs = ()) -> Path:
    """:func:`~blindface._outputs.check_output` for an audit report: a folder holding only a
    report's files, not one of ``inputs`` (the stores, models, label map), nor holding one."""
    return check_output(
        out, what="audit report", folder=True, ours=lambda e: e.name in REPORT_FILES, inputs=inputs
    )


def write_audit(result: AuditResult, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``audit.json``, ``audit.md`` and ``audit.png`` as the folder ``out``, atomically
    (a failure, such as a full disk, leaves no partial report)."""
    from blindface._io import write_folder, write_json, write_text

    folder = check_report_folder(out)

    def fill(tmp: Path) -> None:
        write_json(tmp / "audit.json", result.to_json())
        plot_audit(result, tmp / "audit.png")
        write_text(tmp / "audit.md", audit_markdown(result))

    write_folder(folder, fill)
    return {
        "json": folder / "audit.json",
        "png": folder / "audit.png",
        "markdown": folder / "audit.md",
    }


def audit_markdown(result: AuditResult) -> str:
    """The audit as Markdown: setup, leakage per threat (probe x representation), identity."""
    c = result.config
    lines = [
        "# blindface audit\n",
        f"Label `{c['label']}` in {', '.join(c['stores'])}: {c['images']} images of "
        f"{c['people']} people, classes {c['classes']}. Probes trained and tested on different "
        f"people ({c['n_splits']} folds, {'tuned' if c['tuned'] else 'untuned'}); relative "
        f"threat reference: {c['relative_reference']}. Accuracy in percent [95 % bootstrap "
        "interval over people] (Diff against x).\n",
        "![audit](audit.png)\n",
    ]
    records = result.leakage.to_dict("records")
    for threat in dict.fromkeys(r["threat"] for r in records):
        block = [r for r in records if r["threat"] == threat]
        lines.append(f"## {threat} threat — chance {block[0]['chance']:.1f} %\n")
        probes = list(dict.fromkeys(r["probe"] for r in block))
        lines.append("| representation | " + " | ".join(probes) + " |")
        lines.append("|---|" + "---|" * len(probes))
        for name in dict.fromkeys(r["representation"] for r in block):
            cells = []
            for probe in probes:
                r = next(r for r in block if r["representation"] == name and r["probe"] == probe)
                cell = f"{r['accuracy']:.1f} [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
                if not pd.isna(r["diff"]):
                    cell += f" ({r['diff']:.0f} %)"
                cells.append(cell)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("## Identity on the same faces (cosine similarity)\n")
    lines.append("| representation | ROC AUC | TAR at FAR 0.1 % | same-person pairs |")
    lines.append("|---|---|---|---|")
    for r in result.identity.to_dict("records"):
        if isinstance(r.get("roc_auc"), float) and not np.isnan(r["roc_auc"]):
            lines.append(
                f"| {r['representation']} | {r['roc_auc']:.2f} | {r['tar_at_far']:.1f} "
                f"| {r['n_genuine_pairs']} |"
            )
        else:
            lines.append(f"| {r['representation']} | – | – | {r.get('skipped', '')} |")
    return "\n".join(lines) + "\n"


def plot_audit(result: AuditResult, path: Path) -> Path:
    """Per threat, grouped bars: accuracy per probe for each representation, chance marked."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from blindface._io import save_figure

    records = result.leakage.to_dict("records")
    threats = list(dict.fromkeys(r["threat"] for r in records))
    names = list(dict.fromkeys(r["representation"] for r in records))
    fig = Figure(figsize=(6.0 * len(threats), 4.2))
    axes = fig.subplots(1, len(threats), squeeze=False)[0]
    cmap = colormaps["tab10"]
    for ax, threat in zip(axes, threats, strict=True):
        block = [r for r in records if r["threat"] == threat]
        probes = list(dict.fromkeys(r["probe"] for r in block))
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            rep = {r["probe"]: r for r in block if r["representation"] == name}
            accuracy = np.array([rep[p]["accuracy"] for p in probes], dtype=float)
            low = accuracy - np.array([rep[p]["ci_low"] for p in probes], dtype=float)
            high = np.array([rep[p]["ci_high"] for p in probes], dtype=float) - accuracy
            x = np.arange(len(probes)) + (i - (len(names) - 1) / 2) * width
            ax.bar(x, accuracy, width, color=cmap(i % 10), label=name)
            ax.errorbar(x, accuracy, yerr=[low, high], fmt="none", ecolor="black", lw=0.8)
        ax.axhline(block[0]["chance"], color="grey", linestyle="--", label="chance")
        ax.set_xticks(np.arange(len(probes)), probes)
        ax.set_ylabel(f"{result.config['label']} accuracy (%)")
        ax.set_title(f"{threat} threat")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].legend(frameon=False, fontsize=8)
    return save_figure(fig, path)
