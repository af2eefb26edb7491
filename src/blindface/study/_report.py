"""Render a study's ``results.json`` as ``report.md``: LODO, in-domain, Table II, figures."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from blindface._io import write_text

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


def _pick(rows: Sequence[Row], **key: Any) -> list[Row]:
    return [r for r in rows if all(r.get(k) == v for k, v in key.items())]


def _leakage(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.get("threat") and r.get("protocol") == "subject_disjoint"]


def _number(values: Sequence[Any], pick: Any) -> float | None:
    known = [float(v) for v in values if v is not None and not pd.isna(v)]
    return pick(known) if known else None


def summary_table(rows: Sequence[Row], utility: Sequence[Row], config: Mapping[str, Any]) -> str:
    """One line per method: worst-probe Diff per threat on each (held-out) dataset and task,
    then the LFW verification loss and the worst gender/ethnicity Diff of the same blinders."""
    leakage = _leakage(rows)
    if not leakage:
        return "_No leakage rows were computed._\n"
    columns = list(dict.fromkeys((r["dataset"], r["task"]) for r in leakage))
    lines = [
        "| method | "
        + " | ".join(f"{d} {TASK_TITLES.get(t, t)} (pop / rel)" for d, t in columns)
        + " | LFW verification (loss) | gender/ethnicity worst Diff |",
        "|---|" + "---|" * (len(columns) + 2),
    ]
    base = _number([r["accuracy"] for r in _pick(utility, method="none", task="identity")], max)
    for method in _method_order([r["method"] for r in leakage], config):
        cells = []
        for dataset, task in columns:
            block = _pick(leakage, method=method, dataset=dataset, task=task)
            pop = _pick(block, threat="population")
            rel = _pick(block, threat="relative")
            if method == "none":
                chance = _number([r["chance"] for r in block], max)
                best_pop = _number([r["accuracy"] for r in pop], max)
                best_rel = _number([r["accuracy"] for r in rel], max)
                cells.append(
                    f"best probe {_fmt(best_pop)} / {_fmt(best_rel)} (chance {_fmt(chance)})"
                )
            else:
                worst_pop = _number([r.get("diff") for r in pop], min)
                worst_rel = _number([r.get("diff") for r in rel], min)
                cells.append(f"{_fmt(worst_pop, 0)} / {_fmt(worst_rel, 0)}")
        verification = _number(
            [r["accuracy"] for r in _pick(utility, method=method, task="identity")],
            lambda v: sum(v) / len(v),
        )
        if verification is not None and base is not None:
            ver_cell = f"{_fmt(verification)} ({_fmt(base - verification, 2)})"
        else:
            ver_cell = "–"
        attributes = [r for r in utility if r["method"] == method and r["task"] != "identity"]
        worst = _number([r.get("diff") for r in attributes], max) if method != "none" else None
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {ver_cell} | {_fmt(worst, 0)} |")
    return "\n".join(lines) + "\n"


def _cell(row: Row, *, interval: bool) -> str:
    cell = _fmt(row["accuracy"])
    if interval and row.get("ci_low") is not None:
        cell += f" [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"
    elif not interval:
        cell += f" ± {_fmt(row.get('std'))}"
    if row.get("diff") is not None and not pd.isna(row["diff"]):
        cell += f" ({_fmt(row['diff'], 0)} %)"
    return cell


def detail_tables(rows: Sequence[Row], config: Mapping[str, Any], *, by: str) -> str:
    """Every probe's accuracy [95 % CI] (Diff) per method, one block per dataset/task/threat."""
    leakage = [r for r in rows if r.get("threat")]
    lines: list[str] = []
    blocks = dict.fromkeys(
        (r.get(by), r["dataset"], r["task"], r["threat"], r["protocol"]) for r in leakage
    )
    for group, dataset, task, threat, protocol in blocks:
        block = _pick(leakage, **{by: group}, dataset=dataset, task=task, threat=threat)
        block = _pick(block, protocol=protocol)
        first = block[0]
        people = first.get("n_people")
        lines.append(
            f"**{dataset} {task}**, {threat} threat, `{protocol}` — chance "
            f"{first['chance']:.1f} %, {first['n']} images"
            + (f" of {int(people)} people" if people else "")
            + "\n"
        )
        probes = list(dict.fromkeys(r["probe"] for r in block))
        lines.append("| method | " + " | ".join(probes) + " |")
        lines.append("|---|" + "---|" * len(probes))
        for method in _method_order([r["method"] for r in block], config):
            cells = []
            for probe in probes:
                hit = _pick(block, method=method, probe=probe)
                cells.append(_cell(hit[0], interval=True) if hit else "–")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def utility_table(rows: Sequence[Row], config: Mapping[str, Any]) -> str:
    """LFW verification and gender/ethnicity probes per method (and held-out dataset)."""
    utility = [r for r in rows if not r.get("threat")]
    if not utility:
        return ""
    columns = list(dict.fromkeys((r["task"], r["probe"]) for r in utility))
    lines = [
        "| method | blinder | " + " | ".join(f"{t} {p}" for t, p in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for method in _method_order([r["method"] for r in utility], config):
        mine = _pick(utility, method=method)
        for heldout in dict.fromkeys(r.get("heldout_dataset") for r in mine):
            block = _pick(mine, heldout_dataset=heldout)
            cells = []
            for task, probe in columns:
                hit = _pick(block, task=task, probe=probe)
                cells.append(_cell(hit[0], interval=False) if hit else "–")
            label = "—" if method == "none" else f"held out {heldout}" if heldout else "in-domain"
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
        "bootstrap interval over people. Diff = (before - after) / (before - chance), given "
        "only where the probe read the label above chance on x (its interval above chance).\n",
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
    return write_text(path, render_report(results))
