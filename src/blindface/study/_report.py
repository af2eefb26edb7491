"""Render a study's ``results.json`` as ``report.md``: LODO, in-domain, Table II, figures."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

Row = Mapping[str, Any]

#: The paper's Table II (equality of opportunity) beside ours.
PAPER_TABLE2 = {("x", "biased"): 82.5, ("sensitivenets", "biased"): 91.7}
TASK_TITLES = {"expression": "expression", "smiling": "smiling"}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:.{digits}f}"


def _method_order(methods: Sequence[str], config: Mapping[str, Any]) -> list[str]:
    kinds = config.get("methods", {})
    rank = {"paper": 0, "baseline": 1, "beyond": 2}
    named = sorted(
        {m for m in methods if m != "none"}, key=lambda m: (rank.get(kinds.get(m), 3), m)
    )
    return (["none"] if "none" in methods else []) + named


def summary_table(rows: Sequence[Row], utility: Sequence[Row], config: Mapping[str, Any]) -> str:
    """One line per method: worst-probe Diff per threat on each (held-out) dataset and task,
    then the LFW verification loss and the worst gender/ethnicity Diff of the same blinders."""
    frame = pd.DataFrame([r for r in rows if r.get("threat")])
    if frame.empty:
        return "_No leakage rows were computed._\n"
    frame = frame[frame["protocol"] == "subject_disjoint"]
    columns = list(dict.fromkeys(zip(frame["dataset"], frame["task"], strict=True)))
    util = pd.DataFrame(list(utility))
    lines = [
        "| method | "
        + " | ".join(f"{d} {TASK_TITLES.get(t, t)} (pop / rel)" for d, t in columns)
        + " | LFW verification (loss) | gender/ethnicity worst Diff |",
        "|---|" + "---|" * (len(columns) + 2),
    ]
    for method in _method_order(list(frame["method"].unique()), config):
        cells = []
        for dataset, task in columns:
            block = frame[
                (frame["method"] == method)
                & (frame["dataset"] == dataset)
                & (frame["task"] == task)
            ]
            if method == "none":
                pop = block[block["threat"] == "population"]["accuracy"].max()
                rel = block[block["threat"] == "relative"]["accuracy"].max()
                chance = block["chance"].max() if len(block) else None
                cells.append(f"best probe {_fmt(pop)} / {_fmt(rel)} (chance {_fmt(chance)})")
            else:
                pop = block[block["threat"] == "population"]["diff"].min()
                rel = block[block["threat"] == "relative"]["diff"].min()
                cells.append(f"{_fmt(pop, 0)} / {_fmt(rel, 0)}")
        ver = util[(util["method"] == method) & (util["task"] == "identity")] if len(util) else util
        base = (
            util[(util["method"] == "none") & (util["task"] == "identity")] if len(util) else util
        )
        if len(ver) and len(base):
            loss = base["accuracy"].iloc[0] - ver["accuracy"].mean()
            ver_cell = f"{_fmt(ver['accuracy'].mean())} ({_fmt(loss, 2)})"
        else:
            ver_cell = "–"
        attr = (
            util[(util["method"] == method) & util["task"].isin(["gender", "ethnicity"])]
            if len(util)
            else util
        )
        attr_cell = _fmt(attr["diff"].max(), 0) if method != "none" and len(attr) else "–"
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {ver_cell} | {attr_cell} |")
    return "\n".join(lines) + "\n"


def detail_tables(rows: Sequence[Row], config: Mapping[str, Any], *, by: str) -> str:
    """Every probe's accuracy [95 % CI] (Diff) per method, one block per dataset/task/threat."""
    frame = pd.DataFrame([r for r in rows if r.get("threat")])
    if frame.empty:
        return ""
    lines = []
    keys = (
        [by, "dataset", "task", "threat", "protocol"]
        if by in frame
        else ["dataset", "task", "threat", "protocol"]
    )
    for key, block in frame.groupby(keys, sort=False, dropna=False):
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        chance = block["chance"].iloc[0]
        n = block["n"].iloc[0]
        people = block["n_people"].iloc[0] if "n_people" in block else None
        lines.append(
            f"**{values['dataset']} {values['task']}**, {values['threat']} threat, "
            f"`{values['protocol']}` — chance {chance:.1f} %, {n} images"
            + (f" of {int(people)} people" if people is not None and not pd.isna(people) else "")
            + "\n"
        )
        probes = list(dict.fromkeys(block["probe"]))
        lines.append("| method | " + " | ".join(probes) + " |")
        lines.append("|---|" + "---|" * len(probes))
        for method in _method_order(list(block["method"].unique()), config):
            cells = []
            for probe in probes:
                hit = block[(block["method"] == method) & (block["probe"] == probe)]
                if not len(hit):
                    cells.append("–")
                    continue
                r = hit.iloc[0]
                cell = _fmt(r["accuracy"])
                if r.get("ci_low") is not None and not pd.isna(r.get("ci_low")):
                    cell += f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
                if r.get("diff") is not None and not pd.isna(r.get("diff")):
                    cell += f" ({_fmt(r['diff'], 0)} %)"
                cells.append(cell)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def utility_table(rows: Sequence[Row], config: Mapping[str, Any]) -> str:
    """LFW verification and gender/ethnicity probes per method (and held-out dataset)."""
    frame = pd.DataFrame([r for r in rows if not r.get("threat")])
    if frame.empty:
        return ""
    frame["column"] = frame["task"] + " " + frame["probe"]
    frame["setting"] = frame.get("heldout_dataset", pd.Series(dtype=object)).fillna("in-domain")
    columns = list(dict.fromkeys(frame["column"]))
    lines = [
        "| method | blinder | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for method in _method_order(list(frame["method"].unique()), config):
        for setting, block in frame[frame["method"] == method].groupby("setting", sort=False):
            cells = []
            for column in columns:
                hit = block[block["column"] == column]
                if not len(hit):
                    cells.append("–")
                    continue
                r = hit.iloc[0]
                cell = f"{_fmt(r['accuracy'])} ± {_fmt(r['std'])}"
                if r.get("diff") is not None and not pd.isna(r.get("diff")):
                    cell += f" ({_fmt(r['diff'], 0)} %)"
                cells.append(cell)
            label = (
                "—"
                if method == "none"
                else ("held out " + setting if setting != "in-domain" else setting)
            )
            lines.append(f"| {method} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table2_markdown(rows: Sequence[Row], config: Mapping[str, Any]) -> str:
    """Accuracy, TPRs and equality of opportunity per representation and training set."""
    if not rows:
        return "_Table II was not computed (no CelebA under the data root)._\n"
    lines = [
        "| representation | training | accuracy | TPR smiling | TPR not smiling "
        "| equal opportunity | paper EO |",
        "|---|---|---|---|---|---|---|",
    ]
    order = {
        m: i
        for i, m in enumerate(["x", *_method_order([r["representation"] for r in rows], config)])
    }
    for r in sorted(
        rows, key=lambda r: (order.get(r["representation"], 99), r["training"] != "unbiased")
    ):
        paper = PAPER_TABLE2.get((r["representation"], r["training"]))
        lines.append(
            f"| {r['representation']} | {r['training']} | {_fmt(r['accuracy'])} ± "
            f"{_fmt(r.get('accuracy_std'))} | {_fmt(r['tpr_smiling'])} | "
            f"{_fmt(r['tpr_not_smiling'])} | {_fmt(r['equal_opportunity'])} ± "
            f"{_fmt(r.get('equal_opportunity_std'))} | {_fmt(paper)} |"
        )
    return "\n".join(lines) + "\n"


def render_report(results: Mapping[str, Any]) -> str:
    """The whole ``report.md`` text."""
    config = results.get("config", {})
    table1 = results.get("table1", [])
    lodo = results.get("lodo", [])
    lodo_utility = results.get("lodo_utility", [])
    in_domain_utility = [r for r in table1 if not r.get("threat")]
    run = "quick" if config.get("quick") else "full"
    parts = [
        "# blindface study report\n",
        f"Embedder `{config.get('embedder')}`, seed {config.get('seed')}, {run} run "
        f"({results.get('seconds', '?')} s in its last invocation; a resumed run reuses finished "
        "rows). Accuracies in percent. Leakage: fresh probes trained and tested on different "
        "people (people-disjoint folds), under the **population** threat (the probe sees "
        "phi(x)) and the **relative** threat (it sees phi(x) - phi(ref), ref the same "
        "person's enrolled neutral photo, or the mean of their other sessions); brackets: 95 % "
        "bootstrap interval over people. Diff = (before - after) / (before - chance).\n",
        "## Leave-one-dataset-out: datasets the blinder never saw\n",
        "Worst-probe Diff (%) under the population / relative threat; the `none` row gives the "
        "best probe's accuracy on x. Utility of the same blinders: LFW verification (mean over "
        "the held-out runs, loss in points) and the worst gender/ethnicity Diff.\n",
        summary_table(
            lodo, lodo_utility + [r for r in in_domain_utility if r["method"] == "none"], config
        ),
        "## In-domain: the other half of each dataset's people\n",
        summary_table(table1, in_domain_utility, config),
        "## Utility\n",
        utility_table(lodo_utility + in_domain_utility, config),
        "## Table II — fairness of an attractiveness classifier (CelebA)\n",
        "The paper: equality of opportunity 82.5 for x (biased) and 91.7 for the blinded "
        "representation (biased).\n",
        table2_markdown(results.get("table2", []), config),
        "## Leave-one-dataset-out, every probe\n",
        detail_tables(lodo, config, by="heldout_dataset"),
        "## In-domain, every probe\n",
        detail_tables(table1, config, by="setting"),
        "## Figures\n",
    ]
    for name, rel in results.get("figures", {}).items():
        parts.append(f"### {name.replace('_', ' ')}\n\n![{name}]({rel})\n")
    missing = results.get("missing") or {}
    if missing:
        parts.append("## Not computed\n")
        parts.extend(f"- {name} is missing: {what}." for name, what in missing.items())
    return "\n".join(parts) + "\n"


def write_report(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``report.md`` (atomically) next to the figures it links to."""
    from blindface._io import write_text

    return write_text(path, render_report(results))
