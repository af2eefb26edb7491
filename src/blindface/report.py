"""Render a study's results as ``report.md``: the targets, Table I, Table II and the figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

TASK_TITLES = {
    "identity": "Identity (LFW verification, 10 folds)",
    "gender": "Gender (UTKFace)",
    "ethnicity": "Ethnicity, 3 DiveFace groups (UTKFace)",
    "emotion": "Emotion",
    "transfer_lfw_happy": "Transfer: LFW happy vs neutral",
    "transfer_celeba_smiling": "Transfer: CelebA smiling",
}
METHOD_ORDER = ["none", "sensitivenets", "lnl", "leace", "inlp", "within_subject"]
#: The paper's Table II (equality of opportunity) beside ours.
PAPER_TABLE2 = {("x", "biased"): 82.5, ("sensitivenets", "biased"): 91.7}
PAPER_NOTES = {
    "table1": (
        "The paper (ResNet-50 and VGG-Face embeddings, DiveFace identities, CFEE emotions, random "
        "80/20 splits) reports that SensitiveNets and Learning not to Learn cut emotion accuracy "
        "substantially (Diff around 40 % for the NN probe) while verification, gender and "
        "ethnicity accuracy drop by about one point or less."
    ),
    "table2": (
        "The paper: equality of opportunity 82.5 for x (biased) and 91.7 for the blinded "
        "representation (biased)."
    ),
}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:.{digits}f}"


def _ordered(methods: pd.Series) -> pd.Categorical:
    present = set(methods)
    order = [m for m in METHOD_ORDER if m in present] + sorted(present - set(METHOD_ORDER))
    return pd.Categorical(methods, order)


def _cell(row: pd.Series) -> str:
    cell = f"{_fmt(row['accuracy'])} ± {_fmt(row['std'])}"
    if row.get("diff") is not None and not pd.isna(row.get("diff")):
        cell += f" (Diff {_fmt(row['diff'], 0)} %)"
    return cell


def table1_markdown(rows: list[dict[str, Any]]) -> str:
    """One block per task, dataset and protocol: accuracy ± std per probe and method, with Diff."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return "_No Table I rows were computed._\n"
    frame["method"] = _ordered(frame["method"])
    lines = []
    groups = frame.groupby(["task", "dataset", "protocol"], sort=False, observed=True)
    for (task, dataset, protocol), block in groups:
        title = TASK_TITLES.get(task, task)
        if task == "emotion":
            title = f"{title} ({dataset})"
        n = block["n"].iloc[0] if "n" in block else "?"
        chance = block["chance"].iloc[0]
        lines.append(f"**{title}** — `{protocol}`, chance {chance:.1f} %, n = {n}\n")
        probes = list(dict.fromkeys(block["probe"]))
        lines.append("| method | " + " | ".join(probes) + " |")
        lines.append("|---|" + "---|" * len(probes))
        for method, per_method in block.sort_values("method").groupby("method", observed=True):
            by_probe = {r["probe"]: _cell(r) for _, r in per_method.iterrows()}
            lines.append(f"| {method} | " + " | ".join(by_probe.get(p, "–") for p in probes) + " |")
        lines.append("")
    return "\n".join(lines)


def table2_markdown(rows: list[dict[str, Any]]) -> str:
    """Accuracy, TPRs and equality of opportunity per representation and training set."""
    if not rows:
        return "_Table II was not computed (no CelebA under the data root)._\n"
    lines = [
        "| representation | training | accuracy | TPR smiling | TPR not smiling "
        "| equal opportunity | paper EO |",
        "|---|---|---|---|---|---|---|",
    ]
    order = {m: i for i, m in enumerate(["x", *METHOD_ORDER])}
    ordered = sorted(
        rows, key=lambda r: (order.get(r["representation"], 99), r["training"] != "unbiased")
    )
    for r in ordered:
        paper = PAPER_TABLE2.get((r["representation"], r["training"]))
        accuracy = f"{_fmt(r['accuracy'])} ± {_fmt(r.get('accuracy_std'))}"
        fairness = f"{_fmt(r['equal_opportunity'])} ± {_fmt(r.get('equal_opportunity_std'))}"
        lines.append(
            f"| {r['representation']} | {r['training']} | {accuracy} | {_fmt(r['tpr_smiling'])} "
            f"| {_fmt(r['tpr_not_smiling'])} | {fairness} | {_fmt(paper)} |"
        )
    return "\n".join(lines) + "\n"


def target_summary(rows1: list[dict[str, Any]], rows2: list[dict[str, Any]]) -> pd.DataFrame:
    """Per method, the numbers the quality targets are judged on (subject-disjoint protocol):
    LFW verification loss, emotion Diff of the MLP probe and the worst probe per dataset, the
    worst gender/ethnicity Diff, and equality of opportunity on the biased CelebA set."""
    frame = pd.DataFrame(rows1)
    if frame.empty:
        return pd.DataFrame()
    base_ver = frame.query("method == 'none' and task == 'identity'")["accuracy"]
    eo = {r["representation"]: r["equal_opportunity"] for r in rows2 if r["training"] == "biased"}
    summary = []
    for method in [m for m in METHOD_ORDER if m in set(frame["method"]) and m != "none"]:
        rows = frame[frame["method"] == method]
        ver = rows.query("task == 'identity'")["accuracy"]
        entry: dict[str, Any] = {"method": method}
        if len(ver) and len(base_ver):
            entry["verification_loss"] = float(base_ver.iloc[0] - ver.iloc[0])
        emotion = rows.query("task == 'emotion' and protocol == 'subject_disjoint'")
        for dataset, block in emotion.groupby("dataset"):
            mlp = block.query("probe == 'mlp'")["diff"]
            entry[f"emotion_diff_mlp_{dataset}"] = float(mlp.iloc[0]) if len(mlp) else None
            entry[f"emotion_diff_worst_probe_{dataset}"] = float(block["diff"].min())
        utility = rows[rows["task"].isin(["gender", "ethnicity"])]["diff"]
        if len(utility):
            entry["attribute_diff_worst"] = float(utility.max())
        if method in eo and "x" in eo:
            entry["equal_opportunity_gain"] = float(eo[method] - eo["x"])
        summary.append(entry)
    return pd.DataFrame(summary)


def _summary_markdown(summary: pd.DataFrame) -> str:
    if summary.empty:
        return ""
    header = {
        "method": "method",
        "verification_loss": "LFW verification loss (points)",
        "emotion_diff_mlp_ckplus": "CK+ Diff, MLP",
        "emotion_diff_worst_probe_ckplus": "CK+ Diff, worst probe",
        "emotion_diff_mlp_jaffe": "JAFFE Diff, MLP",
        "emotion_diff_worst_probe_jaffe": "JAFFE Diff, worst probe",
        "attribute_diff_worst": "gender/ethnicity Diff, worst",
        "equal_opportunity_gain": "EO gain over x (biased)",
    }
    columns = [c for c in header if c in summary.columns]
    lines = ["| " + " | ".join(header[c] for c in columns) + " |", "|---" * len(columns) + "|"]
    for _, r in summary.iterrows():
        cells = [str(r[c]) if c == "method" else _fmt(r[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``report.md`` (atomically) next to the figures it links to."""
    path = Path(path)
    config = results.get("config", {})
    rows1 = results.get("table1", []) + results.get("table1_beyond_paper", [])
    rows2 = results.get("table2", []) + results.get("table2_beyond_paper", [])
    run = "quick" if config.get("quick") else "full"
    parts = [
        "# blindface: emotion-blinded face representations — study report\n",
        f"Embedder `{config.get('embedder')}`, seed {config.get('seed')}, {run} run "
        f"({results.get('seconds', '?')} s in its last invocation; a resumed run reuses "
        "finished rows). Accuracies in percent, mean ± std over folds; every "
        "number comes from people the blinders never saw (subject-disjoint folds on the "
        "evaluation half of the emotion subjects; the people of the LFW verification pairs; "
        "UTKFace and CelebA, "
        "which the blinders never saw). Diff = (before − after) / (before − chance).\n",
        "## Targets at a glance\n",
        _summary_markdown(target_summary(rows1, rows2)),
        "## Table I — leakage and utility\n",
        PAPER_NOTES["table1"] + "\n",
        table1_markdown(rows1),
        "## Table II — fairness of an attractiveness classifier (CelebA)\n",
        PAPER_NOTES["table2"] + "\n",
        table2_markdown(rows2),
        "## Figures\n",
    ]
    for name, rel in results.get("figures", {}).items():
        parts.append(f"### {name.replace('_', ' ')}\n\n![{name}]({rel})\n")
    missing = results.get("missing") or {}
    if missing:
        parts.append("## Not computed\n")
        parts.extend(f"- {name} is missing: {what}." for name, what in missing.items())
    text = "\n".join(parts) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
