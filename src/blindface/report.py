"""Render a study's ``results.json`` as ``report.md``: Table I, Table II and the figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

TASK_TITLES = {
    "identity": "Identity (LFW View-1 DevTest verification)",
    "gender": "Gender (UTKFace)",
    "ethnicity": "Ethnicity, 3 DiveFace groups (UTKFace)",
    "emotion": "Emotion",
    "transfer_lfw_happy": "Transfer: LFW happy vs neutral",
    "transfer_celeba_smiling": "Transfer: CelebA smiling",
}
METHOD_ORDER = ["none", "sensitivenets", "lnl", "leace", "inlp"]
PAPER_NOTES = {
    "table1": (
        "The paper (ResNet-50 and VGG-Face embeddings, DiveFace identities, CFEE emotions, random "
        "80/20 splits) reports that SensitiveNets and Learning not to Learn cut emotion accuracy "
        "substantially (Diff around 40 % and more for the NN probe) while verification, gender "
        "and ethnicity accuracy drop by about one point or less."
    ),
    "table2": "The paper: equality of opportunity 82.5 for x (biased) and 91.7 after blinding (biased).",
}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:.{digits}f}"


def table1_markdown(rows: list[dict[str, Any]]) -> str:
    """One block per task and dataset: accuracy ± std per probe and method, chance and Diff."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return "_No Table I rows were computed._\n"
    frame["method"] = pd.Categorical(
        frame["method"],
        [m for m in METHOD_ORDER if m in set(frame["method"])]
        + sorted(set(frame["method"]) - set(METHOD_ORDER)),
    )
    lines = []
    for (task, dataset, protocol), block in frame.groupby(
        ["task", "dataset", "protocol"], sort=False, observed=True
    ):
        title = TASK_TITLES.get(task, task)
        if task == "emotion":
            title = f"{title} ({dataset})"
        chance = block["chance"].iloc[0]
        lines.append(
            f"**{title}** — protocol `{protocol}`, chance {chance:.1f} %, n = {block['n'].iloc[0] if 'n' in block else '?'}\n"
        )
        probes = list(dict.fromkeys(block["probe"]))
        lines.append("| method | " + " | ".join(probes) + " |")
        lines.append("|---|" + "---|" * len(probes))
        for method, per_method in block.sort_values("method").groupby(
            "method", observed=True, sort=False
        ):
            cells = []
            for probe in probes:
                hit = per_method[per_method["probe"] == probe]
                if hit.empty:
                    cells.append("–")
                    continue
                r = hit.iloc[0]
                cell = f"{_fmt(r['accuracy'])} ± {_fmt(r['std'])}"
                if r.get("diff") is not None and not pd.isna(r.get("diff")):
                    cell += f" (Diff {_fmt(r['diff'], 0)} %)"
                cells.append(cell)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def table2_markdown(rows: list[dict[str, Any]]) -> str:
    """Accuracy, TPRs and equality of opportunity per representation and training set."""
    if not rows:
        return "_Table II was not computed (no CelebA under the data root)._\n"
    from blindface.reproduce import PAPER_TABLE2

    lines = [
        "| representation | training | accuracy | TPR smiling | TPR not smiling | equal opportunity | paper EO |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = PAPER_TABLE2.get((r["representation"], r["training"]))
        lines.append(
            f"| {r['representation']} | {r['training']} | {_fmt(r['accuracy'])} ± {_fmt(r.get('accuracy_std'))} "
            f"| {_fmt(r['tpr_smiling'])} | {_fmt(r['tpr_not_smiling'])} "
            f"| {_fmt(r['equal_opportunity'])} ± {_fmt(r.get('equal_opportunity_std'))} | {_fmt(paper)} |"
        )
    return "\n".join(lines) + "\n"


def write_report(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``report.md`` (atomically) next to the figures it links to."""
    path = Path(path)
    config = results.get("config", {})
    parts = [
        "# blindface: emotion-blinded face representations — study report\n",
        f"Embedder `{config.get('embedder')}`, seed {config.get('seed')}, "
        f"{'quick' if config.get('quick') else 'full'} run, {results.get('seconds', '?')} s. "
        "Every accuracy is in percent, mean ± std over folds; every number comes from people "
        "the blinders never saw. Diff = (before − after) / (before − chance).\n",
        "## Table I — leakage and utility\n",
        PAPER_NOTES["table1"] + "\n",
        table1_markdown(results.get("table1", [])),
        "## Table II — fairness of an attractiveness classifier (CelebA)\n",
        PAPER_NOTES["table2"] + "\n",
        table2_markdown(results.get("table2", [])),
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
