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

from blindface._io import save_figure, write_folder, write_json, write_text
from blindface._outputs import Inputs, check_output
from blindface._provenance import OverlapWarning, check_same_embedder, common_identity, identity_of
from blindface.blinding import Blinder, RecognizerBlinder, load
from blindface.datasets import NEUTRAL
from blindface.evaluation import (
    PROBES,
    THREATS,
    ProbeScores,
    Threat,
    attack,
    diff,
    fit_inversion,
    identity_separation,
    operating_point,
    score_table,
    strongest_attacker,
    threat_scores,
    threat_view,
    transfer_attack,
)
from blindface.pipelines import LabelledRows, has_label, read_labelled
from blindface.store import read_metadata, store_digest

__all__ = ["AuditError", "AuditResult", "audit", "check_report_folder", "write_audit"]

#: The files of a report folder.
REPORT_FILES = ("audit.json", "audit.md", "audit.png")

#: Reference (enrolled-photo) label value per kind of label, when none is given.
DEFAULT_REFERENCE = {"expression": NEUTRAL}


class AuditError(ValueError):
    """The stores cannot be audited as asked; the message says what is missing and the fix."""


@dataclass(frozen=True)
class AuditResult:
    """Every probe's row (per representation, threat and probe), the strongest attackers (per
    blinder, threat and attacker), identity rows, and the setup."""

    leakage: pd.DataFrame
    identity: pd.DataFrame
    config: Mapping[str, Any] = field(default_factory=dict)
    strongest: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_json(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            clean = frame.astype(object).where(frame.notna(), None)
            return [{k: _jsonable(v) for k, v in r.items()} for r in clean.to_dict("records")]

        return {
            "strongest": records(self.strongest),
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
    reference_value: str | None


def _load_rows(
    stores: Sequence[str | os.PathLike[str]],
    label: str,
    *,
    reference_value: str | None,
    session_column: str | None,
    label_map: Mapping[str, str] | None,
    n_splits: int,
) -> _Labelled:
    if not stores:
        raise AuditError("no embedding store given: pass --embeddings FILE (repeatable)")
    parts: list[LabelledRows] = []
    column = session_column or "sequence"
    for path in stores:
        # only the label's, the people's and the sessions' columns are read
        rows = read_labelled(path, label=label, label_map=label_map, columns=[column])
        if not has_label(rows.table, label):
            present = read_metadata(path).get("columns") or list(rows.table.columns)
            columns = ", ".join(str(c) for c in present if not str(c).startswith("face_"))
            raise AuditError(f"{path} has no column {label!r} to audit; its columns: {columns}")
        if len(rows) and pd.isna(rows.people).all():
            raise AuditError(
                f"{path} has no subject ids: leakage is measured on people the probe never saw, "
                "so every row needs a subject (add a 'subject' column to the manifest)"
            )
        if session_column and session_column not in rows.table:
            raise AuditError(f"{path} has no session column {session_column!r}")
        parts.append(rows)
    dims = {rows.X.shape[1] for rows in parts}
    if len(dims) > 1:
        raise AuditError(f"the stores hold embeddings of different dimensions {sorted(dims)}")
    X = np.concatenate([rows.X for rows in parts])
    values = np.concatenate([rows.labels for rows in parts])
    person = np.concatenate([rows.people for rows in parts])
    session = np.concatenate(
        [
            rows.table[column].astype(str).to_numpy(dtype=object)
            if column in rows.table
            else np.full(len(rows), None, dtype=object)
            for rows in parts
        ]
    )
    keep = ~(pd.isna(values) | pd.isna(person))
    y = values[keep].astype(str)
    groups = person[keep].astype(str)
    _check_classes(y, groups, label, n_splits)
    ref_value = _reference_value(y, label, reference_value)
    reference = None if ref_value is None else y == ref_value
    session = session[keep]
    sessions = None if pd.isna(session).all() else session.astype(str)
    return _Labelled(X[keep], y, groups, reference, sessions, ref_value)


def _reference_value(y: np.ndarray, label: str, given: str | None) -> str | None:
    """The label value of the enrolled photo: ``given`` (matched case-insensitively against the
    values of the column, an error listing them when none matches), else ``neutral`` for the
    expression or ``False`` for a yes/no column when present, else None (no enrolled photo)."""
    values = sorted(set(y.tolist()))
    if given is not None:
        matches = [v for v in values if v.casefold() == given.strip().casefold()]
        if not matches:
            raise AuditError(
                f"--reference {given!r} is not a value of {label!r}; its values are "
                f"{', '.join(repr(v) for v in values)}"
            )
        return matches[0]
    default = DEFAULT_REFERENCE.get(label)
    if default is None and set(values) <= {"True", "False"}:
        default = "False"
    return default if default in values else None


def _check_classes(y: np.ndarray, groups: np.ndarray, label: str, n_splits: int) -> None:
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
            f"least {n_splits}: lower --folds or add people"
        )


def _check_probes(probes: Sequence[str], n_splits: int) -> None:
    """Refuse unknown or no probes and fewer than 2 folds, before anything is read."""
    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        what = f"unknown probes {unknown}" if unknown else "no probe given"
        raise AuditError(f"{what}: choose one or more of {', '.join(PROBES)} (--probes mlp,svm)")
    if n_splits < 2:
        raise AuditError(f"{n_splits} folds: a people-disjoint audit needs at least 2 (--folds)")


def _check_models(
    stores: Sequence[str | os.PathLike[str]],
    models: Sequence[str | os.PathLike[str]],
    public: Sequence[str | os.PathLike[str]],
    allow_mismatch: bool,
) -> list[Blinder]:
    """The models, loaded; the stores (audited and public) must hold one embedder's embeddings
    and every model must have been fitted on it (see :mod:`blindface._provenance`). A model
    fitted on one of the audited stores is an :class:`OverlapWarning`: its people are not new
    to the blinder."""
    identities = [(str(path), identity_of(read_metadata(path))) for path in [*stores, *public]]
    embedder = common_identity(identities, allow=allow_mismatch)
    digests = {d: str(path) for path in stores if (d := store_digest(path)) is not None}
    blinders = []
    for path in models:
        model = load(path)
        if isinstance(model, RecognizerBlinder):
            raise AuditError(
                f"the model {path} retrained the recognizer ({type(model).__name__}): it "
                "blinds images, not these embeddings; embed the images with "
                f"`blindface embed --embedder blinded:{path}` and audit that store"
            )
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


def _check_relative(rows: _Labelled, label: str, threats: Sequence[str]) -> None:
    """Refuse a relative threat no person can be seen under (every image its own person: no
    enrolled photo to compare with). The folds the people must fill are checked with the
    classes (:func:`_check_classes`)."""
    if "relative" in threats and pd.Series(rows.groups).value_counts().max() < 2:
        raise AuditError(
            f"{label}: every person has one image, so none can be compared with an enrolled "
            "photo of the same person (the relative threat): check the subject column (one id "
            "per person, not per image), or audit --threat population only"
        )


def _rule_text(rule: str, label: str, reference_value: str | None, sessions: str) -> str:
    """How the relative attacker's reference was chosen, in words."""
    return {
        "enrolled": f"the person's first {label} = {reference_value} image (left out of the "
        "scored images); people without one: the mean of their other images",
        "other_sessions": f"the mean of the person's images from other {sessions}s",
        "symmetric": "each image minus the mean of the person's images (symmetric view: with "
        "one reference photo and one other per person, the reference view would hold a "
        "single class)",
        "as_is": "–",
    }[rule]


def audit(
    stores: Sequence[str | os.PathLike[str]],
    models: Sequence[str | os.PathLike[str]] = (),
    *,
    label: str = "expression",
    threats: Sequence[Threat] = THREATS,
    probes: Sequence[str] = tuple(PROBES),
    tune: bool = True,
    n_splits: int = 5,
    n_bootstrap: int = 1000,
    reference_value: str | None = None,
    session_column: str | None = None,
    label_map: Mapping[str, str] | None = None,
    public: Sequence[str | os.PathLike[str]] = (),
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
        As in :func:`blindface.evaluation.attack`.
    reference_value : str, optional
        The label value of a person's enrolled photo for the relative threat (default
        ``neutral`` for the expression, ``False`` for a boolean column), matched
        case-insensitively; a value the column does not hold is an error. People without one
        are compared with the mean of their images from other sessions; a set of one
        reference and one other image per person is scored in the symmetric view.
    session_column : str, optional
        Column of sessions (e.g. CK+ ``sequence``): near-duplicate frames are never each other's
        reference. Default: ``sequence`` when the stores have it.
    public : paths
        Stores of other people (e.g. the public datasets) for two more attackers: *transfer*
        (probes trained on the blinded public faces with their ``label``, scored on the audited
        store without its labels) and *inversion* (``g: phi(x) -> x`` learnt on the public
        faces, read by probes trained on real embeddings).
    progress : callable, optional
        Called with a message before each step.
    allow_embedder_mismatch : bool
        Audit stores of another embedder than a model was fitted on, or pool stores of several
        embedders (refused by default: see :mod:`blindface._provenance`). A model fitted on one
        of the audited stores raises an :class:`~blindface._provenance.OverlapWarning`.

    Unknown or no probes, fewer than 2 folds, more folds than people and a relative threat
    with every image its own person are :class:`AuditError` s before any probe is fitted.

    Returns
    -------
    AuditResult
        ``leakage``: every probe's balanced accuracy per representation and threat (Diff
        against x); ``strongest``: the strongest attacker per representation, threat and
        attacker, with the Diff's bootstrap interval over people; ``identity``: TAR at FAR
        0.1 % (and 0.01 % where the pairs allow) before and after, with the loss's interval.
    """
    _check_probes(probes, n_splits)
    if not stores:
        raise AuditError("no embedding store given: pass --embeddings FILE (repeatable)")
    blinders = _check_models(stores, models, public, allow_embedder_mismatch)
    rows = _load_rows(
        stores,
        label,
        reference_value=reference_value,
        session_column=session_column,
        label_map=label_map,
        n_splits=n_splits,
    )
    public_rows = (
        _load_rows(
            public,
            label,
            reference_value=reference_value,
            session_column=session_column,
            label_map=label_map,
            n_splits=2,
        )
        if public
        else None
    )
    _check_relative(rows, label, threats)
    representations: dict[str, Any] = {"x": None}
    for path, model in zip(models, blinders, strict=True):
        if model.n_features_in_ != rows.X.shape[1]:
            raise AuditError(
                f"model {path} takes {model.n_features_in_}-d embeddings but the stores hold "
                f"{rows.X.shape[1]}-d ones: fit it on embeddings of the same embedder"
            )
        representations[f"{type(model).__name__} ({Path(path).name})"] = model
    reference = rows.reference
    if reference is None:
        reference = np.zeros(len(rows.y), dtype=bool)
    kwargs: dict[str, Any] = {
        "probes": tuple(probes),
        "n_splits": n_splits,
        "tune": tune,
        "random_state": random_state,
        "n_jobs": n_jobs,
    }
    leakage_frames, strongest, identity = [], [], []
    baseline: dict[str, ProbeScores] = {}
    views: dict[str, str] = {}
    for name, model in representations.items():
        X = rows.X if model is None else model.transform(rows.X)
        for threat in threats:
            if progress:
                progress(f"{name}: {threat} threat, probes {', '.join(probes)}")
            try:
                scores, views[threat] = threat_scores(
                    X,
                    rows.y,
                    rows.groups,
                    threat=threat,
                    reference=reference if threat == "relative" else None,
                    sessions=rows.sessions,
                    **kwargs,
                )
            except ValueError as error:  # what these labels cannot support, said in context
                raise AuditError(f"{name}, {threat} threat: {error}") from None
            table = score_table(scores, n_bootstrap=n_bootstrap, random_state=random_state)
            table.insert(0, "threat", threat)
            table.insert(0, "representation", name)
            if model is None:
                baseline[threat] = scores
                table["diff"] = np.nan
            else:
                found = strongest_attacker(
                    baseline[threat], scores, n_resamples=n_bootstrap, random_state=random_state
                )
                strongest.append(
                    {
                        "representation": name,
                        "threat": threat,
                        "attacker": "probe",
                        **found.record(),
                    }
                )
                table = _with_probe_diffs(table, baseline[threat], found.readable)
                if public_rows is not None:
                    strongest.extend(
                        _public_attacks(
                            name,
                            model,
                            threat,
                            rows,
                            public_rows,
                            reference,
                            kwargs,
                            n_bootstrap,
                            random_state,
                            progress,
                        )
                    )
            leakage_frames.append(table)
        if model is None:
            continue
        if progress:
            progress(f"{name}: identity at FAR 0.1 % (all pairs)")
        try:
            separation = identity_separation(X, rows.groups)
            for r in operating_point(
                rows.X, X, rows.groups, n_resamples=n_bootstrap, random_state=random_state
            ):
                identity.append(
                    {"representation": name, "roc_auc_after": separation["roc_auc"], **r}
                )
        except ValueError as error:
            identity.append({"representation": name, "skipped": str(error)})
    leakage = pd.concat(leakage_frames, ignore_index=True)
    columns = ["representation", "threat", "probe", "balanced_accuracy", "balanced_ci_low"]
    columns += ["balanced_ci_high", "balanced_chance", "accuracy", "chance", "diff", "n"]
    columns += ["n_people", "best_params"]
    sessions_name = session_column or "sequence"
    config = {
        "stores": [str(s) for s in stores],
        "models": [str(m) for m in models],
        "public": [str(p) for p in public],
        "label": label,
        "classes": {str(k): int(v) for k, v in pd.Series(rows.y).value_counts().items()},
        "people": len(set(rows.groups)),
        "images": len(rows.y),
        "reference_value": rows.reference_value,
        "views": views,
        "relative_reference": _rule_text(
            views.get("relative", "as_is"), label, rows.reference_value, sessions_name
        ),
        "probes": list(probes),
        "tuned": tune,
        "n_splits": n_splits,
        "seed": random_state,
    }
    return AuditResult(
        leakage.reindex(columns=columns), pd.DataFrame(identity), config, pd.DataFrame(strongest)
    )


def _with_probe_diffs(table: pd.DataFrame, before: ProbeScores, readable: bool) -> pd.DataFrame:
    """Each probe's Diff (balanced accuracy) against the same probe on x; NaN where x was not
    read above chance by any probe."""
    values = []
    for r in table.to_dict("records"):
        value = float("nan")
        if readable:
            value = diff(
                before.balanced_accuracy(r["probe"]), r["balanced_accuracy"], before.chance
            )
        values.append(value)
    return table.assign(diff=values)


def _public_attacks(
    name: str,
    model: Any,
    threat: Threat,
    rows: _Labelled,
    public: _Labelled,
    reference: np.ndarray,
    kwargs: Mapping[str, Any],
    n_bootstrap: int,
    random_state: int,
    progress: Callable[[str], None] | None,
) -> list[dict[str, Any]]:
    """The transfer and inversion attackers of one blinder under one threat."""
    if progress:
        progress(f"{name}: {threat} threat, transfer and inversion attackers")
    public_reference = public.reference
    if public_reference is None:
        public_reference = np.zeros(len(public.y), dtype=bool)

    def view(X: np.ndarray, which: _Labelled, ref: np.ndarray):
        return threat_view(
            threat,
            X,
            which.y,
            which.groups,
            reference=ref if threat == "relative" else None,
            sessions=which.sessions,
        )

    probe_kwargs = {k: v for k, v in kwargs.items() if k != "n_splits"}
    out = []
    target_x = view(rows.X, rows, reference)
    target_phi = view(model.transform(rows.X), rows, reference)
    train_x = view(public.X, public, public_reference)
    train_phi = view(model.transform(public.X), public, public_reference)
    pairs = {
        "transfer": (
            transfer_attack(
                train_x.X,
                train_x.y,
                train_x.groups,
                target_x.X,
                target_x.y,
                target_x.groups,
                **probe_kwargs,
            ),
            transfer_attack(
                train_phi.X,
                train_phi.y,
                train_phi.groups,
                target_phi.X,
                target_phi.y,
                target_phi.groups,
                **probe_kwargs,
            ),
        )
    }
    inversion = fit_inversion(model.transform(public.X), public.X, random_state=random_state)
    rebuilt = view(inversion.transform(model.transform(rows.X)), rows, reference)
    before = attack(target_x.X, target_x.y, target_x.groups, **kwargs)
    pairs["inversion"] = (
        before,
        attack(rebuilt.X, rebuilt.y, rebuilt.groups, X_fit=target_x.X, **kwargs),
    )
    for attacker, (b, a) in pairs.items():
        found = strongest_attacker(b, a, n_resamples=n_bootstrap, random_state=random_state)
        out.append(
            {"representation": name, "threat": threat, "attacker": attacker, **found.record()}
        )
    return out


def check_report_folder(out: str | os.PathLike[str], inputs: Inputs = ()) -> Path:
    """:func:`~blindface._outputs.check_output` for an audit report: a folder holding only a
    report's files, not one of ``inputs`` (the stores, models, label map), nor holding one."""
    return check_output(
        out, what="audit report", folder=True, ours=lambda e: e.name in REPORT_FILES, inputs=inputs
    )


def write_audit(result: AuditResult, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``audit.json``, ``audit.md`` and ``audit.png`` as the folder ``out``, atomically
    (a failure, such as a full disk, leaves no partial report). An ``out`` that is a file, or a
    folder holding other files than a report's, is an :class:`~blindface._outputs.OutputError`.
    """
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
    """The audit as Markdown: setup, the strongest attackers, every probe per threat, identity."""
    c = result.config
    lines = [
        "# blindface audit\n",
        f"Label `{c['label']}` in {', '.join(c['stores'])}: {c['images']} images of "
        f"{c['people']} people, classes {c['classes']}. Probes trained and tested on different "
        f"people ({c['n_splits']} folds, {'tuned' if c['tuned'] else 'untuned'}); relative "
        f"threat reference: {c['relative_reference']}. **Balanced accuracy** in percent "
        "(chance = 1 / classes) [95 % bootstrap interval over people].\n",
        "![audit](audit.png)\n",
    ]
    if not result.strongest.empty:
        lines += [
            "## Strongest attacker\n",
            "Best probe after blinding against best probe before; Diff = (before - after) / "
            "(before - chance) with its 95 % interval over people; `n.r.`: no probe read the "
            "label from x above chance.\n",
            "| representation | threat | attacker | best before | best after | chance "
            "| Diff % [95 % CI] |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result.strongest.to_dict("records"):
            diff = "n.r." if not r["readable"] else _diff_text(r)
            lines.append(
                f"| {r['representation']} | {r['threat']} | {r['attacker']} "
                f"| {r['best_before']:.1f} ({r['probe_before']}) "
                f"| {r['best_after']:.1f} ({r['probe_after']}) | {r['chance']:.1f} | {diff} |"
            )
        lines.append("")
    records = result.leakage.to_dict("records")
    for threat in dict.fromkeys(r["threat"] for r in records):
        block = [r for r in records if r["threat"] == threat]
        lines.append(f"## {threat} threat — chance {block[0]['balanced_chance']:.1f} %\n")
        probes = list(dict.fromkeys(r["probe"] for r in block))
        lines.append("| representation | " + " | ".join(probes) + " |")
        lines.append("|---|" + "---|" * len(probes))
        for name in dict.fromkeys(r["representation"] for r in block):
            cells = []
            for probe in probes:
                r = next(r for r in block if r["representation"] == name and r["probe"] == probe)
                cell = (
                    f"{r['balanced_accuracy']:.1f} [{r['balanced_ci_low']:.1f}, "
                    f"{r['balanced_ci_high']:.1f}]"
                )
                if not pd.isna(r["diff"]):
                    cell += f" ({r['diff']:.0f} %)"
                cells.append(cell)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("## Identity on the same faces (all pairs, cosine similarity)\n")
    lines.append(
        "| representation | FAR | TAR x | TAR blinded | loss [95 % CI] | ROC AUC blinded |"
    )
    lines.append("|---|---|---|---|---|---|")
    for r in result.identity.to_dict("records"):
        if r.get("skipped"):
            lines.append(f"| {r['representation']} | – | – | – | {r['skipped']} | – |")
            continue
        lines.append(
            f"| {r['representation']} | {r['far']:g} | {r['tar_before']:.1f} "
            f"| {r['tar_after']:.1f} | {r['loss']:.2f} [{r['loss_ci_low']:.2f}, "
            f"{r['loss_ci_high']:.2f}] | {r['roc_auc_after']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _diff_text(row: Mapping[str, Any]) -> str:
    if row.get("diff") is None:
        return "–"
    low, high = row.get("diff_ci_low"), row.get("diff_ci_high")
    interval = f" [{low:.0f}, {high:.0f}]" if low is not None and high is not None else ""
    return f"{row['diff']:.0f}{interval}"


def plot_audit(result: AuditResult, path: Path) -> Path:
    """Per threat, grouped bars: accuracy per probe for each representation, chance marked."""
    from matplotlib import colormaps  # lazy: matplotlib takes 0.4 s to import
    from matplotlib.figure import Figure

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
            accuracy = np.array([rep[p]["balanced_accuracy"] for p in probes], dtype=float)
            low = accuracy - np.array([rep[p]["balanced_ci_low"] for p in probes], dtype=float)
            high = np.array([rep[p]["balanced_ci_high"] for p in probes], dtype=float) - accuracy
            x = np.arange(len(probes)) + (i - (len(names) - 1) / 2) * width
            ax.bar(x, accuracy, width, color=cmap(i % 10), label=name)
            ax.errorbar(x, accuracy, yerr=[low, high], fmt="none", ecolor="black", lw=0.8)
        ax.axhline(block[0]["balanced_chance"], color="grey", linestyle="--", label="chance")
        ax.set_xticks(np.arange(len(probes)), probes)
        ax.set_ylabel(f"{result.config['label']} balanced accuracy (%)")
        ax.set_title(f"{threat} threat")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].legend(frameon=False, fontsize=8)
    return save_figure(fig, path)
